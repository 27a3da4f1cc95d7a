/**
 * WAL checkpoints on a timer rather than inside a commit. SQLite's default copies the WAL back
 * into the database (and fsyncs it) in whichever commit passes 1,000 pages, which under load was
 * every few dozen requests and about half of the cost of POST /llm_jobs and POST /memories
 * (in process, 16 at a time: ~490 -> ~260 µs a job). One PASSIVE checkpoint a second copies
 * each hot page once per second instead, and never waits for readers (the search workers);
 * what it cannot copy yet is copied by a later one. Durability is unchanged: a commit is in the
 * WAL either way (synchronous = NORMAL), and an unclean stop replays the WAL on the next open.
 */
import type { DatabaseSync } from "node:sqlite";
import type { Logger } from "../../shared/log.ts";
import { type Loop, startLoop } from "./loop.ts";

/** How often the WAL is checkpointed, in ms. */
export const CHECKPOINT_INTERVAL_MS = 1000;

/** A checkpoint slower than this is logged (the disk is slow, or the WAL very large), in ms. */
const SLOW_CHECKPOINT_MS = 1000;

/** Turn off checkpoints in commits on `db` and checkpoint it every `intervalMs` instead. */
export function startCheckpointer(
  deps: { db: DatabaseSync; log: Logger },
  options: { intervalMs?: number } = {},
): Loop {
  const { db, log } = deps;
  db.exec("PRAGMA wal_autocheckpoint = 0");
  return startLoop(() => {
    const started = performance.now();
    const row = db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as {
      log: number;
      checkpointed: number;
    };
    const ms = performance.now() - started;
    if (ms > SLOW_CHECKPOINT_MS) {
      log.warn("slow WAL checkpoint", { duration_ms: Math.round(ms), wal_pages: row.log });
    }
    return Promise.resolve();
  }, { intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS, name: "checkpoint", log });
}
