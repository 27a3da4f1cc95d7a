import assert from "node:assert/strict";
import { call, itest, makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { manualClock } from "../helpers/fixtures.ts";
import { freePort } from "../helpers/redis_server.ts";
import { republishOnce, startRepublisher } from "../../core/background/republisher.ts";
import { insertJob } from "../../core/store/job_repo.ts";
import { ack, ensureGroup, readGroup } from "../../shared/streams.ts";

await sanitizeTests();

function job(core: TestCore, id: string) {
  return core.db.prepare("SELECT * FROM llm_jobs WHERE id = ?").get(id) as Record<string, unknown>;
}

async function dataOf(core: TestCore, stream: string) {
  const raw = await core.redis.xrange(stream, "-", "+");
  return raw.map(([id, f]) => ({ id, data: JSON.parse(f[1]) }));
}

async function entryOf(core: TestCore, stream: string, jobId: string): Promise<string> {
  return (await dataOf(core, stream)).find((e) => e.data.job_id === jobId)!.id;
}

function audits(core: TestCore, id: string) {
  return core.db.prepare(
    "SELECT action, actor, detail FROM audit_log WHERE entity_id = ? ORDER BY id",
  ).all(id).map((a) => ({
    action: a.action,
    actor: a.actor,
    detail: a.detail ? JSON.parse(String(a.detail)) : null,
  }));
}

Deno.test(
  "republishOnce publishes never-published queued jobs oldest first, in batches, once",
  async () => {
    const time = manualClock();
    await using core = await makeCore({ clock: time.clock });
    // Inserted out of order; created 5..1 minutes ago.
    const ids: string[] = [];
    for (const minutesAgo of [3, 5, 1, 4, 2]) {
      const id = crypto.randomUUID();
      ids.push(id);
      insertJob(core.db, {
        id,
        job_type: "followup",
        payload: { message: `m${minutesAgo}` },
        user_id: 1,
        at: time.iso(-minutesAgo * 60_000),
      });
    }
    // Just created: its request is still publishing it.
    const young = crypto.randomUUID();
    insertJob(core.db, {
      id: young,
      job_type: "followup",
      payload: { message: "young" },
      user_id: 1,
      at: time.iso(-500),
    });
    // Finished jobs are never published.
    const done = crypto.randomUUID();
    insertJob(core.db, {
      id: done,
      job_type: "followup",
      payload: { message: "done" },
      user_id: 1,
      at: time.iso(-600_000),
    });
    core.db.prepare("UPDATE llm_jobs SET status = 'completed' WHERE id = ?").run(done);

    const first = await republishOnce(core.deps, { batchSize: 2 });
    assert.deepEqual(first, { published: 5, recovered: 0 });
    const got = await dataOf(core, "llm:followup");
    assert.deepEqual(got.map((e) => e.data.payload.message), ["m5", "m4", "m3", "m2", "m1"]);
    for (const e of got) {
      assert.deepEqual(Object.keys(e.data).sort(), ["job_id", "job_type", "payload", "user_id"]);
      assert.equal(job(core, e.data.job_id).stream_message_id, e.id);
      assert.equal(job(core, e.data.job_id).published_at, time.iso());
    }
    assert.equal(job(core, young).stream_message_id, null);
    assert.equal(job(core, done).stream_message_id, null);
    assert.equal(audits(core, ids[0])[0].action, "published");

    // Nothing twice; the young one goes once it is old enough.
    assert.deepEqual(await republishOnce(core.deps), { published: 0, recovered: 0 });
    time.advance(2000);
    assert.deepEqual(await republishOnce(core.deps), { published: 1, recovered: 0 });
    assert.equal(await core.redis.xlen("llm:followup"), 6);
    assert.deepEqual(await republishOnce(core.deps), { published: 0, recovered: 0 });
  },
);

Deno.test("republishOnce respects maxPerPass and carries on next pass", async () => {
  const time = manualClock();
  await using core = await makeCore({ clock: time.clock });
  for (let i = 0; i < 5; i++) {
    insertJob(core.db, {
      id: crypto.randomUUID(),
      job_type: "email_extract",
      payload: { subject: `s${i}`, body: "b" },
      user_id: null,
      at: time.iso(-60_000 + i),
    });
  }
  assert.equal((await republishOnce(core.deps, { batchSize: 2, maxPerPass: 3 })).published, 3);
  assert.equal((await republishOnce(core.deps, { batchSize: 2, maxPerPass: 3 })).published, 2);
  assert.equal(await core.redis.xlen("llm:email_extract"), 5);
});

Deno.test(
  "a job whose stream entry was lost is republished after it has been quiet for a while",
  async () => {
    const time = manualClock();
    await using core = await makeCore({ clock: time.clock });
    const made = await call(core.app, "POST", "/llm_jobs", {
      job_type: "intent_classify",
      payload: { message: "remind me to call mum" },
      user_id: 3,
    });
    const processing = await call(core.app, "POST", "/llm_jobs", {
      job_type: "intent_classify",
      payload: { message: "second" },
      user_id: 3,
    });
    await call(core.app, "PATCH", `/llm_jobs/${processing.body.id}`, { status: "processing" });
    const completed = await call(core.app, "POST", "/llm_jobs", {
      job_type: "intent_classify",
      payload: { message: "third" },
      user_id: 3,
    });
    await call(core.app, "PATCH", `/llm_jobs/${completed.body.id}`, { status: "completed" });
    const oldEntry = job(core, made.body.id).stream_message_id;
    assert.equal(typeof oldEntry, "string");

    // Redis restarted without its AOF: the stream is gone.
    await core.redis.del("llm:intent");
    time.advance(30_000);
    assert.deepEqual(await republishOnce(core.deps), { published: 0, recovered: 0 });
    time.advance(31_000);
    const pass = await republishOnce(core.deps);
    assert.deepEqual(pass, { published: 0, recovered: 2 });
    const got = await dataOf(core, "llm:intent");
    assert.deepEqual(
      got.map((e) => e.data.job_id).sort(),
      [made.body.id, processing.body.id].sort(),
    );
    const after = job(core, made.body.id);
    assert.notEqual(after.stream_message_id, oldEntry);
    assert.ok(got.some((e) => e.id === after.stream_message_id));
    assert.equal(after.status, "queued", "status is left to the worker");
    assert.equal(job(core, processing.body.id).status, "processing");
    const last = audits(core, made.body.id).at(-1)!;
    assert.equal(last.action, "requeued");
    assert.equal(last.actor, "system:scheduler");
    assert.equal(last.detail.reason, "entry_lost");
    assert.equal(last.detail.previous_message_id, oldEntry);

    // The new entries exist: later passes leave them alone.
    time.advance(5000);
    assert.deepEqual(await republishOnce(core.deps), { published: 0, recovered: 0 });
    time.advance(120_000);
    assert.deepEqual(await republishOnce(core.deps), { published: 0, recovered: 0 });
    assert.equal(await core.redis.xlen("llm:intent"), 2);
  },
);

Deno.test(
  "an entry a worker holds is left alone; one acked while the job is unfinished is republished",
  async () => {
    const time = manualClock();
    await using core = await makeCore({ clock: time.clock });
    const made = await call(core.app, "POST", "/llm_jobs", {
      job_type: "task_match",
      payload: { memory_id: "m", memory_content: "milk" },
      user_id: 3,
    });
    await ensureGroup(core.redis, ["llm:task_match"]);
    time.advance(61_000);
    // Waiting in the group, not yet delivered.
    assert.equal((await republishOnce(core.deps)).recovered, 0);
    const [entry] = await readGroup(core.redis, "w1", { streams: ["llm:task_match"] });
    assert.equal((entry.data as { job_id: string }).job_id, made.body.id);
    time.advance(61_000);
    // Delivered and pending: the worker has it (or XAUTOCLAIM will move it).
    assert.equal((await republishOnce(core.deps)).recovered, 0);
    // The worker acks without finishing the job (handing it back).
    await ack(core.redis, entry);
    time.advance(61_000);
    const pass = await republishOnce(core.deps);
    assert.equal(pass.recovered, 1);
    assert.equal(audits(core, made.body.id).at(-1)!.detail.reason, "acked_unfinished");
    const fresh = await readGroup(core.redis, "w2", { streams: ["llm:task_match"] });
    assert.equal(fresh.length, 1);
    assert.equal((fresh[0].data as { job_id: string }).job_id, made.body.id);
  },
);

Deno.test(
  "one page's jobs on two streams each get their own verdict from the page's batched checks",
  async () => {
    const time = manualClock();
    await using core = await makeCore({ clock: time.clock });
    const post = async (job_type: string, payload: Record<string, unknown>) =>
      (await call(core.app, "POST", "/llm_jobs", { job_type, payload, user_id: 3 })).body.id;
    // On llm:intent: delivered and acked unfinished, delivered and pending, lost, waiting.
    const acked = await post("intent_classify", { message: "acked" });
    const held = await post("intent_classify", { message: "held" });
    await ensureGroup(core.redis, ["llm:intent", "llm:followup"]);
    const [ackedEntry] = await readGroup(core.redis, "w1", { streams: ["llm:intent"], count: 1 });
    await readGroup(core.redis, "w1", { streams: ["llm:intent"], count: 1 });
    await ack(core.redis, ackedEntry);
    const lost = await post("intent_classify", { message: "lost" });
    await core.redis.xdel("llm:intent", await entryOf(core, "llm:intent", lost));
    const waiting = await post("intent_classify", { message: "waiting" });
    // On llm:followup: lost, and waiting behind it.
    const lostToo = await post("followup", { message: "lost too" });
    await core.redis.xdel("llm:followup", await entryOf(core, "llm:followup", lostToo));
    const waitingToo = await post("followup", { message: "waiting too" });
    // The entry ids are recorded in the group commit after each answer.
    for (const id of [acked, held, lost, waiting, lostToo, waitingToo]) {
      while (job(core, id).stream_message_id === null) await new Promise((r) => setTimeout(r, 1));
    }
    time.advance(61_000);

    assert.deepEqual(await republishOnce(core.deps), { published: 0, recovered: 3 });
    const named = { acked, held, lost, waiting, "lost too": lostToo, "waiting too": waitingToo };
    const reasons = Object.fromEntries(
      Object.entries(named).map(([name, id]) => {
        const last = audits(core, id).at(-1)!;
        return [name, last.action === "requeued" ? last.detail.reason : null];
      }),
    );
    assert.deepEqual(reasons, {
      acked: "acked_unfinished",
      held: null,
      lost: "entry_lost",
      waiting: null,
      "lost too": "entry_lost",
      "waiting too": null,
    });
  },
);

Deno.test("a recently updated job is not checked, even when its entry is gone", async () => {
  const time = manualClock();
  await using core = await makeCore({ clock: time.clock });
  const made = await call(core.app, "POST", "/llm_jobs", {
    job_type: "followup",
    payload: { message: "x" },
  });
  await core.redis.del("llm:followup");
  time.advance(59_000);
  // The worker reports progress: the job is alive.
  await call(core.app, "PATCH", `/llm_jobs/${made.body.id}`, { status: "processing" });
  time.advance(30_000);
  assert.equal((await republishOnce(core.deps)).recovered, 0);
  time.advance(31_000);
  assert.equal((await republishOnce(core.deps)).recovered, 1);
  // Thresholds are options.
  await core.redis.del("llm:followup");
  time.advance(1000);
  assert.equal((await republishOnce(core.deps, { staleMs: 500 })).recovered, 1);
});

// ioredis: disconnect() while reconnecting to a dead Redis arms a 2 s timer nothing clears.
itest(
  "republishOnce never throws when Redis is down; the loop retries and stop() waits",
  async () => {
    const time = manualClock();
    await using core = await makeCore({
      clock: time.clock,
      redisUrl: `redis://127.0.0.1:${freePort()}`,
    });
    insertJob(core.db, {
      id: crypto.randomUUID(),
      job_type: "followup",
      payload: { message: "x" },
      user_id: null,
      at: time.iso(-10_000),
    });
    const pass = await republishOnce(core.deps, { timeoutMs: 100 });
    assert.equal(pass.published, 0);
    assert.match(pass.error ?? "", /redis|stream|writeable|answer/i);
    const loop = startRepublisher(core.deps, { intervalMs: 5, timeoutMs: 50 });
    await new Promise((r) => setTimeout(r, 150));
    await loop.stop();
    await loop.stop();
  },
);

Deno.test(
  "startRepublisher publishes in the background and stop() waits for the running pass",
  async () => {
    const time = manualClock();
    await using core = await makeCore({ clock: time.clock });
    const id = crypto.randomUUID();
    insertJob(core.db, {
      id,
      job_type: "image_tag",
      payload: { memory_id: "m", image_path: "a.jpg" },
      user_id: 1,
      at: time.iso(-10_000),
    });
    const loop = startRepublisher(core.deps, { intervalMs: 10 });
    const deadline = Date.now() + 10_000;
    while (job(core, id).stream_message_id === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await loop.stop();
    assert.notEqual(job(core, id).stream_message_id, null);
    assert.equal(await core.redis.xlen("llm:image_tag"), 1);
    // Stopped: a job made now stays unpublished.
    const later = crypto.randomUUID();
    insertJob(core.db, {
      id: later,
      job_type: "image_tag",
      payload: { memory_id: "m", image_path: "b.jpg" },
      user_id: 1,
      at: time.iso(-10_000),
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(job(core, later).stream_message_id, null);
  },
);
