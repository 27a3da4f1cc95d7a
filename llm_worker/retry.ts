/**
 * The worker's one retry policy: which failures are tried again, how long to wait, and when to
 * give up (DESIGN.md §5).
 *
 * - A model outage (unreachable, timeout, 429, 5xx) never fails a job quickly: the job waits for
 *   the model (see model_breaker.ts) up to LLM_OUTAGE_MAX_HOURS.
 * - A core outage is retried with backoff LLM_MAX_RETRIES times within a run, then the entry is
 *   left pending for a later run (the core could not store a failure either).
 * - Unusable model output is asked again a few times, then the job fails.
 * - Anything else fails the job at once.
 */
import { BadOutputError, PermanentError, ShutdownError, TransientError } from "./errors.ts";

/** Options for {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms (LLM_RETRY_BASE_MS). */
  baseMs: number;
  /** Upper bound of any delay, in ms (LLM_RETRY_MAX_MS). */
  maxMs: number;
  /** Random source in [0, 1); tests pass a fixed one. */
  random?: () => number;
}

/**
 * Delay before retry number `attempt` (0 for the first retry): base doubled per attempt, capped,
 * then "equal jitter" (between half and all of it) so replicas hit by the same outage do not
 * retry in lockstep, while the delay still grows.
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const exp = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/**
 * Wait `ms`, or throw {@linkcode ShutdownError} as soon as `signal` aborts. Each job sleeps on its
 * own promise, so a job in backoff never holds up the read loop or other jobs.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new ShutdownError());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ShutdownError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The policy's settings. */
export interface RetryPolicy extends BackoffOptions {
  /** Retries of a failed core call within one run (LLM_MAX_RETRIES). */
  coreRetries: number;
  /** Retries of unusable model output before the job fails. */
  badOutputRetries: number;
}

/** Options for {@linkcode retryCore}. */
export interface RetryCoreOptions {
  /** Cuts a backoff sleep short (the worker is stopping). */
  signal?: AbortSignal;
  /** Told of each retry. */
  onRetry?: (err: TransientError, attempt: number, delayMs: number) => void;
}

/**
 * Run `fn` (a core call), retrying a {@linkcode TransientError} with backoff up to
 * `policy.coreRetries` times; throws the last error when out of retries, and any other error at
 * once.
 */
export async function retryCore<T>(
  fn: () => Promise<T>,
  policy: RetryPolicy,
  options: RetryCoreOptions = {},
): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof TransientError) || attempt >= policy.coreRetries) throw err;
      const delay = backoffDelay(attempt, policy);
      options.onRetry?.(err, attempt + 1, delay);
      await sleep(delay, options.signal);
    }
  }
}

/** How often each kind of failure has been retried in this run of a job. */
export interface AttemptCounts {
  /** Core outages. */
  core: number;
  /** Unusable model answers. */
  bad: number;
}

/** Why a job failed, as the policy sees it. */
export type FailureKind = "bad_output" | "permanent" | "internal";

/** What to do after a handler attempt threw. */
export type NextStep =
  /** The model is down: wait for it (the breaker decides when), then try again. */
  | { action: "await_model"; error: string }
  /** Try again after `delayMs`; `cause` says why (for metrics). */
  | { action: "retry"; delayMs: number; cause: "core_unavailable" | "bad_output"; error: string }
  /** Fail the job for good. */
  | { action: "fail"; kind: FailureKind; reason: string; error: string; userDetail?: string }
  /** Leave the entry pending: a later run (a reclaim) finishes it. */
  | { action: "leave_pending"; error: string }
  /** The worker is stopping: hand the job back. */
  | { action: "hand_back" };

/**
 * The step after a handler attempt failed with `err`, given what was tried so far (`counts` is
 * updated for the retry it chooses). `stopping` says the worker is shutting down.
 */
export function nextStep(
  err: unknown,
  counts: AttemptCounts,
  options: { policy: RetryPolicy; stopping: boolean },
): NextStep {
  const { policy } = options;
  if (err instanceof ShutdownError || (options.stopping && isAbort(err))) {
    return { action: "hand_back" };
  }
  if (err instanceof TransientError) {
    if (err.service === "llm") return { action: "await_model", error: err.message };
    if (counts.core >= policy.coreRetries) return { action: "leave_pending", error: err.message };
    const delayMs = backoffDelay(counts.core++, policy);
    return { action: "retry", delayMs, cause: "core_unavailable", error: err.message };
  }
  if (err instanceof BadOutputError) {
    if (counts.bad >= policy.badOutputRetries) {
      return {
        action: "fail",
        kind: "bad_output",
        reason: "bad_output",
        error: `The model's answer was unusable after ${counts.bad + 1} attempts: ${err.message}`,
      };
    }
    counts.bad++;
    return {
      action: "retry",
      delayMs: backoffDelay(0, policy),
      cause: "bad_output",
      error: err.message,
    };
  }
  if (err instanceof PermanentError) {
    return {
      action: "fail",
      kind: "permanent",
      reason: err.reason,
      error: err.message,
      userDetail: err.userMessage,
    };
  }
  return {
    action: "fail",
    kind: "internal",
    reason: "internal_error",
    error: `internal error: ${(err as Error)?.message ?? String(err)}`,
  };
}

function isAbort(err: unknown): boolean {
  return (err as Error)?.name === "AbortError";
}
