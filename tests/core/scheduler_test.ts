import assert from "node:assert/strict";
import { call, itest, makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { manualClock, tempDir } from "../helpers/fixtures.ts";
import { freePort } from "../helpers/redis_server.ts";
import { runSchedulerOnce, startScheduler } from "../../core/background/scheduler.ts";
import { startLoop } from "../../core/background/loop.ts";
import { silentLogger } from "../../shared/log.ts";

await sanitizeTests();

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/** Direct SQL fixtures: the other routers are written concurrently. */
function fixtures(core: TestCore, at: string) {
  const db = core.db;
  return {
    user(id = 1) {
      db.prepare(
        "INSERT OR IGNORE INTO users (telegram_user_id, display_name, created_at) VALUES (?, ?, ?)",
      ).run(id, `user ${id}`, at);
      return id;
    },
    memory(fields: Record<string, string | number | null> = {}) {
      const m = {
        id: crypto.randomUUID(),
        owner_user_id: 1,
        content: "Buy milk",
        status: "confirmed",
        media_type: null,
        media_local_path: null,
        pending_expires_at: null,
        created_at: at,
        updated_at: at,
        ...fields,
      };
      const cols = Object.keys(m);
      db.prepare(
        `INSERT INTO memories (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
      ).run(...Object.values(m));
      return m.id as string;
    },
    tag(memoryId: string, tag: string, status: string, suggestedAt: string | null) {
      db.prepare(
        "INSERT INTO memory_tags (memory_id, tag, status, suggested_at) VALUES (?, ?, ?, ?)",
      ).run(memoryId, tag, status, suggestedAt);
    },
    reminder(memoryId: string, fireAt: string, extra: Record<string, string | number | null> = {}) {
      const r = {
        id: crypto.randomUUID(),
        memory_id: memoryId,
        owner_user_id: 1,
        fire_at: fireAt,
        text: "call the plumber",
        fired: 0,
        recurrence_minutes: null,
        created_at: at,
        updated_at: at,
        ...extra,
      };
      const cols = Object.keys(r);
      db.prepare(
        `INSERT INTO reminders (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
      ).run(...Object.values(r));
      return r.id as string;
    },
    event(fields: Record<string, string | number | null>) {
      const e = {
        id: crypto.randomUUID(),
        owner_user_id: 1,
        description: "Dentist",
        event_time: "2026-03-10T09:00:00.000Z",
        source_type: "email",
        status: "pending",
        created_at: at,
        updated_at: at,
        ...fields,
      };
      const cols = Object.keys(e);
      db.prepare(
        `INSERT INTO events (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
      ).run(...Object.values(e));
      return e.id as string;
    },
    task(memoryId: string) {
      db.prepare(
        `INSERT INTO tasks (id, memory_id, owner_user_id, description, created_at, updated_at)
         VALUES (?, ?, 1, 'do it', ?, ?)`,
      ).run(crypto.randomUUID(), memoryId, at, at);
    },
  };
}

async function notifications(core: TestCore) {
  const raw = await core.redis.xrange("notify:telegram", "-", "+");
  return raw.map(([, f]) => JSON.parse(f[1]));
}

function reminder(core: TestCore, id: string) {
  return core.db.prepare("SELECT * FROM reminders WHERE id = ?").get(id) as Record<string, unknown>;
}

Deno.test(
  "scheduler (a): fires due reminders once, with a reminder notification and an audit entry",
  async () => {
    const time = manualClock();
    await using core = await makeCore({ clock: time.clock });
    const f = fixtures(core, time.iso(-DAY));
    f.user(1);
    const mem = f.memory({ content: "Plumber visit" });
    const due = f.reminder(mem, time.iso(-60_000));
    const future = f.reminder(mem, time.iso(HOUR));
    const alreadyFired = f.reminder(mem, time.iso(-HOUR), { fired: 1 });
    // Written by the first version with offsets: 09:59Z (due) and 11:00Z (not due, although
    // it sorts before now as a string).
    const legacyDue = f.reminder(mem, "2026-03-01T17:59:00+08:00");
    const legacyLater = f.reminder(mem, "2026-03-01T06:00:00-05:00");
    // First-version reminders may have no text.
    const noText = f.reminder(mem, time.iso(-1000), { text: null });
    // An image memory has no content: the gateway is shown the reminder's own text.
    const image = f.memory({ content: null, media_type: "image" });
    const onImage = f.reminder(image, time.iso(-2000), { text: "water the plant" });

    const pass = await runSchedulerOnce(core.deps);
    assert.deepEqual(pass.errors, []);
    assert.equal(pass.reminders_fired, 4);
    assert.equal(pass.reminders_scheduled, 0);
    const sent = await notifications(core);
    assert.equal(sent.length, 4);
    assert.equal(byIdOf(sent).get(onImage).content.memory_content, "water the plant");
    const byId = byIdOf(sent);
    assert.deepEqual(byId.get(due), {
      user_id: 1,
      message_type: "reminder",
      content: {
        reminder_id: due,
        memory_id: mem,
        memory_content: "Plumber visit",
        text: "call the plumber",
        fire_at: time.iso(-60_000),
      },
    });
    assert.equal(byId.get(legacyDue).content.fire_at, "2026-03-01T09:59:00.000Z");
    assert.equal(byId.get(noText).content.text, "Plumber visit");
    assert.equal(byId.get(noText).content.memory_content, "Plumber visit");
    for (const id of [due, legacyDue, noText, onImage]) {
      assert.equal(reminder(core, id).fired, 1);
      assert.equal(reminder(core, id).updated_at, time.iso());
    }
    for (const id of [future, legacyLater]) assert.equal(reminder(core, id).fired, 0);
    assert.ok(!byId.has(alreadyFired));
    const audit = core.db.prepare(
      "SELECT entity_id, actor FROM audit_log WHERE action = 'fired' ORDER BY entity_id",
    ).all().map((a) => ({ ...a }));
    assert.deepEqual(
      audit,
      [due, legacyDue, noText, onImage].sort().map((id) => ({
        entity_id: id,
        actor: "system:scheduler",
      })),
    );

    // Nothing fires twice.
    const again = await runSchedulerOnce(core.deps);
    assert.equal(again.reminders_fired, 0);
    assert.equal((await notifications(core)).length, 4);

    time.advance(HOUR + 60_000);
    const later = await runSchedulerOnce(core.deps);
    assert.equal(later.reminders_fired, 2);
    assert.deepEqual(
      (await notifications(core)).slice(4).map((n) => n.content.reminder_id).sort(),
      [future, legacyLater].sort(),
    );
  },
);

Deno.test(
  "scheduler (a): a recurring reminder fires once per pass and schedules exactly one next",
  async () => {
    const time = manualClock();
    await using core = await makeCore({ clock: time.clock });
    const f = fixtures(core, time.iso(-7 * DAY));
    f.user(1);
    const mem = f.memory();
    // Daily, first due 2.5 days ago (the core was down): one notification, next in 12 h.
    const first = f.reminder(mem, time.iso(-2.5 * DAY), { recurrence_minutes: 1440 });
    const pass = await runSchedulerOnce(core.deps);
    assert.equal(pass.reminders_fired, 1);
    assert.equal(pass.reminders_scheduled, 1);
    const series = () =>
      core.db.prepare(
        "SELECT id, fire_at, fired, recurrence_minutes, text FROM reminders ORDER BY fire_at",
      ).all().map((r) => ({ ...r }));
    let rows = series();
    assert.equal(rows.length, 2);
    assert.equal(rows[0].id, first);
    assert.equal(rows[0].fired, 1);
    assert.equal(rows[1].fire_at, time.iso(0.5 * DAY));
    assert.equal(rows[1].fired, 0);
    assert.equal(rows[1].recurrence_minutes, 1440);
    assert.equal(rows[1].text, "call the plumber");
    const created = core.db.prepare(
      "SELECT actor, detail FROM audit_log WHERE entity_id = ? AND action = 'created'",
    ).get(String(rows[1].id))!;
    assert.equal(created.actor, "system:scheduler");
    assert.equal(JSON.parse(String(created.detail)).recurring_from, first);

    for (let i = 0; i < 3; i++) {
      const p = await runSchedulerOnce(core.deps);
      assert.equal(p.reminders_fired + p.reminders_scheduled, 0);
    }
    assert.equal(series().length, 2);
    assert.equal((await notifications(core)).length, 1);

    time.advance(0.5 * DAY);
    const next = await runSchedulerOnce(core.deps);
    assert.equal(next.reminders_fired, 1);
    assert.equal(next.reminders_scheduled, 1);
    rows = series();
    assert.equal(rows.length, 3);
    assert.deepEqual(rows.map((r) => r.fired), [1, 1, 0]);
    assert.equal(rows[2].fire_at, time.iso(DAY));
    assert.equal((await notifications(core)).length, 2);
  },
);

Deno.test(
  "scheduler (b): expired pending image memories go with their tags and file; referenced ones stay",
  async () => {
    const time = manualClock();
    await using core = await makeCore({ clock: time.clock });
    await using outsideDirTmp = await tempDir("memori_outside_");
    const outsideDir = outsideDirTmp.path;
    const f = fixtures(core, time.iso(-8 * DAY));
    f.user(1);
    const expiredAt = time.iso(-HOUR);
    const img = `${core.imageDir}/a.jpg`;
    await Deno.writeTextFile(img, "jpeg");
    const gone = f.memory({
      status: "pending",
      media_type: "image",
      content: null,
      media_local_path: img,
      pending_expires_at: expiredAt,
    });
    f.tag(gone, "beach", "suggested", time.iso(-DAY));
    f.tag(gone, "sunset", "confirmed", null);
    await Deno.writeTextFile(`${core.imageDir}/rel.png`, "png");
    const relative = f.memory({
      status: "pending",
      media_type: "image",
      media_local_path: "rel.png",
      pending_expires_at: expiredAt,
    });
    const outsideFile = `${outsideDir}/keep.jpg`;
    await Deno.writeTextFile(outsideFile, "not ours");
    const outside = f.memory({
      status: "pending",
      media_type: "image",
      media_local_path: outsideFile,
      pending_expires_at: expiredAt,
    });
    const escaping = f.memory({
      status: "pending",
      media_type: "image",
      media_local_path: `${core.imageDir}/../${outsideDir.split("/").pop()}/keep.jpg`,
      pending_expires_at: expiredAt,
    });
    const noFile = f.memory({
      status: "pending",
      media_type: "image",
      media_local_path: `${core.imageDir}/missing.jpg`,
      pending_expires_at: expiredAt,
    });
    const notYet = f.memory({
      status: "pending",
      media_type: "image",
      pending_expires_at: time.iso(HOUR),
    });
    const confirmed = f.memory({ status: "confirmed", pending_expires_at: expiredAt });
    const withTask = f.memory({ status: "pending", pending_expires_at: expiredAt });
    f.task(withTask);
    const withReminder = f.memory({ status: "pending", pending_expires_at: expiredAt });
    f.reminder(withReminder, time.iso(DAY));
    const withEvent = f.memory({ status: "pending", pending_expires_at: expiredAt });
    f.event({ memory_id: withEvent, pending_since: time.iso() });

    const pass = await runSchedulerOnce(core.deps);
    assert.deepEqual(pass.errors, []);
    assert.equal(pass.memories_expired, 5);
    assert.equal(pass.memories_skipped, 3);
    const left = new Set(
      core.db.prepare("SELECT id FROM memories").all().map((r) => String(r.id)),
    );
    for (const id of [gone, relative, outside, escaping, noFile]) assert.ok(!left.has(id), id);
    for (const id of [notYet, confirmed, withTask, withReminder, withEvent]) {
      assert.ok(left.has(id), id);
    }
    assert.equal(
      core.db.prepare("SELECT count(*) AS n FROM memory_tags WHERE memory_id = ?").get(gone)!.n,
      0,
    );
    await assert.rejects(Deno.stat(img), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(`${core.imageDir}/rel.png`), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(outsideFile), "not ours", "files outside stay");
    const audit = core.db.prepare(
      "SELECT actor, detail FROM audit_log WHERE entity_type = 'memory' AND action = 'expired' AND entity_id = ?",
    ).get(gone)!;
    assert.equal(audit.actor, "system:scheduler");
    assert.deepEqual(JSON.parse(String(audit.detail)).tags, ["beach", "sunset"]);
    const again = await runSchedulerOnce(core.deps);
    assert.equal(again.memories_expired, 0);
    assert.equal(again.memories_skipped, 3);
  },
);

Deno.test("scheduler (c): suggested tags older than 7 days are dropped and audited", async () => {
  const time = manualClock();
  await using core = await makeCore({ clock: time.clock });
  const f = fixtures(core, time.iso(-30 * DAY));
  f.user(1);
  const mem = f.memory();
  f.tag(mem, "old", "suggested", time.iso(-8 * DAY));
  f.tag(mem, "edge", "suggested", time.iso(-7 * DAY - 1));
  f.tag(mem, "recent", "suggested", time.iso(-6 * DAY));
  f.tag(mem, "kept", "confirmed", time.iso(-30 * DAY));
  f.tag(mem, "undated", "suggested", null);
  f.tag(mem, "legacy", "suggested", "2026-02-20T08:00:00+08:00");
  const pass = await runSchedulerOnce(core.deps);
  assert.deepEqual(pass.errors, []);
  assert.equal(pass.tags_dropped, 3);
  const tags = core.db.prepare("SELECT tag FROM memory_tags ORDER BY tag").all().map((r) => r.tag);
  assert.deepEqual(tags, ["kept", "recent", "undated"]);
  const audit = core.db.prepare(
    "SELECT entity_type, entity_id, action, actor, detail FROM audit_log ORDER BY id",
  ).all().map((a) => ({
    entity_type: a.entity_type,
    entity_id: a.entity_id,
    action: a.action,
    actor: a.actor,
    detail: JSON.parse(String(a.detail)).tag,
  }));
  assert.deepEqual(
    audit.map((a) => a.detail).sort(),
    ["edge", "legacy", "old"],
  );
  for (const a of audit) {
    // On the memory, as the first version logged it.
    assert.equal(a.entity_type, "memory");
    assert.equal(a.entity_id, mem);
    assert.equal(a.action, "expired");
    assert.equal(a.actor, "system:scheduler");
  }
  const read = await call(
    core.app,
    "GET",
    `/audit?entity_type=memory&entity_id=${mem}&action=expired`,
  );
  assert.deepEqual(read.body.map((e: { detail: { tag: string } }) => e.detail.tag).sort(), [
    "edge",
    "legacy",
    "old",
  ]);
  assert.equal((await runSchedulerOnce(core.deps)).tags_dropped, 0);
});

Deno.test("scheduler (d): events pending 24 h are re-prompted once a day", async () => {
  const time = manualClock();
  await using core = await makeCore({ clock: time.clock });
  const f = fixtures(core, time.iso(-5 * DAY));
  f.user(1);
  const old = f.event({ pending_since: time.iso(-25 * HOUR), description: "Dentist" });
  const young = f.event({ pending_since: time.iso(-23 * HOUR) });
  const confirmedEv = f.event({ status: "confirmed", pending_since: time.iso(-30 * HOUR) });
  const askedLongAgo = f.event({
    pending_since: time.iso(-3 * DAY),
    last_reprompt_at: time.iso(-25 * HOUR),
  });
  const askedRecently = f.event({
    pending_since: time.iso(-3 * DAY),
    last_reprompt_at: time.iso(-HOUR),
  });
  // The first version did not always set pending_since; created two days ago.
  const legacy = f.event({
    pending_since: null,
    created_at: time.iso(-2 * DAY),
    event_time: "2026-03-10T17:00:00+08:00",
    source_type: "manual",
  });

  const pass = await runSchedulerOnce(core.deps);
  assert.deepEqual(pass.errors, []);
  assert.equal(pass.events_reprompted, 3);
  const sent = await notifications(core);
  assert.deepEqual(
    sent.map((n) => n.content.event_id).sort(),
    [old, askedLongAgo, legacy].sort(),
  );
  const first = sent.find((n) => n.content.event_id === old);
  assert.deepEqual(first, {
    user_id: 1,
    message_type: "event_reprompt",
    content: {
      event_id: old,
      description: "Dentist",
      event_date: "2026-03-10T09:00:00.000Z",
      event_time: "2026-03-10T09:00:00.000Z",
      source_type: "email",
    },
  });
  assert.equal(
    sent.find((n) => n.content.event_id === legacy).content.event_time,
    "2026-03-10T09:00:00.000Z",
  );
  const last = (id: string) =>
    core.db.prepare("SELECT last_reprompt_at, pending_since FROM events WHERE id = ?").get(id)!;
  assert.equal(last(old).last_reprompt_at, time.iso());
  assert.equal(last(old).pending_since, time.iso(-25 * HOUR), "pending_since untouched");
  assert.equal(last(young).last_reprompt_at, null);
  assert.equal(last(confirmedEv).last_reprompt_at, null);
  // Each re-prompt is a `requeued` entry on the event, as the first version logged it.
  const requeued = async (id: string) =>
    (await call(core.app, "GET", `/audit?entity_type=event&entity_id=${id}&action=requeued`))
      .body;
  const [entry] = await requeued(old);
  assert.equal(entry.actor, "system:scheduler");
  assert.equal(entry.created_at, time.iso());
  assert.equal(entry.detail.reason, "reprompt");
  assert.equal((await requeued(legacy)).length, 1);
  assert.deepEqual(await requeued(young), []);

  // Same day: nobody is asked twice.
  time.advance(HOUR / 2);
  assert.equal((await runSchedulerOnce(core.deps)).events_reprompted, 0);
  time.advance(23.5 * HOUR);
  const nextDay = await runSchedulerOnce(core.deps);
  assert.equal(nextDay.events_reprompted, 5);
  const ids = (await notifications(core)).slice(3).map((n) => n.content.event_id).sort();
  assert.deepEqual(ids, [old, young, askedLongAgo, askedRecently, legacy].sort());
  assert.equal((await requeued(old)).length, 2);
});

// ioredis: disconnect() while reconnecting to a dead Redis arms a 2 s timer nothing clears.
itest(
  "scheduler with Redis down: reminders and re-prompts wait, the other parts still run",
  async () => {
    const time = manualClock();
    await using core = await makeCore({
      clock: time.clock,
      redisUrl: `redis://127.0.0.1:${freePort()}`,
    });
    const f = fixtures(core, time.iso(-10 * DAY));
    f.user(1);
    const mem = f.memory();
    const r = f.reminder(mem, time.iso(-60_000), { recurrence_minutes: 60 });
    f.tag(mem, "stale", "suggested", time.iso(-8 * DAY));
    const pending = f.memory({ status: "pending", pending_expires_at: time.iso(-1) });
    const ev = f.event({ pending_since: time.iso(-2 * DAY) });

    const pass = await runSchedulerOnce(core.deps, { timeoutMs: 100 });
    assert.equal(pass.reminders_fired, 0);
    assert.equal(pass.events_reprompted, 0);
    assert.equal(pass.errors.length, 2, JSON.stringify(pass.errors));
    assert.match(pass.errors[0], /^reminders: /);
    assert.match(pass.errors[1], /^event re-prompts: /);
    assert.equal(reminder(core, r).fired, 0);
    assert.equal(
      core.db.prepare("SELECT count(*) AS n FROM reminders").get()!.n,
      1,
      "no next reminder without a fired one",
    );
    assert.equal(
      core.db.prepare("SELECT last_reprompt_at FROM events WHERE id = ?").get(ev)!
        .last_reprompt_at,
      null,
    );
    assert.equal(pass.tags_dropped, 1);
    assert.equal(pass.memories_expired, 1);
    assert.equal(core.db.prepare("SELECT 1 FROM memories WHERE id = ?").get(pending), undefined);
  },
);

Deno.test("scheduler parts are isolated: a failing part does not stop the others", async () => {
  const time = manualClock();
  await using core = await makeCore({ clock: time.clock });
  const f = fixtures(core, time.iso(-10 * DAY));
  f.user(1);
  const mem = f.memory();
  f.reminder(mem, time.iso(-60_000));
  f.tag(mem, "stale", "suggested", time.iso(-8 * DAY));
  f.memory({ status: "pending", pending_expires_at: time.iso(-1) });
  f.event({ pending_since: time.iso(-2 * DAY) });
  // Break part (b): its reference check reads the tasks table.
  core.db.exec("ALTER TABLE tasks RENAME TO tasks_away");
  const pass = await runSchedulerOnce(core.deps);
  core.db.exec("ALTER TABLE tasks_away RENAME TO tasks");
  assert.equal(pass.errors.length, 1, JSON.stringify(pass.errors));
  assert.match(pass.errors[0], /^pending memories: /);
  assert.equal(pass.reminders_fired, 1);
  assert.equal(pass.tags_dropped, 1);
  assert.equal(pass.events_reprompted, 1);
  assert.equal(pass.memories_expired, 0);
  // Next pass, healthy again, does the rest.
  assert.equal((await runSchedulerOnce(core.deps)).memories_expired, 1);
});

Deno.test("startLoop never overlaps passes and stop() waits for the running one", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started = 0;
  let finished = 0;
  let entered!: () => void;
  const firstStarted = new Promise<void>((r) => (entered = r));
  const loop = startLoop(async () => {
    started++;
    entered();
    await gate;
    finished++;
  }, { intervalMs: 1, name: "test", log: silentLogger });
  await firstStarted;
  let stopped = false;
  const stopping = loop.stop().then(() => (stopped = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(stopped, false, "stop() waits for the pass in progress");
  assert.equal(started, 1, "no second pass while one runs");
  release();
  await stopping;
  assert.equal(finished, 1);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(started, 1, "no pass after stop()");

  // A pass that throws is logged and the loop goes on.
  let runs = 0;
  const throwing = startLoop(() => {
    runs++;
    return Promise.reject(new Error("boom"));
  }, { intervalMs: 1, name: "test", log: silentLogger });
  const deadline = Date.now() + 5000;
  while (runs < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await throwing.stop();
  assert.ok(runs >= 3);
});

Deno.test("startScheduler runs passes in the background", async () => {
  const time = manualClock();
  await using core = await makeCore({ clock: time.clock });
  const f = fixtures(core, time.iso(-DAY));
  f.user(1);
  const r = f.reminder(f.memory(), time.iso(-1000));
  const loop = startScheduler(core.deps, { intervalMs: 10 });
  const deadline = Date.now() + 10_000;
  while (reminder(core, r).fired === 0 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 10));
  }
  await loop.stop();
  assert.equal(reminder(core, r).fired, 1);
  assert.equal((await notifications(core)).length, 1);
});

// deno-lint-ignore no-explicit-any
function byIdOf(sent: any[]): Map<string, any> {
  return new Map(sent.map((n) => [n.content.reminder_id, n]));
}
