/**
 * Bounded Redis calls for request handlers. The core's client is made with the offline queue
 * off (a command fails at once while disconnected, see deps.ts), which is right during an
 * outage but would also fail the first requests after start-up or a reconnect; so a call first
 * waits, within the same bound, for the connection to be ready.
 */
import type { Redis } from "ioredis";

/** Resolve `promise`, or reject after `ms` naming `what`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from ${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolve once `redis` is connected; reject after `ms`, or at once when it has been closed. */
export async function whenReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === "ready") return;
  if (redis.status === "end") throw new Error("redis connection closed");
  let onReady = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = () => resolve();
    redis.once("ready", onReady);
  });
  try {
    await within(ready, ms, "redis");
  } finally {
    redis.off("ready", onReady);
  }
}

/** Run `command` once `redis` is ready, the whole within `ms`. */
export async function redisCall<T>(
  redis: Redis,
  command: () => Promise<T>,
  options: { timeoutMs: number },
): Promise<T> {
  const started = Date.now();
  await whenReady(redis, options.timeoutMs);
  const left = Math.max(1, options.timeoutMs - (Date.now() - started));
  return await within(command(), left, "redis");
}
