/**
 * Entry point of the WAL checkpoint thread (core/background/checkpointer.ts starts it): its own
 * connection to the database file checkpoints every `intervalMs` (every 50 ms while writes go on),
 * so the copy back into the database and its fsync rarely stop the thread that serves HTTP. Only
 * node:sqlite and three small modules of this directory are loaded: under `deno task core` a
 * thread may read just the modules it loads (scripts/serve.sh).
 */
import type { DatabaseSync } from "node:sqlite";
import { type CheckpointOutcome, nextCheckpointIn } from "./checkpoint_pace.ts";
import { openConnection } from "./statement_cache.ts";

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

let db: DatabaseSync | null = null;
// The database file, to flush what a partial checkpoint wrote. SQLite syncs the file only after a
// checkpoint that copied the whole WAL; under steady writes that is the main thread's
// (checkpointer.ts), which would then have to flush all the thread wrote before it.
let file: Deno.FsFile | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;
// WAL length at the last checkpoint: another length now means writes went on.
let lastLog = 0;

/** One checkpoint, reported; then the next one, sooner while writes go on. */
function checkpoint(intervalMs: number): void {
  const started = performance.now();
  let next: number;
  try {
    const row = db!.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as CheckpointOutcome;
    const ms = performance.now() - started;
    next = nextCheckpointIn(row, { lastLog, intervalMs });
    lastLog = row.log;
    if (row.checkpointed < row.log) file?.syncDataSync();
    scope.postMessage({ kind: "done", ms, walPages: row.log, copiedPages: row.checkpointed });
  } catch (err) {
    scope.postMessage({ kind: "failed", error: (err as Error).message });
    return;
  }
  timer = setTimeout(() => checkpoint(intervalMs), next);
}

scope.onmessage = (event) => {
  const command = event.data;
  if (command.kind === "start") {
    try {
      // Waits on a lock rather than failing at once, as the writer's connection does.
      db = openConnection(command.path);
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
