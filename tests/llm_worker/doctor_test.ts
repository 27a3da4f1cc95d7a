/**
 * `deno task doctor`, run as a real process under its serve.sh permissions, against a real
 * redis-server, a real core served over HTTP and the fake LLM: all checks passing, and the
 * failures an operator meets (a model the server does not serve, Redis down, no consumer group,
 * a wrong token, a bad variable), each with a FAIL line saying why and a non-zero exit.
 */
import assert from "node:assert/strict";
import { ALL_JOB_STREAMS, ensureGroup } from "../../shared/streams.ts";
import { sanitizeTests } from "../helpers/core_app.ts";
import { startCoreServer } from "../helpers/core_server.ts";
import { startFakeLlm } from "../helpers/fake_llm.ts";
import { runTask } from "../helpers/processes.ts";
import { freePort, startRedisServer } from "../helpers/redis_server.ts";
import { Redis } from "ioredis";

await sanitizeTests();

const TOKEN = "doctor-test-token-0123456789";
const API_KEY = "sk-doctor-secret-0123456789";

const CHECKS = [
  "core config",
  "worker config",
  "redis ping",
  "redis groups",
  "core health",
  "core access",
  "llm models",
  "llm text model",
  "llm vision model",
  "llm completion",
];

/** `{check name: "PASS detail" | "FAIL detail"}` from the doctor's output, in order. */
function verdicts(stdout: string): [string, string, string][] {
  const lines = stdout.trim().split("\n");
  const summary = lines.pop();
  assert.match(summary ?? "", /^(all \d+ checks passed|\d+ of \d+ checks failed)$/);
  return lines.map((line) => {
    const m = line.match(/^(PASS|FAIL) ([a-z ]+): (.+)$/);
    assert.ok(m, `not a PASS/FAIL line: ${line}`);
    return [m[2], m[1], m[3]];
  });
}

/** A stack the doctor can be pointed at: redis (with the worker group), core, fake LLM. */
async function stack() {
  const redisServer = await startRedisServer();
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  await ensureGroup(redis, ALL_JOB_STREAMS);
  const core = await startCoreServer({ env: { CORE_API_TOKEN: TOKEN } });
  const fake = await startFakeLlm({ models: ["text-m", "vision-m", "other"] });
  fake.setDefault({ content: "OK" });
  const env: Record<string, string> = {
    REDIS_URL: redisServer.url,
    CORE_API_URL: core.url,
    CORE_API_TOKEN: TOKEN,
    LLM_BASE_URL: fake.url,
    LLM_TEXT_MODEL: "text-m",
    LLM_VISION_MODEL: "vision-m",
    LLM_API_KEY: API_KEY,
    LLM_TIMEOUT_SECONDS: "10",
  };
  const close = async () => {
    redis.disconnect();
    await fake.close();
    await core.close();
    await redisServer.stop();
  };
  return {
    redisServer,
    redis,
    core,
    fake,
    env,
    close,
    [Symbol.asyncDispose]: close,
  };
}

Deno.test("doctor: every check passes on a working setup, and it exits 0", async () => {
  await using s = await stack();
  const run = await runTask("doctor", s.env);
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  const results = verdicts(run.stdout);
  assert.deepEqual(results.map(([name]) => name), CHECKS);
  assert.deepEqual(results.filter(([, v]) => v !== "PASS"), []);
  assert.match(run.stdout, /^PASS llm models: 3 served: text-m, vision-m, other$/m);
  assert.match(run.stdout, /^PASS core access: the core accepts CORE_API_TOKEN$/m);
  assert.match(run.stdout, /^all 10 checks passed$/m);
  // It really asked the model, with the key, and never printed the key or the token.
  assert.equal(s.fake.requests.length, 1);
  assert.equal(s.fake.requests[0].body.model, "text-m");
  assert.equal(s.fake.requests[0].headers.authorization, `Bearer ${API_KEY}`);
  for (const secret of [API_KEY, TOKEN]) {
    assert.ok(!`${run.stdout}${run.stderr}`.includes(secret), "a secret was printed");
  }
});

Deno.test("doctor: a model the server does not list and Redis down each FAIL, exit 1", async () => {
  await using s = await stack();
  const run = await runTask("doctor", {
    ...s.env,
    LLM_VISION_MODEL: "llava-not-served",
    REDIS_URL: `redis://127.0.0.1:${freePort()}`,
  });
  assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
  const results = Object.fromEntries(verdicts(run.stdout).map(([n, v, d]) => [n, [v, d]]));
  assert.deepEqual(Object.keys(results), CHECKS);
  assert.equal(results["llm vision model"][0], "FAIL");
  assert.match(results["llm vision model"][1], /LLM_VISION_MODEL=llava-not-served is not among/);
  assert.equal(results["redis ping"][0], "FAIL");
  assert.match(results["redis ping"][1], /ECONNREFUSED|connect|closed/i);
  assert.deepEqual(results["redis groups"], ["FAIL", "not checked: Redis is not reachable"]);
  for (
    const ok of ["core health", "core access", "llm models", "llm text model", "llm completion"]
  ) {
    assert.equal(results[ok][0], "PASS", `${ok}: ${results[ok][1]}`);
  }
  assert.match(run.stdout, /^3 of 10 checks failed$/m);
});

Deno.test(
  "doctor: a missing consumer group, a wrong token and a dead LLM server each FAIL",
  async () => {
    await using s = await stack();
    await s.redis.xgroup("DESTROY", "llm:intent", "llm-worker-group");
    await s.fake.stop();
    const run = await runTask("doctor", { ...s.env, CORE_API_TOKEN: "not-the-right-token-000" });
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    const results = Object.fromEntries(verdicts(run.stdout).map(([n, v, d]) => [n, [v, d]]));
    assert.equal(results["redis ping"][0], "PASS");
    assert.equal(results["redis groups"][0], "FAIL");
    assert.match(results["redis groups"][1], /no llm-worker-group on llm:intent;/);
    assert.equal(results["core health"][0], "PASS");
    assert.deepEqual(results["core access"], [
      "FAIL",
      "the core refused CORE_API_TOKEN: give the worker the core's value",
    ]);
    assert.equal(results["llm models"][0], "FAIL");
    assert.match(results["llm models"][1], /is not reachable/);
    assert.deepEqual(results["llm text model"], ["FAIL", "not checked: no model list"]);
    assert.equal(results["llm completion"][0], "FAIL");
  },
);

Deno.test("doctor: variables that do not parse FAIL by name, the rest is not checked", async () => {
  const run = await runTask("doctor", {
    CORE_PORT: "eighty",
    LLM_BASE_URL: "not a url",
    CORE_API_TOKEN: "short secret",
  });
  assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
  const results = Object.fromEntries(verdicts(run.stdout).map(([n, v, d]) => [n, [v, d]]));
  assert.deepEqual(Object.keys(results), CHECKS);
  assert.equal(results["core config"][0], "FAIL");
  assert.match(results["core config"][1], /CORE_PORT="eighty"/);
  assert.match(results["core config"][1], /CORE_API_TOKEN=<hidden>/);
  assert.equal(results["worker config"][0], "FAIL");
  assert.match(results["worker config"][1], /LLM_BASE_URL="not a url"/);
  for (const name of CHECKS.slice(2)) {
    assert.deepEqual(results[name], ["FAIL", "not checked: the worker's variables do not parse"]);
  }
  assert.ok(!run.stdout.includes("short secret"));
});
