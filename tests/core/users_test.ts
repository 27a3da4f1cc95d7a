import assert from "node:assert/strict";
import { call, makeCore, sanitizeTests } from "../helpers/core_app.ts";

await sanitizeTests();

Deno.test("GET /health answers ok", async () => {
  await using core = await makeCore();
  const res = await call(core.app, "GET", "/health");
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { status: "ok" });
});

Deno.test("POST /users upserts and makes default settings", async () => {
  await using core = await makeCore();
  const a = await call(core.app, "POST", "/users", {
    telegram_user_id: 42,
    display_name: "Ann",
  });
  assert.equal(a.status, 200);
  assert.equal(a.body.telegram_user_id, 42);
  assert.equal(a.body.display_name, "Ann");
  assert.equal(a.body.is_allowed, false);
  assert.match(a.body.created_at, /Z$/);
  const b = await call(core.app, "POST", "/users", {
    telegram_user_id: 42,
    display_name: "Anna",
  });
  assert.equal(b.status, 200);
  assert.equal(b.body.display_name, "Anna");
  assert.equal(b.body.created_at, a.body.created_at);
  const settings = core.db.prepare(
    "SELECT timezone, language FROM user_settings WHERE user_id = 42",
  )
    .get() as { timezone: string; language: string };
  assert.deepEqual({ ...settings }, { timezone: "UTC", language: "en" });
  const audits = core.db.prepare("SELECT action FROM audit_log WHERE entity_type = 'user'").all();
  assert.deepEqual(audits.map((r) => r.action), ["created", "updated"]);
});

Deno.test("POST /users rejects bad bodies with 422 naming the field", async () => {
  await using core = await makeCore();
  const bad = await call(core.app, "POST", "/users", { telegram_user_id: "x" });
  assert.equal(bad.status, 422);
  const locs = bad.body.detail.map((d: { loc: string[] }) => d.loc.join("."));
  assert.ok(locs.includes("body.telegram_user_id"), JSON.stringify(bad.body));
  assert.ok(locs.includes("body.display_name"), JSON.stringify(bad.body));
  const malformed = await call(core.app, "POST", "/users", "{not json");
  assert.equal(malformed.status, 422);
  assert.equal(malformed.body.detail[0].type, "json_invalid");
  const huge = await call(core.app, "POST", "/users", {
    telegram_user_id: 1,
    display_name: "x".repeat(2 * 1024 * 1024),
  });
  assert.equal(huge.status, 413);
  assert.match(huge.body.detail, /larger than/);
});
