import assert from "node:assert/strict";
import { call, makeCore, sanitizeTests } from "../helpers/core_app.ts";

await sanitizeTests();

Deno.test("GET /backup/status/{user_id} answers the latest job by started_at", async () => {
  await using core = await makeCore();
  const none = await call(core.app, "GET", "/backup/status/21");
  assert.equal(none.status, 404);
  assert.deepEqual(none.body, { detail: "No backup found" });

  const insert = core.db.prepare(
    `INSERT INTO backup_jobs (backup_id, user_id, started_at, completed_at, status, file_path,
                              error_message)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  insert.run(
    "b-old",
    21,
    "2026-03-01T00:00:00.000Z",
    "2026-03-01T00:01:00.000Z",
    "completed",
    "/backups/a.tar",
    null,
  );
  // 09:00 at +08:00 is 01:00Z: the latest, although it sorts first as a string.
  insert.run("b-new", 21, "2026-03-01T09:00:00+08:00", null, "failed", null, "disk full");
  insert.run("b-mid", 21, "2026-03-01T00:30:00.000Z", null, "running", null, null);
  insert.run("b-other", 22, "2026-03-05T00:00:00.000Z", null, "completed", "/b/x", null);

  const res = await call(core.app, "GET", "/backup/status/21");
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, {
    backup_id: "b-new",
    user_id: 21,
    started_at: "2026-03-01T01:00:00.000Z",
    completed_at: null,
    status: "failed",
    file_path: null,
    error_message: "disk full",
  });
  const other = await call(core.app, "GET", "/backup/status/22");
  assert.equal(other.body.backup_id, "b-other");
  assert.equal(other.body.file_path, "/b/x");

  const bad = await call(core.app, "GET", "/backup/status/someone");
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.detail[0].loc, ["path", "user_id"]);
  const unknownPath = await call(core.app, "GET", "/backup/status");
  assert.equal(unknownPath.status, 404);
});
