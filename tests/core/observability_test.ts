/**
 * What the core tells an operator: the request id, one log line per request, and /metrics
 * (requests by route pattern, jobs from SQLite, the job streams from Redis).
 */
import assert from "node:assert/strict";
import { createLogger } from "../../shared/log.ts";
import {
  ALL_JOB_STREAMS,
  DEAD_LETTER_STREAM,
  ensureGroup,
  readGroup,
} from "../../shared/streams.ts";
import { call, createUser, itest, makeCore, sanitizeTests } from "../helpers/core_app.ts";
import { parseExposition, sampleValue } from "../helpers/metrics_text.ts";
import { freePort } from "../helpers/redis_server.ts";

await sanitizeTests();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function scrape(app: { request: (path: string) => Response | Promise<Response> }) {
  const res = await app.request("/metrics");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(await res.text()).samples;
}

Deno.test("request id: kept from a sane X-Request-Id, else made up, and always answered", async () => {
  await using core = await makeCore();
  const fresh = await core.app.request("/health");
  assert.match(fresh.headers.get("x-request-id") ?? "", UUID);
  const given = await core.app.request("/health", {
    headers: { "x-request-id": "3f0c2a9e-job:42_a.b" },
  });
  assert.equal(given.headers.get("x-request-id"), "3f0c2a9e-job:42_a.b");
  for (const bad of ["has space", "x".repeat(129), 'quote"s', "new\nline".replace("\n", "%0a")]) {
    const res = await core.app.request("/health", { headers: { "x-request-id": bad } });
    assert.match(res.headers.get("x-request-id") ?? "", UUID, bad);
  }
  // Error answers carry it too.
  const missing = await core.app.request("/memories/not-a-uuid");
  assert.equal(missing.status, 404);
  assert.match(missing.headers.get("x-request-id") ?? "", UUID);
});

Deno.test(
  "request log: one JSON line per request with method, route pattern, status, duration, id",
  async () => {
    const lines: string[] = [];
    const log = createLogger("core", { level: "debug", sink: (l) => lines.push(l) });
    await using core = await makeCore({ log });
    await createUser(core.app, 31, "Logged");
    const memory = await call(core.app, "POST", "/memories", {
      owner_user_id: 31,
      content: "secret shopping list",
    }, { "x-request-id": "req-create-1" });
    await call(core.app, "GET", `/memories/${memory.body.id}?q=private`);
    await call(core.app, "DELETE", `/memories/${memory.body.id}/tags/private-tag`);
    await call(core.app, "GET", "/nowhere/at/all");
    await core.app.request("/health");

    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.message === "request");
    assert.equal(requests.length, 6);
    for (const r of requests) {
      assert.equal(r.service, "core");
      assert.equal(typeof r.duration_ms, "number");
      assert.ok(r.duration_ms >= 0);
      assert.match(r.request_id, /^(req-create-1|[0-9a-f-]{36})$/);
      // Paths and queries can hold user text; only the pattern is logged.
      assert.deepEqual(
        Object.keys(r).sort(),
        [
          "duration_ms",
          "level",
          "message",
          "method",
          "request_id",
          "route",
          "service",
          "status",
          "time",
        ],
      );
    }
    const summary = requests.map((r) => [r.level, r.method, r.route, r.status]);
    assert.deepEqual(summary, [
      ["info", "POST", "/users", 200],
      ["info", "POST", "/memories", 201],
      ["info", "GET", "/memories/:id", 200],
      ["info", "DELETE", "/memories/:id/tags/:tag", 404],
      ["info", "GET", "unmatched", 404],
      // Healthchecks would flood the log at info.
      ["debug", "GET", "/health", 200],
    ]);
    assert.equal(requests[1].request_id, "req-create-1");
    const all = lines.join("\n");
    for (const secret of ["secret shopping list", "private", memory.body.id]) {
      assert.ok(!all.includes(secret), `${secret} reached the log`);
    }
  },
);

Deno.test("/metrics: requests are counted by route pattern and status, not by raw path", async () => {
  await using core = await makeCore();
  await createUser(core.app, 41, "Counted");
  const ids: string[] = [];
  for (const content of ["one", "two", "three"]) {
    ids.push((await call(core.app, "POST", "/memories", { owner_user_id: 41, content })).body.id);
  }
  for (const id of ids) await call(core.app, "GET", `/memories/${id}`);
  await call(core.app, "GET", `/memories/${crypto.randomUUID()}`);
  await call(core.app, "GET", "/definitely/not/here");
  await call(core.app, "GET", "/definitely/not/here/either");
  await call(core.app, "POST", "/memories", "{broken");

  const samples = await scrape(core.app);
  const requests = (route: string, status: string, method = "GET") =>
    sampleValue(samples, "memori_http_requests_total", { method, route, status });
  assert.equal(requests("/memories/:id", "200"), 3);
  assert.equal(requests("/memories/:id", "404"), 1);
  assert.equal(requests("unmatched", "404"), 2);
  assert.equal(requests("/memories", "201", "POST"), 3);
  assert.equal(requests("/memories", "422", "POST"), 1);
  const routes = new Set(samples.filter((s) => s.labels.route).map((s) => s.labels.route));
  for (const id of ids) {
    assert.ok(![...routes].some((r) => r.includes(id)), "a raw path became a label");
  }
  assert.equal(
    sampleValue(samples, "memori_http_request_duration_seconds_count", {
      method: "GET",
      route: "/memories/:id",
    }),
    4,
  );
});

