import assert from "node:assert/strict";
import { call, createUser, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { coreAt, count, insertMemory } from "../helpers/fixtures.ts";
import { runSchedulerOnce } from "../../core/background/scheduler.ts";
import { NOTIFY_STREAM } from "../../shared/streams.ts";

await sanitizeTests();

const T0 = "2026-03-01T00:00:00.000Z";

function reminderAudits(core: TestCore, id: string): { action: string; detail: unknown }[] {
  return core.db.prepare(
    "SELECT action, detail FROM audit_log WHERE entity_type = 'reminder' AND entity_id = ? " +
      "ORDER BY id",
  ).all(id).map((r) => ({
    action: String(r.action),
    detail: r.detail === null ? null : JSON.parse(String(r.detail)),
  }));
}

Deno.test("POST /reminders creates an unfired reminder with fire_at in UTC", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 5);
  const memoryId = insertMemory(core, owner);
  const res = await call(core.app, "POST", "/reminders", {
    memory_id: memoryId,
    owner_user_id: owner,
    text: "call mum",
    fire_at: "2026-03-01T18:00:00+08:00",
    recurrence_minutes: 10080,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.deepEqual(res.body, {
    id: res.body.id,
    memory_id: memoryId,
    owner_user_id: owner,
    text: "call mum",
    fire_at: "2026-03-01T10:00:00.000Z",
    recurrence_minutes: 10080,
    fired: false,
    created_at: T0,
    updated_at: T0,
  });
  assert.deepEqual(reminderAudits(core, res.body.id).map((a) => a.action), ["created"]);
  const got = await call(core.app, "GET", `/reminders/${res.body.id}`);
  assert.equal(got.status, 200);
  assert.deepEqual(got.body, res.body);
  const missing = await call(core.app, "GET", `/reminders/${crypto.randomUUID()}`);
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { detail: "Reminder not found" });
});

Deno.test(
  "POST /reminders: 404 unknown memory/owner, 422 foreign memory or bad body; no rows",
  async () => {
    await using core = await coreAt(T0);
    const owner = await createUser(core.app, 5);
    const other = await createUser(core.app, 6);
    const mine = insertMemory(core, owner);
    const theirs = insertMemory(core, other);
    const base = { owner_user_id: owner, text: "t", fire_at: "2026-03-02T00:00:00Z" };

    const noMemory = await call(core.app, "POST", "/reminders", {
      ...base,
      memory_id: crypto.randomUUID(),
    });
    assert.equal(noMemory.status, 404);
    assert.deepEqual(noMemory.body, { detail: "Memory not found" });
    const noUser = await call(core.app, "POST", "/reminders", {
      ...base,
      memory_id: mine,
      owner_user_id: 404,
    });
    assert.equal(noUser.status, 404);
    assert.deepEqual(noUser.body, { detail: "User not found" });
    const foreign = await call(core.app, "POST", "/reminders", { ...base, memory_id: theirs });
    assert.equal(foreign.status, 422);
    assert.deepEqual(foreign.body.detail[0].loc, ["body", "memory_id"]);
    const invalid = await call(core.app, "POST", "/reminders", {
      memory_id: mine,
      owner_user_id: owner,
      fire_at: "2026-13-45T99:00:00Z",
    });
    assert.equal(invalid.status, 422);
    const locs = invalid.body.detail.map((d: { loc: string[] }) => d.loc.join("."));
    assert.ok(locs.includes("body.text"), JSON.stringify(invalid.body));
    assert.ok(locs.includes("body.fire_at"), JSON.stringify(invalid.body));

    assert.equal(count(core, "SELECT count(*) AS n FROM reminders"), 0);
    assert.equal(
      count(core, "SELECT count(*) AS n FROM audit_log WHERE entity_type = 'reminder'"),
      0,
    );
  },
);

