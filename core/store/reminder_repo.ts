/**
 * Reminder rows: the contract's JSON, create, list, change (with re-arming) and delete, each
 * writing its audit entry. Used by the reminders and events routers and by the scheduler.
 */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { z } from "zod";
import type { reminderResponse } from "../../shared/response_schemas.ts";
import { writeAudit } from "./audit.ts";
import { limitParam, queryAll, queryOne } from "../db/query.ts";
import { utcOut, utcSql } from "./time.ts";
import { newRowId } from "./row_id.ts";

/** A `reminders` row as stored. */
export interface ReminderRow {
  /** UUID. */
  id: string;
  /** The memory it is about. */
  memory_id: string;
  /** Telegram user id. */
  owner_user_id: number;
  /** What to say; NULL in rows of the first version. */
  text: string | null;
  /** When to fire, ISO UTC. */
  fire_at: string;
  /** Repeat interval, or NULL. */
  recurrence_minutes: number | null;
  /** 1 once the scheduler sent it. */
  fired: number;
  /** ISO UTC. */
  created_at: string;
  /** ISO UTC. */
  updated_at: string;
}

/** A reminder as the HTTP contract spells it. */
export type ReminderJson = z.output<typeof reminderResponse>;

/** A reminder row as the contract's JSON. */
export function reminderJson(row: ReminderRow): ReminderJson {
  return {
    id: row.id,
    memory_id: row.memory_id,
    owner_user_id: row.owner_user_id,
    text: row.text ?? "",
    fire_at: utcOut(row.fire_at),
    recurrence_minutes: row.recurrence_minutes,
    fired: row.fired !== 0,
    created_at: utcOut(row.created_at),
    updated_at: utcOut(row.updated_at),
  };
}

const COLUMNS = "id, memory_id, owner_user_id, text, fire_at, recurrence_minutes, fired, " +
  "created_at, updated_at";

/** The row of reminder `id`, or null. */
export function getReminder(db: DatabaseSync, id: string): ReminderRow | null {
  return queryOne<ReminderRow>(db, `SELECT ${COLUMNS} FROM reminders WHERE id = ?`, id);
}

/** Who changes a row, when, and what else to record in its audit entry. */
export interface ChangeContext {
  /** Audit actor (`user:<id>`, `system:api`, ...). */
  actor: string;
  /** Now, ISO UTC; also the moment a re-armed reminder must lie after. */
  at: string;
  /** Extra audit detail (merged into the entry's detail). */
  detail?: Record<string, unknown>;
}

/** What {@linkcode createReminder} stores. */
export interface NewReminder extends ChangeContext {
  /** The memory it is about (must exist; the caller checks ownership). */
  memory_id: string;
  /** Telegram user id. */
  owner_user_id: number;
  /** What to say. */
  text: string | null;
  /** When to fire, normalized ISO UTC. */
  fire_at: string;
  /** Repeat interval in minutes. */
  recurrence_minutes?: number | null;
  /** Id to use; a new UUID by default. */
  id?: string;
}

/**
 * Insert an unfired reminder and its `created` audit entry. Call inside the caller's transaction
 * so the reminder and whatever caused it land together.
 */
