/**
 * The periodic scheduler (every 30 s in production). One pass:
 * (a) fires due reminders (a `reminder` notification, then `fired = 1`) and schedules the next
 *     one of a recurring reminder;
 * (b) deletes pending image memories past `pending_expires_at`, with their tags and file;
 * (c) drops suggested tags older than 7 days;
 * (d) re-prompts events still pending after 24 h, once a day.
 * Each part is isolated: one failing does not stop the others. Notifications go out before the
 * row is marked, so Redis being down leaves the work for the next pass (at least once).
 */
import type { DatabaseSync } from "node:sqlite";
import type { CoreDeps } from "../deps.ts";
import { writeAudit } from "../store/audit.ts";
import { transaction } from "../db/open.ts";
import { limitParam } from "../db/query.ts";
import { deleteImage } from "../files/images.ts";
import { notify } from "../jobs/notify.ts";
import { createReminder } from "../store/reminder_repo.ts";
import { SCHEDULER_ACTOR } from "../../shared/actors.ts";
import { toUtcIso } from "../../shared/schemas.ts";
import { type Loop, startLoop } from "./loop.ts";

/** Options for {@linkcode runSchedulerOnce}. */
export interface SchedulerOptions {
  /** Rows read per query. Default 200. */
  batchSize?: number;
  /** Most rows handled per part per pass, so a pass stays short. Default 2000. */
  maxPerPass?: number;
  /** Bound on each notification publish. Default 1000. */
  timeoutMs?: number;
  /** Suggested tags older than this are dropped. Default 7 days. */
  suggestedTagMaxAgeMs?: number;
  /** A pending event is re-prompted after this long, and again after each such period. 24 h. */
  repromptAfterMs?: number;
}

/** What one pass did. */
export interface SchedulerResult {
  /** Reminders whose notification went out and that are now fired. */
  reminders_fired: number;
  /** Next reminders created for recurring ones. */
  reminders_scheduled: number;
  /** Pending image memories deleted. */
  memories_expired: number;
  /** Expired pending memories left alone because something points to them. */
  memories_skipped: number;
  /** Suggested tags dropped. */
  tags_dropped: number;
  /** Events re-prompted. */
  events_reprompted: number;
  /** One message per part that failed or stopped early. */
  errors: string[];
}

const DEFAULTS = {
  batchSize: 200,
  maxPerPass: 2000,
  timeoutMs: 1000,
  suggestedTagMaxAgeMs: 7 * 24 * 60 * 60 * 1000,
  repromptAfterMs: 24 * 60 * 60 * 1000,
};

type Options = typeof DEFAULTS;

/**
 * Whether the stored time `value` is at or before `iso` (normalized UTC). Rows written by the
 * first version may carry offsets, which compare wrongly as strings, so parse them.
 */
function atOrBefore(value: string | null, iso: string): boolean {
  if (value === null) return false;
  const v = toUtcIso(value);
  return v !== null && v <= iso;
}

/**
 * The SQL condition "column is at or before ?" that also lets through values not in the
 * normalized `...Z` form, which {@linkcode atOrBefore} then decides.
 */
function dueSql(column: string): string {
  return `(${column} <= ? OR ${column} NOT LIKE '%Z')`;
}

/** Rows of `sql` page by page (keyset on `key`), at most `max` of them. */
function* pages<T extends Record<string, unknown>>(
  db: DatabaseSync,
  query: { sql: string; args: (string | number)[]; key: [string, string] },
  o: Options,
): Generator<T> {
  const [k1, k2] = query.key;
  const stmt = db.prepare(
    `${query.sql} AND (${k1}, ${k2}) > (?, ?) ORDER BY ${k1}, ${k2} LIMIT ${limitParam()}`,
  );
  let after: [string, string] = ["", ""];
  let seen = 0;
  while (seen < o.maxPerPass) {
    const limit = Math.min(o.batchSize, o.maxPerPass - seen);
    const rows = stmt.all(...query.args, after[0], after[1], limit) as T[];
    for (const row of rows) {
      seen++;
      yield row;
    }
    if (rows.length < limit) return;
    const last = rows[rows.length - 1];
    after = [String(last[k1]), String(last[k2])];
  }
}

