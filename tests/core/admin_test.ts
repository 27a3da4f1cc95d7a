/**
 * Job administration: queue statistics, retrying failed jobs (one, or all of a type), and the
 * dead-letter stream (list, replay, delete). Real SQLite, real Redis.
 */
import assert from "node:assert/strict";
import { getJob } from "../../core/store/job_repo.ts";
import { republishOnce } from "../../core/background/republisher.ts";
import {
  ALL_JOB_STREAMS,
  DEAD_LETTER_STREAM,
  deadLetterMarkerKey,
  ensureGroup,
  readGroup,
} from "../../shared/streams.ts";
import { call, itest, makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { freePort } from "../helpers/redis_server.ts";

await sanitizeTests();

/** Insert a job row directly, in any status, `ageMs` old. */
function insertJob(
  core: TestCore,
  options: { status: string; type?: string; ageMs?: number; error?: string },
): string {
  const id = crypto.randomUUID();
  const at = new Date(Date.now() - (options.ageMs ?? 0)).toISOString();
  core.db.prepare(
    `INSERT INTO llm_jobs (id, job_type, payload, user_id, status, error_message,
       stream_message_id, created_at, updated_at)
     VALUES (?, ?, '{"message":"hello"}', NULL, ?, ?, ?, ?, ?)`,
  ).run(
    id,
    options.type ?? "followup",
    options.status,
    options.error ?? (options.status === "failed" ? "the model's answer was unusable" : null),
    options.status === "queued" ? null : "1-1",
    at,
    at,
  );
  return id;
}

// deno-lint-ignore no-explicit-any
async function streamData(core: TestCore, stream: string): Promise<any[]> {
  const rows = await core.redis.xrange(stream, "-", "+");
  return rows.map(([id, fields]) => ({ id, ...JSON.parse(fields[1]) }));
}

function audits(
  core: TestCore,
  id: string,
  // deno-lint-ignore no-explicit-any
): { action: string; actor: string; detail: any }[] {
  const rows = core.db.prepare(
    "SELECT action, actor, detail FROM audit_log WHERE entity_id = ? ORDER BY id",
  ).all(id) as { action: string; actor: string; detail: string }[];
  return rows.map((r) => ({ ...r, detail: JSON.parse(r.detail) }));
}

async function deadLetter(core: TestCore, data: Record<string, unknown>): Promise<string> {
  return await core.redis.xadd(DEAD_LETTER_STREAM, "*", "data", JSON.stringify(data)) as string;
}

Deno.test("retry: a failed job goes back to queued, onto its stream, with an audit entry", async () => {
  await using core = await makeCore();
  const id = insertJob(core, { status: "failed", type: "followup" });
  await core.redis.set(deadLetterMarkerKey(id), "1");

  const res = await call(core.app, "POST", `/llm_jobs/${id}/retry`, undefined, {
    "x-actor": "user:77",
  });
  assert.equal(res.status, 200);
  assert.equal(res.body.id, id);
  assert.equal(res.body.status, "queued");
  assert.equal(res.body.error_message, null);

  // Published right away, and the row knows the new entry.
  const messages = await streamData(core, "llm:followup");
  assert.equal(messages.length, 1);
  assert.deepEqual(
    { job_id: messages[0].job_id, job_type: messages[0].job_type, payload: messages[0].payload },
    { job_id: id, job_type: "followup", payload: { message: "hello" } },
  );
  assert.equal(getJob(core.db, id)!.stream_message_id, messages[0].id);
  // A second failure will be parked on the dead-letter stream again.
  assert.equal(await core.redis.exists(deadLetterMarkerKey(id)), 0);

  const trail = audits(core, id);
  assert.equal(trail.length, 1);
  assert.equal(trail[0].action, "requeued");
  assert.equal(trail[0].actor, "user:77");
  assert.deepEqual(
    { ...trail[0].detail },
    {
      reason: "retry",
      from: "failed",
      to: "queued",
      previous_error: "the model's answer was unusable",
      previous_message_id: "1-1",
    },
  );

  // Queued now: not failed, so not retried twice.
  const again = await call(core.app, "POST", `/llm_jobs/${id}/retry`);
  assert.equal(again.status, 409);
  assert.match(again.body.detail, /queued/);
});

Deno.test("retry: 404 for an unknown job, 409 unless it is failed", async () => {
  await using core = await makeCore();
  for (const bad of [crypto.randomUUID(), "not-a-uuid"]) {
    const res = await call(core.app, "POST", `/llm_jobs/${bad}/retry`);
    assert.equal(res.status, 404);
    assert.equal(res.body.detail, "LLM job not found");
  }
  for (const status of ["queued", "processing", "completed"]) {
    const id = insertJob(core, { status });
    const res = await call(core.app, "POST", `/llm_jobs/${id}/retry`);
    assert.equal(res.status, 409, status);
    assert.match(res.body.detail, new RegExp(status));
    assert.equal(getJob(core.db, id)!.status, status);
    assert.deepEqual(audits(core, id), []);
  }
  assert.equal(await core.redis.xlen("llm:followup"), 0);
});

// ioredis: disconnect() while reconnecting to a dead Redis arms a 2 s timer nothing clears.
itest("retry: with Redis down the job is queued anyway and the republisher sends it", async () => {
  {
    await using core = await makeCore({ redisUrl: `redis://127.0.0.1:${freePort()}` });
    const id = insertJob(core, { status: "failed", ageMs: 60_000 });
    const res = await call(core.app, "POST", `/llm_jobs/${id}/retry`);
    assert.equal(res.status, 200);
    const row = getJob(core.db, id)!;
    assert.equal(row.status, "queued");
    // Unpublished: exactly what the republisher looks for.
    assert.equal(row.stream_message_id, null);
    assert.equal(row.published_at, null);
  }

  // The same kind of row, picked up by a republisher pass once Redis answers.
  await using live = await makeCore();
  const id = insertJob(live, { status: "failed", ageMs: 60_000 });
  live.db.prepare(
    `UPDATE llm_jobs SET status = 'queued', error_message = NULL, stream_message_id = NULL
     WHERE id = ?`,
  ).run(id);
  const pass = await republishOnce(live.deps, { unpublishedAgeMs: 0 });
  assert.equal(pass.published, 1);
  assert.equal((await streamData(live, "llm:followup"))[0].job_id, id);
});

Deno.test("retry-failed: every failed job (of a type), oldest first, answering the ids", async () => {
  await using core = await makeCore();
  const oldTag = insertJob(core, { status: "failed", type: "task_match", ageMs: 30_000 });
  const newTag = insertJob(core, { status: "failed", type: "task_match", ageMs: 10_000 });
  const other = insertJob(core, { status: "failed", type: "followup", ageMs: 20_000 });
  const done = insertJob(core, { status: "completed", type: "task_match" });

  const typed = await call(core.app, "POST", "/llm_jobs/retry-failed", {
    job_type: "task_match",
  });
  assert.equal(typed.status, 200);
  assert.deepEqual(typed.body, { requeued: [oldTag, newTag], count: 2 });
  assert.deepEqual(
    (await streamData(core, "llm:task_match")).map((m) => m.job_id),
    [oldTag, newTag],
  );
  assert.equal(getJob(core.db, other)!.status, "failed");
  assert.equal(getJob(core.db, done)!.status, "completed");

  // No body at all: every failed job.
  const rest = await core.app.request("/llm_jobs/retry-failed", { method: "POST" });
  assert.equal(rest.status, 200);
  assert.deepEqual(await rest.json(), { requeued: [other], count: 1 });
  assert.equal(audits(core, other)[0].detail.reason, "retry_failed");

  const none = await call(core.app, "POST", "/llm_jobs/retry-failed", {});
  assert.deepEqual(none.body, { requeued: [], count: 0 });

  // limit bounds one call.
  const a = insertJob(core, { status: "failed", ageMs: 5000 });
  insertJob(core, { status: "failed", ageMs: 1000 });
  const limited = await call(core.app, "POST", "/llm_jobs/retry-failed", { limit: 1 });
  assert.deepEqual(limited.body, { requeued: [a], count: 1 });

  for (const bad of [{ job_type: "nope" }, { limit: 0 }, [], "{"]) {
    const res = await call(core.app, "POST", "/llm_jobs/retry-failed", bad);
    assert.equal(res.status, 422, JSON.stringify(bad));
  }
});

Deno.test("queue-stats: job counts from SQLite, stream lengths and pending per consumer", async () => {
  await using core = await makeCore();
  for (const message of ["a", "b", "c"]) {
    await call(core.app, "POST", "/llm_jobs", { job_type: "followup", payload: { message } });
  }
  insertJob(core, { status: "failed", type: "image_tag" });
  insertJob(core, { status: "completed", type: "followup" });
  await deadLetter(core, { reason: "bad_output", job_id: crypto.randomUUID() });
  await ensureGroup(core.redis, ALL_JOB_STREAMS);
  await readGroup(core.redis, "replica-1", { streams: ["llm:followup"], count: 2 });

  const res = await call(core.app, "GET", "/admin/queue-stats");
  assert.equal(res.status, 200);
  const stats = res.body;
  assert.deepEqual(stats.jobs.by_status, { queued: 3, processing: 0, completed: 1, failed: 1 });
  assert.deepEqual(stats.jobs.by_type.followup, {
    queued: 3,
    processing: 0,
    completed: 1,
    failed: 0,
  });
  assert.deepEqual(stats.jobs.by_type.image_tag.failed, 1);
  assert.deepEqual(stats.redis, { ok: true, error: null });
  const followup = stats.streams.find((s: { stream: string }) => s.stream === "llm:followup");
  assert.deepEqual(followup, {
    stream: "llm:followup",
    job_type: "followup",
    length: 3,
    group_exists: true,
    pending: 2,
    consumers: [{ name: "replica-1", pending: 2 }],
  });
  assert.equal(stats.streams.length, 5);
  assert.deepEqual(stats.dead_letter, { stream: DEAD_LETTER_STREAM, length: 1 });
});

// ioredis: disconnect() while reconnecting to a dead Redis arms a 2 s timer nothing clears.
itest("queue-stats: with Redis down the SQLite half still answers", async () => {
  await using core = await makeCore({ redisUrl: `redis://127.0.0.1:${freePort()}` });
  insertJob(core, { status: "failed" });
  const res = await call(core.app, "GET", "/admin/queue-stats");
  assert.equal(res.status, 200);
  assert.equal(res.body.jobs.by_status.failed, 1);
  assert.equal(res.body.redis.ok, false);
  assert.equal(typeof res.body.redis.error, "string");
  assert.ok(res.body.streams.every((s: { length: unknown }) => s.length === null));
  assert.equal(res.body.dead_letter.length, null);
});

Deno.test("dead-letters: listed newest first with their reasons, paged by id", async () => {
  await using core = await makeCore();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push(
      await deadLetter(core, {
        reason: i % 2 ? "bad_output" : "llm_unavailable",
        error: `failure ${i}`,
        stream: "llm:intent",
        entry_id: `${i + 1}-0`,
        job_id: crypto.randomUUID(),
        job_type: "intent_classify",
        message: { n: i },
        dead_lettered_at: new Date().toISOString(),
      }),
    );
  }
  // An entry someone wrote by hand, without `data`.
  const odd = await core.redis.xadd(DEAD_LETTER_STREAM, "*", "note", "hand-made") as string;

  const first = await call(core.app, "GET", "/admin/dead-letters?limit=3");
  assert.equal(first.status, 200);
  assert.deepEqual(first.body.map((e: { id: string }) => e.id), [odd, ids[4], ids[3]]);
  assert.deepEqual(first.body[0], {
    id: odd,
    reason: null,
    error: "entry has no `data` field",
    job_id: null,
    job_type: null,
    stream: null,
    entry_id: null,
    dead_lettered_at: null,
    message: ["note", "hand-made"],
  });
  assert.equal(first.body[1].reason, "llm_unavailable");
  assert.equal(first.body[1].error, "failure 4");
  assert.deepEqual(first.body[1].message, { n: 4 });

  const next = await call(core.app, "GET", `/admin/dead-letters?limit=3&before=${ids[3]}`);
  assert.deepEqual(next.body.map((e: { id: string }) => e.id), [ids[2], ids[1], ids[0]]);
  const end = await call(core.app, "GET", `/admin/dead-letters?before=${ids[0]}`);
  assert.deepEqual(end.body, []);
  assert.deepEqual((await call(core.app, "GET", "/admin/dead-letters?before=0-0")).body, []);

  for (
    const q of [
      "limit=0",
      "limit=x",
      "before=yesterday",
      "before=1-2-3",
      "before=99999999999999999999-0",
    ]
  ) {
    assert.equal((await call(core.app, "GET", `/admin/dead-letters?${q}`)).status, 422, q);
  }
});

