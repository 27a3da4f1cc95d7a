/** The core's background loops (scheduler, republisher): passes that never overlap. */
import type { Logger } from "../../shared/log.ts";

/** A background loop that can be stopped. */
export interface Loop {
  /** Stop the loop and wait for a running pass to finish. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startLoop}. */
export interface StartLoopOptions {
  /** Time between the end of one pass and the start of the next. */
  intervalMs: number;
  /** Name for log lines. */
  name: string;
  /** Where a pass that throws is reported. */
  log: Logger;
}

/**
 * Run `pass` now and then `intervalMs` after each pass ends, so passes never overlap. A pass
 * that throws is logged and the loop goes on.
 */
export function startLoop(pass: () => Promise<unknown>, options: StartLoopOptions): Loop {
  let stopped = false;
  let running: Promise<void> | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = () => {
    timer = undefined;
    if (stopped) return;
    running = (async () => {
      try {
        await pass();
      } catch (err) {
        options.log.error(`${options.name} pass failed`, { error: err as Error });
      }
    })().finally(() => {
      running = null;
      if (!stopped) timer = setTimeout(tick, options.intervalMs);
    });
  };
  timer = setTimeout(tick, 0);
  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
    },
  };
}
