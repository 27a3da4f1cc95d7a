/** A full disk (simulated with PRAGMA max_page_count): 507 saying so, the real cause logged. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createLogger } from "../../shared/log.ts";
import { call, createUser, makeCore, sanitizeTests } from "../helpers/core_app.ts";
import { count, tempDir } from "../helpers/fixtures.ts";

await sanitizeTests();

Deno.test("a full disk answers 507 with a detail saying so, and logs SQLite's own error", async () => {
  await using dirTmp = await tempDir("memori_full_");
  const dir = dirTmp.path;
  const lines: string[] = [];
  const log = createLogger("core", { level: "debug", sink: (l) => lines.push(l) });
  await using core = await makeCore({ databasePath: join(dir, "full.db"), log });
  await createUser(core.app, 801, "Full");
  const pages = (core.db.prepare("PRAGMA page_count").get() as { page_count: number })
    .page_count;
  core.db.exec(`PRAGMA max_page_count = ${pages}`);
  const big = { owner_user_id: 801, content: "disk ".repeat(20_000) };
  const res = await call(core.app, "POST", "/memories", big);
  assert.equal(res.status, 507, JSON.stringify(res.body));
  assert.match(res.body.detail, /disk is full/);
  assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 0);
  const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.level === "error");
  assert.equal(logged.length, 1);
  assert.match(logged[0].error, /database or disk is full/);
  assert.ok(!lines.join("\n").includes("cannot rollback"));

  // Space again: the same request goes through, nothing was left half-done.
  core.db.exec("PRAGMA max_page_count = 1073741823");
  assert.equal((await call(core.app, "POST", "/memories", big)).status, 201);
});
