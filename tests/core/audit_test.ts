import assert from "node:assert/strict";
import { call, createUser, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { coreAt, insertMemory } from "../helpers/fixtures.ts";

await sanitizeTests();

const T0 = "2026-03-01T00:00:00.000Z";

interface Entry {
  id: number;
  user_id: number | null;
  entity_type: string;
  entity_id: string;
  action: string;
  actor: string;
  detail: unknown;
  created_at: string;
}

async function audit(core: TestCore, query = ""): Promise<Entry[]> {
  const res = await call(core.app, "GET", `/audit${query}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

Deno.test("GET /audit lists every change newest first and filters by each field", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 9);
  const memoryId = insertMemory(core, owner);
  const step = () => core.time.now = new Date(core.time.now.getTime() + 60_000);
  step();
  const task = (await call(core.app, "POST", "/tasks", {
    memory_id: memoryId,
    owner_user_id: owner,
    description: "file taxes",
  })).body;
  step();
  await call(core.app, "PATCH", `/tasks/${task.id}`, { state: "DONE" });
  step();
  const reminder = (await call(core.app, "POST", "/reminders", {
    memory_id: memoryId,
    owner_user_id: owner,
    text: "taxes",
    fire_at: "2026-04-01T00:00:00Z",
  }, { "X-Actor": "system:llm_worker" })).body;
  step();
  await call(core.app, "PUT", `/settings/${owner}`, { timezone: "Europe/Paris" });
  step();
  await call(core.app, "DELETE", `/tasks/${task.id}`);

  const all = await audit(core);
  assert.deepEqual(
    all.map((e) => [e.entity_type, e.action]),
    [
      ["task", "deleted"],
      ["user_settings", "updated"],
      ["reminder", "created"],
      ["task", "updated"],
      ["task", "created"],
      ["user", "created"],
    ],
  );
  assert.deepEqual(Object.keys(all[0]).sort(), [
    "action",
    "actor",
    "created_at",
    "detail",
    "entity_id",
    "entity_type",
    "id",
    "user_id",
  ]);
  const created = all[4];
  assert.equal(created.entity_id, task.id);
  assert.equal(created.actor, "user:9");
  assert.equal(created.user_id, 9);
  assert.equal(created.created_at, "2026-03-01T00:01:00.000Z");
  assert.deepEqual(created.detail, { memory_id: memoryId, description: "file taxes" });
  const byWorker = all[2];
  assert.equal(byWorker.actor, "system:llm_worker");
  assert.equal(byWorker.user_id, null);

  const ids = (entries: Entry[]) => entries.map((e) => e.id);
  assert.deepEqual(
    (await audit(core, "?entity_type=task")).map((e) => e.action),
    ["deleted", "updated", "created"],
  );
  assert.deepEqual(ids(await audit(core, `?entity_id=${task.id}&action=updated`)), [all[3].id]);
  assert.deepEqual(ids(await audit(core, `?entity_id=${reminder.id}`)), [all[2].id]);
  assert.deepEqual(ids(await audit(core, "?actor=system:llm_worker")), [all[2].id]);
  assert.deepEqual(
    ids(await audit(core, "?actor=user:9&entity_type=task&action=deleted")),
    [all[0].id],
  );
  assert.deepEqual(await audit(core, "?action=fired"), []);
  assert.deepEqual(ids(await audit(core, "?limit=2&offset=1")), [all[1].id, all[2].id]);
});

Deno.test("GET /audit: limit defaults to 100; detail parsed, null or raw text", async () => {
  await using core = await coreAt(T0);
  const insert = core.db.prepare(
    `INSERT INTO audit_log (entity_type, entity_id, action, actor, detail, created_at)
     VALUES ('memory', ?, 'created', ?, ?, ?)`,
  );
  for (let i = 0; i < 120; i++) {
    const at = new Date(Date.parse(T0) + i * 1000).toISOString();
    insert.run(`m${i}`, "system:scheduler", null, at);
  }
  // Rows of the first version: plain-text detail, and a time in another format.
  insert.run("legacy", "user:-5", "not json {", "2026-03-02 00:00:00");
  insert.run("json", "system:api", JSON.stringify({ a: [1, 2] }), "2026-03-01T00:30:00.000Z");

  const page = await audit(core);
  assert.equal(page.length, 100);
  assert.equal(page[0].entity_id, "legacy");
  assert.equal(page[0].detail, "not json {");
  assert.equal(page[0].user_id, -5);
  assert.equal(page[0].created_at, "2026-03-02T00:00:00.000Z");
  assert.equal(page[1].entity_id, "json");
  assert.deepEqual(page[1].detail, { a: [1, 2] });
  assert.equal(page[1].user_id, null);
  assert.equal(page[2].entity_id, "m119");
  assert.equal(page[2].detail, null);

  assert.equal((await audit(core, "?limit=1000")).length, 122);
  assert.equal((await audit(core, "?offset=120")).length, 2);
  for (const bad of ["?limit=0", "?limit=1001", "?offset=-1", "?limit=ten"]) {
    const res = await call(core.app, "GET", `/audit${bad}`);
    assert.equal(res.status, 422, bad);
    assert.equal(res.body.detail[0].loc[0], "query");
  }
});

Deno.test("GET /audit: settings entries are user_settings, old `settings` rows included", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 9);
  // A database of an earlier version may hold settings entries under the name `settings`.
  core.db.prepare(
    `INSERT INTO audit_log (entity_type, entity_id, action, actor, detail, created_at)
     VALUES ('settings', ?, 'updated', 'user:9', NULL, '2026-02-01T00:00:00.000Z')`,
  ).run(String(owner));
  core.time.now = new Date("2026-03-02T00:00:00Z");
  await call(core.app, "PUT", `/settings/${owner}`, { language: "fr" });

  const entries = await audit(core, "?entity_type=user_settings");
  assert.deepEqual(
    entries.map((e) => [e.entity_type, e.entity_id, e.created_at]),
    [
      ["user_settings", "9", "2026-03-02T00:00:00.000Z"],
      ["user_settings", "9", "2026-02-01T00:00:00.000Z"],
    ],
  );
  assert.deepEqual(
    (await audit(core, "?entity_type=settings")).map((e) => e.id),
    entries.map((e) => e.id),
  );
});
