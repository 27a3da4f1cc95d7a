/**
 * Everything the admin page's main view shows, gathered from the same functions the /admin
 * endpoints use. Redis being down is shown, not thrown: the SQLite half still renders.
 */
import type { CoreDeps } from "../deps.ts";
import { type DeadLetterJson, listDeadLetters } from "../jobs/dead_letters.ts";
import { type JobRow, listJobs } from "../store/job_repo.ts";
import { type ModelStatus, readModelStatus } from "../jobs/model_status.ts";
import {
  type ConsumerInfo,
  type JobActivity,
  jobActivity,
  type QueueStats,
  queueStats,
  streamConsumers,
} from "../jobs/queue_stats.ts";

/** Rows per page of failed jobs and of dead letters. */
export const PAGE_SIZE = 20;

/** Bound on each Redis call of the page, in ms: a slow Redis must not hang the page. */
const REDIS_TIMEOUT_MS = 2000;

/** Which page of each list to show. */
export interface OverviewQuery {
  /** Failed jobs to skip. */
  failedOffset: number;
  /** Dead letters older than this entry id. */
  deadBefore?: string;
}

/** The main view's data. */
export interface Overview {
  /** When it was gathered. */
  now: Date;
  /** Counts and streams. */
  stats: QueueStats;
  /** Recent throughput and the oldest queued job. */
  activity: JobActivity;
  /** Every consumer of the worker group, or why they could not be read. */
  consumers: ConsumerInfo[] | { error: string };
  /** One page of failed jobs, newest first (one extra row tells whether there is a next). */
  failed: JobRow[];
  /** One page of dead letters, newest first, or why they could not be read. */
  deadLetters: DeadLetterJson[] | { error: string };
  /** The model, as the worker reports it. */
  model: ModelStatus;
  /** The page asked for. */
  query: OverviewQuery;
}

/** Gather the main view. */
export async function loadOverview(deps: CoreDeps, query: OverviewQuery): Promise<Overview> {
  const now = deps.clock();
  const bound = { timeoutMs: REDIS_TIMEOUT_MS };
  const [stats, consumers, deadLetters, model] = await Promise.all([
    queueStats(deps, bound),
    streamConsumers(deps.redis, bound).catch((err: Error) => ({ error: err.message })),
    listDeadLetters(deps, { limit: PAGE_SIZE + 1, before: query.deadBefore }).catch((
      err: Error,
    ) => ({ error: err.message })),
    readModelStatus(deps.redis, bound),
  ]);
  return {
    now,
    stats,
    activity: jobActivity(deps.db, now),
    consumers,
    failed: listJobs(deps.db, {
      status: "failed",
      limit: PAGE_SIZE + 1,
      offset: query.failedOffset,
    }),
    deadLetters,
    model,
    query,
  };
}
