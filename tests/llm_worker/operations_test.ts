/**
 * The worker under operation (real Redis, a real core over HTTP, the fake model): operator
 * retries of failed jobs, the request id and job id in both services' logs, no secrets or image
 * bytes in any log, the worker's metrics, and its /health.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Redis } from "ioredis";
import { createLogger } from "../../shared/log.ts";
import { createLlmClient } from "../../llm_worker/llm_client.ts";
import {
  checkHealth,
  createWorkerMetrics,
  metricsHandler,
  startMetricsServer,
} from "../../llm_worker/metrics.ts";
import { call, itest, sanitizeTests } from "../helpers/core_app.ts";
import { jsonReply, promptText } from "../helpers/fake_llm.ts";
import { parseExposition, sampleValue } from "../helpers/metrics_text.ts";
import { freePort, startRedisServer } from "../helpers/redis_server.ts";
import { PNG_BYTES, startHarness, TEST_API_KEY, waitFor } from "./harness.ts";

await sanitizeTests();

const CORE_TOKEN = "worker-test-core-token-0123456789";

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

Deno.test(
  "a failed job retried through the core is run again by the worker and completes",
  async () => {
    await using h = await startHarness();
    h.fake.enqueue(
      { content: "" },
      { content: "" },
      { content: "" },
    );
    const id = await h.createJob("followup", { message: "which folder?" });
    const failed = await h.waitJob(id);
    assert.equal(failed.status, "failed");
    assert.equal((await h.deadLetters()).length, 1);

    // The model is fixed; the operator retries. The worker GETs a queued job that was failed
    // before, and simply runs it.
    h.fake.setDefault({ content: "The blue one or the red one?" });
    const retry = await call(h.core.app, "POST", `/llm_jobs/${id}/retry`);
    assert.equal(retry.status, 200);
    const done = await h.waitJob(id);
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.deepEqual(done.result, { question: "The blue one or the red one?" });
    assert.equal(done.error_message, null);
    // The user hears of the failure once and of the result once.
    const notes = (await h.notifications()).map((n) => n.message_type);
    assert.deepEqual(notes, ["llm_failure", "llm_followup_result"]);
    assert.equal((await h.deadLetters()).length, 1);
  },
);

Deno.test("a retried job that fails again is parked again; replaying the entry runs it", async () => {
  await using h = await startHarness();
  h.fake.setDefault({ content: "" });
  const id = await h.createJob("followup", { message: "again?" });
  assert.equal((await h.waitJob(id)).status, "failed");
  assert.equal((await call(h.core.app, "POST", `/llm_jobs/${id}/retry`)).status, 200);
  await waitFor(
    "the second failure",
    async () =>
      (await h.getJob(id)).status === "failed" && (await h.deadLetters()).length === 2 ||
      undefined,
  );
  const entries = await call(h.core.app, "GET", "/admin/dead-letters");
  assert.deepEqual(entries.body.map((e: { job_id: string }) => e.job_id), [id, id]);

  h.fake.setDefault({ content: "Finally?" });
  const replay = await call(
    h.core.app,
    "POST",
    `/admin/dead-letters/${entries.body[0].id}/replay`,
  );
  assert.equal(replay.status, 200);
  const done = await h.waitJob(id);
  assert.equal(done.status, "completed");
  assert.deepEqual(done.result, { question: "Finally?" });
  assert.equal((await h.deadLetters()).length, 1, "the replayed entry is gone");
});

Deno.test(
  "the worker sends X-Request-Id: <job_id>, and every worker line of a job has its job_id",
  async () => {
    const coreLines: string[] = [];
    await using h = await startHarness({
      coreLog: createLogger("core", { level: "debug", sink: (l) => coreLines.push(l) }),
    });
    // The first answer refuses JSON mode: the model client logs that on the service's logger,
    // which knows nothing of the job but for the job scope.
    h.fake.enqueue(
      { status: 400, message: "response_format is not supported", param: "response_format" },
      jsonReply({ intent: "general_note", suggested_tags: ["bread"] }),
    );
    const id = await h.createJob("intent_classify", { message: "buy bread tomorrow" });
    const job = await h.waitJob(id);
    assert.equal(job.status, "completed", JSON.stringify(job));

    const requests = coreLines.map((l) => JSON.parse(l)).filter((l) => l.message === "request");
    const fromWorker = requests.filter((r) => r.request_id === id);
    const routes = new Set(fromWorker.map((r) => `${r.method} ${r.route}`));
    for (const route of ["PATCH /llm_jobs/:id", "POST /memories"]) {
      assert.ok(routes.has(route), `no ${route} with the job id as request id: ${[...routes]}`);
    }
    // The run learns the job from its PATCH to processing; a GET first cost a round trip a job.
    assert.ok(!routes.has("GET /llm_jobs/:id"), `a GET of the job: ${[...routes]}`);
    assert.equal(fromWorker.filter((r) => r.method === "PATCH").length, 2, "processing, completed");
    // Only the worker updates the job and creates the memory; each of those carried the id.
    for (const r of requests.filter((r) => r.method === "PATCH" || r.route === "/memories")) {
      assert.equal(r.request_id, id, `${r.method} ${r.route}`);
    }

    const lines = h.logs.map((l) => JSON.parse(l));
    const workerLevel = new Set(["worker started", "worker stopped"]);
    const jobLines = lines.filter((l) => !workerLevel.has(l.message));
    assert.ok(jobLines.some((l) => l.message === "job completed"));
    const formatLine = jobLines.find((l) => /response_format/.test(l.message));
    assert.ok(formatLine, "the model client's warning was logged");
    for (const line of jobLines) assert.equal(line.job_id, id, JSON.stringify(line));
  },
);

Deno.test("no API key, core token or image bytes reach either service's log", async () => {
  const coreLines: string[] = [];
  await using h = await startHarness({
    env: { CORE_API_TOKEN: CORE_TOKEN },
    coreEnv: { CORE_API_TOKEN: CORE_TOKEN },
    coreLog: createLogger("core", { level: "debug", sink: (l) => coreLines.push(l) }),
  });
  const auth = { authorization: `Bearer ${CORE_TOKEN}` };
  const memory = await call(h.core.app, "POST", "/memories", {
    owner_user_id: h.userId,
    media_type: "image",
  }, auth);
  assert.equal(memory.status, 201);
  await Deno.writeFile(join(h.core.imageDir, "photo.png"), PNG_BYTES);
  // One bad answer first (the retry path logs too), then a good one; and a failing job.
  h.fake.when((r) => r.model === "vision-model", { content: "not json at all" }, { times: 1 });
  h.fake.when(
    (r) => r.model === "vision-model",
    jsonReply({ description: "a pixel", tags: ["pixel", "tiny", "dot"] }),
  );
  h.fake.when((r) => promptText(r).includes("doomed"), {
    status: 401,
    message: "invalid api key",
  });
  const tagged = await h.createJob("image_tag", {
    memory_id: memory.body.id,
    image_path: "photo.png",
  });
  const doomed = await h.createJob("followup", { message: "doomed" });
  assert.equal((await h.waitJob(tagged)).status, "completed");
  assert.equal((await h.waitJob(doomed)).status, "failed");

  // The secrets were really in use...
  assert.equal(h.fake.requests[0].headers.authorization, `Bearer ${TEST_API_KEY}`);
  const sentImage = JSON.stringify(h.fake.requests.find((r) => r.body.model === "vision-model"));
  const imageBase64 = base64(PNG_BYTES);
  assert.ok(sentImage.includes(imageBase64));
  // ...and appear in no log line of either service, at debug level.
  const everything = [...h.logs, ...coreLines].join("\n");
  assert.ok(h.logs.length > 5 && coreLines.length > 5);
  for (
    const [what, secret] of [
      ["the LLM API key", TEST_API_KEY],
      ["the core token", CORE_TOKEN],
      ["the image bytes", imageBase64.slice(0, 40)],
      ["a data URL", "data:image/png;base64"],
      ["an Authorization header", "Bearer "],
    ]
  ) {
    assert.ok(!everything.includes(secret), `${what} reached the log`);
  }
});

Deno.test(
  "worker metrics: jobs handled, failed and retried by type, model latency, in flight",
  async () => {
    const metrics = createWorkerMetrics();
    await using h = await startHarness({ worker: false });
    const worker = await h.startWorker({
      metrics,
      llm: createLlmClient(h.config, { onCall: metrics.llmCall }),
    });
    metrics.trackInFlight({
      jobs: () => worker.inFlight(),
      modelCalls: () => worker.modelCalls(),
    });

    // A model outage retried once, then an answer; an unusable answer three times (failed).
    h.fake.when((r) => promptText(r).includes("outage"), { status: 503 }, { times: 1 });
    h.fake.when((r) => promptText(r).includes("outage"), { content: "Which one?" });
    h.fake.when((r) => promptText(r).includes("garbage"), { content: "no json" });
    const ok = await h.createJob("followup", { message: "outage" });
    const bad = await h.createJob("email_extract", { subject: "garbage", body: "garbage" });
    assert.equal((await h.waitJob(ok)).status, "completed");
    assert.equal((await h.waitJob(bad)).status, "failed");

    let { samples } = parseExposition(await metrics.registry.render());
    const value = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(samples, name, labels);
    assert.equal(
      value("memori_worker_jobs_handled_total", { job_type: "followup", outcome: "completed" }),
      1,
    );
    assert.equal(
      value("memori_worker_jobs_handled_total", { job_type: "email_extract", outcome: "failed" }),
      1,
    );
    assert.equal(
      value("memori_worker_jobs_failed_total", {
        job_type: "email_extract",
        reason: "bad_output",
      }),
      1,
    );
    assert.equal(
      value("memori_worker_jobs_retried_total", {
        job_type: "followup",
        cause: "llm_unavailable",
      }),
      1,
    );
    assert.equal(
      value("memori_worker_jobs_retried_total", {
        job_type: "email_extract",
        cause: "bad_output",
      }),
      2,
    );
    // Five model requests: 1 error + 1 ok for the followup; 3 unusable answers (counted ok:
    // the model answered; the output failed later) for the email.
    const llm = (outcome: string) =>
      value("memori_worker_llm_request_duration_seconds_count", { model: "text-model", outcome });
    assert.equal(llm("error"), 1);
    assert.equal(llm("ok"), 4);
    assert.equal(value("memori_worker_jobs_in_flight"), 0);
    assert.equal(value("memori_worker_model_calls_in_flight"), 0);

    // A job in progress shows as in flight, its model call too.
    h.fake.when((r) => promptText(r).includes("slow"), { content: "Slow?", delayMs: 1500 });
    const slow = await h.createJob("followup", { message: "slow" });
    await waitFor("the job in flight", async () => {
      ({ samples } = parseExposition(await metrics.registry.render()));
      return value("memori_worker_jobs_in_flight") === 1 || undefined;
    });
    await waitFor("its model call out", async () => {
      ({ samples } = parseExposition(await metrics.registry.render()));
      return value("memori_worker_model_calls_in_flight") === 1 || undefined;
    });
    assert.equal((await h.waitJob(slow)).status, "completed");
    ({ samples } = parseExposition(await metrics.registry.render()));
    assert.equal(value("memori_worker_model_calls_in_flight"), 0);
  },
);

// ioredis: disconnect() while reconnecting to a dead Redis arms a 2 s timer nothing clears.
itest(
  "worker /health: 200 while Redis and the core answer, 503 naming the one that does not",
  async () => {
    const h = await startHarness({ worker: false });
    const redisServer = await startRedisServer();
    let redisRunning = true;
    const redis = new Redis(redisServer.url, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
    });
    redis.on("error", () => {});
    const metrics = createWorkerMetrics();
    const server = await startMetricsServer(
      metricsHandler(metrics, { redis, coreUrl: h.server.url }),
      { hostname: "127.0.0.1", port: 0, log: createLogger("test", { sink: () => {} }) },
    );
    assert.ok(server);
    const url = `http://127.0.0.1:${server.port}`;
    try {
      await waitFor("redis ready", () => redis.status === "ready" || undefined);
      let res = await fetch(`${url}/health`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: "ok", redis: "ok", core: "ok" });
      res = await fetch(`${url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      const { types } = parseExposition(await res.text());
      assert.equal(types.get("memori_worker_jobs_handled_total"), "counter");
      const nothing = await fetch(`${url}/nothing`);
      await nothing.body?.cancel();
      assert.equal(nothing.status, 404);

      await redisServer.stop();
      redisRunning = false;
      await waitFor("redis noticed down", () => redis.status !== "ready" || undefined);
      res = await fetch(`${url}/health`);
      assert.equal(res.status, 503);
      const down = await res.json();
      assert.equal(down.status, "unavailable");
      assert.match(down.redis, /^unreachable: /);
      assert.equal(down.core, "ok");

      const noCore = await checkHealth({ redis, coreUrl: `http://127.0.0.1:${freePort()}` });
      assert.equal(noCore.status, "unavailable");
      assert.match(noCore.core, /^unreachable: /);
    } finally {
      await server.stop();
      redis.disconnect();
      if (redisRunning) await redisServer.stop();
      await h.close();
    }
  },
);
