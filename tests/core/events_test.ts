import assert from "node:assert/strict";
import { call, createUser, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { coreAt, count, insertMemory } from "../helpers/fixtures.ts";

await sanitizeTests();

const T0 = "2026-03-01T00:00:00.000Z";

function actions(core: TestCore, type: string, id: string): string[] {
  return core.db.prepare(
    "SELECT action FROM audit_log WHERE entity_type = ? AND entity_id = ? ORDER BY id",
  ).all(type, id).map((r) => String(r.action));
}

/** Everything a failed request must leave as it was. */
function snapshot(core: TestCore): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const table of ["events", "reminders", "memories", "audit_log", "idempotency_keys"]) {
    out[table] = core.db.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all()
      .map((r) => ({ ...r }));
  }
  return out;
}

async function postEvent(
  core: TestCore,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return await call(core.app, "POST", "/events", {
    source_type: "manual",
    description: "dinner with Sam",
    event_time: "2026-03-05T19:00:00+08:00",
    ...body,
  }, headers);
}

Deno.test("POST /events creates a pending event with its time in UTC", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 3);
  const memoryId = insertMemory(core, owner);
  const res = await postEvent(core, {
    owner_user_id: owner,
    memory_id: memoryId,
    source_type: "email",
    source_detail: "Subject: dinner",
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.deepEqual(res.body, {
    id: res.body.id,
    memory_id: memoryId,
    owner_user_id: owner,
    event_time: "2026-03-05T11:00:00.000Z",
    description: "dinner with Sam",
    status: "pending",
    source_type: "email",
    source_detail: "Subject: dinner",
    reminder_id: null,
    confirmed_at: null,
    created_at: T0,
    updated_at: T0,
  });
  const row = core.db.prepare("SELECT pending_since FROM events WHERE id = ?").get(res.body.id);
  assert.equal(row?.pending_since, T0);
  assert.deepEqual(actions(core, "event", res.body.id), ["created"]);

  const noMemory = await postEvent(core, { owner_user_id: owner });
  assert.equal(noMemory.status, 201);
  assert.equal(noMemory.body.memory_id, null);
  assert.equal(noMemory.body.source_detail, null);

  const got = await call(core.app, "GET", `/events/${res.body.id}`);
  assert.equal(got.status, 200);
  assert.deepEqual(got.body, res.body);
  const missing = await call(core.app, "GET", `/events/${crypto.randomUUID()}`);
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { detail: "Event not found" });
});

Deno.test(
  "POST /events: 404 unknown user or memory, 422 foreign memory or bad body; no rows",
  async () => {
    await using core = await coreAt(T0);
    const owner = await createUser(core.app, 3);
    const other = await createUser(core.app, 4);
    const theirs = insertMemory(core, other);
    const before = snapshot(core);

    const noUser = await postEvent(core, { owner_user_id: 999 });
    assert.equal(noUser.status, 404);
    assert.deepEqual(noUser.body, { detail: "User not found" });
    const noMemory = await postEvent(core, {
      owner_user_id: owner,
      memory_id: crypto.randomUUID(),
    });
    assert.equal(noMemory.status, 404);
    assert.deepEqual(noMemory.body, { detail: "Memory not found" });
    const foreign = await postEvent(core, { owner_user_id: owner, memory_id: theirs });
    assert.equal(foreign.status, 422);
    assert.deepEqual(foreign.body.detail[0].loc, ["body", "memory_id"]);
    const invalid = await postEvent(core, {
      owner_user_id: owner,
      source_type: "fax",
      event_time: "soon",
      description: "",
    });
    assert.equal(invalid.status, 422);
    const locs = invalid.body.detail.map((d: { loc: string[] }) => d.loc.join("."));
    for (const f of ["source_type", "event_time", "description"]) {
      assert.ok(locs.includes(`body.${f}`), `${f}: ${JSON.stringify(invalid.body)}`);
    }
    assert.deepEqual(snapshot(core), before);
  },
);

