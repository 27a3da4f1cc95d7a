/**
 * What the job queue looks like right now: job counts by status and type from SQLite (the source
 * of truth), and from Redis each job stream's length and pending entries (per consumer) for the
 * worker group, and the dead-letter stream's length. GET /admin/queue-stats answers it and the
 * /metrics collector publishes it. Redis being down is part of the answer, not an error.
 */
import type { DatabaseSync } from "node:sqlite";
import type { Redis } from "ioredis";
import { JOB_STATUSES, JOB_TYPES, type JobStatus, type JobType } from "../shared/enums.ts";
import { DEAD_LETTER_STREAM, JOB_STREAMS, WORKER_GROUP } from "../shared/streams.ts";
import { redisCall } from "./redis_call.ts";

/** Jobs per status. */
export type StatusCounts = Record<JobStatus, number>;

/** Job counts from SQLite. */
export interface JobCounts {
  /** Over all types. */
  by_status: StatusCounts;
  /** Per type, then per status. */
  by_type: Record<JobType, StatusCounts>;
}

/** One job stream, from Redis. */
export interface StreamStats {
  /** Stream name. */
  stream: string;
  /** The job type it carries. */
  job_type: JobType;
  /** XLEN; null when Redis did not answer. */
  length: number | null;
  /** Whether the worker group exists on the stream; null when Redis did not answer. */
  group_exists: boolean | null;
  /** Delivered, unacked entries of the group; null when Redis did not answer. */
  pending: number | null;
  /** Pending entries per consumer. */
  consumers: { name: string; pending: number }[];
}

/** The whole picture. */
export interface QueueStats {
  /** From SQLite. */
  jobs: JobCounts;
  /** One per job stream, in a fixed order. */
  streams: StreamStats[];
  /** The dead-letter stream. */
  dead_letter: { stream: string; length: number | null };
  /** Whether Redis answered, and if not why. */
  redis: { ok: boolean; error: string | null };
}

/** Options for {@linkcode queueStats}. */
export interface QueueStatsOptions {
  /** Bound on the Redis round trip, in ms (default 1000): a scrape must not hang on Redis. */
  timeoutMs?: number;
}

function zeroCounts(): StatusCounts {
  return Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as StatusCounts;
}

/** Job counts by status and type (every combination present, zeros included). */
export function jobCounts(db: DatabaseSync): JobCounts {
  const out: JobCounts = {
    by_status: zeroCounts(),
    by_type: Object.fromEntries(JOB_TYPES.map((t) => [t, zeroCounts()])) as Record<
      JobType,
      StatusCounts
    >,
  };
  const rows = db.prepare(
    "SELECT job_type, status, count(*) AS n FROM llm_jobs GROUP BY job_type, status",
  ).all() as { job_type: string; status: string; n: number }[];
  for (const row of rows) {
    // Rows hand-edited into an unknown type or status are not the contract's; leave them out.
    if (!(JOB_STATUSES as readonly string[]).includes(row.status)) continue;
    const status = row.status as JobStatus;
    out.by_status[status] += row.n;
    if ((JOB_TYPES as readonly string[]).includes(row.job_type)) {
      out.by_type[row.job_type as JobType][status] += row.n;
    }
  }
  return out;
}

type PipelineResult = [Error | null, unknown][];

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