interface ReminderRow extends Record<string, unknown> {
  id: string;
  memory_id: string;
  owner_user_id: number;
  fire_at: string;
  recurrence_minutes: number | null;
  text: string | null;
  memory_content: string | null;
}

/** The first occurrence after `now` of a series starting at `fireAt`, every `minutes`. */
function nextOccurrence(fireAt: string, minutes: number, now: Date): string {
  const step = minutes * 60_000;
  const start = Date.parse(fireAt);
  const periods = Math.max(0, Math.floor((now.getTime() - start) / step)) + 1;
  return new Date(start + periods * step).toISOString();
}

async function fireReminders(
  deps: CoreDeps,
  now: Date,
  o: Options,
  out: SchedulerResult,
): Promise<void> {
  const { db, log } = deps;
  const nowIso = now.toISOString();
  const due = pages<ReminderRow>(db, {
    sql: `SELECT * FROM (
            SELECT r.id, r.memory_id, r.owner_user_id, r.fire_at, r.recurrence_minutes, r.text,
                   m.content AS memory_content
            FROM reminders r LEFT JOIN memories m ON m.id = r.memory_id
            WHERE r.fired = 0)
          WHERE ${dueSql("fire_at")}`,
    args: [nowIso],
    key: ["fire_at", "id"],
  }, o);
  for (const r of due) {
    if (!atOrBefore(r.fire_at, nowIso)) continue;
    const fireAt = toUtcIso(r.fire_at)!;
    let messageId: string;
    try {
      messageId = await notify(deps.redis, {
        user_id: r.owner_user_id,
        message_type: "reminder",
        content: {
          reminder_id: r.id,
          memory_id: r.memory_id,
          // The gateway shows memory_content; an image memory has none, so the reminder's own
          // text stands in (and something readable when neither says anything).
          memory_content: firstText(r.memory_content, r.text) ?? "(no text)",
          text: firstText(r.text, r.memory_content) ?? "",
          fire_at: fireAt,
        },
      }, { timeoutMs: o.timeoutMs });
    } catch (err) {
      // Redis is down or slow: leave this and the rest unfired for the next pass.
      throw new Error(`reminders: ${(err as Error).message}`);
    }
    transaction(db, () => {
      // Guarded on fire_at too: a reminder re-armed to a later time while the notification was
      // in flight must stay armed.
      const res = db.prepare(
        "UPDATE reminders SET fired = 1, updated_at = ? WHERE id = ? AND fired = 0 AND fire_at = ?",
      ).run(nowIso, r.id, r.fire_at);
      if (Number(res.changes) === 0) {
        log.warn("reminder changed while firing; left as it is", { reminder_id: r.id });
        return;
      }
      writeAudit(db, {
        entity_type: "reminder",
        entity_id: r.id,
        action: "fired",
        actor: SCHEDULER_ACTOR,
        detail: { fire_at: fireAt, message_id: messageId },
        at: nowIso,
      });
      out.reminders_fired++;
      if (r.recurrence_minutes && r.recurrence_minutes > 0) {
        createReminder(db, {
          memory_id: r.memory_id,
          owner_user_id: r.owner_user_id,
          text: r.text,
          fire_at: nextOccurrence(fireAt, r.recurrence_minutes, now),
          recurrence_minutes: r.recurrence_minutes,
          actor: SCHEDULER_ACTOR,
          at: nowIso,
          detail: { recurring_from: r.id },
        });
        out.reminders_scheduled++;
      }
    });
  }
}

interface PendingMemoryRow extends Record<string, unknown> {
  id: string;
  owner_user_id: number;
  media_local_path: string | null;
  pending_expires_at: string;
}