export function createReminder(db: DatabaseSync, input: NewReminder): ReminderRow {
  const id = input.id ?? newRowId();
  db.prepare(
    `INSERT INTO reminders (id, memory_id, owner_user_id, text, fire_at, recurrence_minutes,
                            fired, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
  ).run(
    id,
    input.memory_id,
    input.owner_user_id,
    input.text,
    input.fire_at,
    input.recurrence_minutes ?? null,
    input.at,
    input.at,
  );
  writeAudit(db, {
    entity_type: "reminder",
    entity_id: id,
    action: "created",
    actor: input.actor,
    detail: { fire_at: input.fire_at, memory_id: input.memory_id, ...input.detail },
    at: input.at,
  });
  return getReminder(db, id)!;
}

/** Filters of {@linkcode listReminders}. */
export interface ReminderFilter {
  /** Only this user's reminders. */
  owner_user_id?: number;
  /** Only fired (true) or unfired (false) ones. */
  fired?: boolean;
  /** Only unfired ones due after `now`. */
  upcoming_only?: boolean;
  /** Now, ISO UTC (for `upcoming_only`). */
  now: string;
  /** Page size. */
  limit: number;
  /** Rows to skip. */
  offset: number;
}

/**
 * Reminders matching `filter`, the next to fire first (the first version's order, which clients
 * show as is); reminders at the same time in the order they were made, so pages are stable.
 */
export function listReminders(db: DatabaseSync, filter: ReminderFilter): ReminderRow[] {
  const where: string[] = [];
  const args: SQLInputValue[] = [];
  if (filter.owner_user_id !== undefined) {
    where.push("owner_user_id = ?");
    args.push(filter.owner_user_id);
  }
  if (filter.fired !== undefined) {
    where.push(filter.fired ? "fired != 0" : "fired = 0");
  }
  if (filter.upcoming_only) {
    where.push(`fired = 0 AND ${utcSql("fire_at")} > ?`);
    args.push(filter.now);
  }
  const sql = `SELECT ${COLUMNS} FROM reminders
    ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY ${utcSql("fire_at")}, rowid LIMIT ${limitParam()} OFFSET ?`;
  return queryAll<ReminderRow>(db, sql, ...args, filter.limit, filter.offset);
}

/** Fields {@linkcode updateReminder} may change; undefined leaves a field as it is. */
export interface ReminderChanges extends ChangeContext {
  /** New text. */
  text?: string;
  /** New fire time, normalized ISO UTC. */
  fire_at?: string;
  /** New interval; null makes it one-off. */
  recurrence_minutes?: number | null;
}

/**
 * Change reminder `id` and write an `updated` audit entry. Moving the fire time of a fired
 * reminder to after `at` re-arms it (fired = 0) so the scheduler sends it again; the first
 * version never did. Returns the row as it is afterwards (unchanged, without audit, when nothing
 * changed), or null when there is no such reminder.
 */
export function updateReminder(
  db: DatabaseSync,
  id: string,
  changes: ReminderChanges,
): ReminderRow | null {
  const before = getReminder(db, id);
  if (before === null) return null;
  const sets: string[] = [];
  const args: SQLInputValue[] = [];
  const diff: Record<string, { from: unknown; to: unknown }> = {};
  const change = (column: keyof ReminderRow, value: SQLInputValue) => {
    if (before[column] === value) return;
    sets.push(`${column} = ?`);
    args.push(value);
    diff[column] = { from: before[column], to: value };
  };
  if (changes.text !== undefined) change("text", changes.text);
  if (changes.fire_at !== undefined) change("fire_at", changes.fire_at);
  if (changes.recurrence_minutes !== undefined) {
    change("recurrence_minutes", changes.recurrence_minutes);
  }
  const rearm = before.fired !== 0 && changes.fire_at !== undefined &&
    changes.fire_at > changes.at;
  if (rearm) sets.push("fired = 0");
  if (sets.length === 0) return before;
  db.prepare(`UPDATE reminders SET ${sets.join(", ")}, updated_at = ? WHERE id = ?`)
    .run(...args, changes.at, id);
  writeAudit(db, {
    entity_type: "reminder",
    entity_id: id,
    action: "updated",
    actor: changes.actor,
    detail: { changes: diff, ...(rearm ? { rearmed: true } : {}), ...changes.detail },
    at: changes.at,
  });
  return getReminder(db, id);
}

/**
 * Delete reminder `id` with its `deleted` audit entry. An event pointing to it (events.reminder_id)
 * loses the link first, in the same transaction, so the foreign key never stops the delete.
 * Returns false when there is no such reminder.
 */
export function deleteReminder(db: DatabaseSync, id: string, context: ChangeContext): boolean {
  const before = getReminder(db, id);
  if (before === null) return false;
  const linked = db.prepare("SELECT id FROM events WHERE reminder_id = ?").all(id) as {
    id: string;
  }[];
  for (const event of linked) {
    db.prepare("UPDATE events SET reminder_id = NULL, updated_at = ? WHERE id = ?")
      .run(context.at, event.id);
    writeAudit(db, {
      entity_type: "event",
      entity_id: event.id,
      action: "updated",
      actor: context.actor,
      detail: { changes: { reminder_id: { from: id, to: null } }, reason: "reminder deleted" },
      at: context.at,
    });
  }
  db.prepare("DELETE FROM reminders WHERE id = ?").run(id);
  writeAudit(db, {
    entity_type: "reminder",
    entity_id: id,
    action: "deleted",
    actor: context.actor,
    detail: {
      memory_id: before.memory_id,
      fire_at: utcOut(before.fire_at),
      fired: before.fired !== 0,
      ...context.detail,
    },
    at: context.at,
  });
  return true;
}
