/**
 * Stopping: in-flight jobs finish within the grace, the rest are handed back (queued, unacked)
 * for another consumer; `deno task worker`'s process exits 0 promptly on SIGTERM.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { call, itest, sanitizeTests } from "../helpers/core_app.ts";
import { jsonReply, promptText } from "../helpers/fake_llm.ts";
import { JOB_STREAMS } from "../../shared/streams.ts";
import { PNG_BYTES, startHarness, TEST_API_KEY, waitFor } from "./harness.ts";

await sanitizeTests();

Deno.test("stop() lets an in-flight job finish before returning", async () => {
  await using h = await startHarness({ worker: false });
  const w = await h.startWorker();
  h.fake.setDefault({ content: "Finished?", delayMs: 300 });
  const id = await h.createJob("followup", { message: "finish me" });
  await waitFor("job running", () => h.fake.requests.length > 0 || undefined);
  await w.stop();
  const job = await h.getJob(id);
  assert.equal(job.status, "completed");
  assert.equal(await h.pendingCount(JOB_STREAMS.followup), 0);
  assert.equal(w.inFlight(), 0);
});

Deno.test("past the grace a job is handed back, and another consumer completes it", async () => {
  await using h = await startHarness({ worker: false, env: { WORKER_CLAIM_IDLE_SECONDS: "1" } });
  const w = await h.startWorker({ shutdownGraceMs: 200 });
  h.fake.enqueue({ content: "Too slow", delayMs: 1900 });
  h.fake.setDefault({ content: "Second try?" });
  const id = await h.createJob("followup", { message: "hand me back" });
  await waitFor("job running", () => h.fake.requests.length > 0 || undefined);
  await w.stop();
  assert.equal((await h.getJob(id)).status, "queued");
  assert.equal(await h.pendingCount(JOB_STREAMS.followup), 1, "left unacked");
  assert.deepEqual(await h.notifications(), []);
  await h.startWorker();
  const job = await h.waitJob(id);
  assert.equal(job.status, "completed");
  assert.deepEqual(job.result, { question: "Second try?" });
  assert.equal((await h.notifications()).length, 1);
});

Deno.test("a job waiting for a model slot at stop() is handed back without asking the model", async () => {
  await using h = await startHarness({ worker: false, env: { WORKER_CONCURRENCY: "1" } });
  h.fake.setDefault({ content: "Only me?", delayMs: 300 });
  const ids = [
    await h.createJob("followup", { message: "job one" }),
    await h.createJob("followup", { message: "job two" }),
  ];
  const w = await h.startWorker();
  await waitFor("both jobs taken, one at the model", async () => {
    const statuses = await Promise.all(ids.map(async (id) => (await h.getJob(id)).status));
    return (statuses.every((s) => s === "processing") && h.fake.requests.length === 1) ||
      undefined;
  });
  // Whichever reached the model slot first took it.
  const asked = promptText(h.fake.requests[0].body).includes("job one") ? 0 : 1;
  await w.stop();
  assert.equal((await h.getJob(ids[asked])).status, "completed");
  assert.equal((await h.getJob(ids[1 - asked])).status, "queued");
  assert.equal(await h.pendingCount(JOB_STREAMS.followup), 1, "its entry left unacked");
  assert.equal(h.fake.requests.length, 1);
  assert.equal((await h.notifications()).length, 1);
});

Deno.test("a job waiting out a model outage is handed back at once on stop()", async () => {
  await using h = await startHarness({
    worker: false,
    env: { LLM_MAX_RETRIES: "1000", LLM_RETRY_BASE_MS: "1000", LLM_RETRY_MAX_MS: "60000" },
  });
  const w = await h.startWorker();
  h.fake.setDefault({ status: 503 });
  const id = await h.createJob("followup", { message: "outage" });
  await waitFor("waiting", () => h.logs.some((l) => l.includes("waiting for it")) || undefined);
  const started = performance.now();
  await w.stop();
  // The default grace is 20 s; a job asleep in backoff does not hold the stop that long.
  assert.ok(performance.now() - started < 10_000);
  assert.equal((await h.getJob(id)).status, "queued");
  assert.equal(await h.pendingCount(JOB_STREAMS.followup), 1);
});

Deno.test(
  "the worker process (deno task worker's flags) runs a job and exits 0 on SIGTERM",
  async () => {
    await using h = await startHarness({ worker: false });
    h.fake.setDefault({ content: "From the subprocess?" });
    const serve = fileURLToPath(new URL("../../scripts/serve.sh", import.meta.url));
    const env: Record<string, string> = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      LLM_BASE_URL: h.fake.url,
      LLM_TEXT_MODEL: "text-model",
      LLM_VISION_MODEL: "vision-model",
      LLM_API_KEY: TEST_API_KEY,
      REDIS_URL: h.core.redisUrl,
      CORE_API_URL: h.server.url,
      IMAGE_STORAGE_PATH: h.core.imageDir,
      LOG_LEVEL: "info",
    };
    const denoDir = Deno.env.get("DENO_DIR");
    if (denoDir) env.DENO_DIR = denoDir;
    const child = new Deno.Command("sh", {
      args: [serve, "worker"],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    try {
      const id = await h.createJob("followup", { message: "subprocess" });
      const job = await h.waitJob(id, 30_000);
      assert.equal(job.status, "completed", JSON.stringify(job));
      // An image job: resolving and reading inside IMAGE_STORAGE_PATH works under
      // --allow-read=<IMAGE_STORAGE_PATH> alone.
      h.fake.when(
        (r) => r.model === "vision-model",
        jsonReply({ description: "d", tags: ["t"] }),
      );
      await Deno.writeFile(join(h.core.imageDir, "sub.png"), PNG_BYTES);
      const memoryId = (await call(h.core.app, "POST", "/memories", {
        owner_user_id: h.userId,
        media_type: "image",
      })).body.id;
      const image = await h.waitJob(
        await h.createJob("image_tag", { memory_id: memoryId, image_path: "sub.png" }),
      );
      assert.equal(image.status, "completed", JSON.stringify(image));
      assert.equal((await h.notifications()).length, 2);
    } finally {
      child.kill("SIGTERM");
    }
    const started = performance.now();
    const out = await output;
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.ok(performance.now() - started < 15_000);
    assert.match(stderr, /llm worker shutting down/);
    assert.ok(!stderr.includes(TEST_API_KEY), "the API key reached the log");
    assert.ok(!/PermissionDenied|NotCapable|Requires .* access/.test(stderr), stderr);
  },
);

Deno.test("the worker process stops at start with a message naming a bad variable", async () => {
  const serve = fileURLToPath(new URL("../../scripts/serve.sh", import.meta.url));
  const out = await new Deno.Command("sh", {
    args: [serve, "worker"],
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      WORKER_CONCURRENCY: "zero",
      REDIS_URL: "redis://127.0.0.1:1",
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2, stderr);
  assert.match(stderr, /WORKER_CONCURRENCY="zero"/);
});

// ioredis: disconnect() while reconnecting to a dead Redis arms a 2 s timer nothing clears.
itest("stop() returns even when the worker never reached Redis", async () => {
  const { freePort } = await import("../helpers/redis_server.ts");
  const { loadWorkerConfig } = await import("../../shared/config.ts");
  const { startWorker } = await import("../../llm_worker/consumer.ts");
  const config = loadWorkerConfig({
    REDIS_URL: `redis://127.0.0.1:${freePort()}`,
    CORE_API_URL: `http://127.0.0.1:${freePort()}`,
    LLM_BASE_URL: `http://127.0.0.1:${freePort()}/v1`,
  });
  const worker = startWorker(config);
  await new Promise((r) => setTimeout(r, 300));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    worker.stop().then(() => "stopped"),
    new Promise((r) => timer = setTimeout(() => r("still running after 10 s"), 10_000)),
  ]);
  clearTimeout(timer);
  assert.equal(outcome, "stopped");
});
