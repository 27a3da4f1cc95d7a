/**
 * Operator retries: a failed job goes back to queued and onto its stream again. Completed and
 * failed are terminal for the worker (PATCH answers 409), so this is the one way back; the
 * worker then runs the job like any queued one.
 */
import type { DatabaseSync } from "node:sqlite";
import type { CoreDeps } from "../deps.ts";
import { writeAudit } from "../store/audit.ts";
import { transaction } from "../db/open.ts";
import { limitParam } from "../db/query.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { getJob, type JobRow } from "../store/job_repo.ts";
import { PUBLISH_TIMEOUT_MS, publishJob } from "./job_publisher.ts";
import { redisCall } from "./redis_call.ts";
import { deadLetterMarkerKey } from "../../shared/streams.ts";

/** Who re-queues, when and why (the audit entry). */
export interface RequeueChange {
  /** Audit actor. */
  actor: string;
  /** Now, ISO UTC. */
  at: string;
  /** Why, e.g. `retry`, `retry_failed`, `dead_letter_replay`. */
  reason: string;
  /** More audit detail. */
  detail?: Record<string, unknown>;
}

/**
 * Set failed job `id` back to queued, unpublished and without its error; call inside the
 * caller's transaction. 404 when there is no such job, 409 when it is not failed.
 */
export function requeueFailedJob(db: DatabaseSync, id: string, change: RequeueChange): JobRow {
  const before = getJob(db, id);
  if (!before) throw notFound("LLM job");
  if (before.status !== "failed") {
    throw new ApiError(409, `LLM job is ${before.status}; only a failed job can be retried`);
  }
  // stream_message_id NULL marks it unpublished: the republisher sends it if our publish fails.
  db.prepare(
    `UPDATE llm_jobs SET status = 'queued', error_message = NULL, stream_message_id = NULL,
       published_at = NULL, updated_at = ? WHERE id = ?`,
  ).run(change.at, id);
  writeAudit(db, {
    entity_type: "llm_job",
    entity_id: id,
    action: "requeued",
    actor: change.actor,
    detail: {
      reason: change.reason,
      from: before.status,
      to: "queued",
      previous_error: before.error_message,
      previous_message_id: before.stream_message_id,
      ...change.detail,
    },
    at: change.at,
  });
  return getJob(db, id)!;
}

/**
 * After the re-queue has committed: forget each job's dead-letter marker (so a job that fails
 * again is parked again) and publish it right away. Stops publishing at the first failure
 * (Redis is down or slow): the rest are queued and unpublished, which the republisher handles.
 * Answers how many were published.
 */
export async function publishRequeued(deps: CoreDeps, rows: readonly JobRow[]): Promise<number> {
  let published = 0;
  for (const row of rows) {
    try {
      await redisCall(deps.redis, () => deps.redis.del(deadLetterMarkerKey(row.id)), {
        timeoutMs: PUBLISH_TIMEOUT_MS,
      });
    } catch (err) {
      deps.log.warn(
        "could not clear the dead-letter marker; if the job fails again it is not parked again",
        { job_id: row.id, error: err as Error },
      );
      break;
    }
    if (await publishJob(deps, row) === null) break;
    published++;
  }
  return published;
}

/** Which failed jobs {@linkcode retryFailedJobs} takes. */
export interface RetryFailedOptions {
  /** Only this type; every type when omitted. */
  job_type?: string;
  /** At most this many, oldest first. */
  limit: number;
}

/**
 * Retry failed job `id` for `actor` (POST /llm_jobs/{id}/retry and the admin page): re-queue it
 * and publish it. 404 when there is no such job, 409 when it is not failed.
 */
export async function retryJob(deps: CoreDeps, id: string, actor: string): Promise<JobRow> {
  const at = deps.clock().toISOString();
  const row = transaction(
    deps.db,
    () => requeueFailedJob(deps.db, id, { actor, at, reason: "retry" }),
  );
  await publishRequeued(deps, [row]);
  return getJob(deps.db, id) ?? row;
}

/**
 * Retry every failed job (of a type) for `actor` (POST /llm_jobs/retry-failed and the admin
 * page): re-queue them in one transaction, then publish them. Answers the re-queued rows.
 */
export async function retryFailedJobs(
  deps: CoreDeps,
  actor: string,
  options: RetryFailedOptions,
): Promise<JobRow[]> {
  const { db } = deps;
  const at = deps.clock().toISOString();
  const rows = transaction(db, () => {
    const ids = db.prepare(
      `SELECT id FROM llm_jobs WHERE status = 'failed' AND (? IS NULL OR job_type = ?)
       ORDER BY created_at, rowid LIMIT ${limitParam()}`,
    ).all(options.job_type ?? null, options.job_type ?? null, options.limit) as { id: string }[];
    return ids.map(({ id }) => requeueFailedJob(db, id, { actor, at, reason: "retry_failed" }));
  });
  await publishRequeued(deps, rows);
  return rows;
}
