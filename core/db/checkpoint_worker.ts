/**
 * Entry point of the WAL checkpoint thread (core/background/checkpointer.ts starts it): its own
 * connection to the database file checkpoints every `intervalMs` (every 50 ms while writes go on),
 * so the copy back into the database and its fsync rarely stop the thread that serves HTTP. Only
 * node:sqlite and a constant are imported: under `deno task core` a thread may read just the
 * modules it loads (scripts/serve.sh).
 */
import { DatabaseSync } from "node:sqlite";
import { BUSY_TIMEOUT_MS } from "./busy_timeout.ts";

/** A message from the main thread. */
export type CheckpointCommand =
  | { kind: "start"; path: string; intervalMs: number }
  | { kind: "stop" };

/** A message to the main thread: one checkpoint's outcome, or the connection closed. */
export type CheckpointReport =
  | { kind: "done"; ms: number; walPages: number; copiedPages: number }
  | { kind: "failed"; error: string }
  | { kind: "stopped" };

// The type checker sees the window's globals; this module runs in a worker's scope.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<CheckpointCommand>) => void) | null;
  postMessage(message: CheckpointReport): void;
};

/** Between checkpoints while writes go on (the WAL grew, or was not all copied), in ms. */
const BEHIND_INTERVAL_MS = 50;

let db: DatabaseSync | null = null;
// The database file, to flush what a partial checkpoint wrote. SQLite syncs the file only after a
// checkpoint that copied the whole WAL; under steady writes that is the main thread's
// (checkpointer.ts), which would then have to flush all the thread wrote before it.
let file: Deno.FsFile | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;
// WAL length at the last checkpoint: longer now means writes are going on.
let lastLog = 0;

/** One checkpoint, reported; then the next one, sooner while this one left frames behind. */
function checkpoint(intervalMs: number): void {
  const started = performance.now();
  let behind = false;
  try {
    const row = db!.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as {
      log: number;
      checkpointed: number;
    };
    const ms = performance.now() - started;
    // Copied up to the end it saw does not mean caught up: writes went on meanwhile. While the
    // WAL grows, checkpoint again soon, so the main thread's final one has little left to copy.
    behind = row.checkpointed < row.log || row.log > lastLog;
    lastLog = row.log;
    if (row.checkpointed < row.log) file?.syncDataSync();
    scope.postMessage({ kind: "done", ms, walPages: row.log, copiedPages: row.checkpointed });
  } catch (err) {
    scope.postMessage({ kind: "failed", error: (err as Error).message });
    return;
  }
  timer = setTimeout(() => checkpoint(intervalMs), behind ? BEHIND_INTERVAL_MS : intervalMs);
}

scope.onmessage = (event) => {
  const command = event.data;
  if (command.kind === "start") {
    try {
      db = new DatabaseSync(command.path);
      // As the writer's connection: wait for a lock rather than fail at once.
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      file = Deno.openSync(command.path, { read: true });
    } catch (err) {
      scope.postMessage({ kind: "failed", error: (err as Error).message });
      return;
    }
    checkpoint(command.intervalMs);
  } else {
    clearTimeout(timer);
    db?.close();
    db = null;
    file?.close();
    file = null;
    scope.postMessage({ kind: "stopped" });
  }
};