Deno.test("POST /events with an Idempotency-Key creates once and answers the first event", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 3);
  const key = { "Idempotency-Key": "job-1:event:0" };
  const first = await postEvent(core, { owner_user_id: owner }, key);
  assert.equal(first.status, 201);
  core.time.now = new Date("2026-03-01T00:05:00Z");
  const repeat = await postEvent(core, { owner_user_id: owner }, key);
  assert.equal(repeat.status, 201);
  assert.deepEqual(repeat.body, first.body);
  assert.equal(count(core, "SELECT count(*) AS n FROM events"), 1);
  assert.deepEqual(actions(core, "event", first.body.id), ["created"]);

  const otherKey = await postEvent(core, { owner_user_id: owner }, {
    "Idempotency-Key": "job-1:event:1",
  });
  assert.equal(otherKey.status, 201);
  assert.notEqual(otherKey.body.id, first.body.id);
  const noKey = await postEvent(core, { owner_user_id: owner });
  assert.equal(noKey.status, 201);
  assert.equal(count(core, "SELECT count(*) AS n FROM events"), 3);

  const before = snapshot(core);
  const tooLong = await postEvent(core, { owner_user_id: owner }, {
    "Idempotency-Key": "k".repeat(201),
  });
  assert.equal(tooLong.status, 422);
  assert.deepEqual(tooLong.body.detail[0].loc, ["header", "Idempotency-Key"]);
  // A key another kind of request used cannot name an event.
  core.db.prepare(
    "INSERT INTO idempotency_keys (key, entity_type, entity_id) VALUES ('shared', 'llm_job', ?)",
  ).run(crypto.randomUUID());
  const clash = await postEvent(core, { owner_user_id: owner }, { "Idempotency-Key": "shared" });
  assert.equal(clash.status, 422);
  assert.deepEqual(clash.body.detail[0].loc, ["header", "Idempotency-Key"]);
  core.db.prepare("DELETE FROM idempotency_keys WHERE key = 'shared'").run();
  assert.deepEqual(snapshot(core), before);

  // The event of a key was deleted since: a retry does not bring it back.
  assert.equal((await call(core.app, "DELETE", `/events/${first.body.id}`)).status, 204);
  const afterDelete = await postEvent(core, { owner_user_id: owner }, key);
  assert.equal(afterDelete.status, 409);
  assert.match(afterDelete.body.detail, /deleted/);
  assert.equal(count(core, "SELECT count(*) AS n FROM events"), 2);
});

Deno.test(
  "confirming an event without a memory links a new memory and makes one reminder",
  async () => {
    await using core = await coreAt(T0);
    const owner = await createUser(core.app, 3);
    const event = (await postEvent(core, { owner_user_id: owner })).body;
    core.time.now = new Date("2026-03-02T00:00:00Z");
    const res = await call(core.app, "PATCH", `/events/${event.id}`, { status: "confirmed" });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, "confirmed");
    assert.equal(res.body.confirmed_at, "2026-03-02T00:00:00.000Z");
    assert.equal(res.body.updated_at, "2026-03-02T00:00:00.000Z");
    assert.match(res.body.memory_id, /^[0-9a-f-]{36}$/);
    assert.match(res.body.reminder_id, /^[0-9a-f-]{36}$/);

    const memory = core.db.prepare(
      "SELECT owner_user_id, content, status FROM memories WHERE id = ?",
    ).get(res.body.memory_id);
    assert.deepEqual({ ...memory }, {
      owner_user_id: owner,
      content: "dinner with Sam",
      status: "confirmed",
    });
    const reminder = await call(core.app, "GET", `/reminders/${res.body.reminder_id}`);
    assert.equal(reminder.status, 200);
    assert.equal(reminder.body.fire_at, "2026-03-05T11:00:00.000Z");
    assert.equal(reminder.body.text, "dinner with Sam");
    assert.equal(reminder.body.memory_id, res.body.memory_id);
    assert.equal(reminder.body.owner_user_id, owner);
    assert.equal(reminder.body.fired, false);

    // Confirming again changes nothing and makes no second reminder.
    const again = await call(core.app, "PATCH", `/events/${event.id}`, { status: "confirmed" });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, res.body);
    assert.equal(count(core, "SELECT count(*) AS n FROM reminders"), 1);
    assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 1);
    assert.deepEqual(actions(core, "event", event.id), ["created", "confirmed"]);
    assert.deepEqual(actions(core, "memory", res.body.memory_id), ["created"]);
    assert.deepEqual(actions(core, "reminder", res.body.reminder_id), ["created"]);
  },
);

