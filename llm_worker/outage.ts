/**
 * A job waiting out a model outage. The user hears once per job that it will be retried; the
 * job goes back to `queued` while it waits (it is not being worked on) and to `processing` when
 * its turn comes; the outage's start is kept in Redis, so a job handed back and reclaimed by
 * another replica still fails at the same horizon.
 */
import type { JobRecord } from "./core_client.ts";
import { type JobRun, sendNotifications } from "./job_outcomes.ts";
import { MARKER_TTL_SECONDS, outageNotice } from "./notifications.ts";

/** One job's outage. */
export interface Outage {
  /** When the job first met the outage (epoch ms). */
  readonly since: number;
  /** When it stops waiting and fails (epoch ms). */
  readonly deadline: number;
  /** Its turn has come (`probe`: as the probe); once the model is back, mark it processing. */
  resume(probe: boolean): Promise<void>;
  /** The model failed again (after it was back within this run): the job waits queued again. */
  pause(): Promise<void>;
}

/** The Redis key holding when job `jobId` first met an outage. */
export function outageSinceKey(jobId: string): string {
  return `llm:outage_since:${jobId}`;
}

/**
 * Start waiting: record the outage's start (or read the one a former run recorded), tell the
 * user once, mark the job queued. Each step is best effort: a Redis or core hiccup here costs a
 * message or a status, never the job.
 */
export async function beginOutage(
  run: JobRun,
  job: JobRecord,
  options: { maxMs: number },
): Promise<Outage> {
  const { deps } = run;
  const now = deps.clock().getTime();
  // Kept past the horizon, so the start is still there when the job's last wait ends.
  const ttlSeconds = Math.max(MARKER_TTL_SECONDS, Math.ceil(options.maxMs / 1000) + 86_400);
  const since = await recordStart(run, job.id, { now, ttlSeconds });
  try {
    await sendNotifications(deps.redis, outageNotice(job));
  } catch (err) {
    run.log.warn("could not tell the user of the outage", { error: err as Error });
  }
  let queued = await patch(run, job.id, "queued");
  return {
    since,
    deadline: since + options.maxMs,
    async pause() {
      if (!queued) queued = await patch(run, job.id, "queued");
    },
    async resume(probe) {
      // A probe stays queued: a model that stays down would otherwise write two status changes
      // (and audit entries) per probe for hours.
      if (probe) return run.log.info("probing the model with this job");
      if (!queued) return;
      run.log.info("the model is back; resuming");
      queued = !await patch(run, job.id, "processing");
    },
  };
}

async function recordStart(
  run: JobRun,
  jobId: string,
  options: { now: number; ttlSeconds: number },
): Promise<number> {
  const { now } = options;
  const key = outageSinceKey(jobId);
  try {
    await run.deps.redis.set(key, String(now), "EX", options.ttlSeconds, "NX");
    const stored = Number(await run.deps.redis.get(key));
    return Number.isFinite(stored) && stored > 0 ? stored : now;
  } catch {
    return now;
  }
}

async function patch(run: JobRun, jobId: string, status: "queued" | "processing") {
  try {
    await run.deps.core.updateJob(jobId, { status }, { signal: run.deps.abort });
    return true;
  } catch (err) {
    run.log.warn(`could not mark the job ${status}`, { error: err as Error });
    return false;
  }
}
