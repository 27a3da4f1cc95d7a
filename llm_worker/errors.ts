/**
 * How a job can go wrong, as classes the consumer tells apart (DESIGN.md §5): an outage is
 * retried with backoff, unusable model output a few times, anything else fails the job at once.
 */

/** Model or core unreachable, timed out, or answering 5xx: retried with backoff. */
export class TransientError extends Error {
  /** Which dependency was down. */
  readonly service: "llm" | "core";
  /** Build with the dependency that failed. */
  constructor(service: "llm" | "core", message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransientError";
    this.service = service;
  }
}

/** The model answered, but not with anything usable (no JSON, wrong shape, empty). */
export class BadOutputError extends Error {
  /** Build from what was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "BadOutputError";
  }
}

/** Why a job cannot succeed however often it is retried. */
export type PermanentReason =
  | "bad_payload"
  | "image_missing"
  | "image_path_refused"
  | "image_unreadable"
  | "not_found"
  | "rejected";

/** A job that cannot succeed: bad payload, missing or refused image, a 4xx answer. */
export class PermanentError extends Error {
  /** Machine-readable reason, used on the dead-letter stream. */
  readonly reason: PermanentReason;
  /** A sentence for the user, when there is a better one than the generic failure message. */
  readonly userMessage?: string;
  /** Build from a reason and a message for the job's error_message. */
  constructor(
    reason: PermanentReason,
    message: string,
    options: { userMessage?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "PermanentError";
    this.reason = reason;
    this.userMessage = options.userMessage;
  }
}

/** The core answered 409 to a job update: the job is already completed or failed. */
export class JobFinalError extends Error {
  /** Build for one job. */
  constructor(jobId: string) {
    super(`job ${jobId} is already completed or failed`);
    this.name = "JobFinalError";
  }
}

/** The worker is shutting down; the job is handed back rather than finished. */
export class ShutdownError extends Error {
  /** Build with no details. */
  constructor() {
    super("worker is shutting down");
    this.name = "ShutdownError";
  }
}

/**
 * The core's answer to marking a job processing ends the run that went on meanwhile (see
 * job_marking.ts): what the run was doing is cut and handed back, and the answer decides the rest.
 */
export class RunAbandonedError extends ShutdownError {
  /** Build with no details. */
  constructor() {
    super();
    this.message = "the core's answer to marking the job ends this run";
    this.name = "RunAbandonedError";
  }
}
