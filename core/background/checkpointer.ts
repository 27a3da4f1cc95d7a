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
 *
 * A checkpoint on another connection cannot, under steady writes, end with the whole WAL copied:
 * frames keep coming while it copies, and SQLite starts the WAL over only after a checkpoint that
 * left nothing behind. The WAL then grew without bound (~50 MB/s under POST /memories, 1 GB in
 * 20 s). So once the WAL passes {@linkcode RESTART_WAL_PAGES}, the main thread checkpoints
 * between two requests: the thread has copied all but the last moments, the main connection is
 * the one writer, so this one copies the rest and the next commit starts the WAL over.
 *
 * The thread is started by writes and ends once the WAL is copied and nothing was written for a
 * minute: a thread is an isolate of ~11 MB, and a core that is mostly idle should not hold one.
 */
import type { DatabaseSync } from "node:sqlite";
import type { Logger } from "../../shared/log.ts";
import type { CheckpointCommand, CheckpointReport } from "../db/checkpoint_worker.ts";
import type { Loop } from "./loop.ts";
import { totalChanges } from "../db/query.ts";

/** How often the WAL is checkpointed, and how often writes are looked for, in ms. */
export const CHECKPOINT_INTERVAL_MS = 1000;

/** How long the thread is kept after the last write, in ms. */
export const IDLE_CHECKPOINT_THREAD_MS = 60_000;

/** A checkpoint slower than this is logged (the disk is slow, or the WAL very large), in ms. */
const SLOW_CHECKPOINT_MS = 1000;

/** A WAL this long (pages of 4 KB: 64 MB, journal_size_limit) is finished on the main thread. */
export const RESTART_WAL_PAGES = 16_384;

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

/** Options for {@linkcode startCheckpointer}. */
export interface CheckpointerOptions {
  /** {@linkcode CHECKPOINT_INTERVAL_MS} by default. */
  intervalMs?: number;
  /** {@linkcode IDLE_CHECKPOINT_THREAD_MS} by default. */
  idleMs?: number;
  /** {@linkcode RESTART_WAL_PAGES} by default. */
  restartPages?: number;
}

/** The running checkpointer. */
export interface Checkpointer extends Loop {
  /** Whether a checkpoint thread runs now. */
  threadRunning(): boolean;
}

/** One checkpoint thread. */
interface Thread {
  /** Whether its last checkpoint copied the whole WAL. */
  caughtUp: boolean;
  stop(): Promise<void>;
}

/**
 * Checkpoint `deps.databasePath` on a worker thread every `intervalMs` while there are writes.
 * What the WAL holds at the start (a crash, the migrations) is copied here, before serving.
 */
export function startCheckpointer(
  deps: CheckpointerDeps,
  options: CheckpointerOptions = {},
): Checkpointer {
  const { db } = deps;
  const intervalMs = options.intervalMs ?? CHECKPOINT_INTERVAL_MS;
  const idleMs = options.idleMs ?? IDLE_CHECKPOINT_THREAD_MS;
  const restartPages = options.restartPages ?? RESTART_WAL_PAGES;
  db.exec("PRAGMA wal_autocheckpoint = 0");
  db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
  // Rows written by this connection since it opened: the one writer of the database.
  const written = () => totalChanges(db);
  let seen = written();
  let lastWrite = 0;
  let thread: Thread | null = null;
  let failed = false;
  const stopping = new Set<Promise<void>>();
  const end = (t: Thread) => {
    if (thread === t) thread = null;
    const stopped = t.stop().finally(() => stopping.delete(stopped));
    stopping.add(stopped);
  };
  const fail = (t: Thread, error: string) => {
    if (failed) return;
    failed = true;
    deps.log.error("WAL checkpoint thread failed; commits checkpoint again", { error });
    if (db.isOpen) db.exec(`PRAGMA wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`);
    end(t);
  };
  const finishOnMain = () => {
    if (failed || !db.isOpen || db.isTransaction) return;
    const started = performance.now();
    try {
      db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
    } catch (err) {
      // In a message handler a throw would end the core; the next report tries again.
      deps.log.warn("WAL checkpoint on the main thread failed", { error: err as Error });
      return;
    }
    const ms = performance.now() - started;
    if (ms > SLOW_CHECKPOINT_MS) {
      deps.log.warn("slow WAL checkpoint on the main thread", { duration_ms: Math.round(ms) });
    }
  };
  const timer = setInterval(() => {
    if (failed || !db.isOpen) return;
    const n = written();
    if (n !== seen) {
      seen = n;
      lastWrite = performance.now();
      thread ??= startThread(deps, { intervalMs, fail, restartPages, long: finishOnMain });
    } else if (thread?.caughtUp && performance.now() - lastWrite > idleMs) {
      end(thread);
    }
  }, intervalMs);
  return {
    threadRunning: () => thread !== null,
    async stop() {
      clearInterval(timer);
      if (thread) end(thread);
      await Promise.all(stopping);
    },
  };
}

/** Start a checkpoint thread; `fail` is told if it cannot go on. */
function startThread(
  deps: CheckpointerDeps,
  options: {
    intervalMs: number;
    fail: (thread: Thread, error: string) => void;
    /** WAL length at which `long` is told. */
    restartPages: number;
    /** Told when the WAL has reached `restartPages`. */
    long: () => void;
  },
): Thread {
  const worker = new Worker(new URL("../db/checkpoint_worker.ts", import.meta.url), {
    type: "module",
    name: "checkpoint",
  });
  let stopped: (() => void) | undefined;
  let stopping: Promise<void> | undefined;
  const thread: Thread = {
    caughtUp: false,
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
  worker.onmessage = (event: MessageEvent<CheckpointReport>) => {
    const report = event.data;
    if (report.kind === "stopped") stopped?.();
    else if (report.kind === "failed") options.fail(thread, report.error);
    else {
      thread.caughtUp = report.copiedPages === report.walPages;
      if (report.walPages >= options.restartPages) options.long();
      if (report.ms > SLOW_CHECKPOINT_MS) {
        deps.log.warn("slow WAL checkpoint", {
          duration_ms: Math.round(report.ms),
          wal_pages: report.walPages,
        });
      }
    }
  };
  worker.onerror = (event) => {
    // Handled here: unhandled, a worker's error would end the whole core.
    event.preventDefault();
    options.fail(thread, event.message);
  };
  worker.postMessage(
    {
      kind: "start",
      path: deps.databasePath,
      intervalMs: options.intervalMs,
    } satisfies CheckpointCommand,
  );
  return thread;
}