async function expirePendingMemories(
  deps: CoreDeps,
  now: Date,
  o: Options,
  out: SchedulerResult,
): Promise<void> {
  const { db, log } = deps;
  const nowIso = now.toISOString();
  const expired = [...pages<PendingMemoryRow>(db, {
    sql: `SELECT id, owner_user_id, media_local_path, pending_expires_at FROM memories
          WHERE status = 'pending' AND pending_expires_at IS NOT NULL
            AND ${dueSql("pending_expires_at")}`,
    args: [nowIso],
    key: ["pending_expires_at", "id"],
  }, o)].filter((m) => atOrBefore(m.pending_expires_at, nowIso));
  const refs = db.prepare(
    `SELECT (SELECT count(*) FROM tasks WHERE memory_id = ?1) AS tasks,
            (SELECT count(*) FROM reminders WHERE memory_id = ?1) AS reminders,
            (SELECT count(*) FROM events WHERE memory_id = ?1) AS events`,
  );
  for (const m of expired) {
    const counts = refs.get(m.id) as { tasks: number; reminders: number; events: number };
    if (counts.tasks || counts.reminders || counts.events) {
      log.warn("expired pending memory kept: other rows point to it", {
        memory_id: m.id,
        ...counts,
      });
      out.memories_skipped++;
      continue;
    }
    const deleted = transaction(db, () => {
      const tags = db.prepare("SELECT tag FROM memory_tags WHERE memory_id = ? ORDER BY tag")
        .all(m.id).map((t) => t.tag);
      db.prepare("DELETE FROM memory_tags WHERE memory_id = ?").run(m.id);
      const res = db.prepare("DELETE FROM memories WHERE id = ? AND status = 'pending'").run(m.id);
      if (Number(res.changes) === 0) return false;
      writeAudit(db, {
        entity_type: "memory",
        entity_id: m.id,
        action: "expired",
        actor: SCHEDULER_ACTOR,
        detail: {
          pending_expires_at: m.pending_expires_at,
          tags,
          media_local_path: m.media_local_path,
        },
        at: nowIso,
      });
      return true;
    });
    if (!deleted) continue;
    out.memories_expired++;
    if (m.media_local_path) await removeImage(deps, m.media_local_path);
  }
}

async function removeImage(deps: CoreDeps, path: string): Promise<void> {
  try {
    const outcome = await deleteImage(path, deps.config.IMAGE_STORAGE_PATH);
    if (outcome === "outside") {
      // A path outside the image directory is never ours to delete.
      deps.log.warn("image of expired memory is outside IMAGE_STORAGE_PATH; not deleted", { path });
    }
  } catch (err) {
    deps.log.warn("could not delete image of expired memory", { path, error: err as Error });
  }
}

interface SuggestedTagRow extends Record<string, unknown> {
  memory_id: string;
  tag: string;
  suggested_at: string;
}

function dropOldSuggestedTags(
  deps: CoreDeps,
  now: Date,
  o: Options,
  out: SchedulerResult,
): void {
  const { db } = deps;
  const nowIso = now.toISOString();
  const cutoff = new Date(now.getTime() - o.suggestedTagMaxAgeMs).toISOString();
  const old = [...pages<SuggestedTagRow>(db, {
    sql: `SELECT memory_id, tag, suggested_at FROM memory_tags
          WHERE status = 'suggested' AND suggested_at IS NOT NULL AND ${dueSql("suggested_at")}`,
    args: [cutoff],
    key: ["memory_id", "tag"],
  }, o)].filter((t) => atOrBefore(t.suggested_at, cutoff));
  for (const t of old) {
    transaction(db, () => {
      const res = db.prepare(
        "DELETE FROM memory_tags WHERE memory_id = ? AND tag = ? AND status = 'suggested'",
      ).run(t.memory_id, t.tag);
      if (Number(res.changes) === 0) return;
      // On the memory, as the first version logged it: clients read a memory's history by its id.
      writeAudit(db, {
        entity_type: "memory",
        entity_id: t.memory_id,
        action: "expired",
        actor: SCHEDULER_ACTOR,
        detail: { tag: t.tag, status: "suggested", suggested_at: t.suggested_at },
        at: nowIso,
      });
      out.tags_dropped++;
    });
  }
}

interface PendingEventRow extends Record<string, unknown> {
  id: string;
  owner_user_id: number;
  description: string;
  event_time: string;
  source_type: string;
  since: string;
  last_reprompt_at: string | null;
}

