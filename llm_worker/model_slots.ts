/**
 * The model calls one worker has out at once (WORKER_CONCURRENCY). A job holds a slot only while
 * its handler runs: marking it processing before, and storing its result, notifying its user and
 * acking its entry after, happen outside, so the next job's model call starts as soon as one ends.
 * Those steps are round trips to the core and Redis: when they held the slot, 16 slots with the
 * model answering in 100 ms completed 141-142 jobs/s; outside it, 151-152 (`deno task bench`).
 */
import { E_CANCELED, Semaphore } from "async-mutex";
import { ShutdownError } from "./errors.ts";

/** The worker's model slots. */
export interface ModelSlots {
  /**
   * Run `call` holding a slot, waiting for one first (in arrival order). Rejects with
   * {@linkcode ShutdownError}, without running it, once `stopping` has aborted: a job still
   * waiting at a stop is handed back instead of started.
   */
  run<T>(call: () => Promise<T>): Promise<T>;
  /** Calls holding a slot now. */
  busy(): number;
}

/** `count` slots; waiting calls are refused when `stopping` aborts. */
export function createModelSlots(
  count: number,
  options: { stopping: AbortSignal },
): ModelSlots {
  const { stopping } = options;
  const semaphore = new Semaphore(count);
  stopping.addEventListener("abort", () => semaphore.cancel(), { once: true });
  return {
    async run(call) {
      if (stopping.aborted) throw new ShutdownError();
      try {
        return await semaphore.runExclusive(() => {
          // Granted by a slot freed after the stop, which cancel() no longer covers.
          if (stopping.aborted) throw new ShutdownError();
          return call();
        });
      } catch (err) {
        if (err === E_CANCELED) throw new ShutdownError();
        throw err;
      }
    },
    busy: () => count - semaphore.getValue(),
  };
}
