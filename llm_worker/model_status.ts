/**
 * The worker's report of the model's state in Redis ({@linkcode MODEL_STATUS_KEY}), for the
 * core's operator views. Best effort: a Redis hiccup costs a stale report, never a job.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../shared/log.ts";
import { MODEL_STATUS_KEY } from "../shared/streams.ts";
import type { ModelStatus } from "./model_breaker.ts";

/** Options for {@linkcode modelStatusWriter}. */
export interface ModelStatusWriterOptions {
  /** Told when a write fails. */
  log: Logger;
  /** Current time. */
  clock?: () => Date;
  /** Writes of an unchanged state are at least this far apart (default 5000 ms). */
  minIntervalMs?: number;
}

/**
 * A function to pass as the breaker's `onChange`: writes every change of state at once, and
 * repeats of the same state (each successful call) at most every `minIntervalMs`.
 */
export function modelStatusWriter(
  redis: Redis,
  options: ModelStatusWriterOptions,
): (status: ModelStatus) => void {
  const clock = options.clock ?? (() => new Date());
  const minIntervalMs = options.minIntervalMs ?? 5000;
  let lastState: string | undefined;
  let lastWrite = 0;
  return (status) => {
    const now = clock();
    if (status.state === lastState && now.getTime() - lastWrite < minIntervalMs) return;
    lastState = status.state;
    lastWrite = now.getTime();
    const fields: Record<string, string> = { updated_at: now.toISOString() };
    for (const [k, v] of Object.entries(status)) if (v !== undefined) fields[k] = String(v);
    const write = redis.multi().hset(MODEL_STATUS_KEY, fields);
    if (status.outage_since === undefined) write.hdel(MODEL_STATUS_KEY, "outage_since");
    write.exec().catch((err) =>
      options.log.warn("could not report the model's state", { error: err as Error })
    );
  };
}