async function repromptEvents(
  deps: CoreDeps,
  now: Date,
  o: Options,
  out: SchedulerResult,
): Promise<void> {
  const { db } = deps;
  const nowIso = now.toISOString();
  const cutoff = new Date(now.getTime() - o.repromptAfterMs).toISOString();
  const due = [...pages<PendingEventRow>(db, {
    // Events of the first version may lack pending_since; they have been pending since created.
    sql: `SELECT * FROM (
            SELECT id, owner_user_id, description, event_time, source_type, last_reprompt_at,
                   coalesce(pending_since, created_at) AS since
            FROM events WHERE status = 'pending')
          WHERE ${dueSql("since")} AND (last_reprompt_at IS NULL OR ${dueSql("last_reprompt_at")})`,
    args: [cutoff, cutoff],
    key: ["since", "id"],
  }, o)].filter((e) =>
    atOrBefore(e.since, cutoff) &&
    (e.last_reprompt_at === null || atOrBefore(e.last_reprompt_at, cutoff))
  );
  for (const e of due) {
    let messageId: string;
    try {
      messageId = await notify(deps.redis, {
        user_id: e.owner_user_id,
        message_type: "event_reprompt",
        content: {
          event_id: e.id,
          description: e.description,
          // The gateway reads event_date; event_time stays for newer clients.
          event_date: toUtcIso(e.event_time) ?? e.event_time,
          event_time: toUtcIso(e.event_time) ?? e.event_time,
          source_type: e.source_type,
        },
      }, { timeoutMs: o.timeoutMs });
    } catch (err) {
      throw new Error(`event re-prompts: ${(err as Error).message}`);
    }
    transaction(db, () => {
      const res = db.prepare(
        "UPDATE events SET last_reprompt_at = ? WHERE id = ? AND status = 'pending'",
      ).run(nowIso, e.id);
      if (Number(res.changes) === 0) return;
      // `requeued`, as the first version logged a re-prompt: clients read it from the audit.
      writeAudit(db, {
        entity_type: "event",
        entity_id: e.id,
        action: "requeued",
        actor: SCHEDULER_ACTOR,
        detail: {
          reason: "reprompt",
          pending_since: toUtcIso(e.since) ?? e.since,
          message_id: messageId,
        },
        at: nowIso,
      });
    });
    out.events_reprompted++;
  }
}

/** Run one scheduler pass at `deps.clock()`. Never throws; failures are logged and listed. */
export async function runSchedulerOnce(
  deps: CoreDeps,
  options: SchedulerOptions = {},
): Promise<SchedulerResult> {
  const o: Options = { ...DEFAULTS, ...options };
  const now = deps.clock();
  const out: SchedulerResult = {
    reminders_fired: 0,
    reminders_scheduled: 0,
    memories_expired: 0,
    memories_skipped: 0,
    tags_dropped: 0,
    events_reprompted: 0,
    errors: [],
  };
  const parts: [string, () => Promise<void> | void][] = [
    ["reminders", () => fireReminders(deps, now, o, out)],
    ["pending memories", () => expirePendingMemories(deps, now, o, out)],
    ["suggested tags", () => dropOldSuggestedTags(deps, now, o, out)],
    ["event re-prompts", () => repromptEvents(deps, now, o, out)],
  ];
  for (const [name, part] of parts) {
    try {
      await part();
    } catch (err) {
      const message = (err as Error).message;
      out.errors.push(message.startsWith(name) ? message : `${name}: ${message}`);
      deps.log.warn("scheduler part failed; retrying next pass", { part: name, error: message });
    }
  }
  const did = out.reminders_fired + out.memories_expired + out.tags_dropped +
    out.events_reprompted;
  if (did > 0) deps.log.info("scheduler pass", { ...out });
  return out;
}

/** Options for {@linkcode startScheduler}. */
export interface StartSchedulerOptions extends SchedulerOptions {
  /** Time between the end of one pass and the start of the next. */
  intervalMs: number;
}

/** Start the scheduler; one pass every `intervalMs`. `stop()` waits for a running pass. */
export function startScheduler(deps: CoreDeps, options: StartSchedulerOptions): Loop {
  const { intervalMs, ...passOptions } = options;
  return startLoop(() => runSchedulerOnce(deps, passOptions), {
    intervalMs,
    name: "scheduler",
    log: deps.log,
  });
}

/** `a` when it has something other than white space in it, else `b` when that has. */
function firstText(a: string | null, b: string | null): string | undefined {
  return [a, b].find((v): v is string => typeof v === "string" && v.trim() !== "");
}
