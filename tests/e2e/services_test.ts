/**
 * End to end: `deno task core` and `deno task worker` as real processes, exactly as the images
 * start them (serve.sh computes the permission flags from the environment), against a real
 * redis-server, over real HTTP. The only stand-in is the LLM: the fake OpenAI-compatible server.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Redis } from "ioredis";
import { CORE_ENV_VARS, WORKER_ENV_VARS } from "../../shared/config.ts";
import { ALL_JOB_STREAMS, NOTIFY_STREAM, WORKER_GROUP } from "../../shared/streams.ts";
import { type FakeLlm, imageUrls, jsonReply, startFakeLlm } from "../helpers/fake_llm.ts";
import {
  flagValue,
  httpOk,
  REPO_ROOT,
  type ServiceProcess,
  startService,
} from "../helpers/processes.ts";
import { freePort, type RedisServer, startRedisServer } from "../helpers/redis_server.ts";
import { tempDir } from "../helpers/fixtures.ts";

// No shared Redis here: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

const TEXT_MODEL = "fake-text";
const VISION_MODEL = "fake-vision";
/** A 1x1 PNG. */
const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** A running stack: redis-server, the core, and optionally the fake LLM and the worker. */
interface Stack {
  /** Temp root; the core is given `db/` and `images/` under it and nothing else. */
  tmp: string;
  dbPath: string;
  imageDir: string;
  redisServer: RedisServer;
  /** The test's own Redis connection. */
  redis: Redis;
  core: ServiceProcess;
  coreUrl: string;
  fake?: FakeLlm;
  worker?: ServiceProcess;
  /** The worker's /metrics and /health port. */
  workerMetricsPort?: number;
  /** CORE_API_TOKEN, when the core was started with one ({@linkcode api} sends it). */
  token?: string;
}

/** Stacks not yet closed, so a failed setup is still torn down. */
const stacks = new Set<Stack>();

async function startCoreStack(extraEnv: Record<string, string> = {}): Promise<Stack> {
  const tmp = await Deno.makeTempDir({ prefix: "memori_e2e_" });
  const dbPath = join(tmp, "db", "life_organiser.db");
  const imageDir = join(tmp, "images");
  const redisServer = await startRedisServer();
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  const port = freePort();
  // Only the variables a container gets from .env (and the compose file).
  const core = startService("core", {
    CORE_HOST: "127.0.0.1",
    CORE_PORT: String(port),
    DATABASE_PATH: dbPath,
    IMAGE_STORAGE_PATH: imageDir,
    REDIS_URL: redisServer.url,
    LOG_LEVEL: "debug",
    ...extraEnv,
  });
  const coreUrl = `http://127.0.0.1:${port}`;
  const stack: Stack = {
    tmp,
    dbPath,
    imageDir,
    redisServer,
    redis,
    core,
    coreUrl,
    token: extraEnv.CORE_API_TOKEN,
  };
  stacks.add(stack);
  try {
    await core.waitFor("GET /health", () => httpOk(`${coreUrl}/health`), 30_000);
  } catch (err) {
    await closeStack(stack);
    throw err;
  }
  return stack;
}

async function addWorker(
  stack: Stack,
  fake: FakeLlm,
  extraEnv: Record<string, string> = {},
): Promise<ServiceProcess> {
  // A free port rather than the default 9100, which something on the machine may hold.
  const metricsPort = freePort();
  const worker = startService("worker", {
    LLM_BASE_URL: fake.url,
    LLM_TEXT_MODEL: TEXT_MODEL,
    LLM_VISION_MODEL: VISION_MODEL,
    LLM_API_KEY: "e2e-key",
    LLM_RETRY_BASE_MS: "50",
    LLM_RETRY_MAX_MS: "200",
    REDIS_URL: stack.redisServer.url,
    CORE_API_URL: stack.coreUrl,
    IMAGE_STORAGE_PATH: stack.imageDir,
    LOG_LEVEL: "debug",
    WORKER_METRICS_PORT: String(metricsPort),
    ...extraEnv,
  });
  stack.fake = fake;
  stack.worker = worker;
  stack.workerMetricsPort = metricsPort;
  // Ready once its consumer group exists on every job stream (created at the stream's start, so
  // jobs published earlier are read too).
  await worker.waitFor("the worker's consumer group", async () => {
    for (const stream of ALL_JOB_STREAMS) {
      const groups = await stack.redis.xinfo("GROUPS", stream) as unknown[][];
      if (!groups.some((g) => g.includes(WORKER_GROUP))) return false;
    }
    return true;
  }, 30_000);
  return worker;
}

