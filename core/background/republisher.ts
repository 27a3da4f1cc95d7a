/**
 * The republisher: Redis is a transport, not the source of truth, so the core keeps putting
 * jobs back on their streams until a worker finishes them.
 *
 * - A queued job with no `stream_message_id` never reached Redis (Redis down, or a crash between
 *   commit and XADD): publish it.
 * - A queued or processing job that has not changed for a while, whose recorded entry is gone
 *   (Redis restarted without its AOF, the stream was trimmed or deleted) or was acked by a
 *   worker without the job being finished (a worker handing it back): publish it again.
 *
 * Re-sending is safe: the worker skips jobs that are already completed or failed.
 */
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { writeAudit } from "../store/audit.ts";
import { transaction } from "../db/open.ts";
import { limitParam, queryAll } from "../db/query.ts";
import { jobMessageOf, type JobRow, recordPublished } from "../store/job_repo.ts";
import { publishWithin } from "../jobs/job_publisher.ts";
import type { PipelineResult } from "../jobs/redis_call.ts";
import type { ChainableCommander } from "ioredis";
import { type Loop, startLoop } from "./loop.ts";
import { within } from "../../shared/timeout.ts";
import { SCHEDULER_ACTOR } from "../../shared/actors.ts";
import { JOB_STREAMS, WORKER_GROUP } from "../../shared/streams.ts";

/** Options for {@linkcode republishOnce}. */
export interface RepublishOptions {
  /**
   * Leave unpublished jobs younger than this alone, so the pass does not race the creating
   * request's own publish (bounded at about 1 s). Default 2000.
   */
  unpublishedAgeMs?: number;
  /** A job must be unchanged this long before its stream entry is checked. Default 60000. */
  staleMs?: number;
  /** Rows read per query. Default 100. */
  batchSize?: number;
  /** Most jobs handled per kind per pass, so a pass stays short. Default 1000. */
  maxPerPass?: number;
  /** Bound on each Redis call. Default 1000. */
  timeoutMs?: number;
}

/** What one pass did. */
export interface RepublishResult {
  /** Jobs that had never reached Redis and now did. */
  published: number;
  /** Jobs whose entry was lost (or acked unfinished) and that were published again. */
  recovered: number;
  /** The Redis error that ended the pass early, if one did. */
  error?: string;
}

const DEFAULTS = {
  unpublishedAgeMs: 2000,
  staleMs: 60_000,
  batchSize: 100,
  maxPerPass: 1000,
  timeoutMs: 1000,
};

class RedisUnavailable extends Error {}

function isoBefore(now: Date, ms: number): string {
  return new Date(now.getTime() - ms).toISOString();
}

async function republish(
  deps: CoreDeps,
  row: JobRow,
  opts: { timeoutMs: number; reason: string },
): Promise<boolean> {
  const stream = JOB_STREAMS[row.job_type];
  if (!stream) {
    // Only a hand-edited row could get here; it can never be processed, so say so instead of
    // retrying blindly.
    deps.log.error("job has an unknown job_type; not republished", {
      job_id: row.id,
      job_type: row.job_type,
    });
    return false;
  }
  const out = await publishWithin(deps.redis, { stream, data: jobMessageOf(row) }, {
    timeoutMs: opts.timeoutMs,
  });
  if (out.id === null) throw new RedisUnavailable(out.error ?? "publish failed");
  const at = nowIso(deps.clock);
  // Recording the entry and its audit entry land together.
  transaction(deps.db, () => {
    recordPublished(deps.db, { id: row.id, messageId: out.id!, at });
    writeAudit(deps.db, {
      entity_type: "llm_job",
      entity_id: row.id,
      action: row.stream_message_id === null ? "published" : "requeued",
      actor: SCHEDULER_ACTOR,
      detail: {
        reason: opts.reason,
        stream,
        message_id: out.id,
        previous_message_id: row.stream_message_id,
      },
      at,
    });
  });
  return true;
}

/**
 * The jobs `where` selects (its one `?` is `cutoff`), oldest first, in keyset pages of
 * `batchSize`, at most `maxPerPass` of them; each page is read when the previous one is done.
 */
