import assert from "node:assert/strict";
import { posix } from "node:path";
import type { Redis } from "ioredis";
import { Redis as RedisClient } from "ioredis";
import { call, makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { manualClock, until } from "../helpers/fixtures.ts";
import { freePort, startRedisServer } from "../helpers/redis_server.ts";
import { republishOnce } from "../../core/background/republisher.ts";
import { recordInBatch } from "../../core/jobs/job_publisher.ts";
import { ALL_JOB_STREAMS } from "../../shared/streams.ts";

await sanitizeTests();

const JOB_KEYS = [
  "created_at",
  "error_message",
  "id",
  "job_type",
  "payload",
  "result",
  "status",
  "updated_at",
  "user_id",
];

/** A clock the test moves by hand. */
async function entries(redis: Redis, stream: string) {
  const raw = await redis.xrange(stream, "-", "+");
  return raw.map(([id, fields]) => ({ id, fields, data: JSON.parse(fields[1]) }));
}

function row(core: TestCore, id: string) {
  return core.db.prepare("SELECT * FROM llm_jobs WHERE id = ?").get(id) as
    | Record<string, unknown>
    | undefined;
}

function jobCount(core: TestCore): number {
  return (core.db.prepare("SELECT count(*) AS n FROM llm_jobs").get() as { n: number }).n;
}

async function streamTotal(redis: Redis): Promise<number> {
  let n = 0;
  for (const s of ALL_JOB_STREAMS) n += await redis.xlen(s);
  return n;
}

Deno.test(
  "POST /llm_jobs image_tag commits, then lands on llm:image_tag with the job message",
  async () => {
    await using core = await makeCore();
    const payload = { memory_id: "m-1", image_path: `${core.imageDir}/test.jpg` };
    const res = await call(core.app, "POST", "/llm_jobs", {
      job_type: "image_tag",
      payload,
      user_id: 12345,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(Object.keys(res.body).sort(), JOB_KEYS);
    assert.equal(res.body.job_type, "image_tag");
    assert.deepEqual(res.body.payload, payload);
    assert.equal(res.body.user_id, 12345);
    assert.equal(res.body.status, "queued");
    assert.equal(res.body.result, null);
    assert.equal(res.body.error_message, null);
    assert.match(res.body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(res.body.updated_at, res.body.created_at);

    const got = await entries(core.redis, "llm:image_tag");
    assert.equal(got.length, 1);
    assert.deepEqual(got[0].fields[0], "data");
    assert.equal(got[0].fields.length, 2, "one field, data");
    assert.deepEqual(got[0].data, {
      job_id: res.body.id,
      job_type: "image_tag",
      payload,
      user_id: 12345,
    });
    const stored = row(core, res.body.id)!;
    assert.equal(stored.stream_message_id, got[0].id);
    assert.equal(typeof stored.published_at, "string");
    const audit = core.db.prepare(
      "SELECT action, actor, entity_type FROM audit_log WHERE entity_id = ?",
    ).all(res.body.id);
    assert.deepEqual(audit.map((a) => ({ ...a })), [
      { action: "created", actor: "user:12345", entity_type: "llm_job" },
    ]);
    // Nothing went anywhere else.
    assert.equal(await streamTotal(core.redis), 1);
  },
);

Deno.test(
  "POST /llm_jobs intent_classify (the smoke body) lands on llm:intent; no user row needed",
  async () => {
    await using core = await makeCore();
    const res = await call(core.app, "POST", "/llm_jobs", {
      job_type: "intent_classify",
      payload: { query: "test" },
      user_id: 12345,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const got = await entries(core.redis, "llm:intent");
    assert.equal(got.length, 1);
    assert.deepEqual(got[0].data, {
      job_id: res.body.id,
      job_type: "intent_classify",
      payload: { query: "test" },
      user_id: 12345,
    });
    // Every job type goes to its own stream; user_id may be left out.
    const streams: Record<string, [string, Record<string, unknown>]> = {
      "llm:followup": ["followup", { message: "hi" }],
      "llm:task_match": ["task_match", { memory_id: "m", memory_content: "buy milk" }],
      "llm:email_extract": ["email_extract", { subject: "s", body: "b" }],
    };
    for (const [stream, [jobType, payload]] of Object.entries(streams)) {
      const r = await call(core.app, "POST", "/llm_jobs", { job_type: jobType, payload });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.user_id, null);
      const e = await entries(core.redis, stream);
      assert.equal(e.length, 1, stream);
      assert.deepEqual(e[0].data, {
        job_id: r.body.id,
        job_type: jobType,
        payload,
        user_id: null,
      });
    }
  },
);

Deno.test(
  "POST /llm_jobs with Redis unreachable answers 201; the republisher publishes it once Redis is up",
  async () => {
    const port = freePort();
    const time = manualClock();
    const core = await makeCore({ redisUrl: `redis://127.0.0.1:${port}`, clock: time.clock });
    let server: Awaited<ReturnType<typeof startRedisServer>> | undefined;
    let check: RedisClient | undefined;
    try {
      const res = await call(core.app, "POST", "/llm_jobs", {
        job_type: "intent_classify",
        payload: { query: "test" },
        user_id: 12345,
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.status, "queued");
      const stored = row(core, res.body.id)!;
      assert.equal(stored.status, "queued");
      assert.equal(stored.stream_message_id, null);
      assert.equal(stored.published_at, null);

      // Too young: the pass leaves it to the request's own publish.
      assert.deepEqual(await republishOnce(core.deps), { published: 0, recovered: 0 });
      time.advance(3000);
      // Still down: the pass reports the error instead of throwing.
      const down = await republishOnce(core.deps);
      assert.equal(down.published, 0);
      assert.ok(down.error, "a pass against a dead Redis says why it stopped");
      assert.equal(row(core, res.body.id)!.stream_message_id, null);

      server = await startRedisServer({ port });
      check = new RedisClient(server.url, { maxRetriesPerRequest: 1 });
      // ioredis reconnects with a capped backoff; passes keep trying, as the loop does.
      let result = await republishOnce(core.deps);
      const deadline = Date.now() + 20_000;
      while (result.published === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        result = await republishOnce(core.deps);
      }
      assert.equal(result.published, 1, JSON.stringify(result));
      const got = await entries(check, "llm:intent");
      assert.equal(got.length, 1);
      assert.deepEqual(got[0].data, {
        job_id: res.body.id,
        job_type: "intent_classify",
        payload: { query: "test" },
        user_id: 12345,
      });
      assert.equal(row(core, res.body.id)!.stream_message_id, got[0].id);
      const audit = core.db.prepare(
        "SELECT action, actor, detail FROM audit_log WHERE entity_id = ? ORDER BY id",
      ).all(res.body.id);
      assert.deepEqual(audit.map((a) => a.action), ["created", "published"]);
      assert.equal(audit[1].actor, "system:scheduler");
      assert.equal(JSON.parse(String(audit[1].detail)).reason, "never_published");

      // Published once: the next pass has nothing to do.
      time.advance(3000);
      assert.deepEqual(await republishOnce(core.deps), { published: 0, recovered: 0 });
      assert.equal(await check.xlen("llm:intent"), 1);
    } finally {
      check?.disconnect();
      await core.close();
      await server?.stop();
    }
  },
);

Deno.test("POST /llm_jobs never publishes a job whose commit failed", async () => {
  await using core = await makeCore();
  // Make the transaction fail at its last write (the audit entry).
  core.db.exec("ALTER TABLE audit_log RENAME TO audit_log_away");
  const res = await call(core.app, "POST", "/llm_jobs", {
    job_type: "intent_classify",
    payload: { message: "hello" },
  });
  assert.equal(res.status, 500);
  core.db.exec("ALTER TABLE audit_log_away RENAME TO audit_log");
  assert.equal(jobCount(core), 0, "the insert was rolled back");
  assert.equal(await streamTotal(core.redis), 0, "nothing was published");
});

Deno.test(
  "POST /llm_jobs validates each payload field per job type (422, loc body.payload.<field>)",
  async () => {
    await using core = await makeCore();
    const cases: [string, Record<string, unknown>, (string | number)[], string][] = [
      ["image_tag", { image_path: "a.jpg" }, ["memory_id"], "missing"],
      ["image_tag", { memory_id: 5, image_path: "a.jpg" }, ["memory_id"], "invalid_type"],
      ["image_tag", { memory_id: "m" }, ["image_path"], "missing"],
      ["image_tag", { memory_id: "m", image_path: 7 }, ["image_path"], "invalid_type"],
      ["intent_classify", {}, ["message"], "custom"],
      ["intent_classify", { message: 3 }, ["message"], "invalid_type"],
      ["intent_classify", { query: ["x"] }, ["query"], "invalid_type"],
      ["intent_classify", { message: "hi", memory_id: 4 }, ["memory_id"], "invalid_type"],
      [
        "intent_classify",
        { message: "hi", followup_context: { followup_question: "when?" } },
        ["followup_context", "user_answer"],
        "missing",
      ],
      ["intent_classify", { message: "hi", followup_context: "x" }, [
        "followup_context",
      ], "invalid_type"],
      ["followup", {}, ["message"], "missing"],
      ["followup", { message: 1 }, ["message"], "invalid_type"],
      ["followup", { message: "x", context: 5 }, ["context"], "invalid_type"],
      ["task_match", { memory_content: "x" }, ["memory_id"], "missing"],
      ["task_match", { memory_id: "m" }, ["memory_content"], "missing"],
      [
        "task_match",
        { memory_id: "m", memory_content: false },
        ["memory_content"],
        "invalid_type",
      ],
      ["email_extract", { body: "b" }, ["subject"], "missing"],
      ["email_extract", { subject: "s" }, ["body"], "missing"],
      ["email_extract", { subject: 1, body: "b" }, ["subject"], "invalid_type"],
      ["email_extract", { subject: "s", body: null }, ["body"], "invalid_type"],
    ];
    for (const [jobType, payload, field, type] of cases) {
      const res = await call(core.app, "POST", "/llm_jobs", { job_type: jobType, payload });
      const what = `${jobType} ${JSON.stringify(payload)} -> ${JSON.stringify(res.body)}`;
      assert.equal(res.status, 422, what);
      const hit = res.body.detail.find((d: { loc: unknown[] }) =>
        JSON.stringify(d.loc) === JSON.stringify(["body", "payload", ...field])
      );
      assert.ok(hit, what);
      assert.equal(hit.type, type, what);
      assert.equal(typeof hit.msg, "string");
    }
    // The body itself.
    const bodies: [unknown, string][] = [
      [{ job_type: "summarize", payload: {} }, "body.job_type"],
      [{ payload: { message: "x" } }, "body.job_type"],
      [{ job_type: "followup" }, "body.payload"],
      [{ job_type: "followup", payload: "x" }, "body.payload"],
      [{ job_type: "followup", payload: ["x"] }, "body.payload"],
      [{ job_type: "followup", payload: { message: "x" }, user_id: "12" }, "body.user_id"],
      [{ job_type: "followup", payload: { message: "x" }, user_id: 1.5 }, "body.user_id"],
      [[], "body"],
      [null, "body"],
    ];
    for (const [body, loc] of bodies) {
      const res = await call(core.app, "POST", "/llm_jobs", JSON.stringify(body));
      assert.equal(res.status, 422, JSON.stringify(body));
      const locs = res.body.detail.map((d: { loc: string[] }) => d.loc.join("."));
      assert.ok(locs.includes(loc), `${JSON.stringify(body)} -> ${JSON.stringify(res.body)}`);
    }
    const malformed = await call(core.app, "POST", "/llm_jobs", "{job_type:");
    assert.equal(malformed.status, 422);
    assert.equal(malformed.body.detail[0].type, "json_invalid");
    // No partial write, nothing published.
    assert.equal(jobCount(core), 0);
    assert.equal(await streamTotal(core.redis), 0);
    assert.equal(
      (core.db.prepare("SELECT count(*) AS n FROM audit_log").get() as { n: number }).n,
      0,
    );
  },
);

Deno.test("POST /llm_jobs image_tag: image_path must stay inside IMAGE_STORAGE_PATH", async () => {
  await using core = await makeCore();
  const dir = core.imageDir;
  const ok = [
    "a.jpg",
    "sub/dir/b.png",
    "a/../b.jpg",
    "./c.jpg",
    `${dir}/x.jpg`,
    `${dir}//y/./z.jpg`,
    `${dir}/sub/../w.jpg`,
  ];
  for (const image_path of ok) {
    const res = await call(core.app, "POST", "/llm_jobs", {
      job_type: "image_tag",
      payload: { memory_id: "m", image_path },
    });
    assert.equal(res.status, 201, `${image_path}: ${JSON.stringify(res.body)}`);
    // Stored as the normalized absolute path that was checked (the worker checks it again).
    assert.equal(
      res.body.payload.image_path,
      posix.isAbsolute(image_path) ? posix.normalize(image_path) : posix.join(dir, image_path),
    );
    assert.equal(res.body.payload.memory_id, "m", "the rest of the payload as sent");
  }
  const bad = [
    "../x.jpg",
    "a/../../x.jpg",
    "sub/../../../etc/passwd",
    "/etc/passwd",
    "/tmp/x.jpg",
    `${dir}/../x.jpg`,
    `${dir}/a/../../x.jpg`,
    dir,
    `${dir}/`,
    `${dir}/.`,
    ".",
    "sub/..",
    `${dir}x/evil.jpg`,
    "a\0.jpg",
    `${dir}/a.jpg\0.png`,
    "",
  ];
  for (const image_path of bad) {
    const res = await call(core.app, "POST", "/llm_jobs", {
      job_type: "image_tag",
      payload: { memory_id: "m", image_path },
    });
    assert.equal(res.status, 422, `${JSON.stringify(image_path)}: ${JSON.stringify(res.body)}`);
    assert.deepEqual(res.body.detail[0].loc, ["body", "payload", "image_path"]);
  }
  assert.equal(jobCount(core), ok.length);
  assert.equal(await core.redis.xlen("llm:image_tag"), ok.length);
});

Deno.test("POST /llm_jobs with the same Idempotency-Key makes and publishes one job", async () => {
  await using core = await makeCore();
  const body = { job_type: "followup", payload: { message: "hi" }, user_id: 7 };
  const a = await call(core.app, "POST", "/llm_jobs", body, { "Idempotency-Key": "k-1" });
  const b = await call(core.app, "POST", "/llm_jobs", body, { "Idempotency-Key": "k-1" });
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  assert.equal(b.body.id, a.body.id);
  assert.equal(jobCount(core), 1);
  assert.equal(await core.redis.xlen("llm:followup"), 1);
  const c = await call(core.app, "POST", "/llm_jobs", body, { "Idempotency-Key": "k-2" });
  assert.notEqual(c.body.id, a.body.id);
  // Another user's request with the same key never sees the first job.
  const other = { job_type: "followup", payload: { message: "mine" }, user_id: 8 };
  const d = await call(core.app, "POST", "/llm_jobs", other, { "Idempotency-Key": "k-1" });
  assert.equal(d.status, 422);
  assert.ok(!JSON.stringify(d.body).includes(a.body.id));
  assert.equal(jobCount(core), 2);
});

Deno.test(
  "GET /llm_jobs/{id} answers the job; unknown or malformed ids are 404 'LLM job not found'",
  async () => {
    await using core = await makeCore();
    const made = await call(core.app, "POST", "/llm_jobs", {
      job_type: "task_match",
      payload: { memory_id: "m", memory_content: "buy milk", extra: { keep: true } },
      user_id: 5,
    });
    const got = await call(core.app, "GET", `/llm_jobs/${made.body.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, made.body);
    const upper = await call(core.app, "GET", `/llm_jobs/${made.body.id.toUpperCase()}`);
    assert.equal(upper.status, 200);
    for (const id of [crypto.randomUUID(), "nope", "1", "%00", "..%2F..%2Fetc"]) {
      const res = await call(core.app, "GET", `/llm_jobs/${id}`);
      assert.equal(res.status, 404, id);
      assert.deepEqual(res.body, { detail: "LLM job not found" });
    }
  },
);

Deno.test("GET /llm_jobs filters by status, job_type and user_id, pages, newest first", async () => {
  const time = manualClock();
  await using core = await makeCore({ clock: time.clock });
  const made: Record<string, string> = {};
  const specs: [string, string, Record<string, unknown>, number | null][] = [
    ["a", "intent_classify", { message: "a" }, 1],
    ["b", "followup", { message: "b" }, 2],
    ["c", "image_tag", { memory_id: "m", image_path: "c.jpg" }, 1],
    ["d", "email_extract", { subject: "s", body: "d" }, null],
  ];
  for (const [name, job_type, payload, user_id] of specs) {
    time.advance(1000);
    const res = await call(core.app, "POST", "/llm_jobs", { job_type, payload, user_id });
    assert.equal(res.status, 201);
    made[res.body.id] = name;
  }
  const names = (body: { id: string }[]) => body.map((j) => made[j.id]);
  const list = async (q: string) => {
    const res = await call(core.app, "GET", `/llm_jobs${q}`);
    assert.equal(res.status, 200, `${q}: ${JSON.stringify(res.body)}`);
    return names(res.body);
  };
  const ids = Object.keys(made);
  time.advance(1000);
  await call(core.app, "PATCH", `/llm_jobs/${ids[0]}`, { status: "processing" });
  await call(core.app, "PATCH", `/llm_jobs/${ids[1]}`, { status: "failed", error_message: "x" });

  assert.deepEqual(await list(""), ["d", "c", "b", "a"]);
  assert.deepEqual(await list("?job_type=followup"), ["b"]);
  assert.deepEqual(await list("?user_id=1"), ["c", "a"]);
  assert.deepEqual(await list("?status=processing"), ["a"]);
  assert.deepEqual(await list("?status=queued"), ["d", "c"]);
  assert.deepEqual(await list("?status=queued&user_id=1"), ["c"]);
  assert.deepEqual(await list("?status=completed"), []);
  assert.deepEqual(await list("?limit=2"), ["d", "c"]);
  assert.deepEqual(await list("?limit=2&offset=1"), ["c", "b"]);
  assert.deepEqual(await list("?offset=10"), []);

  for (
    const [q, loc] of [
      ["?status=done", "query.status"],
      ["?job_type=summarize", "query.job_type"],
      ["?user_id=abc", "query.user_id"],
      ["?limit=0", "query.limit"],
      ["?limit=-1", "query.limit"],
      ["?offset=-1", "query.offset"],
      ["?limit=x", "query.limit"],
    ]
  ) {
    const res = await call(core.app, "GET", `/llm_jobs${q}`);
    assert.equal(res.status, 422, q);
    const locs = res.body.detail.map((d: { loc: string[] }) => d.loc.join("."));
    assert.ok(locs.includes(loc), `${q}: ${JSON.stringify(res.body)}`);
  }
});

Deno.test(
  "PATCH /llm_jobs/{id}: transitions, audit with from/to, 409 once completed or failed",
  async () => {
    const time = manualClock();
    await using core = await makeCore({ clock: time.clock });
    const worker = { "X-Actor": "system:llm_worker" };
    const made = await call(core.app, "POST", "/llm_jobs", {
      job_type: "intent_classify",
      payload: { message: "remind me" },
      user_id: 9,
    });
    const id = made.body.id;
    const patch = (body: unknown, headers = worker) =>
      call(core.app, "PATCH", `/llm_jobs/${id}`, body, headers);

    time.advance(1000);
    const p1 = await patch({ status: "processing" });
    assert.equal(p1.status, 200, JSON.stringify(p1.body));
    assert.equal(p1.body.status, "processing");
    assert.equal(p1.body.updated_at, "2026-03-01T10:00:01.000Z");
    assert.equal(p1.body.created_at, made.body.created_at);

    // A worker shutting down hands the job back.
    const back = await patch({ status: "queued" });
    assert.equal(back.status, 200);
    assert.equal(back.body.status, "queued");
    assert.equal((await patch({ status: "processing" })).status, 200);

    // Empty patch: nothing changes, nothing audited.
    const same = await patch({});
    assert.equal(same.status, 200);
    assert.equal(same.body.status, "processing");

    time.advance(1000);
    const done = await patch({ status: "completed", result: { intent: "reminder", n: [1, 2] } });
    assert.equal(done.status, 200);
    assert.equal(done.body.status, "completed");
    assert.deepEqual(done.body.result, { intent: "reminder", n: [1, 2] });
    assert.equal(done.body.updated_at, "2026-03-01T10:00:02.000Z");

    const before = { ...row(core, id)! };
    const auditsBefore = core.db.prepare("SELECT count(*) AS n FROM audit_log").get();
    time.advance(1000);
    for (
      const body of [
        { status: "processing" },
        { status: "completed", result: { again: true } },
        { result: null },
        { error_message: "late" },
        {},
      ]
    ) {
      const res = await patch(body);
      assert.equal(res.status, 409, JSON.stringify(body));
      assert.deepEqual(res.body, { detail: "LLM job is already completed" });
    }
    assert.deepEqual({ ...row(core, id)! }, before, "a terminal job does not change");
    assert.deepEqual(core.db.prepare("SELECT count(*) AS n FROM audit_log").get(), auditsBefore);

    const audit = core.db.prepare(
      "SELECT action, actor, detail FROM audit_log WHERE entity_id = ? ORDER BY id",
    ).all(id).map((a) => ({
      action: a.action,
      actor: a.actor,
      detail: JSON.parse(String(a.detail)),
    }));
    assert.deepEqual(audit, [
      { action: "created", actor: "user:9", detail: { job_type: "intent_classify" } },
      {
        action: "updated",
        actor: "system:llm_worker",
        detail: { from: "queued", to: "processing" },
      },
      {
        action: "updated",
        actor: "system:llm_worker",
        detail: { from: "processing", to: "queued" },
      },
      {
        action: "updated",
        actor: "system:llm_worker",
        detail: { from: "queued", to: "processing" },
      },
      {
        action: "updated",
        actor: "system:llm_worker",
        detail: { from: "processing", to: "completed" },
      },
    ]);

    // failed is terminal too; without X-Actor the actor is the worker, who reports progress.
    const other = await call(core.app, "POST", "/llm_jobs", {
      job_type: "followup",
      payload: { message: "x" },
      user_id: 9,
    });
    const failed = await call(core.app, "PATCH", `/llm_jobs/${other.body.id}`, {
      status: "failed",
      error_message: "model answered nonsense three times",
      result: null,
    });
    assert.equal(failed.status, 200);
    assert.equal(failed.body.error_message, "model answered nonsense three times");
    const lastAudit = core.db.prepare(
      "SELECT actor, detail FROM audit_log WHERE entity_id = ? ORDER BY id DESC LIMIT 1",
    ).get(other.body.id)!;
    assert.equal(lastAudit.actor, "system:llm_worker");
    assert.equal(JSON.parse(String(lastAudit.detail)).to, "failed");
    const again = await call(core.app, "PATCH", `/llm_jobs/${other.body.id}`, {
      status: "completed",
    });
    assert.equal(again.status, 409);
    assert.deepEqual(again.body, { detail: "LLM job is already failed" });
  },
);

Deno.test(
  "PATCH /llm_jobs/{id}: 404 for unknown ids, 422 for bad bodies, result can be cleared",
  async () => {
    await using core = await makeCore();
    for (const id of [crypto.randomUUID(), "nope"]) {
      const res = await call(core.app, "PATCH", `/llm_jobs/${id}`, { status: "processing" });
      assert.equal(res.status, 404);
      assert.deepEqual(res.body, { detail: "LLM job not found" });
    }
    const made = await call(core.app, "POST", "/llm_jobs", {
      job_type: "followup",
      payload: { message: "x" },
    });
    const id = made.body.id;
    for (
      const [body, loc] of [
        [{ status: "done" }, "body.status"],
        [{ status: 1 }, "body.status"],
        [{ result: [1] }, "body.result"],
        [{ result: "x" }, "body.result"],
        [{ error_message: 5 }, "body.error_message"],
        [[], "body"],
      ] as [unknown, string][]
    ) {
      const res = await call(core.app, "PATCH", `/llm_jobs/${id}`, JSON.stringify(body));
      assert.equal(res.status, 422, JSON.stringify(body));
      const locs = res.body.detail.map((d: { loc: string[] }) => d.loc.join("."));
      assert.ok(locs.includes(loc), `${JSON.stringify(body)} -> ${JSON.stringify(res.body)}`);
    }
    const bad = await call(core.app, "PATCH", `/llm_jobs/${id}`, "{oops");
    assert.equal(bad.status, 422);
    const set = await call(core.app, "PATCH", `/llm_jobs/${id}`, { result: { partial: 1 } });
    assert.deepEqual(set.body.result, { partial: 1 });
    const cleared = await call(core.app, "PATCH", `/llm_jobs/${id}`, { result: null });
    assert.equal(cleared.status, 200);
    assert.equal(cleared.body.result, null);
    assert.equal(cleared.body.status, "queued");
  },
);

Deno.test(
  "publishes recorded in one event-loop turn share one transaction; each waits for it",
  async () => {
    await using core = await makeCore();
    await call(core.app, "POST", "/users", { telegram_user_id: 77, display_name: "Batch" });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await call(core.app, "POST", "/llm_jobs", {
        job_type: "followup",
        payload: { message: `batch ${i}` },
        user_id: 77,
      });
      ids.push(res.body.id);
    }
    // The requests' own records land in the group commit after their answers.
    await until(() => ids.every((id) => row(core, id)!.stream_message_id !== null), "records");
    core.db.exec("UPDATE llm_jobs SET stream_message_id = NULL, published_at = NULL");
    const exec = core.db.exec.bind(core.db);
    let begins = 0;
    core.db.exec = (sql: string) => {
      if (/^BEGIN/.test(sql)) begins++;
      return exec(sql);
    };
    const at = "2026-03-01T10:00:00.000Z";
    // Before, each record was its own commit (a WAL write per job).
    await Promise.all(
      ids.map((id, i) => recordInBatch(core.db, { id, messageId: `1-${i}`, at })),
    );
    core.db.exec = exec;
    assert.equal(begins, 1);
    for (const [i, id] of ids.entries()) assert.equal(row(core, id)!.stream_message_id, `1-${i}`);
    // A publish already recorded is kept (the republisher's or the request's own, late one).
    await recordInBatch(core.db, { id: ids[0], messageId: "9-9", at });
    assert.equal(row(core, ids[0])!.stream_message_id, "1-0");

    // Concurrent POSTs: each answers once its entry is in Redis; its entry id is recorded in the
    // group commit after the answer.
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call(core.app, "POST", "/llm_jobs", {
          job_type: "followup",
          payload: { message: `concurrent ${i}` },
          user_id: 77,
        })),
    );
    const inRedis = await core.redis.xrange("llm:followup", "-", "+");
    const entryOf = new Map(
      inRedis.map(([entry, fields]) => [JSON.parse(fields[1]).job_id, entry]),
    );
    for (const a of answers) {
      assert.equal(a.status, 201);
      assert.ok(entryOf.has(a.body.id), "in the stream when answered");
    }
    await until(
      () => answers.every((a) => row(core, a.body.id)!.stream_message_id !== null),
      "the concurrent records",
    );
    for (const a of answers) {
      assert.equal(row(core, a.body.id)!.stream_message_id, entryOf.get(a.body.id));
    }
  },
);
