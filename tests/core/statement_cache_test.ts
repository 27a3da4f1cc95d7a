/**
 * core/db/statement_cache.ts: a connection reuses the statement it prepared for the same SQL, and
 * every connection the core opens is opened through it. A statement's native memory is freed only
 * by a full collection, which a quiet thread rarely runs: a connection opened around the cache
 * grew the core for as long as its thread ran.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { openConnection } from "../../core/db/statement_cache.ts";
import { BUSY_TIMEOUT_MS } from "../../core/db/busy_timeout.ts";
import { tempDir } from "../helpers/fixtures.ts";

const coreDir = fileURLToPath(new URL("../../core/", import.meta.url));

Deno.test("a connection prepares each SQL text once and hands the same statement back", () => {
  using db = openConnection(":memory:");
  const sql = "SELECT ? AS n";
  const first = db.prepare(sql);
  assert.equal(db.prepare(sql), first);
  assert.deepEqual({ ...(db.prepare(sql).get(7) as object) }, { n: 7 });
  assert.notEqual(db.prepare("SELECT ? + 1 AS n"), first);
});

Deno.test("openConnection passes its options on to SQLite", async () => {
  await using tmp = await tempDir("memori_stmt_");
  const path = join(tmp.path, "x.db");
  openConnection(path).close();
  using db = openConnection(path, { readOnly: true });
  assert.throws(() => db.exec("CREATE TABLE t (x)"), /readonly/);
  using brief = openConnection(path, { timeout: 10 });
  assert.deepEqual({ ...(brief.prepare("PRAGMA busy_timeout").get() as object) }, { timeout: 10 });
});

Deno.test("a connection waits BUSY_TIMEOUT_MS on another's lock unless told otherwise", () => {
  using db = openConnection(":memory:");
  const row = db.prepare("PRAGMA busy_timeout").get() as { timeout: number };
  assert.equal(row.timeout, BUSY_TIMEOUT_MS);
});

/** The core's TypeScript modules under `dir`, recursively. */
function* modules(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* modules(path);
    else if (/\.tsx?$/.test(entry.name)) yield path;
  }
}

Deno.test("every connection of the core is opened through openConnection", () => {
  const opening = [...modules(coreDir)]
    .filter((path) => Deno.readTextFileSync(path).includes("new DatabaseSync("))
    .map((path) => relative(coreDir, path));
  assert.deepEqual(opening, ["db/statement_cache.ts"]);
});
