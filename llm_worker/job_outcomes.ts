/**
 * How a job run ends, each as a plain function of the run: store the result and notify, fail the
 * job, hand it back, or leave the entry pending for a later run. An entry is acked only once its
 * outcome is stored (at-least-once, applied once: DESIGN.md §5).
 */
import type { Redis } from "ioredis";
import type { Logger } from "../shared/log.ts";
import type { JobMessage } from "../shared/schemas.ts";
import { ack, type StreamEntry } from "../shared/streams.ts";
import type { CoreClient, JobRecord } from "./core_client.ts";
import { JobFinalError, PermanentError, ShutdownError } from "./errors.ts";
import type { WorkerMetricsHooks } from "./metrics.ts";
import {
  deadLetterOnce,
  type FailureNotice,
  failureNotices,
  type JobNotification,
  notifyOnce,
  resultNotifications,
} from "./notifications.ts";
import { retryCore, type RetryPolicy } from "./retry.ts";

/** What every outcome needs: the services and the stop signals. */
export interface OutcomeDeps {
  /** Commands connection (ack, notify, dead letters). */
  redis: Redis;
  /** The core API. */
  core: CoreClient;
  /** Retry policy of core calls. */
  policy: RetryPolicy;
  /** Current time. */
  clock: () => Date;
  /** Metrics hooks. */
  metrics?: WorkerMetricsHooks;
  /** Aborted when the worker stops taking work. */
  stopping: AbortSignal;
  /** Aborted past the stop grace: requests still out are cut. */
  abort: AbortSignal;
}

/** One delivery of one job message. */
export interface JobRun {
  /** The stream entry. */
  entry: StreamEntry;
  /** Its parsed message, when it parsed. */
  msg?: JobMessage;
  /** The services. */
  deps: OutcomeDeps;
  /** Logger with the entry's and job's fields. */
  log: Logger;
}

/** Why a job failed for good. */
export interface Failure {
  /** Dead-letter reason (machine-readable). */
  reason: string;
  /** The job's error_message. */
  error: string;
  /** What the user is told. */
  notice: FailureNotice;
}

/** Ack the run's entry; an ack that fails leaves it to be reclaimed and skipped as finished. */
export async function ackEntry(run: JobRun): Promise<void> {
  try {
    await ack(run.deps.redis, run.entry);
  } catch (err) {
    run.log.warn("ack failed; the entry will be reclaimed", { error: err as Error });
  }
}

/** Send notifications in order, each once. */
export async function sendNotifications(redis: Redis, items: JobNotification[]): Promise<void> {
  for (const item of items) await notifyOnce(redis, item);
}

/** Log why the entry stays pending (it is reclaimed and run again later). */
export function leavePending(run: JobRun, err: unknown): void {
  if (err instanceof ShutdownError) {
    run.log.info("stopping; entry left pending for another consumer");
    return;
  }
  run.log.warn("could not finish; entry left pending for a later reclaim", {
    error: err as Error,
  });
}

/**
 * A job already completed or failed: re-send a completed job's notifications (the markers drop
 * what was sent), then ack.
 */
export async function finishTerminal(run: JobRun, job: JobRecord): Promise<void> {
  if (job.status === "completed") {
    try {
      await sendNotifications(run.deps.redis, resultNotifications(job, job.result ?? {}));
    } catch (err) {
      run.log.error("notifying failed; entry left pending", { error: err as Error });
      return;
    }
  }
  run.log.info("job already finished; acked and skipped", { status: job.status });
  run.deps.metrics?.jobFinished(job.job_type, "skipped");
  await ackEntry(run);
}

/** After a 409: the job was finished by another delivery; announce its stored outcome. */
export async function recheck(run: JobRun, jobId: string): Promise<void> {
  const { deps } = run;
  try {
    const job = await retryCore(() => deps.core.getJob(jobId, { signal: deps.abort }), deps.policy);
    if (job.status === "completed" || job.status === "failed") await finishTerminal(run, job);
    else leavePending(run, new Error(`job is ${job.status} after a 409`));
  } catch (err) {
    leavePending(run, err);
  }
}

/** Store a result, notify the user, ack. */
export async function completeJob(
  run: JobRun,
  job: JobRecord,
  result: Record<string, unknown>,
): Promise<void> {
  const { deps } = run;
  try {
    await retryCore(
      () =>
        deps.core.updateJob(job.id, { status: "completed", result, error_message: null }, {
          signal: deps.abort,
        }),
      deps.policy,
    );
  } catch (err) {
    // 409: another delivery finished it first; its stored outcome is the one to announce.
    if (err instanceof JobFinalError) return await recheck(run, job.id);
    if (err instanceof PermanentError) {
      run.log.error("core refused the result", { error: err.message });
      return await failJob(run, job, {
        reason: "rejected",
        error: `the core refused the result: ${err.message}`,
        notice: {},
      });
    }
    return leavePending(run, err);
  }
  try {
    await sendNotifications(deps.redis, resultNotifications(job, result));
  } catch (err) {
    run.log.error("notifying failed; entry left pending for a re-send", { error: err as Error });
    return;
  }
  run.log.info("job completed");
  deps.metrics?.jobFinished(job.job_type, "completed");
  await ackEntry(run);
}

/**
 * Fail a job: notify the user, park the message on the dead-letter stream, store the failure,
 * ack. The notification and dead-letter copy go first and are deduplicated by markers, so a
 * crash before the PATCH re-runs the job without repeating them, and none can be lost.
 */
export async function failJob(run: JobRun, job: JobRecord, failure: Failure): Promise<void> {
  const { deps } = run;
  // Another delivery may have finished the job meanwhile; then its outcome stands.
  try {
    const current = await deps.core.getJob(job.id, { signal: deps.abort });
    if (current.status === "completed" || current.status === "failed") {
      return await finishTerminal(run, current);
    }
  } catch { /* go on: failing the job is still right */ }
  try {
    await sendNotifications(deps.redis, failureNotices(job, failure.notice));
    await deadLetterOnce(deps.redis, {
      reason: failure.reason,
      error: failure.error,
      stream: run.entry.stream,
      entry_id: run.entry.id,
      job_id: job.id,
      job_type: job.job_type,
      message: run.msg ?? run.entry.data,
      dead_lettered_at: deps.clock().toISOString(),
    });
  } catch (err) {
    run.log.error("could not notify or dead-letter a failed job; entry left pending", {
      error: err as Error,
    });
    return;
  }
  try {
    await retryCore(
      () =>
        deps.core.updateJob(job.id, { status: "failed", error_message: failure.error }, {
          signal: deps.abort,
        }),
      deps.policy,
    );
  } catch (err) {
    if (!(err instanceof JobFinalError) && !(err instanceof PermanentError)) {
      return leavePending(run, err);
    }
  }
  run.log.warn("job failed", { reason: failure.reason, error: failure.error });
  deps.metrics?.jobFinished(job.job_type, "failed", failure.reason);
  await ackEntry(run);
}

/** The worker is stopping: the job goes back to queued, its entry stays for another consumer. */
export async function handBack(run: JobRun, jobId: string): Promise<void> {
  try {
    // Not the abort signal: it is aborted by now, and this short call must still go out.
    await run.deps.core.updateJob(jobId, { status: "queued" }, {
      signal: AbortSignal.timeout(3000),
    });
    run.log.info("job handed back (queued, left unacked for another consumer)");
  } catch (err) {
    run.log.warn("could not hand the job back; it stays processing until reclaimed", {
      error: err as Error,
    });
  }
}
