/** STUB: the periodic scheduler (reminders, expiry, re-prompts). */
import type { CoreDeps } from "./deps.ts";

/** A background loop that can be stopped. */
export interface Loop {
  /** Stop the loop and wait for a running pass to finish. */
  stop(): Promise<void>;
}

/** Start the scheduler; one pass every `intervalMs`. */
export function startScheduler(_deps: CoreDeps, _options: { intervalMs: number }): Loop {
  return { stop: () => Promise.resolve() };
}
