/**
 * core/background/checkpointer.ts on a real database file: commits no longer checkpoint, the
 * timer does.
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
  const loop = startCheckpointer({ db, log: silentLogger }, { intervalMs: 3_600_000 });
  try {
    // Let the first pass (at start) run; the next is an hour away.
    await new Promise((r) => setTimeout(r, 50));
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
    const again = startCheckpointer({ db, log: silentLogger }, { intervalMs: 3_600_000 });
    await new Promise((r) => setTimeout(r, 50));
    await again.stop();
    assert.ok((await Deno.stat(path)).size > before + 6_000_000, "not checkpointed");
  } finally {
    await loop.stop();
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
