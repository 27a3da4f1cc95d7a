/**
 * WAL checkpoints on a thread of their own rather than inside a commit. SQLite's default copies
 * the WAL back into the database (and fsyncs it) in whichever commit passes 1,000 pages, which
 * under load was every few dozen requests and about half of the cost of POST /llm_jobs and
 * POST /memories; done on the main thread once a second instead, each copy stalled every request
 * for ~100 ms (p99 of POST /llm_jobs ~120 ms). So a worker (core/db/checkpoint_worker.ts) with its
 * own connection runs a PASSIVE checkpoint every second: it never waits for readers or blocks
 * the writer, and what it cannot copy yet a later one copies. Durability is unchanged: a commit
 * is in the WAL either way (synchronous = NORMAL), and an unclean stop replays the WAL on the
 * next open. Should the thread fail, commits checkpoint again as SQLite does by default.
 */
import type { DatabaseSync } from "node:sqlite";
import type { Logger } from "../../shared/log.ts";
import type { CheckpointCommand, CheckpointReport } from "../db/checkpoint_worker.ts";
import type { Loop } from "./loop.ts";

/** How often the WAL is checkpointed, in ms. */
export const CHECKPOINT_INTERVAL_MS = 1000;

/** A checkpoint slower than this is logged (the disk is slow, or the WAL very large), in ms. */
const SLOW_CHECKPOINT_MS = 1000;

/** SQLite's default: a commit checkpoints once the WAL holds this many pages. */
const SQLITE_AUTOCHECKPOINT_PAGES = 1000;

/** How long a stop waits for the thread to close its connection, in ms. */
const STOP_GRACE_MS = 2000;

/** What the checkpointer needs. */
export interface CheckpointerDeps {
  /** The core's connection, whose commits stop checkpointing. */
  db: DatabaseSync;
  /** The database file the thread opens. */
  databasePath: string;
  /** Where failures and slow checkpoints are reported. */
  log: Logger;
}

/** Checkpoint `deps.databasePath` every `intervalMs` on a worker thread. */
export function startCheckpointer(
  deps: CheckpointerDeps,
  options: { intervalMs?: number } = {},
): Loop {
  const { db, log } = deps;
  const worker = new Worker(new URL("../db/checkpoint_worker.ts", import.meta.url), {
    type: "module",
    name: "checkpoint",
  });
  let stopped: (() => void) | undefined;
  const fallBack = (error: string) => {
    log.error("WAL checkpoint thread failed; commits checkpoint again", { error });
    if (db.isOpen) db.exec(`PRAGMA wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`);
  };
  worker.onmessage = (event: MessageEvent<CheckpointReport>) => {
    const report = event.data;
    if (report.kind === "stopped") stopped?.();
    else if (report.kind === "failed") fallBack(report.error);
    else if (report.ms > SLOW_CHECKPOINT_MS) {
      log.warn("slow WAL checkpoint", {
        duration_ms: Math.round(report.ms),
        wal_pages: report.walPages,
      });
    }
  };
  worker.onerror = (event) => {
    // Handled here: unhandled, a worker's error would end the whole core.
    event.preventDefault();
    fallBack(event.message);
  };
  db.exec("PRAGMA wal_autocheckpoint = 0");
  const start: CheckpointCommand = {
    kind: "start",
    path: deps.databasePath,
    intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS,
  };
  worker.postMessage(start);
  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((r) => stopped = r);
        worker.postMessage({ kind: "stop" } satisfies CheckpointCommand);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([closed, new Promise((r) => timer = setTimeout(r, STOP_GRACE_MS))]);
        clearTimeout(timer);
        worker.terminate();
      })();
      return stopping;
    },
  };
}
