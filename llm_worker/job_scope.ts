/**
 * The job a piece of worker code is running for, without passing it through every call: the
 * consumer runs each job inside {@linkcode runInJobScope}, and the core client (X-Request-Id) and
 * the logger (job_id) read it back. AsyncLocalStorage follows the job across awaits, timers and
 * retries, and jobs running at the same time each see their own.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createLogger, type Logger, type LogLevel } from "../shared/log.ts";

const scope = new AsyncLocalStorage<{ jobId: string }>();

/** Run `fn` as work for job `jobId`. */
export function runInJobScope<T>(jobId: string, fn: () => Promise<T>): Promise<T> {
  return scope.run({ jobId }, fn);
}

/** The job the caller is running for, or undefined outside any job. */
export function currentJobId(): string | undefined {
  return scope.getStore()?.jobId;
}

/** Options for {@linkcode createWorkerLogger}. */
export interface WorkerLoggerOptions {
  /** Lowest level written. */
  level?: LogLevel;
  /** Where lines go; stderr by default. */
  sink?: (line: string) => void;
}

/** The worker's logger: every line written while a job runs carries its `job_id`. */
export function createWorkerLogger(options: WorkerLoggerOptions = {}): Logger {
  return createLogger("llm_worker", {
    ...options,
    context: () => {
      const jobId = currentJobId();
      return jobId === undefined ? undefined : { job_id: jobId };
    },
  });
}
