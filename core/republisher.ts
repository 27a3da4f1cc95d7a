/** STUB: republishes queued jobs that never reached Redis. */
import type { CoreDeps } from "./deps.ts";
import type { Loop } from "./scheduler.ts";

/** Start the republisher; one pass every `intervalMs`. */
export function startRepublisher(_deps: CoreDeps, _options: { intervalMs: number }): Loop {
  return { stop: () => Promise.resolve() };
}
