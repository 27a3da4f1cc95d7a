/** Task rows: the contract's JSON, insert, list, and when the next task of a series is due. */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { z } from "zod";
import type { TaskState } from "../../shared/enums.ts";
import type { taskResponse } from "../../shared/response_schemas.ts";
import { limitParam, queryAll, queryOne } from "../db/query.ts";
import { utcOut, utcSql } from "./time.ts";

/** A `tasks` row as stored. */
export interface TaskRow {
  /** UUID. */
  id: string;
  /** The memory it came from. */
  memory_id: string;
  /** Telegram user id. */
  owner_user_id: number;
  /** What to do. */
  description: string;
  /** NOT_DONE or DONE. */
  state: TaskState;
  /** Deadline, ISO UTC, or NULL. */
  due_at: string | null;
  /** Repeat interval, or NULL. */
  recurrence_minutes: number | null;
  /** When it was marked done. */
  completed_at: string | null;
  /** ISO UTC. */
  created_at: string;
  /** ISO UTC. */
  updated_at: string;
}

/** A task as the HTTP contract spells it (the row with times normalized to UTC Z). */
export type TaskJson = z.output<typeof taskResponse>;

/** A task row as the contract's JSON. */
export function taskJson(row: TaskRow): TaskJson {
  return {
    id: row.id,
    memory_id: row.memory_id,
    owner_user_id: row.owner_user_id,
    description: row.description,
    state: row.state,
    due_at: utcOut(row.due_at),
    recurrence_minutes: row.recurrence_minutes,
    completed_at: utcOut(row.completed_at),
    created_at: utcOut(row.created_at),
    updated_at: utcOut(row.updated_at),
  };
}

const COLUMNS = "id, memory_id, owner_user_id, description, state, due_at, recurrence_minutes, " +
  "completed_at, created_at, updated_at";

/** The row of task `id`, or null. */
export function getTask(db: DatabaseSync, id: string): TaskRow | null {
  return queryOne<TaskRow>(db, `SELECT ${COLUMNS} FROM tasks WHERE id = ?`, id);
}

/** What {@linkcode insertTask} stores. */
export interface NewTask {
  /** UUID. */
  id: string;
  /** The memory it came from. */
  memory_id: string;
  /** Telegram user id. */
  owner_user_id: number;
  /** What to do. */
  description: string;
  /** Deadline, normalized ISO UTC. */
  due_at: string | null;
  /** Repeat interval in minutes. */
  recurrence_minutes: number | null;
  /** Now, ISO UTC. */
  at: string;
}

/** Insert a NOT_DONE task; call inside the caller's transaction (with its audit entry). */
export function insertTask(db: DatabaseSync, task: NewTask): TaskRow {
  db.prepare(
    `INSERT INTO tasks (id, memory_id, owner_user_id, description, state, due_at,
                        recurrence_minutes, completed_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'NOT_DONE', ?, ?, NULL, ?, ?)`,
  ).run(
    task.id,
    task.memory_id,
    task.owner_user_id,
    task.description,
    task.due_at,
    task.recurrence_minutes,
    task.at,
    task.at,
  );
  return getTask(db, task.id)!;
}

/** Filters of {@linkcode listTasks}. */
export interface TaskFilter {
  /** Only this state. */
  state?: TaskState;
  /** Only this user's tasks. */
  owner_user_id?: number;
  /** Only tasks due at or before this time (normalized ISO UTC). */
  due_before?: string;
  /** Only tasks due at or after this time (normalized ISO UTC). */
  due_after?: string;
  /** Page size. */
  limit: number;
  /** Rows to skip. */
  offset: number;
}

/** Tasks matching `filter`, newest first. Tasks without a due time never match a due filter. */
export function listTasks(db: DatabaseSync, filter: TaskFilter): TaskRow[] {
  const where: string[] = [];
  const args: SQLInputValue[] = [];
  if (filter.state !== undefined) {
    where.push("state = ?");
    args.push(filter.state);
  }
  if (filter.owner_user_id !== undefined) {
    where.push("owner_user_id = ?");
    args.push(filter.owner_user_id);
  }
  if (filter.due_before !== undefined) {
    where.push(`due_at IS NOT NULL AND ${utcSql("due_at")} <= ?`);
    args.push(filter.due_before);
  }
  if (filter.due_after !== undefined) {
    where.push(`due_at IS NOT NULL AND ${utcSql("due_at")} >= ?`);
    args.push(filter.due_after);
  }
  const sql = `SELECT ${COLUMNS} FROM tasks
    ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY created_at DESC, rowid DESC LIMIT ${limitParam()} OFFSET ?`;
  return queryAll<TaskRow>(db, sql, ...args, filter.limit, filter.offset);
}

/**
 * When the next task of a series is due: the previous due time plus the interval (now plus the
 * interval when there was none), moved on by whole intervals until it is after `now`, so a
 * series completed late does not produce a task that is already overdue.
 */
export function nextDueAt(
  previousDue: string | null,
  options: { minutes: number; now: string },
): string {
  const step = options.minutes * 60_000;
  const now = Date.parse(options.now);
  const parsed = previousDue === null ? null : toUtcMs(previousDue);
  const base = parsed ?? now;
  // The smallest k >= 1 with base + k * step > now, computed instead of looped: a one-minute
  // series left for years would otherwise loop millions of times.
  const k = Math.max(1, Math.floor((now - base) / step) + 1);
  return new Date(base + k * step).toISOString();
}

function toUtcMs(value: string): number | null {
  const iso = utcOut(value);
  const ms = iso === null ? NaN : Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}