Deno.test("/metrics: jobs by type and status from SQLite, and each job stream from Redis", async () => {
  await using core = await makeCore();
  const job = async (job_type: string, payload: Record<string, unknown>) =>
    (await call(core.app, "POST", "/llm_jobs", { job_type, payload })).body.id;
  await job("followup", { message: "a" });
  await job("followup", { message: "b" });
  const failed = await job("intent_classify", { message: "c" });
  await call(core.app, "PATCH", `/llm_jobs/${failed}`, { status: "failed", error_message: "x" });
  await core.redis.xadd(DEAD_LETTER_STREAM, "*", "data", JSON.stringify({ job_id: failed }));

  let samples = await scrape(core.app);
  const jobs = (job_type: string, status: string) =>
    sampleValue(samples, "memori_llm_jobs", { job_type, status });
  assert.equal(jobs("followup", "queued"), 2);
  assert.equal(jobs("intent_classify", "failed"), 1);
  // Every combination is there, zeros included, so a rate never starts from nothing.
  assert.equal(jobs("image_tag", "completed"), 0);
  assert.equal(samples.filter((s) => s.name === "memori_llm_jobs").length, 20);
  assert.equal(sampleValue(samples, "memori_redis_up"), 1);
  assert.equal(sampleValue(samples, "memori_stream_length", { stream: "llm:followup" }), 2);
  assert.equal(sampleValue(samples, "memori_stream_length", { stream: "llm:intent" }), 1);
  assert.equal(sampleValue(samples, "memori_stream_length", { stream: "llm:image_tag" }), 0);
  // No group yet: nothing is pending.
  assert.equal(sampleValue(samples, "memori_stream_pending", { stream: "llm:followup" }), 0);
  assert.equal(sampleValue(samples, "memori_dead_letter_length"), 1);

  // A worker takes one entry and has not acked it.
  await ensureGroup(core.redis, ALL_JOB_STREAMS);
  const taken = await readGroup(core.redis, "worker-a", { streams: ["llm:followup"], count: 1 });
  assert.equal(taken.length, 1);
  samples = await scrape(core.app);
  assert.equal(sampleValue(samples, "memori_stream_pending", { stream: "llm:followup" }), 1);
  assert.equal(
    sampleValue(samples, "memori_stream_consumer_pending", {
      stream: "llm:followup",
      consumer: "worker-a",
    }),
    1,
  );
  assert.equal(sampleValue(samples, "memori_stream_pending", { stream: "llm:intent" }), 0);
});

// ioredis: disconnect() while reconnecting to a dead Redis arms a 2 s timer nothing clears.
itest(
  "/metrics: with Redis down the scrape still answers, with redis_up 0 and no stream numbers",
  async () => {
    await using core = await makeCore({ redisUrl: `redis://127.0.0.1:${freePort()}` });
    const created = await call(core.app, "POST", "/llm_jobs", {
      job_type: "followup",
      payload: { message: "while redis is down" },
    });
    assert.equal(created.status, 201);
    const samples = await scrape(core.app);
    assert.equal(sampleValue(samples, "memori_redis_up"), 0);
    assert.equal(
      sampleValue(samples, "memori_llm_jobs", { job_type: "followup", status: "queued" }),
      1,
    );
    for (
      const name of ["memori_stream_length", "memori_stream_pending", "memori_dead_letter_length"]
    ) {
      assert.equal(
        samples.filter((s) => s.name === name).length,
        0,
        `${name} shown without Redis`,
      );
    }
  },
);

Deno.test(
  "/metrics: invented methods and paths, with or without the token, make a bounded set of series",
  async () => {
    const token = "metrics-test-token";
    const envs: Record<string, string>[] = [{}, { CORE_API_TOKEN: token }];
    for (const env of envs) {
      await using core = await makeCore({ env });
      const auth = { authorization: `Bearer ${token}` };
      const junk = async (round: number, headers: Record<string, string>) => {
        const paths = [`/junk/${round}`, `/memories/${round}`, `/memories/x/image`, "/health"];
        for (const path of paths) {
          await core.app.request(path, { method: `M${round}X`, headers });
          await core.app.request(`${path}?n=${round}`, { method: "GET", headers });
        }
      };
      const seriesAfter = async (rounds: number) => {
        for (let i = 0; i < rounds; i++) {
          await junk(i, {});
          await junk(i, auth);
        }
        const res = await core.app.request("/metrics", { headers: auth });
        const text = await res.text();
        const samples = parseExposition(text).samples
          .filter((s) => s.name.startsWith("memori_http_"));
        return { count: samples.length, bytes: text.length, samples };
      };
      await seriesAfter(5); // the first scrape's own request adds its series afterwards
      const few = await seriesAfter(5);
      const many = await seriesAfter(200);
      assert.deepEqual(
        many.samples.map((s) => `${s.name}${JSON.stringify(s.labels)}`),
        few.samples.map((s) => `${s.name}${JSON.stringify(s.labels)}`),
        "junk requests kept adding series",
      );
      const methods = new Set(many.samples.map((s) => s.labels.method));
      for (const m of methods) assert.match(m, /^(GET|other)$/);
      assert.ok(methods.has("other"));
      const routes = new Set(many.samples.map((s) => s.labels.route));
      for (const r of routes) assert.ok(!/\d/.test(r), `a raw path became a label: ${r}`);
    }
  },
);
