/** What every job handler is given, and what it returns. */
import type { Logger } from "../../shared/log.ts";
import type { JobType } from "../../shared/enums.ts";
import type { CoreClient } from "../core_client.ts";
import type { LlmClient } from "../llm_client.ts";

/** The job being run, with its payload already validated. */
export interface HandlerJob<P> {
  /** Job id (used in idempotency keys). */
  id: string;
  /** Job type. */
  job_type: JobType;
  /** User the job is for, if any (owner of anything it creates). */
  user_id: number | null;
  /** Validated payload. */
  payload: P;
}

/** Dependencies and the job, for one run of a handler. */
export interface JobContext<P> {
  /** The job. */
  job: HandlerJob<P>;
  /** Model client. */
  llm: LlmClient;
  /** Core API client. */
  core: CoreClient;
  /** IMAGE_STORAGE_PATH. */
  imageDir: string;
  /** Current time. */
  clock: () => Date;
  /** Logger with the job's fields. */
  log: Logger;
  /** Aborted when the worker stops waiting for in-flight jobs. */
  signal: AbortSignal;
  /**
   * The language the user reads, in English words (e.g. "German"), from their settings; texts
   * the model writes for the user are asked for in it. "English" when unset or unknown.
   */
  language: string;
}

/** A job result, stored on the job by PATCH /llm_jobs/{id}. */
export type JobResult = Record<string, unknown>;
