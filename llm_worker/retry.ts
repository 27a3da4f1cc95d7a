/** Exponential backoff with jitter, and a sleep that a shutdown can cut short. */
import { ShutdownError } from "./errors.ts";

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