function* pagesWhere(
  deps: CoreDeps,
  where: { sql: string; cutoff: string },
  o: typeof DEFAULTS,
): Generator<JobRow[]> {
  const sql = `SELECT * FROM llm_jobs WHERE ${where.sql} AND (created_at, id) > (?, ?)
     ORDER BY created_at, id LIMIT ${limitParam()}`;
  let seen = 0;
  let after = ["", ""];
  while (seen < o.maxPerPass) {
    const limit = Math.min(o.batchSize, o.maxPerPass - seen);
    const rows = queryAll<JobRow>(deps.db, sql, where.cutoff, after[0], after[1], limit);
    seen += rows.length;
    if (rows.length > 0) yield rows;
    if (rows.length < limit) return;
    const last = rows[rows.length - 1];
    after = [last.created_at, last.id];
  }
}

async function publishUnpublished(
  deps: CoreDeps,
  o: typeof DEFAULTS,
): Promise<number> {
  const where = {
    sql: "status = 'queued' AND stream_message_id IS NULL AND created_at <= ?",
    cutoff: isoBefore(deps.clock(), o.unpublishedAgeMs),
  };
  let published = 0;
  for (const page of pagesWhere(deps, where, o)) {
    for (const row of page) {
      if (await republish(deps, row, { timeoutMs: o.timeoutMs, reason: "never_published" })) {
        published++;
      }
    }
  }
  return published;
}

interface GroupInfo {
  exists: boolean;
  lastDeliveredId: string;
}

function compareIds(a: string, b: string): number {
  const [am, as = "0"] = a.split("-");
  const [bm, bs = "0"] = b.split("-");
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e < 0n ? -1 : 1;
}

function fieldOf(info: unknown, name: string): unknown {
  if (Array.isArray(info)) {
    const i = info.indexOf(name);
    return i >= 0 && i % 2 === 0 ? info[i + 1] : undefined;
  }
  if (info && typeof info === "object") return (info as Record<string, unknown>)[name];
  return undefined;
}

async function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  try {
    return await within(p, ms, "redis");
  } catch (err) {
    throw new RedisUnavailable((err as Error).message);
  }
}

async function groupInfo(deps: CoreDeps, stream: string, timeoutMs: number): Promise<GroupInfo> {
  let groups: unknown[];
  try {
    groups = await bounded(deps.redis.xinfo("GROUPS", stream) as Promise<unknown[]>, timeoutMs);
  } catch (err) {
    // No stream at all: nothing was ever delivered from it.
    if (/no such key/i.test((err as Error).message)) {
      return { exists: false, lastDeliveredId: "0-0" };
    }
    throw err;
  }
  for (const g of groups ?? []) {
    if (fieldOf(g, "name") === WORKER_GROUP) {
      return { exists: true, lastDeliveredId: String(fieldOf(g, "last-delivered-id") ?? "0-0") };
    }
  }
  return { exists: false, lastDeliveredId: "0-0" };
}

/** A job of a page, with its stream and recorded entry id. */
interface Entry {
  row: JobRow;
  stream: string;
  id: string;
}

/**
 * Run one command per entry in one pipeline (one round trip), bounded; their replies in order.
 * Any command's error ends the pass, as a single command's would.
 */
async function eachEntry(
  deps: CoreDeps,
  entries: Entry[],
  opts: { timeoutMs: number; command: (p: ChainableCommander, e: Entry) => void },
): Promise<unknown[]> {
  if (entries.length === 0) return [];
  const pipeline = deps.redis.pipeline();
  for (const e of entries) opts.command(pipeline, e);
  const results = await bounded(pipeline.exec() as Promise<PipelineResult>, opts.timeoutMs);
  return results.map(([err, reply]) => {
    if (err) throw new RedisUnavailable(err.message);
    return reply;
  });
}

/**
 * The jobs of `rows` whose stream entry no longer carries them to a worker, each with why; a
 * job left out still has a working entry. The page's checks go to Redis a pipeline at a time,
 * not a round trip per job: with workers down, a backlog of queued jobs is checked again every
 * pass (a pass over 1,000 of them cost the core ~80 ms of its event loop one call at a time).
 */
