import assert from "node:assert/strict";
import { call, createUser, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { coreAt, count, insertMemory } from "../helpers/fixtures.ts";

await sanitizeTests();

const T0 = "2026-03-01T00:00:00.000Z";

async function auditActors(core: TestCore, entityId: string): Promise<string[]> {
  const res = await call(core.app, "GET", `/audit?entity_id=${entityId}`);
  return res.body.map((e: { actor: string }) => e.actor).reverse();
}

Deno.test(
  "X-Actor a client may not claim (the scheduler's, junk, over-long) is 422; nothing changes",
  async () => {
    await using core = await coreAt(T0);
    const owner = await createUser(core.app, 9);
    const memoryId = insertMemory(core, owner);
    const before = count(core, "SELECT count(*) AS n FROM audit_log");
    const forged = [
      "system:scheduler",
      "system:anything",
      "admin:cli",
      "junk",
      "user:",
      "user:-5",
      "user:12a",
      "user:99999999999999999",
      `user:${"1".repeat(300)}`,
      "user:9999999999999999",
      "SYSTEM:API",
    ];
    for (const actor of forged) {
      const res = await call(core.app, "POST", "/tasks", {
        memory_id: memoryId,
        owner_user_id: owner,
        description: "forged",
      }, { "X-Actor": actor });
      assert.equal(res.status, 422, actor);
      assert.deepEqual(res.body.detail.length, 1);
      assert.deepEqual(res.body.detail[0].loc, ["header", "x-actor"]);
      assert.equal(res.body.detail[0].type, "value_error");
      assert.match(res.body.detail[0].msg, /user:<telegram id>.*admin:web/);
    }
    const patch = await call(core.app, "PATCH", `/memories/${memoryId}`, { content: "x" }, {
      "X-Actor": "system:scheduler",
    });
    assert.equal(patch.status, 422);
    assert.equal(count(core, "SELECT count(*) AS n FROM tasks"), 0);
    assert.equal(count(core, "SELECT count(*) AS n FROM audit_log"), before);
    assert.equal((await call(core.app, "GET", `/memories/${memoryId}`)).body.content, "a memory");
  },
);

Deno.test("X-Actor: user:<id>, system:api, system:llm_worker and admin:web are recorded", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 9);
  const memoryId = insertMemory(core, owner);
  const task = await call(core.app, "POST", "/tasks", {
    memory_id: memoryId,
    owner_user_id: owner,
    description: "file taxes",
  }, { "X-Actor": "user:123456789" });
  assert.equal(task.status, 201);
  for (const actor of ["system:api", "system:llm_worker", "admin:web", ""]) {
    const res = await call(core.app, "PATCH", `/tasks/${task.body.id}`, {
      description: `by ${actor}`,
    }, { "X-Actor": actor });
    assert.equal(res.status, 200, actor);
  }
  // No header, or an empty one, is the owner's own change.
  assert.deepEqual(await auditActors(core, task.body.id), [
    "user:123456789",
    "system:api",
    "system:llm_worker",
    "admin:web",
    "user:9",
  ]);
});

Deno.test("PATCH /llm_jobs/{id}: actor system:llm_worker unless X-Actor says otherwise", async () => {
  await using core = await coreAt(T0);
  await createUser(core.app, 9);
  const job = (await call(core.app, "POST", "/llm_jobs", {
    job_type: "followup",
    payload: { message: "x" },
    user_id: 9,
  })).body;
  const processing = await call(core.app, "PATCH", `/llm_jobs/${job.id}`, {
    status: "processing",
  });
  assert.equal(processing.status, 200);
  const forged = await call(core.app, "PATCH", `/llm_jobs/${job.id}`, {
    status: "failed",
  }, { "X-Actor": "system:scheduler" });
  assert.equal(forged.status, 422);
  assert.equal((await call(core.app, "GET", `/llm_jobs/${job.id}`)).body.status, "processing");
  const byOperator = await call(core.app, "PATCH", `/llm_jobs/${job.id}`, {
    status: "failed",
    error_message: "stopped by the operator",
  }, { "X-Actor": "admin:web" });
  assert.equal(byOperator.status, 200);
  assert.deepEqual(await auditActors(core, job.id), [
    "user:9",
    "system:llm_worker",
    "admin:web",
  ]);
});
