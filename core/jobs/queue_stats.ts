/**
 * What the job queue looks like right now: job counts by status and type from SQLite (the source
 * of truth), and from Redis each job stream's length and pending entries (per consumer) for the
 * worker group, and the dead-letter stream's length. GET /admin/queue-stats answers it and the
 * /metrics collector publishes it. Redis being down is part of the answer, not an error.
 */
import type { DatabaseSync } from "node:sqlite";
import type { Redis } from "ioredis";
import { JOB_STATUSES, JOB_TYPES, type JobStatus, type JobType } from "../../shared/enums.ts";
import { isJobType } from "../../shared/job_types.ts";
import { DEAD_LETTER_STREAM, JOB_STREAMS, WORKER_GROUP } from "../../shared/streams.ts";
import { type PipelineResult, redisCall } from "./redis_call.ts";
import type { z } from "zod";
import type { queueStatsResponse, streamStatsResponse } from "../../shared/response_schemas.ts";

/**
 * The whole picture, as GET /admin/queue-stats answers it: job counts from SQLite, one entry per
 * job stream in a fixed order, the dead-letter stream, and whether Redis answered.
 */
export type QueueStats = z.output<typeof queueStatsResponse>;

/** Job counts from SQLite: over all types, and per type then per status. */
export type JobCounts = QueueStats["jobs"];

/** Jobs per status. */
export type StatusCounts = JobCounts["by_status"];

/** One job stream, from Redis (counts are null when Redis did not answer). */
export type StreamStats = z.output<typeof streamStatsResponse>;

/** Options for {@linkcode queueStats}. */
export interface QueueStatsOptions {
  /** Bound on the Redis round trip, in ms (default 1000): a scrape must not hang on Redis. */
  timeoutMs?: number;
}

function zeroCounts(): StatusCounts {
  return Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as StatusCounts;
}

/**
 * The counts {@linkcode jobCounts} reads: every job, but from idx_llm_jobs_type_status (job_type,
 * status, created_at; migration 017), not from the table's rows.
 */
export const JOB_COUNTS_SQL =
  "SELECT job_type, status, count(*) AS n FROM llm_jobs GROUP BY job_type, status";

/** Job counts by status and type (every combination present, zeros included). */
export function jobCounts(db: DatabaseSync): JobCounts {
  const out: JobCounts = {
    by_status: zeroCounts(),
    by_type: Object.fromEntries(JOB_TYPES.map((t) => [t, zeroCounts()])) as Record<
      JobType,
      StatusCounts
    >,
  };
  const rows = db.prepare(JOB_COUNTS_SQL).all() as {
    job_type: string;
    status: string;
    n: number;
  }[];
  for (const row of rows) {
    // Rows hand-edited into an unknown type or status are not the contract's; leave them out.
    if (!(JOB_STATUSES as readonly string[]).includes(row.status)) continue;
    const status = row.status as JobStatus;
    out.by_status[status] += row.n;
    if (isJobType(row.job_type)) {
      out.by_type[row.job_type][status] += row.n;
    }
  }
  return out;
}

/** Queue statistics from `db` and `redis`. Never throws on a Redis failure. */
export async function queueStats(
  deps: { db: DatabaseSync; redis: Redis },
  options: QueueStatsOptions = {},
): Promise<QueueStats> {
  const jobs = jobCounts(deps.db);
  const entries = JOB_TYPES.map((t) => [t, JOB_STREAMS[t]] as const);
  const unknown = (): StreamStats[] =>
    entries.map(([job_type, stream]) => ({
      stream,
      job_type,
      length: null,
      group_exists: null,
      pending: null,
      consumers: [],
    }));
  let results: PipelineResult;
  try {
    results = await redisCall(deps.redis, () => {
      const pipeline = deps.redis.pipeline();
      for (const [, stream] of entries) {
        pipeline.xlen(stream);
        pipeline.xpending(stream, WORKER_GROUP);
      }
      pipeline.xlen(DEAD_LETTER_STREAM);
      return pipeline.exec() as Promise<PipelineResult>;
    }, { timeoutMs: options.timeoutMs ?? 1000 }) ?? [];
    // A connection error fails every command alike; report it once.
    const failed = results.find(([err]) => err && !/NOGROUP/.test(err.message));
    if (failed) throw failed[0];
  } catch (err) {
    return {
      jobs,
      streams: unknown(),
      dead_letter: { stream: DEAD_LETTER_STREAM, length: null },
      redis: { ok: false, error: (err as Error).message },
    };
  }
  const streams = entries.map(([job_type, stream], i): StreamStats => {
    const length = Number(results[2 * i][1] ?? 0);
    const [pendingErr, pendingReply] = results[2 * i + 1];
    if (pendingErr) {
      // NOGROUP: no worker has ever started on this stream.
      return { stream, job_type, length, group_exists: false, pending: 0, consumers: [] };
    }
    const [count, , , perConsumer] = pendingReply as [number, unknown, unknown, unknown];
    const consumers = ((perConsumer ?? []) as [string, string][]).map(([name, n]) => ({
      name,
      pending: Number(n),
    }));
    return { stream, job_type, length, group_exists: true, pending: Number(count), consumers };
  });
  return {
    jobs,
    streams,
    dead_letter: { stream: DEAD_LETTER_STREAM, length: Number(results.at(-1)?.[1] ?? 0) },
    redis: { ok: true, error: null },
  };
}

