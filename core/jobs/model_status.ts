/**
 * The model's health as the worker reports it in the Redis hash MODEL_STATUS_KEY. The core only
 * reads it; an absent key or an unreachable Redis means nobody knows, and we say so.
 */
import type { Redis } from "ioredis";
import { MODEL_STATUS_KEY } from "../../shared/streams.ts";
import { redisCall } from "./redis_call.ts";

/** What the page shows about the model. */
export interface ModelStatus {
  /** `ok` or `outage` as reported; `unknown` when no worker has reported or Redis is down. */
  state: "ok" | "outage" | "unknown";
  /** When the current outage began. */
  outage_since: string | null;
  /** Last successful model call. */
  last_success_at: string | null;
  /** Last failed model call. */
  last_failure_at: string | null;
  /** Its error. */
  last_error: string | null;
  /** When the worker last wrote the hash. */
  updated_at: string | null;
  /** Why the state is unknown, when it is. */
  unknown_reason: string | null;
}

function unknown(reason: string): ModelStatus {
  return {
    state: "unknown",
    outage_since: null,
    last_success_at: null,
    last_failure_at: null,
    last_error: null,
    updated_at: null,
    unknown_reason: reason,
  };
}

/** Read the worker's report; never throws. */
export async function readModelStatus(
  redis: Redis,
  options: { timeoutMs?: number } = {},
): Promise<ModelStatus> {
  let hash: Record<string, string>;
  try {
    hash = await redisCall(redis, () => redis.hgetall(MODEL_STATUS_KEY), {
      timeoutMs: options.timeoutMs ?? 1000,
    });
  } catch (err) {
    return unknown(`Redis is unavailable: ${(err as Error).message}`);
  }
  if (!hash || Object.keys(hash).length === 0) return unknown("no worker has reported yet");
  const field = (name: string) => hash[name] || null;
  const state = hash.state === "ok" || hash.state === "outage" ? hash.state : "unknown";
  return {
    state,
    outage_since: field("outage_since"),
    last_success_at: field("last_success_at"),
    last_failure_at: field("last_failure_at"),
    last_error: field("last_error"),
    updated_at: field("updated_at"),
    unknown_reason: state === "unknown" ? `the worker reported state "${hash.state ?? ""}"` : null,
  };
}