Deno.test(
  "confirming an event with a memory uses it; new time and text reach the reminder",
  async () => {
    await using core = await coreAt(T0);
    const owner = await createUser(core.app, 3);
    const memoryId = insertMemory(core, owner);
    const event = (await postEvent(core, { owner_user_id: owner, memory_id: memoryId })).body;
    const confirmed = await call(core.app, "PATCH", `/events/${event.id}`, {
      status: "confirmed",
      event_time: "2026-03-06T20:00:00+08:00",
    });
    assert.equal(confirmed.status, 200);
    assert.equal(confirmed.body.memory_id, memoryId);
    assert.equal(confirmed.body.event_time, "2026-03-06T12:00:00.000Z");
    assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 1);
    const reminderId = confirmed.body.reminder_id;
    const r1 = await call(core.app, "GET", `/reminders/${reminderId}`);
    assert.equal(r1.body.fire_at, "2026-03-06T12:00:00.000Z");
    assert.equal(r1.body.memory_id, memoryId);

    // The reminder went out; then the event moves to a later time: the reminder follows, armed.
    core.db.prepare("UPDATE reminders SET fired = 1 WHERE id = ?").run(reminderId);
    core.time.now = new Date("2026-03-06T12:01:00Z");
    const moved = await call(core.app, "PATCH", `/events/${event.id}`, {
      event_time: "2026-03-07T09:00:00+08:00",
      description: "dinner with Sam (moved)",
    });
    assert.equal(moved.status, 200);
    assert.equal(moved.body.status, "confirmed");
    assert.equal(moved.body.reminder_id, reminderId);
    const r2 = await call(core.app, "GET", `/reminders/${reminderId}`);
    assert.equal(r2.body.fire_at, "2026-03-07T01:00:00.000Z");
    assert.equal(r2.body.text, "dinner with Sam (moved)");
    assert.equal(r2.body.fired, false);
    assert.equal(count(core, "SELECT count(*) AS n FROM reminders"), 1);
    assert.deepEqual(actions(core, "event", event.id), ["created", "confirmed", "updated"]);
    assert.deepEqual(actions(core, "reminder", reminderId), ["created", "updated"]);
  },
);

Deno.test(
  "rejecting drops an unfired reminder, keeps a fired one; no way back to pending",
  async () => {
    await using core = await coreAt(T0);
    const owner = await createUser(core.app, 3);
    const pending = (await postEvent(core, { owner_user_id: owner })).body;
    const rejected = await call(core.app, "PATCH", `/events/${pending.id}`, {
      status: "rejected",
    });
    assert.equal(rejected.status, 200);
    assert.equal(rejected.body.status, "rejected");
    assert.equal(rejected.body.reminder_id, null);
    assert.equal(rejected.body.memory_id, null);
    assert.equal(count(core, "SELECT count(*) AS n FROM reminders"), 0);
    assert.deepEqual(actions(core, "event", pending.id), ["created", "rejected"]);

    const back = await call(core.app, "PATCH", `/events/${pending.id}`, { status: "pending" });
    assert.equal(back.status, 409);
    assert.match(back.body.detail, /pending/);

    const a = (await postEvent(core, { owner_user_id: owner })).body;
    const aConfirmed = (await call(core.app, "PATCH", `/events/${a.id}`, {
      status: "confirmed",
    })).body;
    const aRejected = await call(core.app, "PATCH", `/events/${a.id}`, { status: "rejected" });
    assert.equal(aRejected.status, 200);
    assert.equal(aRejected.body.reminder_id, null);
    assert.equal(aRejected.body.confirmed_at, null);
    assert.equal(
      count(core, "SELECT count(*) AS n FROM reminders WHERE id = ?", aConfirmed.reminder_id),
      0,
    );
    assert.deepEqual(actions(core, "reminder", aConfirmed.reminder_id), ["created", "deleted"]);

    const b = (await postEvent(core, { owner_user_id: owner })).body;
    const bConfirmed = (await call(core.app, "PATCH", `/events/${b.id}`, {
      status: "confirmed",
    })).body;
    core.db.prepare("UPDATE reminders SET fired = 1 WHERE id = ?").run(bConfirmed.reminder_id);
    const bRejected = await call(core.app, "PATCH", `/events/${b.id}`, { status: "rejected" });
    assert.equal(bRejected.status, 200);
    assert.equal(bRejected.body.reminder_id, bConfirmed.reminder_id);
    assert.equal(
      count(core, "SELECT count(*) AS n FROM reminders WHERE id = ?", bConfirmed.reminder_id),
      1,
    );
  },
);

