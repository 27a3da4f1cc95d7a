/**
 * core/background/checkpointer.ts on a real database file: commits no longer checkpoint, its
 * thread does.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openDatabase } from "../../core/db/open.ts";
import { startCheckpointer } from "../../core/background/checkpointer.ts";
import { silentLogger } from "../../shared/log.ts";

Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("the checkpointer, not a commit, copies the WAL into the database file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memori_ckpt_" });
  const path = join(dir, "x.db");
  const db = openDatabase(path);
  const deps = { db, databasePath: path, log: silentLogger };
  const loop = startCheckpointer(deps, { intervalMs: 3_600_000 });
  try {
    // Let the first pass (at start) run; the next is an hour away.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(
      (db.prepare("PRAGMA wal_autocheckpoint").get() as { wal_autocheckpoint: number })
        .wal_autocheckpoint,
      0,
    );
    const before = (await Deno.stat(path)).size;
    db.exec("CREATE TABLE blob_test (b BLOB)");
    const insert = db.prepare("INSERT INTO blob_test VALUES (?)");
    // ~6 MB: past the 1,000 pages (4 MB) at which a commit would have checkpointed.
    for (let i = 0; i < 1500; i++) insert.run(new Uint8Array(4096));
    assert.ok((await Deno.stat(path)).size < before + 1_000_000, "a commit checkpointed");
    assert.ok((await Deno.stat(`${path}-wal`)).size > 6_000_000);
    await loop.stop();
    const again = startCheckpointer(deps, { intervalMs: 3_600_000 });
    await new Promise((r) => setTimeout(r, 500));
    await again.stop();
    assert.ok((await Deno.stat(path)).size > before + 6_000_000, "not checkpointed");
  } finally {
    await loop.stop();
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("when the checkpoint thread fails, commits checkpoint again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memori_ckpt_" });
  const db = openDatabase(join(dir, "x.db"));
  const errors: string[] = [];
  const log = { ...silentLogger, error: (m: string) => void errors.push(m) };
  // A directory cannot be opened as a database: the thread reports it.
  const loop = startCheckpointer({ db, databasePath: dir, log }, { intervalMs: 3_600_000 });
  try {
    const deadline = Date.now() + 5000;
    while (errors.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(errors[0] ?? "", /checkpoint thread failed/);
    assert.equal(
      (db.prepare("PRAGMA wal_autocheckpoint").get() as { wal_autocheckpoint: number })
        .wal_autocheckpoint,
      1000,
    );
  } finally {
    await loop.stop();
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