Deno.test(
  "dead-letters: replay re-queues the job and removes the entry; delete removes it",
  async () => {
    await using core = await makeCore();
    const job = insertJob(core, { status: "failed", type: "followup" });
    await core.redis.set(deadLetterMarkerKey(job), "1");
    const entry = await deadLetter(core, { reason: "bad_output", job_id: job.toUpperCase() });
    const keep = await deadLetter(core, { reason: "bad_output", job_id: crypto.randomUUID() });

    const res = await call(core.app, "POST", `/admin/dead-letters/${entry}/replay`);
    assert.equal(res.status, 200);
    assert.equal(res.body.id, job);
    assert.equal(res.body.status, "queued");
    assert.equal(res.body.error_message, null);
    assert.deepEqual((await streamData(core, "llm:followup")).map((m) => m.job_id), [job]);
    assert.deepEqual((await core.redis.xrange(DEAD_LETTER_STREAM, "-", "+")).map(([id]) => id), [
      keep,
    ]);
    assert.equal(await core.redis.exists(deadLetterMarkerKey(job)), 0);
    const trail = audits(core, job);
    assert.equal(trail[0].action, "requeued");
    assert.equal(trail[0].detail.reason, "dead_letter_replay");
    assert.equal(trail[0].detail.dead_letter_id, entry);

    // Gone now.
    assert.equal(
      (await call(core.app, "POST", `/admin/dead-letters/${entry}/replay`)).status,
      404,
    );

    // The entry names a job that is not failed (already retried): 409, and it stays.
    const retried = await deadLetter(core, { reason: "bad_output", job_id: job });
    const conflict = await call(core.app, "POST", `/admin/dead-letters/${retried}/replay`);
    assert.equal(conflict.status, 409);
    assert.match(conflict.body.detail, /queued/);
    assert.equal((await core.redis.xrange(DEAD_LETTER_STREAM, retried, retried)).length, 1);

    // No job, or one the core never had: nothing to replay.
    const malformed = await deadLetter(core, { reason: "malformed_entry", job_id: null });
    const none = await call(core.app, "POST", `/admin/dead-letters/${malformed}/replay`);
    assert.equal(none.status, 409);
    assert.match(none.body.detail, /names no job/);
    const strangerEntry = await deadLetter(core, { reason: "unknown_job", job_id: "nope" });
    const stranger = await call(core.app, "POST", `/admin/dead-letters/${strangerEntry}/replay`);
    assert.equal(stranger.status, 409);
    assert.match(stranger.body.detail, /does not have/);

    // Delete: 204, then it is gone.
    const del = await core.app.request(`/admin/dead-letters/${malformed}`, { method: "DELETE" });
    assert.equal(del.status, 204);
    assert.equal(
      (await call(core.app, "DELETE", `/admin/dead-letters/${malformed}`)).status,
      404,
    );

    // Well-formed but absent, malformed, and past Redis' 64-bit ids (which Redis itself refuses).
    for (const bad of ["9999999999999-0", "not-an-id", "1-2-3", "18446744073709551616-0"]) {
      assert.equal(
        (await call(core.app, "POST", `/admin/dead-letters/${bad}/replay`)).status,
        404,
      );
      assert.equal((await call(core.app, "DELETE", `/admin/dead-letters/${bad}`)).status, 404);
    }
  },
);

// ioredis: disconnect() while reconnecting to a dead Redis arms a 2 s timer nothing clears.
itest("dead-letters: 503 with the reason when Redis is down", async () => {
  await using core = await makeCore({ redisUrl: `redis://127.0.0.1:${freePort()}` });
  for (
    const [method, path] of [
      ["GET", "/admin/dead-letters"],
      ["POST", "/admin/dead-letters/1-0/replay"],
      ["DELETE", "/admin/dead-letters/1-0"],
    ]
  ) {
    const res = await call(core.app, method, path);
    assert.equal(res.status, 503, `${method} ${path}`);
    assert.match(res.body.detail, /^Redis is unavailable: /);
  }
});
