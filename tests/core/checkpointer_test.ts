/**
 * core/background/checkpointer.ts on a real database file: commits no longer checkpoint; a thread
 * started by writes does, and ends once the core has been idle for a while.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openDatabase } from "../../core/db/open.ts";
import {
  type Checkpointer,
  type CheckpointerDeps,
  type CheckpointerOptions,
  startCheckpointer,
} from "../../core/background/checkpointer.ts";
import { BEHIND_INTERVAL_MS, nextCheckpointIn } from "../../core/db/checkpoint_pace.ts";
import { silentLogger } from "../../shared/log.ts";
import { tempDir, until } from "../helpers/fixtures.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Db = ReturnType<typeof openDatabase>;

/** A database file in a temp directory; closed and removed when the scope ends. */
async function fileDatabase(): Promise<{ dir: string; path: string; db: Db } & AsyncDisposable> {
  const tmp = await tempDir("memori_ckpt_");
  const path = join(tmp.path, "x.db");
  const db = openDatabase(path);
  return {
    dir: tmp.path,
    path,
    db,
    async [Symbol.asyncDispose]() {
      db.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** A checkpointer stopped when the scope ends (stopping twice is harmless). */
function started(
  deps: CheckpointerDeps,
  options: CheckpointerOptions,
): Checkpointer & AsyncDisposable {
  const checkpointer = startCheckpointer(deps, options);
  return Object.assign(checkpointer, { [Symbol.asyncDispose]: () => checkpointer.stop() });
}

function autocheckpoint(db: Db): number {
  return (db.prepare("PRAGMA wal_autocheckpoint").get() as { wal_autocheckpoint: number })
    .wal_autocheckpoint;
}

/** Write ~6 MB: past the 1,000 pages (4 MB) at which a commit would have checkpointed. */
function writeSixMegabytes(db: Db): void {
  db.exec("CREATE TABLE IF NOT EXISTS blob_test (b BLOB)");
  const insert = db.prepare("INSERT INTO blob_test VALUES (?)");
  for (let i = 0; i < 1500; i++) insert.run(new Uint8Array(4096));
}

Deno.test("a thread started by writes, not a commit, copies the WAL; it ends when idle", async () => {
  await using file = await fileDatabase();
  const { db, path } = file;
  await using checkpointer = started({ db, databasePath: path, log: silentLogger }, {
    intervalMs: 50,
    idleMs: 300,
  });
  const poll = { pollMs: 20 };
  assert.equal(autocheckpoint(db), 0);
  await sleep(200);
  assert.equal(checkpointer.threadRunning(), false, "no thread without writes");
  const before = (await Deno.stat(path)).size;
  writeSixMegabytes(db);
  assert.ok((await Deno.stat(path)).size < before + 1_000_000, "a commit checkpointed");
  assert.ok((await Deno.stat(`${path}-wal`)).size > 6_000_000);
  await until(
    async () => (await Deno.stat(path)).size > before + 6_000_000,
    "the thread copies the WAL",
    poll,
  );
  assert.equal(checkpointer.threadRunning(), true);
  await until(() => !checkpointer.threadRunning(), "the idle thread ends", poll);
  // A later write starts one again.
  db.prepare("INSERT INTO blob_test VALUES (?)").run(new Uint8Array(10));
  await until(() => checkpointer.threadRunning(), "a new thread", poll);
});

Deno.test("under steady writes the WAL starts over instead of growing", async () => {
  // A checkpoint on the thread's connection never catches up with a writer that keeps writing,
  // and SQLite starts the WAL over only after one that did: the WAL grew ~50 MB/s under load.
  await using file = await fileDatabase();
  const { db, path } = file;
  await using _checkpointer = started({ db, databasePath: path, log: silentLogger }, {
    intervalMs: 20,
    restartPages: 100,
  });
  db.exec("CREATE TABLE blob_test (b BLOB)");
  const insert = db.prepare("INSERT INTO blob_test VALUES (?)");
  // The thread is started by the first writes and checkpoints once it has loaded: wait for that
  // (it writes the copied pages to the file), so a slow start on a loaded machine is not measured.
  const copied = (await Deno.stat(path)).mtime!.getTime();
  insert.run(new Uint8Array(4000));
  await until(async () => (await Deno.stat(path)).mtime!.getTime() > copied, "a first checkpoint", {
    pollMs: 10,
  });
  // ~8 MB, 20 pages a turn of the event loop (as a group commit would), with no pause for a
  // checkpoint on another connection to end with nothing left.
  const pages = 2000;
  for (let i = 0; i < pages; i++) {
    insert.run(new Uint8Array(4000));
    if (i % 20 === 19) await sleep(0);
  }
  const walBytes = (await Deno.stat(`${path}-wal`)).size;
  // Each 4,000-byte row takes an overflow page and a share of the table's: left to grow, the
  // WAL held ~25 MB here; starting over, ~5 MB.
  assert.ok(
    walBytes < pages * 4096,
    `the WAL holds ${walBytes} bytes after ${pages} pages were written`,
  );
  assert.equal(
    (db.prepare("SELECT count(*) AS n FROM blob_test").get() as { n: number }).n,
    pages + 1,
  );
});

Deno.test("the thread checkpoints again soon while writes go on, also once the WAL started over", () => {
  const intervalMs = 1000;
  const next = (log: number, checkpointed: number, lastLog: number) =>
    nextCheckpointIn({ log, checkpointed }, { lastLog, intervalMs });
  assert.equal(next(900, 900, 500), BEHIND_INTERVAL_MS, "the WAL grew");
  assert.equal(next(900, 700, 900), BEHIND_INTERVAL_MS, "frames were left behind");
  // The main thread's final checkpoint let the WAL start over. Waiting the full interval here let
  // ~20,000 pages pile up under POST /llm_jobs, and its checkpoint then took 120-160 ms.
  assert.equal(next(889, 889, 17_534), BEHIND_INTERVAL_MS, "the WAL started over");
  assert.equal(next(900, 900, 900), intervalMs, "no writes since the last checkpoint");
  assert.equal(next(0, 0, 0), intervalMs, "an empty WAL");
});

Deno.test("what the WAL holds at the start is copied before the core serves", async () => {
  await using file = await fileDatabase();
  const { db, path } = file;
  const deps = { db, databasePath: path, log: silentLogger };
  // An hour between passes: only the start copies anything.
  await using first = started(deps, { intervalMs: 3_600_000 });
  const before = (await Deno.stat(path)).size;
  writeSixMegabytes(db);
  await first.stop();
  assert.ok((await Deno.stat(path)).size < before + 1_000_000);
  await using _again = started(deps, { intervalMs: 3_600_000 });
  assert.ok((await Deno.stat(path)).size > before + 6_000_000, "not checkpointed");
});

Deno.test("when the checkpoint thread fails, commits checkpoint again", async () => {
  await using file = await fileDatabase();
  const { db, dir } = file;
  const errors: string[] = [];
  const log = { ...silentLogger, error: (m: string) => void errors.push(m) };
  // A directory cannot be opened as a database: the thread reports it.
  await using checkpointer = started({ db, databasePath: dir, log }, { intervalMs: 20 });
  db.exec("CREATE TABLE t (x INTEGER)");
  db.prepare("INSERT INTO t VALUES (1)").run();
  await until(() => errors.length > 0, "the failure to be logged", { pollMs: 20 });
  assert.match(errors[0], /checkpoint thread failed/);
  assert.equal(autocheckpoint(db), 1000);
  // No new thread for later writes: they checkpoint themselves now.
  db.prepare("INSERT INTO t VALUES (2)").run();
  await sleep(100);
  assert.equal(checkpointer.threadRunning(), false);
  assert.equal(errors.length, 1);
});