/** Stop everything a stack started; returns the exit status of each service. */
async function closeStack(stack: Stack): Promise<Record<string, Deno.CommandStatus>> {
  stacks.delete(stack);
  const statuses: Record<string, Deno.CommandStatus> = {};
  if (stack.worker) statuses.worker = await stack.worker.stop();
  statuses.core = await stack.core.stop();
  await stack.fake?.close();
  stack.redis.disconnect();
  await stack.redisServer.stop();
  await Deno.remove(stack.tmp, { recursive: true }).catch(() => {});
  return statuses;
}

/** Run `fn` on a fresh stack and always tear it down. */
async function withStack(
  fn: (stack: Stack) => Promise<void>,
  coreEnv: Record<string, string> = {},
): Promise<void> {
  const stack = await startCoreStack(coreEnv);
  try {
    await fn(stack);
  } catch (err) {
    // The services' own logs are the first thing to read when an e2e test fails.
    const logs = [`--- core output ---\n${stack.core.output()}`];
    if (stack.worker) logs.push(`--- worker output ---\n${stack.worker.output()}`);
    (err as Error).message += `\n${logs.join("\n")}`;
    throw err;
  } finally {
    if (stacks.has(stack)) await closeStack(stack);
  }
}

// deno-lint-ignore no-explicit-any
async function api(stack: Stack, method: string, path: string, body?: unknown): Promise<any> {
  const headers: Record<string, string> = {};
  if (stack.token) headers.authorization = `Bearer ${stack.token}`;
  const init: RequestInit = { method, headers };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  const res = await fetch(`${stack.coreUrl}${path}`, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch { /* not JSON */ }
  return { status: res.status, body: parsed };
}

// deno-lint-ignore no-explicit-any
async function streamData(redis: Redis, stream: string): Promise<any[]> {
  const rows = await redis.xrange(stream, "-", "+");
  return rows.map(([, fields]) => JSON.parse(fields[fields.indexOf("data") + 1]));
}

/** Wait until `notify:telegram` holds `count` notifications of `type`; returns them. */
// deno-lint-ignore no-explicit-any
async function notificationsOf(stack: Stack, type: string, count: number): Promise<any[]> {
  // deno-lint-ignore no-explicit-any
  let found: any[] = [];
  await stack.worker!.waitFor(`${count} ${type} notifications`, async () => {
    found = (await streamData(stack.redis, NOTIFY_STREAM)).filter((n) => n.message_type === type);
    return found.length >= count;
  }, 30_000);
  return found;
}

/** Wait until the job leaves queued/processing; returns it. */
// deno-lint-ignore no-explicit-any
async function finishedJob(stack: Stack, id: string): Promise<any> {
  // deno-lint-ignore no-explicit-any
  let job: any;
  await stack.worker!.waitFor(`job ${id} to finish`, async () => {
    job = (await api(stack, "GET", `/llm_jobs/${id}`)).body;
    return job.status === "completed" || job.status === "failed";
  }, 60_000);
  return job;
}

/** The design note's smoke test request. */
const SMOKE_JOB = { job_type: "intent_classify", payload: { query: "test" }, user_id: 12345 };

/**
 * Run `probe` under exactly the flags `args` (a service's `deno run` command line) grants, in
 * place of the service's main module: what Deno itself lets that process do.
 */
async function underServiceFlags(
  args: string[],
  probe: string,
  probeArgs: string[],
): Promise<Record<string, string>> {
  // ["run", ...flags]: the first one was deno, the last one the main module.
  return await runProbe(args.slice(1, -1), probe, probeArgs);
}

/** Run `probe` (module text) with `deno <flags>` and no environment; its stdout as JSON. */
// deno-lint-ignore no-explicit-any
async function runProbe(flags: string[], probe: string, probeArgs: string[]): Promise<any> {
  await using dirTmp = await tempDir("memori_probe_");
  const dir = dirTmp.path;
  const file = join(dir, "probe.ts");
  await Deno.writeTextFile(file, probe);
  const out = await new Deno.Command("deno", {
    args: [...flags, file, ...probeArgs],
    cwd: dir,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `probe failed: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Tries each operation named on the command line and prints `{op: "ok" | error name}`. */
const PROBE = `
const ops = JSON.parse(Deno.args[0]);
const out = {};
for (const [name, op, arg] of ops) {
  try {
    if (op === "env") {
      out[name] = Deno.env.get(arg) === undefined ? "hidden" : "visible";
      continue;
    }
    if (op === "write") Deno.writeTextFileSync(arg, "x");
    else if (op === "read") Deno.readFileSync(arg);
    else if (op === "readdir") [...Deno.readDirSync(arg)];
    else if (op === "run") new Deno.Command(arg).outputSync();
    else if (op === "connect") (await Deno.connect({ hostname: "127.0.0.1", port: Number(arg) })).close();
    out[name] = "ok";
  } catch (e) {
    // Without --ignore-env an unlisted variable throws instead of reading as unset.
    out[name] = op === "env" && e.name === "NotCapable" ? "hidden" : e.name;
  }
}
console.log(JSON.stringify(out));
`;

Deno.test("deno task core serves /health and publishes the smoke test job to llm:intent", async () => {
  await withStack(async (stack) => {
    const health = await api(stack, "GET", "/health");
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: "ok" });

    const res = await api(stack, "POST", "/llm_jobs", SMOKE_JOB);
    assert.equal(res.status, 201);
    assert.equal(res.body.status, "queued");
    // XRANGE llm:intent - +
    const messages = await streamData(stack.redis, "llm:intent");
    assert.deepEqual(messages, [{
      job_id: res.body.id,
      job_type: "intent_classify",
      payload: { query: "test" },
      user_id: 12345,
    }]);
  });
});

/**
 * The memory settings scripts/serve.sh gives both services, each measured with the bench (the
 * script's comments have the figures). Only their presence is checked here: the values are tuned
 * there, and a test repeating them would be a second home for them.
 */
function assertMemorySettings(args: string[], service: string): void {
  assert.ok(args.includes("--no-code-cache"), `${service} runs without V8's code cache`);
  const v8 = v8Settings(args);
  for (const setting of MEMORY_V8_SETTINGS) {
    assert.ok(v8.includes(setting), `${service} runs with ${setting}`);
  }
}

/** The names of the V8 settings in a `deno run` command's --v8-flags. */
function v8Settings(args: string[]): string[] {
  return flagValue(args, "--v8-flags")?.split(",").map((f) => f.split("=")[0]) ?? [];
}

const MEMORY_V8_SETTINGS = [
  "--max-semi-space-size",
  "--heap-growing-percent",
  "--memory-reducer-delay-ms",
  "--gc-memory-reducer-start-delay-ms",
];

Deno.test("deno task core writes only its data directories and reads only them and its threads' modules", async () => {
  await withStack(async (stack) => {
    const args = await stack.core.denoRunArgs();
    const dbDir = join(stack.tmp, "db");
    assert.match(stack.core.output(), /"search":"1 worker"/, "one search thread by default");
    // And, for its threads (the WAL checkpoint thread; the search workers, SEARCH_WORKERS
    // defaults to 1), the source directories of their modules: Deno checks read access to each
    // module a worker loads.
    const code = `${REPO_ROOT}/core/store,${REPO_ROOT}/core/db`;
    assert.equal(flagValue(args, "--allow-read"), `${dbDir},${stack.imageDir},${code}`);
    assert.equal(flagValue(args, "--allow-write"), `${dbDir},${stack.imageDir}`);
    const port = new URL(stack.coreUrl).port;
    assert.equal(
      flagValue(args, "--allow-net"),
      `127.0.0.1:${port},127.0.0.1:${stack.redisServer.port}`,
    );
    // The same names; their order is not a permission.
    assert.deepEqual(flagValue(args, "--allow-env")?.split(",").sort(), [...CORE_ENV_VARS].sort());
    assert.ok(args.includes("--no-prompt"));
    for (const wide of ["-A", "--allow-all", "--allow-run", "--allow-ffi", "--allow-sys"]) {
      assert.equal(flagValue(args, wide), undefined, `core runs with ${wide}`);
    }
    assert.equal(args.at(-1)?.endsWith("/core/main.ts"), true);
    assertMemorySettings(args, "core");
    // Its hot paths are CPU-bound under load: it keeps V8's compilers (scripts/serve.sh).
    for (const off of ["--max-opt", "--jitless"]) {
      assert.ok(!v8Settings(args).includes(off), `the core runs without ${off}`);
    }

    // It made the database where it was told, and touched nothing else of the temp root.
    assert.ok((await Deno.stat(stack.dbPath)).isFile);
    assert.ok((await Deno.stat(stack.imageDir)).isDirectory);
    const created = [];
    for await (const e of Deno.readDir(stack.tmp)) created.push(e.name);
    assert.deepEqual(created.sort(), ["db", "images"]);

    // What Deno lets a process with exactly these flags do.
    const outside = join(stack.tmp, "outside.txt");
    await Deno.writeTextFile(outside, "not the core's");
    const seen = await underServiceFlags(args, PROBE, [JSON.stringify([
      ["write db dir", "write", join(dbDir, "probe.txt")],
      ["write image dir", "write", join(stack.imageDir, "probe.txt")],
      ["write elsewhere", "write", join(stack.tmp, "probe.txt")],
      ["read elsewhere", "read", outside],
      ["read /etc/passwd", "read", "/etc/passwd"],
      ["read the search modules", "read", join(REPO_ROOT, "core/store/search_query.ts")],
      ["read other source", "read", join(REPO_ROOT, "core/main.ts")],
      ["see HOME", "env", "HOME"],
      ["run a program", "run", "sh"],
      ["reach redis", "connect", String(stack.redisServer.port)],
      ["reach another port", "connect", String(freePort())],
    ])]);
    assert.deepEqual(seen, {
      "write db dir": "ok",
      "write image dir": "ok",
      "write elsewhere": "NotCapable",
      "read elsewhere": "NotCapable",
      "read /etc/passwd": "NotCapable",
      "read the search modules": "ok",
      "read other source": "NotCapable",
      "see HOME": "hidden",
      "run a program": "NotCapable",
      "reach redis": "ok",
      "reach another port": "NotCapable",
    });
  });
});

Deno.test("deno task worker completes the smoke test job and notifies llm_intent_result", async () => {
  await withStack(async (stack) => {
    const user = await api(stack, "POST", "/users", {
      telegram_user_id: 12345,
      display_name: "Smoke Test",
    });
    assert.equal(user.status, 200);
    // Published before any worker runs: the worker's group starts at the stream's beginning.
    const created = await api(stack, "POST", "/llm_jobs", SMOKE_JOB);
    assert.equal(created.status, 201);

    const fake = await startFakeLlm();
    fake.when(
      (r) => r.model === TEXT_MODEL,
      jsonReply({ intent: "general_note", suggested_tags: ["test"] }),
    );
    await addWorker(stack, fake);

    const job = await finishedJob(stack, created.body.id);
    assert.equal(job.status, "completed", job.error_message);
    assert.equal(job.result.intent, "general_note");
    assert.equal(job.result.query, "test");
    assert.deepEqual(job.result.suggested_tags, ["test"]);
    assert.equal(typeof job.result.memory_id, "string");
    const memory = await api(stack, "GET", `/memories/${job.result.memory_id}`);
    assert.equal(memory.status, 200);
    assert.equal(memory.body.content, "test");
    assert.equal(memory.body.owner_user_id, 12345);

    // The result is stored before its notification goes out: wait for the notification.
    const intentNotes = await notificationsOf(stack, "llm_intent_result", 1);
    assert.equal(intentNotes.length, 1);
    assert.equal(intentNotes[0].user_id, 12345);
    assert.equal(fake.requests[0].headers.authorization, "Bearer e2e-key");

    // Both services exit cleanly on SIGTERM (what `docker compose stop` sends).
    const statuses = await closeStack(stack);
    assert.equal(statuses.worker.code, 0, stack.worker!.output());
    assert.equal(statuses.core.code, 0, stack.core.output());
  });
});

Deno.test("an image uploaded through the core is tagged by the worker", async () => {
  await withStack(async (stack) => {
    await api(stack, "POST", "/users", { telegram_user_id: 777, display_name: "Img" });
    const memory = await api(stack, "POST", "/memories", {
      owner_user_id: 777,
      media_type: "image",
      media_file_id: "telegram-file-1",
    });
    assert.equal(memory.status, 201);
    const form = new FormData();
    form.append("file", new Blob([PNG], { type: "image/png" }), "photo.png");
    const upload = await api(stack, "POST", `/memories/${memory.body.id}/image`, form);
    assert.equal(upload.status, 200);
    const localPath: string = upload.body.local_path;

    const fake = await startFakeLlm();
    fake.when(
      (r) => r.model === VISION_MODEL,
      jsonReply({ description: "a single pixel", tags: ["pixel", "tiny", "test"] }),
    );
    await addWorker(stack, fake);
    const created = await api(stack, "POST", "/llm_jobs", {
      job_type: "image_tag",
      payload: { memory_id: memory.body.id, image_path: localPath },
      user_id: 777,
    });
    assert.equal(created.status, 201);

    const job = await finishedJob(stack, created.body.id);
    assert.equal(job.status, "completed", job.error_message);
    assert.deepEqual(job.result.tags, ["pixel", "tiny", "test"]);
    // The image the worker read (through its read-only view) is the one that was uploaded.
    const sent = fake.requests.flatMap((r) => imageUrls(r.body));
    assert.deepEqual(sent, [`data:image/png;base64,${base64(PNG)}`]);
    const tagged = await api(stack, "GET", `/memories/${memory.body.id}`);
    const tags = tagged.body.tags.map((t: { tag: string; status: string }) => [t.tag, t.status]);
    assert.deepEqual(tags.sort(), [["pixel", "suggested"], ["test", "suggested"], [
      "tiny",
      "suggested",
    ]]);
  });
});

Deno.test("the worker never sends the model a file from outside the image directory", async () => {
  await withStack(async (stack) => {
    await api(stack, "POST", "/users", { telegram_user_id: 888, display_name: "Esc" });
    const memory = await api(stack, "POST", "/memories", {
      owner_user_id: 888,
      media_type: "image",
    });
    assert.equal(memory.status, 201);
    // A file that would pass as an image if it were ever read.
    const marker = `SECRET-${crypto.randomUUID()}`;
    const secret = join(stack.tmp, "secret.png");
    await Deno.writeFile(secret, new Uint8Array([...PNG, ...new TextEncoder().encode(marker)]));

    // The core refuses a path outside the directory outright...
    const direct = await api(stack, "POST", "/llm_jobs", {
      job_type: "image_tag",
      payload: { memory_id: memory.body.id, image_path: secret },
      user_id: 888,
    });
    assert.equal(direct.status, 422);
    const climbing = await api(stack, "POST", "/llm_jobs", {
      job_type: "image_tag",
      payload: { memory_id: memory.body.id, image_path: "../secret.png" },
      user_id: 888,
    });
    assert.equal(climbing.status, 422);

    // ...and a symlink inside it that leads out (it checks the real path too)...
    const escape = join(stack.imageDir, "escape.png");
    await Deno.symlink(secret, escape);
    const linked = await api(stack, "POST", "/llm_jobs", {
      job_type: "image_tag",
      payload: { memory_id: memory.body.id, image_path: "escape.png" },
      user_id: 888,
    });
    assert.equal(linked.status, 422);

    // ...but a file swapped for such a link after the core accepted the job passes the core, and
    // Deno's --allow-read follows symlinks: the worker's own real-path check is what stops it.
    await Deno.remove(escape);
    await Deno.writeFile(escape, PNG);
    const created = await api(stack, "POST", "/llm_jobs", {
      job_type: "image_tag",
      payload: { memory_id: memory.body.id, image_path: "escape.png" },
      user_id: 888,
    });
    assert.equal(created.status, 201);
    await Deno.remove(escape);
    await Deno.symlink(secret, escape);
    const fake = await startFakeLlm();
    fake.setDefault(jsonReply({ description: "leaked", tags: ["leaked"] }));
    await addWorker(stack, fake);

    const job = await finishedJob(stack, created.body.id);
    assert.equal(job.status, "failed");
    assert.match(job.error_message, /outside IMAGE_STORAGE_PATH/);
    assert.equal(fake.requests.length, 0, "the model was never called");
    const everything = JSON.stringify(fake.requests);
    assert.ok(!everything.includes(base64(new TextEncoder().encode(marker)).slice(0, 12)));
    const tagged = await api(stack, "GET", `/memories/${memory.body.id}`);
    assert.deepEqual(tagged.body.tags, []);
    const failures = (await streamData(stack.redis, NOTIFY_STREAM))
      .filter((n) => n.message_type === "llm_failure");
    assert.equal(failures.length, 1);
    assert.equal(failures[0].user_id, 888);
  });
});

Deno.test("deno task worker may only read the image directory and writes nothing", async () => {
  await withStack(async (stack) => {
    const fake = await startFakeLlm();
    const worker = await addWorker(stack, fake);
    const args = await worker.denoRunArgs();
    assert.equal(flagValue(args, "--allow-read"), stack.imageDir);
    assert.equal(flagValue(args, "--allow-write"), undefined, "the worker may write");
    const core = new URL(stack.coreUrl);
    const llm = new URL(fake.url);
    assert.deepEqual(
      flagValue(args, "--allow-net")?.split(",").sort(),
      [
        `127.0.0.1:${stack.redisServer.port}`,
        `127.0.0.1:${core.port}`,
        `127.0.0.1:${llm.port}`,
        // Its /metrics and /health listener.
        `0.0.0.0:${stack.workerMetricsPort}`,
      ].sort(),
    );
    assert.deepEqual(
      flagValue(args, "--allow-env")?.split(",").sort(),
      [...WORKER_ENV_VARS].sort(),
    );
    assert.equal(flagValue(args, "--allow-sys"), "hostname");
    assert.ok(args.includes("--no-prompt"));
    for (const wide of ["-A", "--allow-all", "--allow-run", "--allow-ffi"]) {
      assert.equal(flagValue(args, wide), undefined, `worker runs with ${wide}`);
    }
    assert.equal(args.at(-1)?.endsWith("/llm_worker/main.ts"), true);
    assertMemorySettings(args, "worker");
    // It waits on the model: V8's compilers are off, and their code is not paged in.
    assert.ok(v8Settings(args).includes("--jitless"), "the worker runs without V8's compilers");

    const inside = join(stack.imageDir, "inside.png");
    await Deno.writeFile(inside, PNG);
    const outside = join(stack.tmp, "outside.txt");
    await Deno.writeTextFile(outside, "not the worker's");
    const seen = await underServiceFlags(args, PROBE, [JSON.stringify([
      ["read an image", "read", inside],
      ["list the image dir", "readdir", stack.imageDir],
      ["write the image dir", "write", join(stack.imageDir, "probe.txt")],
      ["write elsewhere", "write", join(stack.tmp, "probe.txt")],
      ["read elsewhere", "read", outside],
      ["read the database", "read", stack.dbPath],
      ["see HOME", "env", "HOME"],
      ["run a program", "run", "sh"],
      ["reach the LLM", "connect", llm.port],
      ["reach another port", "connect", String(freePort())],
    ])]);
    assert.deepEqual(seen, {
      "read an image": "ok",
      "list the image dir": "ok",
      "write the image dir": "NotCapable",
      "write elsewhere": "NotCapable",
      "read elsewhere": "NotCapable",
      "read the database": "NotCapable",
      "see HOME": "hidden",
      "run a program": "NotCapable",
      "reach the LLM": "ok",
      "reach another port": "NotCapable",
    });
  });
});

Deno.test(
  "with CORE_API_TOKEN on both services the smoke job completes; both serve /metrics",
  async () => {
    const token = "e2e-core-token-0123456789abcdef";
    await withStack(async (stack) => {
      // Without the token the core refuses everything but /health.
      const open = await fetch(`${stack.coreUrl}/llm_jobs`);
      await open.body?.cancel();
      assert.equal(open.status, 401);
      assert.ok(await httpOk(`${stack.coreUrl}/health`));

      assert.equal(
        (await api(stack, "POST", "/users", { telegram_user_id: 12345, display_name: "Tok" }))
          .status,
        200,
      );
      const fake = await startFakeLlm();
      fake.when((r) => r.model === TEXT_MODEL, jsonReply({ intent: "general_note" }));
      await addWorker(stack, fake, { CORE_API_TOKEN: token });
      const created = await api(stack, "POST", "/llm_jobs", SMOKE_JOB);
      assert.equal(created.status, 201);
      const job = await finishedJob(stack, created.body.id);
      assert.equal(job.status, "completed", job.error_message);

      // The worker's own listener, under its real permissions.
      const workerUrl = `http://127.0.0.1:${stack.workerMetricsPort}`;
      await stack.worker!.waitFor("the worker's /health", () => httpOk(`${workerUrl}/health`));
      const health = await fetch(`${workerUrl}/health`);
      assert.deepEqual(await health.json(), { status: "ok", redis: "ok", core: "ok" });
      const workerMetrics = await (await fetch(`${workerUrl}/metrics`)).text();
      assert.match(
        workerMetrics,
        /^memori_worker_jobs_handled_total\{job_type="intent_classify",outcome="completed"\} 1$/m,
      );
      assert.match(
        workerMetrics,
        /^memori_worker_llm_request_duration_seconds_count\{model="fake-text",outcome="ok"\} 1$/m,
      );

      // The core's, with the token; its request log carries the job id the worker sent.
      const coreMetrics = await fetch(`${stack.coreUrl}/metrics`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(coreMetrics.status, 200);
      assert.match(
        await coreMetrics.text(),
        /^memori_llm_jobs\{job_type="intent_classify",status="completed"\} 1$/m,
      );
      const jobLines = stack.core.output().split("\n").filter((l) =>
        l.includes('"message":"request"') && l.includes(`"request_id":"${job.id}"`)
      );
      assert.ok(jobLines.length >= 3, stack.core.output());
      for (const output of [stack.core.output(), stack.worker!.output()]) {
        assert.ok(!output.includes(token), "the token reached a log");
      }
    }, { CORE_API_TOKEN: token });
  },
);

Deno.test(
  "a model outage longer than the old retry budget: jobs wait, users hear once, all complete after",
  async () => {
    await withStack(async (stack) => {
      await api(stack, "POST", "/users", { telegram_user_id: 777, display_name: "Outage" });
      const fake = await startFakeLlm();
      fake.setDefault(jsonReply({ intent: "general_note" }));
      await fake.stop();
      const post = async (message: string) =>
        (await api(stack, "POST", "/llm_jobs", {
          job_type: "intent_classify",
          payload: { message },
          user_id: 777,
        })).body.id as string;
      const early = [await post("one"), await post("two"), await post("three")];
      // The old policy gave up after LLM_MAX_RETRIES=2 retries of 50-200 ms.
      await addWorker(stack, fake, { LLM_MAX_RETRIES: "2", LLM_PROBE_MAX_SECONDS: "1" });
      const told = await notificationsOf(stack, "llm_failure", 3);
      const late = await post("four");
      await new Promise((r) => setTimeout(r, 3000));
      for (const id of [...early, late]) {
        assert.equal((await api(stack, "GET", `/llm_jobs/${id}`)).body.status, "queued");
      }
      // The worker stopped reading: the job sent during the outage was never delivered.
      const pending = await stack.redis.xpending("llm:intent", WORKER_GROUP) as [number];
      assert.equal(Number(pending[0]), 3);

      await fake.restart();
      for (const id of [...early, late]) {
        const job = await finishedJob(stack, id);
        assert.equal(job.status, "completed", JSON.stringify(job));
      }
      const results = await notificationsOf(stack, "llm_intent_result", 4);
      assert.deepEqual(results.map((n) => n.content.job_id).sort(), [...early, late].sort());
      const failures = (await streamData(stack.redis, NOTIFY_STREAM))
        .filter((n) => n.message_type === "llm_failure");
      assert.deepEqual(failures.map((n) => n.content.job_id).sort(), [...early].sort());
      for (const n of told) assert.match(n.content.message, /retry automatically/);
      const memories = await stack.redis.xlen("llm:dead_letter");
      assert.equal(memories, 0);
    });
  },
);

Deno.test("a model outage past LLM_OUTAGE_MAX_HOURS fails the job and tells the user", async () => {
  await withStack(async (stack) => {
    await api(stack, "POST", "/users", { telegram_user_id: 778, display_name: "Horizon" });
    const fake = await startFakeLlm();
    await fake.stop();
    await addWorker(stack, fake, { LLM_OUTAGE_MAX_HOURS: "0.0003" });
    const id = (await api(stack, "POST", "/llm_jobs", {
      job_type: "followup",
      payload: { message: "still there?" },
      user_id: 778,
    })).body.id;
    const job = await finishedJob(stack, id);
    assert.equal(job.status, "failed");
    assert.match(job.error_message, /unreachable for 1 second/);
    const failures = await notificationsOf(stack, "llm_failure", 2);
    assert.match(failures[0].content.message, /retry automatically/);
    assert.match(failures[1].content.message, /stopped trying/);
    await notificationsOf(stack, "llm_expiry", 1);
  });
});

/**
 * Loads /docs the way a browser with no internet would: the HTML, then every script and
 * stylesheet it references, from a process that may reach the core and nothing else.
 */
const DOCS_PROBE = `
const base = Deno.args[0];
const page = await fetch(new URL("docs", base));
const html = await page.text();
const refs = [...html.matchAll(/<(?:script|link)\\b[^>]*\\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
const assets = [];
for (const ref of refs) {
  const url = new URL(ref, page.url);
  const res = await fetch(url);
  const body = await res.text();
  assets.push({ url: url.href, status: res.status, type: res.headers.get("content-type"), size: body.length, swagger: body.includes("SwaggerUIBundle") });
}
console.log(JSON.stringify({ status: page.status, type: page.headers.get("content-type"), assets }));
`;

Deno.test("GET /docs works offline: Swagger UI's files come from the core", async () => {
  await withStack(async (stack) => {
    const core = new URL(stack.coreUrl);
    const seen = await runProbe(["run", "--no-prompt", `--allow-net=${core.host}`], DOCS_PROBE, [
      `${stack.coreUrl}/`,
    ]);
    assert.equal(seen.status, 200);
    assert.match(seen.type, /^text\/html/);
    // deno-lint-ignore no-explicit-any
    const assets: any[] = seen.assets;
    assert.deepEqual(
      assets.map((a) => new URL(a.url).pathname).sort(),
      ["/docs/swagger-init.js", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"],
    );
    for (const asset of assets) {
      assert.equal(new URL(asset.url).host, core.host, "served by the core");
      assert.equal(asset.status, 200, asset.url);
      assert.match(asset.type, asset.url.endsWith(".css") ? /^text\/css/ : /^text\/javascript/);
      assert.ok(asset.size > 0, asset.url);
    }
    // The bundle defines SwaggerUIBundle and the init script calls it.
    assert.ok(assets.filter((a) => a.swagger).length === 2, JSON.stringify(assets));
  });
});
