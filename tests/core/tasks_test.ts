import assert from "node:assert/strict";
import { call, createUser, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { coreAt, count, insertMemory } from "../helpers/fixtures.ts";

await sanitizeTests();

const T0 = "2026-03-01T00:00:00.000Z";

function audits(core: TestCore, entityId: string): { action: string; actor: string }[] {
  return core.db.prepare(
    "SELECT action, actor FROM audit_log WHERE entity_type = 'task' AND entity_id = ? ORDER BY id",
  ).all(entityId).map((r) => ({ action: String(r.action), actor: String(r.actor) }));
}

Deno.test("POST /tasks creates a task with due_at normalized to UTC and audits it", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 7);
  const memoryId = insertMemory(core, owner);
  const res = await call(core.app, "POST", "/tasks", {
    memory_id: memoryId,
    owner_user_id: owner,
    description: "pay rent",
    due_at: "2026-03-05T09:30:00+08:00",
    recurrence_minutes: 60,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.deepEqual(Object.keys(res.body).sort(), [
    "completed_at",
    "created_at",
    "description",
    "due_at",
    "id",
    "memory_id",
    "owner_user_id",
    "recurrence_minutes",
    "state",
    "updated_at",
  ]);
  assert.match(res.body.id, /^[0-9a-f-]{36}$/);
  assert.equal(res.body.memory_id, memoryId);
  assert.equal(res.body.owner_user_id, owner);
  assert.equal(res.body.description, "pay rent");
  assert.equal(res.body.state, "NOT_DONE");
  assert.equal(res.body.due_at, "2026-03-05T01:30:00.000Z");
  assert.equal(res.body.recurrence_minutes, 60);
  assert.equal(res.body.completed_at, null);
  assert.equal(res.body.created_at, T0);
  assert.equal(res.body.updated_at, T0);
  const stored = core.db.prepare("SELECT due_at FROM tasks WHERE id = ?").get(res.body.id);
  assert.equal(stored?.due_at, "2026-03-05T01:30:00.000Z");
  assert.deepEqual(audits(core, res.body.id), [{ action: "created", actor: "user:7" }]);

  const got = await call(core.app, "GET", `/tasks/${res.body.id}`);
  assert.equal(got.status, 200);
  assert.deepEqual(got.body, res.body);
});

Deno.test(
  "POST /tasks: unknown memory or owner is 404, another user's memory 422, nothing written",
  async () => {
    await using core = await coreAt(T0);
    const owner = await createUser(core.app, 7);
    const other = await createUser(core.app, 8);
    const othersMemory = insertMemory(core, other);
    const mine = insertMemory(core, owner);

    const noMemory = await call(core.app, "POST", "/tasks", {
      memory_id: crypto.randomUUID(),
      owner_user_id: owner,
      description: "x",
    });
    assert.equal(noMemory.status, 404);
    assert.deepEqual(noMemory.body, { detail: "Memory not found" });

    const noUser = await call(core.app, "POST", "/tasks", {
      memory_id: mine,
      owner_user_id: 999,
      description: "x",
    });
    assert.equal(noUser.status, 404);
    assert.deepEqual(noUser.body, { detail: "User not found" });

    const foreign = await call(core.app, "POST", "/tasks", {
      memory_id: othersMemory,
      owner_user_id: owner,
      description: "x",
    });
    assert.equal(foreign.status, 422);
    assert.deepEqual(foreign.body.detail[0].loc, ["body", "memory_id"]);

    const invalid = await call(core.app, "POST", "/tasks", {
      memory_id: "not-a-uuid",
      owner_user_id: owner,
      due_at: "next tuesday",
      recurrence_minutes: 0,
    });
    assert.equal(invalid.status, 422);
    const locs = invalid.body.detail.map((d: { loc: string[] }) => d.loc.join("."));
    for (const field of ["memory_id", "description", "due_at", "recurrence_minutes"]) {
      assert.ok(locs.includes(`body.${field}`), `${field} in ${JSON.stringify(invalid.body)}`);
    }
    const malformed = await call(core.app, "POST", "/tasks", "{");
    assert.equal(malformed.status, 422);

    assert.equal(count(core, "SELECT count(*) AS n FROM tasks"), 0);
    assert.equal(
      count(core, "SELECT count(*) AS n FROM audit_log WHERE entity_type = 'task'"),
      0,
    );
  },
);

Deno.test("GET /tasks filters by state, owner and due time across offsets, newest first", async () => {
  await using core = await coreAt(T0);
  const a = await createUser(core.app, 1);
  const b = await createUser(core.app, 2);
  const ma = insertMemory(core, a);
  const mb = insertMemory(core, b);
  const make = async (owner: number, memory: string, description: string, due?: string) => {
    core.time.now = new Date(core.time.now.getTime() + 1000);
    const res = await call(core.app, "POST", "/tasks", {
      memory_id: memory,
      owner_user_id: owner,
      description,
      due_at: due,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id as string;
  };
  // 09:00 at +08:00 is 01:00Z: before 02:00Z although "09" > "02" as a string.
  const early = await make(a, ma, "early", "2026-03-10T09:00:00+08:00");
  const late = await make(a, ma, "late", "2026-03-10T05:00:00Z");
  const none = await make(a, ma, "no due");
  const bs = await make(b, mb, "b's", "2026-03-10T03:00:00Z");
  const done = await call(core.app, "PATCH", `/tasks/${late}`, { state: "DONE" });
  assert.equal(done.status, 200);

  const ids = async (query: string) => {
    const res = await call(core.app, "GET", `/tasks${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.map((t: { id: string }) => t.id);
  };
  assert.deepEqual(await ids(""), [bs, none, late, early]);
  assert.deepEqual(await ids("?owner_user_id=1"), [none, late, early]);
  assert.deepEqual(await ids("?state=DONE"), [late]);
  assert.deepEqual(await ids("?state=NOT_DONE&owner_user_id=1"), [none, early]);
  assert.deepEqual(await ids("?due_before=2026-03-10T02:00:00Z"), [early]);
  // The same instant written with an offset filters the same way.
  assert.deepEqual(await ids("?due_before=2026-03-10T10:00:00%2B08:00"), [early]);
  assert.deepEqual(await ids("?due_after=2026-03-10T02:00:00Z"), [bs, late]);
  assert.deepEqual(
    await ids("?due_after=2026-03-10T10:30:00%2B08:00&due_before=2026-03-10T04:00:00Z"),
    [bs],
  );
  assert.deepEqual(await ids("?limit=2"), [bs, none]);
  assert.deepEqual(await ids("?limit=2&offset=2"), [late, early]);

  for (const bad of ["?state=done", "?due_before=soon", "?limit=0", "?owner_user_id=x"]) {
    const res = await call(core.app, "GET", `/tasks${bad}`);
    assert.equal(res.status, 422, bad);
    assert.equal(res.body.detail[0].loc[0], "query");
  }
});

Deno.test("GET /tasks/{id} answers 404 for unknown and malformed ids", async () => {
  await using core = await coreAt(T0);
  for (const id of [crypto.randomUUID(), "nope"]) {
    const res = await call(core.app, "GET", `/tasks/${id}`);
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { detail: "Task not found" });
  }
});

Deno.test(
  "PATCH DONE on a recurring task creates the next one once, due one interval later",
  async () => {
    await using core = await coreAt(T0);
    const owner = await createUser(core.app, 7);
    const memoryId = insertMemory(core, owner);
    const created = await call(core.app, "POST", "/tasks", {
      memory_id: memoryId,
      owner_user_id: owner,
      description: "water plants",
      due_at: "2026-03-02T09:00:00+08:00",
      recurrence_minutes: 1440,
    });
    const id = created.body.id;
    core.time.now = new Date("2026-03-01T12:00:00Z");
    const done = await call(core.app, "PATCH", `/tasks/${id}`, { state: "DONE" });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.deepEqual(Object.keys(done.body).sort(), ["recurring_task_id", "task"]);
    assert.equal(done.body.task.state, "DONE");
    assert.equal(done.body.task.completed_at, "2026-03-01T12:00:00.000Z");
    assert.equal(done.body.task.updated_at, "2026-03-01T12:00:00.000Z");
    const nextId = done.body.recurring_task_id;
    assert.match(nextId, /^[0-9a-f-]{36}$/);
    const next = await call(core.app, "GET", `/tasks/${nextId}`);
    assert.equal(next.status, 200);
    assert.equal(next.body.state, "NOT_DONE");
    assert.equal(next.body.due_at, "2026-03-03T01:00:00.000Z");
    assert.equal(next.body.memory_id, memoryId);
    assert.equal(next.body.owner_user_id, owner);
    assert.equal(next.body.description, "water plants");
    assert.equal(next.body.recurrence_minutes, 1440);
    assert.equal(next.body.completed_at, null);

    // DONE again: no second successor, completed_at kept.
    core.time.now = new Date("2026-03-01T13:00:00Z");
    const again = await call(core.app, "PATCH", `/tasks/${id}`, { state: "DONE" });
    assert.equal(again.status, 200);
    assert.equal(again.body.recurring_task_id, null);
    assert.equal(again.body.task.completed_at, "2026-03-01T12:00:00.000Z");
    assert.equal(count(core, "SELECT count(*) AS n FROM tasks"), 2);

    // Back to NOT_DONE clears completed_at and creates nothing.
    const undone = await call(core.app, "PATCH", `/tasks/${id}`, { state: "NOT_DONE" });
    assert.equal(undone.status, 200);
    assert.equal(undone.body.task.state, "NOT_DONE");
    assert.equal(undone.body.task.completed_at, null);
    assert.equal(undone.body.recurring_task_id, null);
    assert.equal(count(core, "SELECT count(*) AS n FROM tasks"), 2);

    assert.deepEqual(audits(core, id).map((a) => a.action), ["created", "updated", "updated"]);
    const successorAudit = core.db.prepare(
      "SELECT action, actor, detail FROM audit_log WHERE entity_type = 'task' AND entity_id = ?",
    ).all(nextId);
    assert.equal(successorAudit.length, 1);
    assert.equal(successorAudit[0].action, "created");
    assert.equal(successorAudit[0].actor, "user:7");
    assert.equal(JSON.parse(String(successorAudit[0].detail)).recurring_from, id);
  },
);

Deno.test("recurrence without a due time, or far overdue, lands in the future", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 7);
  const memoryId = insertMemory(core, owner);
  const post = async (due?: string) =>
    (await call(core.app, "POST", "/tasks", {
      memory_id: memoryId,
      owner_user_id: owner,
      description: "stretch",
      due_at: due,
      recurrence_minutes: 60,
    })).body.id as string;
  const noDue = await post();
  const overdue = await post("2026-02-28T22:30:00Z");
  const notRecurring = (await call(core.app, "POST", "/tasks", {
    memory_id: memoryId,
    owner_user_id: owner,
    description: "once",
  })).body.id;

  core.time.now = new Date("2026-03-01T00:10:00Z");
  const a = await call(core.app, "PATCH", `/tasks/${noDue}`, { state: "DONE" });
  const aNext = await call(core.app, "GET", `/tasks/${a.body.recurring_task_id}`);
  assert.equal(aNext.body.due_at, "2026-03-01T01:10:00.000Z");

  // 22:30 + 1 h = 23:30, still past at 00:10; + 2 h = 00:30 is the first in the future.
  const b = await call(core.app, "PATCH", `/tasks/${overdue}`, { state: "DONE" });
  const bNext = await call(core.app, "GET", `/tasks/${b.body.recurring_task_id}`);
  assert.equal(bNext.body.due_at, "2026-03-01T00:30:00.000Z");

  const c = await call(core.app, "PATCH", `/tasks/${notRecurring}`, { state: "DONE" });
  assert.equal(c.status, 200);
  assert.equal(c.body.recurring_task_id, null);
  assert.equal(c.body.task.completed_at, "2026-03-01T00:10:00.000Z");
});

Deno.test("PATCH /tasks edits fields; bad input is 422/404 and changes nothing", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 7);
  const memoryId = insertMemory(core, owner);
  const created = await call(core.app, "POST", "/tasks", {
    memory_id: memoryId,
    owner_user_id: owner,
    description: "old",
    due_at: "2026-03-02T00:00:00Z",
    recurrence_minutes: 30,
  });
  const id = created.body.id;
  core.time.now = new Date("2026-03-01T01:00:00Z");
  const edited = await call(core.app, "PATCH", `/tasks/${id}`, {
    description: "new",
    due_at: "2026-03-04T08:00:00+08:00",
    recurrence_minutes: null,
  });
  assert.equal(edited.status, 200);
  assert.equal(edited.body.task.description, "new");
  assert.equal(edited.body.task.due_at, "2026-03-04T00:00:00.000Z");
  assert.equal(edited.body.task.recurrence_minutes, null);
  assert.equal(edited.body.task.updated_at, "2026-03-01T01:00:00.000Z");
  assert.equal(edited.body.recurring_task_id, null);

  const before = await call(core.app, "GET", `/tasks/${id}`);
  const auditCount = count(core, "SELECT count(*) AS n FROM audit_log");
  for (
    const body of [
      { state: "FINISHED" },
      { due_at: "tomorrow" },
      { description: "" },
      "not json",
    ]
  ) {
    const res = await call(core.app, "PATCH", `/tasks/${id}`, body);
    assert.equal(res.status, 422, JSON.stringify(body));
  }
  const missing = await call(core.app, "PATCH", `/tasks/${crypto.randomUUID()}`, {
    state: "DONE",
  });
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { detail: "Task not found" });
  const after = await call(core.app, "GET", `/tasks/${id}`);
  assert.deepEqual(after.body, before.body);
  assert.equal(count(core, "SELECT count(*) AS n FROM audit_log"), auditCount);
});

Deno.test("DELETE /tasks/{id} answers 204, then 404, and audits the delete", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 7);
  const memoryId = insertMemory(core, owner);
  const id = (await call(core.app, "POST", "/tasks", {
    memory_id: memoryId,
    owner_user_id: owner,
    description: "bye",
  })).body.id;
  const del = await call(core.app, "DELETE", `/tasks/${id}`);
  assert.equal(del.status, 204);
  assert.equal(del.body, null);
  assert.equal(count(core, "SELECT count(*) AS n FROM tasks WHERE id = ?", id), 0);
  const again = await call(core.app, "DELETE", `/tasks/${id}`);
  assert.equal(again.status, 404);
  assert.deepEqual(again.body, { detail: "Task not found" });
  assert.deepEqual(audits(core, id), [
    { action: "created", actor: "user:7" },
    { action: "deleted", actor: "user:7" },
  ]);
});

Deno.test("rows of the first version with offsets filter and read back as UTC", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 7);
  const memoryId = insertMemory(core, owner);
  const id = crypto.randomUUID();
  core.db.prepare(
    `INSERT INTO tasks (id, memory_id, owner_user_id, description, state, due_at, created_at,
                        updated_at)
     VALUES (?, ?, ?, 'legacy', 'NOT_DONE', '2026-03-10T09:00:00+08:00', ?, ?)`,
  ).run(id, memoryId, owner, "2026-02-01 10:00:00", "2026-02-01 10:00:00");
  const before = await call(core.app, "GET", "/tasks?due_before=2026-03-10T02:00:00Z");
  assert.deepEqual(before.body.map((t: { id: string }) => t.id), [id]);
  const after = await call(core.app, "GET", "/tasks?due_after=2026-03-10T02:00:00Z");
  assert.deepEqual(after.body, []);
  assert.equal(before.body[0].due_at, "2026-03-10T01:00:00.000Z");
  assert.equal(before.body[0].created_at, "2026-02-01T10:00:00.000Z");
});