async function entryProblems(
  deps: CoreDeps,
  rows: JobRow[],
  ctx: { timeoutMs: number; groups: Map<string, GroupInfo> },
): Promise<Map<JobRow, string>> {
  const entries: Entry[] = [];
  for (const row of rows) {
    const stream = JOB_STREAMS[row.job_type];
    if (stream) entries.push({ row, stream, id: row.stream_message_id! });
  }
  const problems = new Map<JobRow, string>();
  const found = await eachEntry(deps, entries, {
    timeoutMs: ctx.timeoutMs,
    command: (p, e) => p.xrange(e.stream, e.id, e.id),
  });
  const delivered: Entry[] = [];
  for (const [i, e] of entries.entries()) {
    if ((found[i] as unknown[]).length === 0) {
      problems.set(e.row, "entry_lost");
      continue;
    }
    let group = ctx.groups.get(e.stream);
    if (!group) {
      group = await groupInfo(deps, e.stream, ctx.timeoutMs);
      ctx.groups.set(e.stream, group);
    }
    // Not yet handed to any worker: it is waiting its turn.
    if (group.exists && compareIds(e.id, group.lastDeliveredId) <= 0) delivered.push(e);
  }
  const pending = await eachEntry(deps, delivered, {
    timeoutMs: ctx.timeoutMs,
    command: (p, e) => p.xpending(e.stream, WORKER_GROUP, e.id, e.id, 1),
  });
  // Delivered and still pending: a worker has it, or will reclaim it (XAUTOCLAIM). Delivered
  // and acked, yet the job is not finished: nobody will look at that entry again.
  delivered.forEach((e, i) => {
    if ((pending[i] as unknown[]).length === 0) problems.set(e.row, "acked_unfinished");
  });
  return problems;
}

async function recoverLost(deps: CoreDeps, o: typeof DEFAULTS): Promise<number> {
  const where = {
    sql: `status IN ('queued', 'processing') AND stream_message_id IS NOT NULL
          AND max(updated_at, coalesce(published_at, '')) <= ?`,
    cutoff: isoBefore(deps.clock(), o.staleMs),
  };
  const ctx = { timeoutMs: o.timeoutMs, groups: new Map<string, GroupInfo>() };
  let recovered = 0;
  for (const page of pagesWhere(deps, where, o)) {
    const problems = await entryProblems(deps, page, ctx);
    for (const row of page) {
      const reason = problems.get(row);
      if (reason === undefined) continue;
      if (await republish(deps, row, { timeoutMs: o.timeoutMs, reason })) recovered++;
    }
  }
  return recovered;
}

/**
 * One republisher pass: publish queued jobs that never reached Redis (oldest first), then
 * republish stale jobs whose stream entry is lost. Never throws on a Redis failure: the pass
 * stops, logs, and the next pass tries again.
 */
export async function republishOnce(
  deps: CoreDeps,
  options: RepublishOptions = {},
): Promise<RepublishResult> {
  const o = { ...DEFAULTS, ...options };
  const out: RepublishResult = { published: 0, recovered: 0 };
  try {
    out.published = await publishUnpublished(deps, o);
    out.recovered = await recoverLost(deps, o);
  } catch (err) {
    out.error = (err as Error).message;
    if (err instanceof RedisUnavailable) {
      deps.log.warn("republisher: redis unavailable; retrying next pass", { error: out.error });
    } else {
      deps.log.error("republisher pass failed", { error: out.error });
    }
  }
  if (out.published || out.recovered) {
    deps.log.info("republisher pass", { published: out.published, recovered: out.recovered });
  }
  return out;
}

/** Options for {@linkcode startRepublisher}. */
export interface StartRepublisherOptions extends RepublishOptions {
  /** Time between the end of one pass and the start of the next. */
  intervalMs: number;
}

/** Start the republisher; one pass every `intervalMs`. `stop()` waits for a running pass. */
export function startRepublisher(deps: CoreDeps, options: StartRepublisherOptions): Loop {
  const { intervalMs, ...passOptions } = options;
  return startLoop(() => republishOnce(deps, passOptions), {
    intervalMs,
    name: "republisher",
    log: deps.log,
  });
}