/** How recent work went, from SQLite. */
export interface JobActivity {
  /** Jobs completed or failed in the last hour. */
  finished_last_hour: number;
  /** Jobs completed or failed in the last day. */
  finished_last_day: number;
  /** `created_at` of the oldest queued job; null when none is queued. */
  oldest_queued_at: string | null;
}

/**
 * {@linkcode jobActivity}'s query: jobs finished since the hour's and the day's start (bound in
 * that order), and the oldest queued job. The finished condition repeats idx_llm_jobs_finished's
 * own WHERE word for word, which a partial index needs, and names the index: without statistics
 * SQLite prefers idx_llm_jobs_status, which reads every completed job.
 */
export const JOB_ACTIVITY_SQL = `SELECT
  (SELECT count(*) FROM llm_jobs INDEXED BY idx_llm_jobs_finished
    WHERE status IN ('completed', 'failed') AND updated_at >= ?1) AS hour,
  (SELECT count(*) FROM llm_jobs INDEXED BY idx_llm_jobs_finished
    WHERE status IN ('completed', 'failed') AND updated_at >= ?2) AS day,
  (SELECT min(created_at) FROM llm_jobs WHERE status = 'queued') AS oldest`;

/** Finished jobs in the last hour and day before `now`, and the oldest queued job. */
export function jobActivity(db: DatabaseSync, now: Date): JobActivity {
  const hourAgo = new Date(now.getTime() - 3600_000).toISOString();
  const dayAgo = new Date(now.getTime() - 86400_000).toISOString();
  // A finished job's last change is its finishing (completed and failed are final). Each part
  // reads an index (migration 019): the counts only the day's finished jobs, not every job.
  const row = db.prepare(JOB_ACTIVITY_SQL).get(hourAgo, dayAgo) as {
    hour: number;
    day: number;
    oldest: string | null;
  };
  return {
    finished_last_hour: row.hour,
    finished_last_day: row.day,
    oldest_queued_at: row.oldest,
  };
}

/** One consumer (worker replica) of the worker group, from XINFO CONSUMERS. */
export interface ConsumerInfo {
  /** Job stream. */
  stream: string;
  /** Consumer name (`<hostname>-<pid>-<random>`). */
  name: string;
  /** Entries delivered to it and not acked. */
  pending: number;
  /** Milliseconds since it last read or claimed. */
  idle_ms: number;
  /** Milliseconds since its last successful read (Redis 7.2+; null before). */
  inactive_ms: number | null;
}

function fieldsOf(flat: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const list = Array.isArray(flat) ? flat : [];
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = list[i + 1];
  return out;
}

/**
 * Every consumer of the worker group on every job stream, with its idle time, so a dead
 * replica (pending entries, long idle) shows. XPENDING in {@linkcode queueStats} lists only
 * consumers holding entries. Throws when Redis does not answer.
 */
export async function streamConsumers(
  redis: Redis,
  options: QueueStatsOptions = {},
): Promise<ConsumerInfo[]> {
  const streams = JOB_TYPES.map((t) => JOB_STREAMS[t]);
  const results = await redisCall(redis, () => {
    const pipeline = redis.pipeline();
    for (const stream of streams) pipeline.xinfo("CONSUMERS", stream, WORKER_GROUP);
    return pipeline.exec() as Promise<PipelineResult>;
  }, { timeoutMs: options.timeoutMs ?? 1000 }) ?? [];
  const out: ConsumerInfo[] = [];
  streams.forEach((stream, i) => {
    const [err, reply] = results[i] ?? [null, []];
    if (err) {
      // No stream or no group yet: no worker has started on it.
      if (/NOGROUP|no such key/i.test(err.message)) return;
      throw err;
    }
    for (const raw of (reply ?? []) as unknown[]) {
      const f = fieldsOf(raw);
      out.push({
        stream,
        name: String(f.name),
        pending: Number(f.pending ?? 0),
        idle_ms: Number(f.idle ?? 0),
        inactive_ms: f.inactive === undefined ? null : Number(f.inactive),
      });
    }
  });
  return out;
}
