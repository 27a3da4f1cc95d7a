/**
 * Publishing to Redis from the core without letting Redis decide the answer: every XADD is
 * bounded by a short timeout, and a job whose publish failed stays queued with no
 * `stream_message_id` for the republisher. Jobs are only ever published after their row is
 * committed.
 */
import type { DatabaseSync } from "node:sqlite";
import type { Redis } from "ioredis";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { groupCommit } from "../db/group_commit.ts";
import { jobMessageOf, type JobRow, recordPublished } from "../store/job_repo.ts";
import { JOB_STREAMS, publish } from "../../shared/streams.ts";
import { redisReady } from "../../shared/redis.ts";
import { within } from "../../shared/timeout.ts";

/** Default bound on one publish, in milliseconds. */
export const PUBLISH_TIMEOUT_MS = 1000;

/** Outcome of {@linkcode publishWithin}. */
export interface BoundedPublish {
  /** Entry id when the XADD finished in time, else null. */
  id: string | null;
  /** Why there is no id (timeout, connection error). */
  error?: string;
  /**
   * The XADD's final outcome, even when it finished after the timeout (null when it failed or
   * was never sent). Lets a caller record an entry that arrived late.
   */
  settled: Promise<string | null>;
}

/** Options for {@linkcode publishWithin}. */
export interface PublishWithinOptions {
  /** Give up after this many milliseconds ({@linkcode PUBLISH_TIMEOUT_MS} by default). */
  timeoutMs?: number;
}

/**
 * XADD `data` to `stream`, waiting at most `timeoutMs` (including the wait for a connection).
 * Never throws: a failure is reported in the result. A publish not yet sent when the time is
 * up is abandoned, so Redis coming back later cannot deliver a stale duplicate.
 */
export async function publishWithin(
  redis: Redis,
  message: { stream: string; data: unknown },
  options: PublishWithinOptions = {},
): Promise<BoundedPublish> {
  const timeoutMs = options.timeoutMs ?? PUBLISH_TIMEOUT_MS;
  // The client may be (re)connecting; with the offline queue off a command sent now would fail
  // at once, so a request arriving just after start-up would always miss its publish.
  const giveUp = new AbortController();
  const attempt = redisReady(redis, { signal: giveUp.signal })
    .then(() => publish(redis, message.stream, message.data));
  const settled = attempt.then((id) => id, () => null);
  try {
    const id = await within(attempt, timeoutMs, "redis", { onTimeout: () => giveUp.abort() });
    return { id, settled };
  } catch (err) {
    return { id: null, error: (err as Error).message, settled };
  }
}

/** Options for {@linkcode publishJob}. */
export interface PublishJobOptions extends PublishWithinOptions {
  /**
   * Answer as soon as the entry is in Redis; its id is recorded in the next group commit
   * without waiting for that commit. For POST /llm_jobs, whose answer does not carry the id:
   * waiting for a second commit only delayed it (+6% req/s without the wait, bench store, 16
   * connections). A crash before the record leaves the job as unpublished as a crash just before
   * an awaited one would; the republisher leaves jobs younger than 2 s to their own publish.
   */
  recordInBackground?: boolean;
}

/**
 * Publish a committed job to its stream and record the entry id on the row. Answers the entry
 * id, or null when Redis is down or slow (the republisher retries later). A publish that
 * completes after the timeout is still recorded, so the republisher does not send it twice.
 */
export async function publishJob(
  deps: CoreDeps,
  row: JobRow,
  options: PublishJobOptions = {},
): Promise<string | null> {
  const { db, redis, clock, log } = deps;
  const stream = JOB_STREAMS[row.job_type];
  const out = await publishWithin(redis, { stream, data: jobMessageOf(row) }, options);
  const record = async (messageId: string) => {
    try {
      await recordInBatch(db, { id: row.id, messageId, at: nowIso(clock) });
    } catch (err) {
      // The database may be closing (shutdown); the republisher sorts it out on the next start.
      log.warn("could not record job publish", { job_id: row.id, error: err as Error });
    }
  };
  if (out.id !== null) {
    const recorded = record(out.id);
    if (!options.recordInBackground) await recorded;
    return out.id;
  }
  log.warn("job not published; the republisher will retry", {
    job_id: row.id,
    stream,
    error: out.error,
  });
  void out.settled.then((late) => {
    if (late !== null) record(late);
  });
  return null;
}

/**
 * Record a publish in the next group commit (core/db/group_commit.ts), together with the jobs and
 * other records of the same turn: a commit of its own per job was a fifth of the database time of
 * POST /llm_jobs under load. Resolves once the record is committed.
 */
export function recordInBatch(
  db: DatabaseSync,
  publish: { id: string; messageId: string; at: string },
): Promise<void> {
  return groupCommit(db, () => void recordPublished(db, publish, { onlyIfUnpublished: true }));
}