Deno.test("PATCH /events: 404 unknown, 422 bad fields; a failing confirm writes nothing", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 3);
  const event = (await postEvent(core, { owner_user_id: owner })).body;
  const missing = await call(core.app, "PATCH", `/events/${crypto.randomUUID()}`, {
    status: "confirmed",
  });
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { detail: "Event not found" });
  const before = snapshot(core);
  for (const body of [{ status: "maybe" }, { event_time: "noon" }, { description: "" }, "{"]) {
    const res = await call(core.app, "PATCH", `/events/${event.id}`, body);
    assert.equal(res.status, 422, JSON.stringify(body));
  }
  assert.deepEqual(snapshot(core), before);

  // Make the last step of a confirm (the reminder insert) fail: the memory made before it and
  // the event change must roll back with it.
  core.db.exec(
    `CREATE TRIGGER fail_reminders BEFORE INSERT ON reminders
     BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
  );
  const failed = await call(core.app, "PATCH", `/events/${event.id}`, { status: "confirmed" });
  assert.equal(failed.status, 500);
  core.db.exec("DROP TRIGGER fail_reminders");
  assert.deepEqual(snapshot(core), before);
  const ok = await call(core.app, "PATCH", `/events/${event.id}`, { status: "confirmed" });
  assert.equal(ok.status, 200);
  assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 1);
});

Deno.test("GET /events filters owner and status, newest made first among equal times", async () => {
  await using core = await coreAt(T0);
  const a = await createUser(core.app, 1);
  const b = await createUser(core.app, 2);
  const make = async (owner: number) => {
    core.time.now = new Date(core.time.now.getTime() + 1000);
    return (await postEvent(core, { owner_user_id: owner })).body.id as string;
  };
  const a1 = await make(a);
  const a2 = await make(a);
  const b1 = await make(b);
  await call(core.app, "PATCH", `/events/${a1}`, { status: "confirmed" });
  await call(core.app, "PATCH", `/events/${b1}`, { status: "rejected" });
  const ids = async (query: string) => {
    const res = await call(core.app, "GET", `/events${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.map((e: { id: string }) => e.id);
  };
  assert.deepEqual(await ids(""), [b1, a2, a1]);
  assert.deepEqual(await ids("?owner_user_id=1"), [a2, a1]);
  assert.deepEqual(await ids("?status=confirmed"), [a1]);
  assert.deepEqual(await ids("?status=pending&owner_user_id=1"), [a2]);
  assert.deepEqual(await ids("?status=rejected&owner_user_id=1"), []);
  assert.deepEqual(await ids("?limit=1&offset=1"), [a2]);
  for (const bad of ["?status=done", "?limit=abc"]) {
    assert.equal((await call(core.app, "GET", `/events${bad}`)).status, 422, bad);
  }
});

Deno.test("DELETE /events deletes the event and its unfired reminder; 404 after", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 3);
  const event = (await postEvent(core, { owner_user_id: owner })).body;
  const confirmed = (await call(core.app, "PATCH", `/events/${event.id}`, {
    status: "confirmed",
  })).body;
  const del = await call(core.app, "DELETE", `/events/${event.id}`);
  assert.equal(del.status, 204);
  assert.equal(count(core, "SELECT count(*) AS n FROM events"), 0);
  assert.equal(count(core, "SELECT count(*) AS n FROM reminders"), 0);
  // The memory the confirm made is the user's data and stays.
  assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 1);
  assert.deepEqual(actions(core, "event", event.id), ["created", "confirmed", "deleted"]);
  assert.deepEqual(actions(core, "reminder", confirmed.reminder_id), ["created", "deleted"]);
  const again = await call(core.app, "DELETE", `/events/${event.id}`);
  assert.equal(again.status, 404);
  assert.deepEqual(again.body, { detail: "Event not found" });

  const kept = (await postEvent(core, { owner_user_id: owner })).body;
  const keptConfirmed = (await call(core.app, "PATCH", `/events/${kept.id}`, {
    status: "confirmed",
  })).body;
  core.db.prepare("UPDATE reminders SET fired = 1 WHERE id = ?").run(keptConfirmed.reminder_id);
  assert.equal((await call(core.app, "DELETE", `/events/${kept.id}`)).status, 204);
  assert.equal(
    count(core, "SELECT count(*) AS n FROM reminders WHERE id = ?", keptConfirmed.reminder_id),
    1,
  );
});

Deno.test(
  "GET /events: latest event_time first (old offset times too); pages stable on ties",
  async () => {
    await using core = await coreAt(T0);
    const owner = await createUser(core.app, 5);
    const make = async (eventTime: string) =>
      (await postEvent(core, { owner_user_id: owner, event_time: eventTime })).body.id as string;
    const first = await make("2026-03-05T00:00:00Z");
    const tie1 = await make("2026-03-20T00:00:00Z");
    const tie2 = await make("2026-03-20T00:00:00Z");
    const mid = await make("2026-03-11T00:30:00Z");
    // A row of the first version with an offset: 01:00Z on the 11th, after `mid` though its
    // string sorts before it.
    const legacy = crypto.randomUUID();
    core.db.prepare(
      `INSERT INTO events (id, owner_user_id, description, event_time, source_type, status,
                         created_at, updated_at)
     VALUES (?, ?, 'old', '2026-03-10T20:00:00-05:00', 'email', 'pending', ?, ?)`,
    ).run(legacy, owner, T0, T0);

    const ids = async (query: string) =>
      (await call(core.app, "GET", `/events${query}`)).body.map((e: { id: string }) => e.id);
    const all = await ids("");
    // Same time: the one made last first, so a page boundary never repeats or skips a row.
    assert.deepEqual(all, [tie2, tie1, legacy, mid, first]);
    const pages = [...await ids("?limit=2"), ...await ids("?limit=2&offset=2")];
    assert.deepEqual([...pages, ...await ids("?limit=2&offset=4")], all);
  },
);
