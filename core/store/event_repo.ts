/**
 * Event rows: the contract's JSON, insert, list, the review state machine (confirming makes a
 * reminder at the event time, rejecting drops it) and delete, each with its audit entries.
 */
import { columnChanges } from "../db/changes.ts";
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { z } from "zod";
import type { EventSourceType, EventStatus } from "../../shared/enums.ts";
import type { eventResponse } from "../../shared/response_schemas.ts";
import { writeAudit } from "./audit.ts";
import { ApiError } from "../http/errors.ts";
import {
  type ChangeContext,
  createReminder,
  deleteReminder,
  getReminder,
  updateReminder,
} from "./reminder_repo.ts";
import { limitParam, queryAll, queryOne } from "../db/query.ts";
import { utcOut, utcSql } from "./time.ts";
import { newRowId } from "./row_id.ts";
import { insertMemory } from "./memory_repo.ts";

/** An `events` row as stored. */
export interface EventRow {
  /** UUID. */
  id: string;
  /** The memory it belongs to; NULL until one is linked. */
  memory_id: string | null;
  /** Telegram user id. */
  owner_user_id: number;
  /** What happens. */
  description: string;
  /** When it happens, ISO UTC. */
  event_time: string;
  /** `email` or `manual`. */
  source_type: EventSourceType;
  /** E.g. the email subject. */
  source_detail: string | null;
  /** pending, confirmed or rejected. */
  status: EventStatus;
  /** When it became pending (re-prompts count from here). */
  pending_since: string | null;
  /** The reminder made when it was confirmed. */
  reminder_id: string | null;
  /** When it was confirmed. */
  confirmed_at: string | null;
  /** ISO UTC. */
  created_at: string;
  /** ISO UTC. */
  updated_at: string;
}

/** An event as the HTTP contract spells it. */
export type EventJson = z.output<typeof eventResponse>;

/** An event row as the contract's JSON. */
export function eventJson(row: EventRow): EventJson {
  return {
    id: row.id,
    memory_id: row.memory_id,
    owner_user_id: row.owner_user_id,
    event_time: utcOut(row.event_time),
    description: row.description,
    status: row.status,
    source_type: row.source_type,
    source_detail: row.source_detail,
    reminder_id: row.reminder_id,
    confirmed_at: utcOut(row.confirmed_at),
    created_at: utcOut(row.created_at),
    updated_at: utcOut(row.updated_at),
  };
}

const COLUMNS = "id, memory_id, owner_user_id, description, event_time, source_type, " +
  "source_detail, status, pending_since, reminder_id, confirmed_at, created_at, updated_at";

/** The row of event `id`, or null. */
export function getEvent(db: DatabaseSync, id: string): EventRow | null {
  return queryOne<EventRow>(db, `SELECT ${COLUMNS} FROM events WHERE id = ?`, id);
}

/** What {@linkcode insertEvent} stores. */
export interface NewEvent extends ChangeContext {
  /** Memory id (checked by the caller) or null. */
  memory_id: string | null;
  /** Telegram user id. */
  owner_user_id: number;
  /** Normalized ISO UTC. */
  event_time: string;
  /** What happens. */
  description: string;
  /** `email` or `manual`. */
  source_type: EventSourceType;
  /** Source detail. */
  source_detail: string | null;
}

/** Insert a pending event (pending since `at`) with its `created` audit entry. */
export function insertEvent(db: DatabaseSync, input: NewEvent): EventRow {
  const id = newRowId();
  db.prepare(
    `INSERT INTO events (id, memory_id, owner_user_id, description, event_time, source_type,
                         source_detail, status, pending_since, reminder_id, confirmed_at,
                         created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, NULL, NULL, ?, ?)`,
  ).run(
    id,
    input.memory_id,
    input.owner_user_id,
    input.description,
    input.event_time,
    input.source_type,
    input.source_detail,
    input.at,
    input.at,
    input.at,
  );
  writeAudit(db, {
    entity_type: "event",
    entity_id: id,
    action: "created",
    actor: input.actor,
    detail: {
      description: input.description,
      event_time: input.event_time,
      source_type: input.source_type,
      ...input.detail,
    },
    at: input.at,
  });
  return getEvent(db, id)!;
}

/** Filters of {@linkcode listEvents}. */
export interface EventFilter {
  /** Only this user's events. */
  owner_user_id?: number;
  /** Only this status. */
  status?: EventStatus;
  /** Page size. */
  limit: number;
  /** Rows to skip. */
  offset: number;
}

/**
 * Events matching `filter`, latest `event_time` first (the first version's order, which clients
 * show as is); events at the same time newest made first, so pages are stable.
 */
export function listEvents(db: DatabaseSync, filter: EventFilter): EventRow[] {
  const where: string[] = [];
  const args: SQLInputValue[] = [];
  if (filter.owner_user_id !== undefined) {
    where.push("owner_user_id = ?");
    args.push(filter.owner_user_id);
  }
  if (filter.status !== undefined) {
    where.push("status = ?");
    args.push(filter.status);
  }
  const sql = `SELECT ${COLUMNS} FROM events
    ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY ${utcSql("event_time")} DESC, rowid DESC LIMIT ${limitParam()} OFFSET ?`;
  return queryAll<EventRow>(db, sql, ...args, filter.limit, filter.offset);
}

