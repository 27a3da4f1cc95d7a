/** Bounding how many requests of one kind run at once. */
import type { MiddlewareHandler } from "hono";

/** Options of {@linkcode concurrencyLimit}. */
export interface ConcurrencyLimitOptions {
  /** What the 503 says is busy, e.g. "uploads". */
  what: string;
  /** Seconds the Retry-After header asks the client to wait (default 1). */
  retryAfterSeconds?: number;
}

/**
 * Middleware letting at most `max` requests through at once; the next ones answer 503 with
 * Retry-After at once, before their bodies are read, rather than queueing without bound.
 */
export function concurrencyLimit(
  max: number,
  options: ConcurrencyLimitOptions,
): MiddlewareHandler {
  let running = 0;
  const retryAfter = String(options.retryAfterSeconds ?? 1);
  return async (c, next) => {
    if (running >= max) {
      c.header("Retry-After", retryAfter);
      return c.json(
        { detail: `too many ${options.what} at once (at most ${max}); retry shortly` },
        503,
      );
    }
    running++;
    try {
      await next();
    } finally {
      running--;
    }
  };
}
