/**
 * How soon the WAL checkpoint thread (core/db/checkpoint_worker.ts) checkpoints again. Its own
 * module so the thread loads nothing else and the rule can be tested without a thread.
 */

/** Between checkpoints while writes go on (the WAL grew, started over, or was not all copied). */
export const BEHIND_INTERVAL_MS = 50;

/** One checkpoint's outcome, as `PRAGMA wal_checkpoint` reports it, in pages. */
export type CheckpointOutcome = {
  /** Frames in the WAL. */
  log: number;
  /** Frames copied into the database. */
  checkpointed: number;
};

/**
 * Milliseconds until the next checkpoint: {@linkcode BEHIND_INTERVAL_MS} while writes go on, so
 * the main thread's final checkpoint (core/background/checkpointer.ts) has little left to copy,
 * else `intervalMs`. Copied up to the end it saw does not mean caught up: writes may have gone on
 * meanwhile, which shows as a WAL whose length changed since the last checkpoint (`lastLog`),
 * longer or, once it started over, shorter.
 */
export function nextCheckpointIn(
  outcome: CheckpointOutcome,
  options: { lastLog: number; intervalMs: number },
): number {
  const behind = outcome.checkpointed < outcome.log || outcome.log !== options.lastLog;
  return behind ? BEHIND_INTERVAL_MS : options.intervalMs;
}
