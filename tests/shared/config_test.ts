import assert from "node:assert/strict";
import {
  ConfigError,
  CORE_ENV_VARS,
  loadCoreConfig,
  loadWorkerConfig,
  OPTIONAL_ENV_VARS,
  readEnv,
  redisHostPort,
  WORKER_ENV_VARS,
} from "../../shared/config.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("core defaults are a workstation's (the images set the container values)", () => {
  const c = loadCoreConfig({});
  assert.equal(c.CORE_HOST, "127.0.0.1");
  assert.equal(c.CORE_PORT, 8000);
  assert.equal(c.DATABASE_PATH, "./data/db/life_organiser.db");
  assert.equal(c.IMAGE_STORAGE_PATH, "./data/images");
  assert.equal(c.REDIS_URL, "redis://127.0.0.1:6379");
  assert.equal(c.SCHEDULER_INTERVAL_SECONDS, 30);
  // Every setting has a default: an empty environment is a valid configuration. The optional
  // ones (the access token) default to unset, i.e. off.
  for (const name of CORE_ENV_VARS) {
    if (OPTIONAL_ENV_VARS.includes(name)) continue;
    assert.notEqual((c as Record<string, unknown>)[name], undefined, name);
  }
  assert.equal(c.CORE_API_TOKEN, undefined);
});

Deno.test("worker defaults are a workstation's (the images set the container values)", () => {
  const w = loadWorkerConfig({});
  assert.equal(w.LLM_BASE_URL, "http://localhost:8080/v1");
  assert.equal(w.LLM_VISION_MODEL, "llava");
  assert.equal(w.LLM_TEXT_MODEL, "mistral");
  assert.equal(w.LLM_API_KEY, "not-needed");
  assert.equal(w.LLM_MAX_RETRIES, 5);
  assert.equal(w.REDIS_URL, "redis://127.0.0.1:6379");
  assert.equal(w.CORE_API_URL, "http://127.0.0.1:8000");
  assert.equal(w.IMAGE_STORAGE_PATH, "./data/images");
  for (const name of WORKER_ENV_VARS) {
    if (OPTIONAL_ENV_VARS.includes(name)) continue;
    assert.notEqual((w as Record<string, unknown>)[name], undefined, name);
  }
  assert.equal(w.CORE_API_TOKEN, undefined);
  assert.equal(w.WORKER_METRICS_PORT, 9100);
});

Deno.test("values are parsed; an empty variable means unset", () => {
  const c = loadCoreConfig({
    CORE_PORT: "9001",
    REDIS_URL: "redis://127.0.0.1:6380/2",
    DATABASE_PATH: "",
    UNRELATED: "ignored",
  });
  assert.equal(c.CORE_PORT, 9001);
  assert.equal(c.REDIS_URL, "redis://127.0.0.1:6380/2");
  assert.equal(c.DATABASE_PATH, "./data/db/life_organiser.db");
  const w = loadWorkerConfig({ LLM_MAX_RETRIES: "0", WORKER_CONCURRENCY: "8" });
  assert.equal(w.LLM_MAX_RETRIES, 0);
  assert.equal(w.WORKER_CONCURRENCY, 8);
});