/** Fields {@linkcode updateEvent} may change; undefined leaves a field as it is. */
export interface EventChanges extends ChangeContext {
  /** New time, normalized ISO UTC. */
  event_time?: string;
  /** New description. */
  description?: string;
  /** New status. */
  status?: EventStatus;
}

/**
 * Apply `changes` to event `id`; call inside a transaction. Becoming confirmed sets confirmed_at,
 * links a new memory when the event has none (reminders need one), and makes the event's one
 * reminder at event_time (re-using the reminder of an earlier confirm if it is still there).
 * Becoming rejected deletes that reminder unless it already fired. A new time or description on
 * a confirmed event is carried to its reminder (re-armed when moved to the future). An event
 * never returns to pending (409). Returns null when there is no such event.
 */
export function updateEvent(
  db: DatabaseSync,
  id: string,
  changes: EventChanges,
): EventRow | null {
  const before = getEvent(db, id);
  if (before === null) return null;
  const { actor, at } = changes;
  const after: EventRow = { ...before };
  if (changes.event_time !== undefined) after.event_time = changes.event_time;
  if (changes.description !== undefined) after.description = changes.description;
  if (changes.status !== undefined) after.status = changes.status;
  if (after.status === "pending" && before.status !== "pending") {
    throw new ApiError(409, `Event is already ${before.status}; it cannot return to pending`);
  }
  const confirming = after.status === "confirmed" && before.status !== "confirmed";
  const rejecting = after.status === "rejected" && before.status !== "rejected";
  if (confirming) after.confirmed_at = at;
  if (rejecting) after.confirmed_at = null;
  const detailsChanged = after.event_time !== before.event_time ||
    after.description !== before.description;
  if (!confirming && !rejecting && !detailsChanged) return before;

  if (confirming && after.memory_id === null) {
    after.memory_id = createEventMemory(db, after, { actor, at });
  }
  // The event's reminder fires at its time and says its description.
  const followEvent = (reminderId: string) =>
    updateReminder(db, reminderId, {
      fire_at: after.event_time,
      text: after.description,
      actor,
      at,
      detail: { event_id: id },
    });
  let dropReminder: string | null = null;
  if (confirming) {
    const existing = after.reminder_id === null ? null : getReminder(db, after.reminder_id);
    if (existing) {
      followEvent(existing.id);
    } else {
      after.reminder_id = createReminder(db, {
        memory_id: after.memory_id!,
        owner_user_id: after.owner_user_id,
        text: after.description,
        fire_at: after.event_time,
        actor,
        at,
        detail: { event_id: id },
      }).id;
    }
  } else if (rejecting && after.reminder_id !== null) {
    const existing = getReminder(db, after.reminder_id);
    // A reminder that already went out is history; only a pending one is withdrawn.
    if (existing && existing.fired === 0) {
      dropReminder = existing.id;
      after.reminder_id = null;
    }
  }

  const { set, args, diff } = columnChanges(before, after, [
    "event_time",
    "description",
    "status",
    "confirmed_at",
    "memory_id",
    "reminder_id",
  ]);
  // Something changed: an unchanged event returned above.
  db.prepare(`UPDATE events SET ${set}, updated_at = ? WHERE id = ?`).run(...args, at, id);
  writeAudit(db, {
    entity_type: "event",
    entity_id: id,
    action: confirming ? "confirmed" : rejecting ? "rejected" : "updated",
    actor,
    detail: { changes: diff, ...changes.detail },
    at,
  });

  // After the event row lets go of it, so the foreign key allows the delete.
  if (dropReminder !== null) {
    deleteReminder(db, dropReminder, { actor, at, detail: { event_id: id } });
  } else if (
    !confirming && after.status === "confirmed" && after.reminder_id !== null && detailsChanged
  ) {
    followEvent(after.reminder_id);
  }
  return getEvent(db, id);
}

/** Create the confirmed memory an event without one is linked to; returns its id. */
function createEventMemory(db: DatabaseSync, event: EventRow, context: ChangeContext): string {
  const memoryId = newRowId();
  insertMemory(db, {
    id: memoryId,
    owner_user_id: event.owner_user_id,
    source_chat_id: null,
    source_message_id: null,
    content: event.description,
    media_type: null,
    media_file_id: null,
    status: "confirmed",
    pending_expires_at: null,
    at: context.at,
  });
  writeAudit(db, {
    entity_type: "memory",
    entity_id: memoryId,
    action: "created",
    actor: context.actor,
    detail: { event_id: event.id, reason: "event confirmed without a memory" },
    at: context.at,
  });
  return memoryId;
}

/**
 * Delete event `id` with its `deleted` audit entry, and its reminder unless that already fired.
 * Call inside a transaction. Returns false when there is no such event.
 */
export function deleteEvent(db: DatabaseSync, id: string, context: ChangeContext): boolean {
  const before = getEvent(db, id);
  if (before === null) return false;
  db.prepare("DELETE FROM events WHERE id = ?").run(id);
  writeAudit(db, {
    entity_type: "event",
    entity_id: id,
    action: "deleted",
    actor: context.actor,
    detail: {
      description: before.description,
      status: before.status,
      reminder_id: before.reminder_id,
    },
    at: context.at,
  });
  if (before.reminder_id !== null) {
    const reminder = getReminder(db, before.reminder_id);
    if (reminder && reminder.fired === 0) {
      deleteReminder(db, reminder.id, { ...context, detail: { event_id: id } });
    }
  }
  return true;
}
