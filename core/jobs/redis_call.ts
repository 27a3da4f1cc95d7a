/**
 * Bounded Redis calls for request handlers. The core's client is made with the offline queue
 * off (a command fails at once while disconnected, see deps.ts), which is right during an
 * outage but would also fail the first requests after start-up or a reconnect; so a call first
 * waits, within the same bound, for the connection to be ready.
 */
import type { Redis } from "ioredis";
import { redisReady } from "../../shared/redis.ts";
import { within } from "../../shared/timeout.ts";

/** What an ioredis pipeline's `exec()` answers: each command's error or reply, in order. */
export type PipelineResult = [Error | null, unknown][];

/** Run `command` once `redis` is ready, the whole within `ms`. */
export async function redisCall<T>(
  redis: Redis,
  command: () => Promise<T>,
  options: { timeoutMs: number },
): Promise<T> {
  const started = Date.now();
  await redisReady(redis, { timeoutMs: options.timeoutMs });
  const left = Math.max(1, options.timeoutMs - (Date.now() - started));
  return await within(command(), left, "redis");
}