Deno.test("a bad value fails with a ConfigError naming each bad variable", () => {
  const cases: [Record<string, string>, string[]][] = [
    [{ CORE_PORT: "abc" }, ["CORE_PORT"]],
    [{ CORE_PORT: "70000" }, ["CORE_PORT"]],
    [{ CORE_PORT: "80.5" }, ["CORE_PORT"]],
    [{ REDIS_URL: "http://redis:6379" }, ["REDIS_URL"]],
    [{ MAX_BODY_BYTES: "-1" }, ["MAX_BODY_BYTES"]],
    [{ LOG_LEVEL: "loud" }, ["LOG_LEVEL"]],
    [{ CORE_PORT: "x", REDIS_URL: "nope", SCHEDULER_INTERVAL_SECONDS: "0" }, [
      "CORE_PORT",
      "REDIS_URL",
      "SCHEDULER_INTERVAL_SECONDS",
    ]],
  ];
  for (const [env, names] of cases) {
    try {
      loadCoreConfig(env);
      assert.fail(`${JSON.stringify(env)} should be refused`);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      for (const name of names) assert.match(e.message, new RegExp(`\\b${name}=`), e.message);
    }
  }
  const workerCases: [Record<string, string>, string][] = [
    [{ LLM_BASE_URL: "not a url" }, "LLM_BASE_URL"],
    [{ LLM_MAX_RETRIES: "-2" }, "LLM_MAX_RETRIES"],
    [{ CORE_API_URL: "//core:8000" }, "CORE_API_URL"],
    [{ WORKER_CONCURRENCY: "0" }, "WORKER_CONCURRENCY"],
    [{ WORKER_METRICS_PORT: "-1" }, "WORKER_METRICS_PORT"],
    [{ WORKER_METRICS_PORT: "65536" }, "WORKER_METRICS_PORT"],
    [{ CORE_API_TOKEN: "short" }, "CORE_API_TOKEN"],
  ];
  for (const [env, name] of workerCases) {
    try {
      loadWorkerConfig(env);
      assert.fail(`${name} should be refused`);
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, new RegExp(`\\b${name}=`));
    }
  }
});

Deno.test("the API key is never echoed for a problem elsewhere", () => {
  try {
    loadWorkerConfig({ LLM_API_KEY: "sk-secret-value", CORE_API_URL: "nope" });
    assert.fail("should throw");
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.ok(!e.message.includes("sk-secret-value"), e.message);
  }
});

Deno.test("readEnv reads only the names asked for; redisHostPort", () => {
  const env = readEnv(["PATH", "MEMORI_SURELY_UNSET_VARIABLE"]);
  assert.deepEqual(Object.keys(env), ["PATH", "MEMORI_SURELY_UNSET_VARIABLE"]);
  assert.equal(env.MEMORI_SURELY_UNSET_VARIABLE, undefined);
  assert.equal(redisHostPort("redis://redis:6379"), "redis:6379");
  assert.equal(redisHostPort("redis://127.0.0.1:6380/3"), "127.0.0.1:6380");
  assert.equal(redisHostPort("redis://cache"), "cache:6379");
  assert.equal(redisHostPort("rediss://user:pw@host:7000"), "host:7000");
});

Deno.test("CORE_API_TOKEN: optional, long enough, bearer token characters, never echoed", () => {
  const token = "tok-0123456789abcdef";
  assert.equal(loadCoreConfig({ CORE_API_TOKEN: token }).CORE_API_TOKEN, token);
  assert.equal(loadWorkerConfig({ CORE_API_TOKEN: token }).CORE_API_TOKEN, token);
  // Empty means unset (a `CORE_API_TOKEN=` line in .env).
  assert.equal(loadCoreConfig({ CORE_API_TOKEN: "" }).CORE_API_TOKEN, undefined);
  const base64ish = "aGVsbG8rd29ybGQ/x~y.z_w==";
  assert.equal(loadCoreConfig({ CORE_API_TOKEN: base64ish }).CORE_API_TOKEN, base64ish);
  // hono/bearer-auth would refuse every request made with a token outside RFC 6750's characters.
  for (const bad of ["too-short-tok", "has a space in it, long enough", "no!such@chars#allowed$"]) {
    for (const load of [loadCoreConfig, loadWorkerConfig]) {
      try {
        load({ CORE_API_TOKEN: bad });
        assert.fail(`${JSON.stringify(bad)} should be refused`);
      } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        assert.match(e.message, /\bCORE_API_TOKEN=<hidden>/);
        assert.ok(!e.message.includes(bad), "a refused token is still a secret");
      }
    }
  }
});

Deno.test("WORKER_METRICS_PORT: 0 turns the listener off, any port else", () => {
  assert.equal(loadWorkerConfig({ WORKER_METRICS_PORT: "0" }).WORKER_METRICS_PORT, 0);
  assert.equal(loadWorkerConfig({ WORKER_METRICS_PORT: "9200" }).WORKER_METRICS_PORT, 9200);
});
