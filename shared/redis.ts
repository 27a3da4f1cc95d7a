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
  /**
   * Send the commands issued in one turn of the event loop in one write (ioredis' auto
   * pipelining): the core's publishes after a group commit go together. Not for a client that
   * sends blocking commands (a blocked read would hold up the others). Default false.
   */
  autoPipelining?: boolean;
}

/** A client for `url` that reconnects forever with capped backoff. */
export function createRedis(url: string, options: CreateRedisOptions = {}): Redis {
  const failFast = options.failFast ?? true;
  const client = new Redis(url, {
    enableOfflineQueue: !failFast,
    maxRetriesPerRequest: failFast ? 1 : null,
    connectTimeout: 2000,
    connectionName: options.name,
    enableAutoPipelining: options.autoPipelining ?? false,
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

/**
 * Resolve once `redis` is connected: at once when it is. Rejects when the connection has been
 * closed for good, after `timeoutMs`, or when `signal` aborts; the listeners go with the wait,
 * so an outage does not pile them up. Clients made fail-fast (see {@linkcode createRedis}) need
 * this before a command, or every command sent while reconnecting fails at once.
 */
export function redisReady(
  redis: Redis,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  if (redis.status === "ready") return Promise.resolve();
  if (redis.status === "end") return Promise.reject(new Error("redis connection closed"));
  return new Promise<void>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (err?: Error) => {
      clearTimeout(timer);
      redis.off("ready", onReady);
      redis.off("end", onEnd);
      options.signal?.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => finish();
    const onEnd = () => finish(new Error("redis connection closed"));
    const onAbort = () => finish(new Error("gave up before redis was ready"));
    redis.on("ready", onReady);
    redis.on("end", onEnd);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      const ms = options.timeoutMs;
      timer = setTimeout(() => finish(new Error(`no answer from redis within ${ms} ms`)), ms);
    }
  });
}

/**
 * Close `redis` and resolve once its connection has ended (at most `timeoutMs`, default 3 s).
 * ioredis' disconnect() arms a timer that only the socket's close clears; waiting for `end`
 * lets a stopping process (or a test) finish with nothing left running.
 */
export function closeRedis(redis: Redis, options: { timeoutMs?: number } = {}): Promise<void> {
  if (redis.status === "end") return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off("end", done);
      resolve();
    };
    const timer = setTimeout(done, options.timeoutMs ?? 3000);
    redis.once("end", done);
    redis.disconnect();
  });
}
