/** Redis client construction shared by both services. */
import { Redis } from "ioredis";
import type { Logger } from "./log.ts";

/** Options for {@linkcode createRedis}. */
export interface CreateRedisOptions {
  /** Logger for connection errors (logged once per outage, not once per retry). */
  log?: Logger;
  /**
   * Fail commands at once while disconnected instead of queueing them (the core wants this:
   * its job rows are committed and a republisher retries later). Default true.
   */
  failFast?: boolean;
  /** Connection name shown by CLIENT LIST. */
  name?: string;
}

/** A client for `url` that reconnects forever with capped backoff. */
export function createRedis(url: string, options: CreateRedisOptions = {}): Redis {
  const failFast = options.failFast ?? true;
  const client = new Redis(url, {
    enableOfflineQueue: !failFast,
    maxRetriesPerRequest: failFast ? 1 : null,
    connectTimeout: 2000,
    connectionName: options.name,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  });
  let down = false;
  client.on("error", (err: Error) => {
    if (!down) options.log?.warn("redis connection error", { error: err.message });
    down = true;
  });
  client.on("ready", () => {
    if (down) options.log?.info("redis connection restored");
    down = false;
  });
  return client;
}
