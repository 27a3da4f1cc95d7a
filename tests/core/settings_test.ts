import assert from "node:assert/strict";
import { call, createUser, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { coreAt, count } from "../helpers/fixtures.ts";

await sanitizeTests();

const T0 = "2026-03-01T00:00:00.000Z";

function settingsAudits(core: TestCore, userId: number): { action: string; actor: string }[] {
  return core.db.prepare(
    "SELECT action, actor FROM audit_log WHERE entity_type = 'user_settings' AND entity_id = ? " +
      "ORDER BY id",
  ).all(String(userId)).map((r) => ({ action: String(r.action), actor: String(r.actor) }));
}

Deno.test("GET /settings/{user_id} answers the defaults POST /users made", async () => {
  await using core = await coreAt(T0);
  const id = await createUser(core.app, 77);
  const res = await call(core.app, "GET", `/settings/${id}`);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, {
    user_id: 77,
    timezone: "UTC",
    language: "en",
    created_at: T0,
    updated_at: T0,
  });
});

Deno.test(
  "GET /settings: unknown user is 404 (not 500), a bad id 422, and nothing is created",
  async () => {
    await using core = await coreAt(T0);
    const missing = await call(core.app, "GET", "/settings/4242");
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { detail: "User not found" });
    const bad = await call(core.app, "GET", "/settings/abc");
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.detail[0].loc, ["path", "user_id"]);
    const rows = core.db.prepare("SELECT count(*) AS n FROM user_settings").get();
    assert.equal(rows?.n, 0);
  },
);

Deno.test(
  "a known user without a settings row (old data) reads the defaults; nothing is stored",
  async () => {
    await using core = await coreAt(T0);
    const id = await createUser(core.app, 77);
    core.db.prepare("DELETE FROM user_settings WHERE user_id = ?").run(id);
    const audits = count(core, "SELECT count(*) AS n FROM audit_log");
    core.time.now = new Date("2026-03-02T00:00:00Z");
    const res = await call(core.app, "GET", `/settings/${id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      user_id: 77,
      timezone: "UTC",
      language: "en",
      created_at: "2026-03-02T00:00:00.000Z",
      updated_at: "2026-03-02T00:00:00.000Z",
    });
    assert.equal(count(core, "SELECT count(*) AS n FROM user_settings"), 0);
    assert.equal(count(core, "SELECT count(*) AS n FROM audit_log"), audits);
    // Still nothing stored: a later read answers its own "now".
    core.time.now = new Date("2026-03-03T00:00:00Z");
    const again = await call(core.app, "GET", `/settings/${id}`);
    assert.equal(again.body.created_at, "2026-03-03T00:00:00.000Z");
    assert.equal(count(core, "SELECT count(*) AS n FROM user_settings"), 0);
  },
);

Deno.test(
  "PUT /settings for a user without a settings row stores the defaults, then the change",
  async () => {
    await using core = await coreAt(T0);
    const id = await createUser(core.app, 77);
    core.db.prepare("DELETE FROM user_settings WHERE user_id = ?").run(id);
    core.time.now = new Date("2026-03-02T00:00:00Z");
    const res = await call(core.app, "PUT", `/settings/${id}`, { language: "fr" });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      user_id: 77,
      timezone: "UTC",
      language: "fr",
      created_at: "2026-03-02T00:00:00.000Z",
      updated_at: "2026-03-02T00:00:00.000Z",
    });
    assert.deepEqual(settingsAudits(core, id), [
      { action: "created", actor: "system:api" },
      { action: "updated", actor: "user:77" },
    ]);
    assert.deepEqual((await call(core.app, "GET", `/settings/${id}`)).body, res.body);
  },
);

Deno.test("PUT /settings changes timezone and language and audits the change", async () => {
  await using core = await coreAt(T0);
  const id = await createUser(core.app, 77);
  core.time.now = new Date("2026-03-03T00:00:00Z");
  const res = await call(core.app, "PUT", `/settings/${id}`, {
    timezone: "Asia/Singapore",
    language: "fr",
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body, {
    user_id: 77,
    timezone: "Asia/Singapore",
    language: "fr",
    created_at: T0,
    updated_at: "2026-03-03T00:00:00.000Z",
  });
  const partial = await call(core.app, "PUT", `/settings/${id}`, { language: "de" });
  assert.equal(partial.status, 200);
  assert.equal(partial.body.timezone, "Asia/Singapore");
  assert.equal(partial.body.language, "de");
  // Nothing to change: same answer, no audit entry.
  const same = await call(core.app, "PUT", `/settings/${id}`, {});
  assert.equal(same.status, 200);
  assert.deepEqual(same.body, partial.body);
  assert.deepEqual(settingsAudits(core, id), [
    { action: "updated", actor: "user:77" },
    { action: "updated", actor: "user:77" },
  ]);
  const detail = core.db.prepare(
    "SELECT detail FROM audit_log WHERE entity_type = 'user_settings' ORDER BY id LIMIT 1",
  ).get();
  assert.deepEqual(JSON.parse(String(detail?.detail)).changes.timezone, {
    from: "UTC",
    to: "Asia/Singapore",
  });
  const got = await call(core.app, "GET", `/settings/${id}`);
  assert.deepEqual(got.body, partial.body);
});

Deno.test("PUT /settings: bad timezone 422, unknown user 404, and nothing changes", async () => {
  await using core = await coreAt(T0);
  const id = await createUser(core.app, 77);
  for (const body of [{ timezone: "Mars/Olympus" }, { language: "" }, { timezone: 5 }, "{"]) {
    const res = await call(core.app, "PUT", `/settings/${id}`, body);
    assert.equal(res.status, 422, JSON.stringify(body));
  }
  const tz = await call(core.app, "PUT", `/settings/${id}`, { timezone: "Mars/Olympus" });
  assert.deepEqual(tz.body.detail[0].loc, ["body", "timezone"]);
  const missing = await call(core.app, "PUT", "/settings/5150", { timezone: "UTC" });
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { detail: "User not found" });
  const bad = await call(core.app, "PUT", "/settings/1.5", { timezone: "UTC" });
  assert.equal(bad.status, 422);
  const got = await call(core.app, "GET", `/settings/${id}`);
  assert.equal(got.body.timezone, "UTC");
  assert.equal(got.body.language, "en");
  assert.equal(got.body.updated_at, T0);
  const rows = core.db.prepare("SELECT count(*) AS n FROM user_settings").get();
  assert.equal(rows?.n, 1);
  assert.equal(settingsAudits(core, id).length, 0);
});
