/**
 * Entry point of the WAL checkpoint thread (core/background/checkpointer.ts starts it): its own
 * connection to the database file checkpoints every `intervalMs`, so the copy back into the
 * database and its fsync never stop the thread that serves HTTP. Only node:sqlite and a constant are imported:
 * under `deno task core` a thread may read just the modules it loads (scripts/serve.sh).
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

let db: DatabaseSync | null = null;
let timer: ReturnType<typeof setInterval> | undefined;

function checkpoint(): void {
  const started = performance.now();
  try {
    const row = db!.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as {
      log: number;
      checkpointed: number;
    };
    const ms = performance.now() - started;
    scope.postMessage({ kind: "done", ms, walPages: row.log, copiedPages: row.checkpointed });
  } catch (err) {
    scope.postMessage({ kind: "failed", error: (err as Error).message });
  }
}

scope.onmessage = (event) => {
  const command = event.data;
  if (command.kind === "start") {
    try {
      db = new DatabaseSync(command.path);
      // As the writer's connection: wait for a lock rather than fail at once.
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    } catch (err) {
      scope.postMessage({ kind: "failed", error: (err as Error).message });
      return;
    }
    checkpoint();
    timer = setInterval(checkpoint, command.intervalMs);
  } else {
    clearInterval(timer);
    db?.close();
    db = null;
    scope.postMessage({ kind: "stopped" });
  }
};