Deno.test("GET /reminders filters owner, fired and upcoming_only (compared in UTC)", async () => {
  await using core = await coreAt("2026-03-01T12:00:00Z");
  const a = await createUser(core.app, 1);
  const b = await createUser(core.app, 2);
  const ma = insertMemory(core, a);
  const mb = insertMemory(core, b);
  const make = async (owner: number, memory: string, fireAt: string) => {
    core.time.now = new Date(core.time.now.getTime() + 1000);
    const res = await call(core.app, "POST", "/reminders", {
      memory_id: memory,
      owner_user_id: owner,
      text: fireAt,
      fire_at: fireAt,
    });
    assert.equal(res.status, 201);
    return res.body.id as string;
  };
  // 19:30 at +08:00 is 11:30Z: in the past at 12:00Z, although "19" > "12" as a string.
  const past = await make(a, ma, "2026-03-01T19:30:00+08:00");
  // 08:30 at -05:00 is 13:30Z: in the future, although "08" < "12".
  const future = await make(a, ma, "2026-03-01T08:30:00-05:00");
  const firedOne = await make(a, ma, "2026-03-01T11:00:00Z");
  const bs = await make(b, mb, "2026-03-02T00:00:00Z");
  core.db.prepare("UPDATE reminders SET fired = 1 WHERE id = ?").run(firedOne);
  // A future reminder that fired already (e.g. sent early) is not upcoming either.
  const firedFuture = await make(a, ma, "2026-03-05T00:00:00Z");
  core.db.prepare("UPDATE reminders SET fired = 1 WHERE id = ?").run(firedFuture);

  const ids = async (query: string) => {
    const res = await call(core.app, "GET", `/reminders${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.map((r: { id: string }) => r.id);
  };
  // The next to fire first, as the first version listed them.
  assert.deepEqual(await ids(""), [firedOne, past, future, bs, firedFuture]);
  assert.deepEqual(await ids("?owner_user_id=1"), [firedOne, past, future, firedFuture]);
  assert.deepEqual(await ids("?fired=true"), [firedOne, firedFuture]);
  assert.deepEqual(await ids("?fired=false&owner_user_id=1"), [past, future]);
  assert.deepEqual(await ids("?upcoming_only=true"), [future, bs]);
  assert.deepEqual(await ids("?upcoming_only=1&owner_user_id=1"), [future]);
  assert.deepEqual(await ids("?upcoming_only=false&limit=2&offset=1"), [past, future]);
  const list = await call(core.app, "GET", "/reminders?fired=true");
  assert.equal(list.body[0].fired, true);

  for (const bad of ["?fired=maybe", "?upcoming_only=yes", "?offset=-1"]) {
    const res = await call(core.app, "GET", `/reminders${bad}`);
    assert.equal(res.status, 422, bad);
  }
});

Deno.test('a reminder of the first version without text answers text ""', async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 5);
  const memoryId = insertMemory(core, owner);
  const id = crypto.randomUUID();
  core.db.prepare(
    `INSERT INTO reminders (id, memory_id, owner_user_id, fire_at, fired, created_at, updated_at)
     VALUES (?, ?, ?, '2026-03-02T08:00:00+08:00', 0, ?, ?)`,
  ).run(id, memoryId, owner, T0, T0);
  const res = await call(core.app, "GET", `/reminders/${id}`);
  assert.equal(res.status, 200);
  assert.equal(res.body.text, "");
  assert.equal(res.body.fire_at, "2026-03-02T00:00:00.000Z");
  assert.equal(res.body.fired, false);
  assert.equal(res.body.recurrence_minutes, null);
});

Deno.test("PATCH moving a fired reminder to the future re-arms it; to the past does not", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 5);
  const memoryId = insertMemory(core, owner);
  const id = (await call(core.app, "POST", "/reminders", {
    memory_id: memoryId,
    owner_user_id: owner,
    text: "dentist",
    fire_at: "2026-03-01T06:00:00Z",
  })).body.id;
  // The scheduler fired it.
  core.db.prepare("UPDATE reminders SET fired = 1 WHERE id = ?").run(id);
  core.time.now = new Date("2026-03-01T08:00:00Z");

  const textOnly = await call(core.app, "PATCH", `/reminders/${id}`, { text: "dentist!" });
  assert.equal(textOnly.status, 200);
  assert.equal(textOnly.body.text, "dentist!");
  assert.equal(textOnly.body.fired, true);

  const stillPast = await call(core.app, "PATCH", `/reminders/${id}`, {
    fire_at: "2026-03-01T15:00:00+08:00",
  });
  assert.equal(stillPast.status, 200);
  assert.equal(stillPast.body.fire_at, "2026-03-01T07:00:00.000Z");
  assert.equal(stillPast.body.fired, true);

  // 17:00 at +08:00 is 09:00Z, one hour ahead of now.
  const moved = await call(core.app, "PATCH", `/reminders/${id}`, {
    fire_at: "2026-03-01T17:00:00+08:00",
    recurrence_minutes: 60,
  });
  assert.equal(moved.status, 200);
  assert.equal(moved.body.fire_at, "2026-03-01T09:00:00.000Z");
  assert.equal(moved.body.fired, false);
  assert.equal(moved.body.recurrence_minutes, 60);
  assert.equal(moved.body.updated_at, "2026-03-01T08:00:00.000Z");
  const stored = core.db.prepare("SELECT fired, fire_at FROM reminders WHERE id = ?").get(id);
  assert.deepEqual({ ...stored }, { fired: 0, fire_at: "2026-03-01T09:00:00.000Z" });
  const upcoming = await call(core.app, "GET", "/reminders?upcoming_only=true");
  assert.deepEqual(upcoming.body.map((r: { id: string }) => r.id), [id]);

  const audits = reminderAudits(core, id);
  assert.deepEqual(audits.map((a) => a.action), ["created", "updated", "updated", "updated"]);
  assert.equal((audits[3].detail as { rearmed?: boolean }).rearmed, true);
  assert.equal((audits[2].detail as { rearmed?: boolean }).rearmed, undefined);
});

Deno.test("PATCH /reminders: 404 unknown, 422 bad fields, nothing changed", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 5);
  const memoryId = insertMemory(core, owner);
  const created = await call(core.app, "POST", "/reminders", {
    memory_id: memoryId,
    owner_user_id: owner,
    text: "x",
    fire_at: "2026-03-02T00:00:00Z",
  });
  const id = created.body.id;
  const missing = await call(core.app, "PATCH", `/reminders/${crypto.randomUUID()}`, {
    text: "y",
  });
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { detail: "Reminder not found" });
  for (
    const body of [{ fire_at: "later" }, { text: "" }, { recurrence_minutes: -5 }, "[1,"]
  ) {
    const res = await call(core.app, "PATCH", `/reminders/${id}`, body);
    assert.equal(res.status, 422, JSON.stringify(body));
  }
  const after = await call(core.app, "GET", `/reminders/${id}`);
  assert.deepEqual(after.body, created.body);
  assert.equal(reminderAudits(core, id).length, 1);
});

Deno.test("DELETE /reminders unlinks the event pointing to it, then deletes; 404 after", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 5);
  const memoryId = insertMemory(core, owner);
  const id = (await call(core.app, "POST", "/reminders", {
    memory_id: memoryId,
    owner_user_id: owner,
    text: "concert",
    fire_at: "2026-03-09T19:00:00Z",
  })).body.id;
  const eventId = crypto.randomUUID();
  core.db.prepare(
    `INSERT INTO events (id, memory_id, owner_user_id, description, event_time, source_type,
                         status, reminder_id, created_at, updated_at)
     VALUES (?, ?, ?, 'concert', '2026-03-09T19:00:00.000Z', 'manual', 'confirmed', ?, ?, ?)`,
  ).run(eventId, memoryId, owner, id, T0, T0);

  core.time.now = new Date("2026-03-02T00:00:00Z");
  const del = await call(core.app, "DELETE", `/reminders/${id}`);
  assert.equal(del.status, 204);
  assert.equal(count(core, "SELECT count(*) AS n FROM reminders WHERE id = ?", id), 0);
  const event = core.db.prepare("SELECT reminder_id, status, updated_at FROM events WHERE id = ?")
    .get(eventId);
  assert.deepEqual({ ...event }, {
    reminder_id: null,
    status: "confirmed",
    updated_at: "2026-03-02T00:00:00.000Z",
  });
  assert.deepEqual(reminderAudits(core, id).map((a) => a.action), ["created", "deleted"]);
  assert.equal(
    count(
      core,
      "SELECT count(*) AS n FROM audit_log WHERE entity_type = 'event' AND entity_id = ?",
      eventId,
    ),
    1,
  );

  const again = await call(core.app, "DELETE", `/reminders/${id}`);
  assert.equal(again.status, 404);
  assert.deepEqual(again.body, { detail: "Reminder not found" });
});

Deno.test("a re-armed reminder is sent again by the scheduler", async () => {
  await using core = await coreAt(T0);
  const owner = await createUser(core.app, 5);
  const memoryId = insertMemory(core, owner);
  const id = (await call(core.app, "POST", "/reminders", {
    memory_id: memoryId,
    owner_user_id: owner,
    text: "stand up",
    fire_at: "2026-03-01T08:05:00+08:00",
  })).body.id;
  core.time.now = new Date("2026-03-01T00:10:00Z");
  assert.equal((await runSchedulerOnce(core.deps)).reminders_fired, 1);
  assert.equal((await call(core.app, "GET", `/reminders/${id}`)).body.fired, true);

  const moved = await call(core.app, "PATCH", `/reminders/${id}`, {
    fire_at: "2026-03-01T00:30:00Z",
  });
  assert.equal(moved.body.fired, false);
  assert.equal((await runSchedulerOnce(core.deps)).reminders_fired, 0);
  core.time.now = new Date("2026-03-01T00:31:00Z");
  assert.equal((await runSchedulerOnce(core.deps)).reminders_fired, 1);
  assert.equal((await call(core.app, "GET", `/reminders/${id}`)).body.fired, true);

  const sent = await core.redis.xrange(NOTIFY_STREAM, "-", "+");
  const contents = sent.map(([, fields]) => JSON.parse(fields[1]).content);
  assert.deepEqual(contents.map((c) => [c.reminder_id, c.fire_at]), [
    [id, "2026-03-01T00:05:00.000Z"],
    [id, "2026-03-01T00:30:00.000Z"],
  ]);
});

Deno.test(
  "GET /reminders: next to fire first (old offset times too); pages stable on ties",
  async () => {
    await using core = await coreAt(T0);
    const owner = await createUser(core.app, 5);
    const memoryId = insertMemory(core, owner);
    const make = async (fireAt: string) =>
      (await call(core.app, "POST", "/reminders", {
        memory_id: memoryId,
        owner_user_id: owner,
        text: fireAt,
        fire_at: fireAt,
      })).body.id as string;
    const late = await make("2026-03-10T00:00:00Z");
    const tie1 = await make("2026-03-05T00:00:00Z");
    const tie2 = await make("2026-03-05T00:00:00Z");
    const early = await make("2026-03-07T00:30:00Z");
    // A row of the first version with an offset: 01:00Z, after `early` though its string sorts
    // before it.
    const legacy = crypto.randomUUID();
    core.db.prepare(
      `INSERT INTO reminders (id, memory_id, owner_user_id, text, fire_at, fired, created_at,
                            updated_at)
     VALUES (?, ?, ?, 'old', '2026-03-06T20:00:00-05:00', 0, ?, ?)`,
    ).run(legacy, memoryId, owner, T0, T0);

    const ids = async (query: string) =>
      (await call(core.app, "GET", `/reminders${query}`)).body.map((r: { id: string }) => r.id);
    const all = await ids("");
    assert.deepEqual(all, [tie1, tie2, early, legacy, late]);
    const pages = [...await ids("?limit=2"), ...await ids("?limit=2&offset=2")];
    assert.deepEqual([...pages, ...await ids("?limit=2&offset=4")], all);
  },
);
