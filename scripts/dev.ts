/**
 * `deno task dev`: the whole system on this machine. Redis (the one at REDIS_URL, or a private
 * redis-server with its data under ./data/redis), then the core and the worker through
 * scripts/serve.sh (the same flags as `deno task core` / `deno task worker`), their log lines on
 * one stream, a banner once everything answers. SIGINT or SIGTERM stops what it started in
 * reverse order (the worker first, so it hands its jobs back while Redis and the core are up); a
 * second one kills what is left.
 *
 * scripts/serve.sh runs it with the data directory (absolute) as its argument, and with
 * DATABASE_PATH and IMAGE_STORAGE_PATH already made absolute.
 */
import { join } from "node:path";
import {
  ConfigError,
  CORE_ENV_VARS,
  loadCoreConfig,
  loadWorkerConfig,
  readEnv,
  WORKER_ENV_VARS,
} from "../shared/config.ts";
import { llmAnswers } from "./dev/banner.ts";
import { type Child, spawnChild } from "./dev/child.ts";
import { type DevOutput, devOutput, logFormat } from "./dev/output.ts";
import { redisAnswers, redisTarget, RedisUnavailable, startPrivateRedis } from "./dev/redis.ts";

const SERVE_SH = decodeURIComponent(new URL("./serve.sh", import.meta.url).pathname);

/** How long each may take to stop after SIGTERM before it is killed (the worker drains jobs). */
const STOP_GRACE_MS: Record<string, number> = { worker: 30_000, core: 10_000, redis: 10_000 };

/** Signals closer together than this count as one (see main). */
const ECHO_MS = 1000;

/** Children in start order; stopped in reverse. */
const started: Child[] = [];
let stopping: Promise<void> | undefined;

async function stopAll(out: DevOutput): Promise<void> {
  for (const child of [...started].reverse()) {
    if (child.exited()) continue;
    out.log.info(`stopping ${child.name}`, { pid: child.pid });
    child.signal("SIGTERM");
    const timer = setTimeout(() => {
      out.log.warn(`${child.name} did not stop in time: killing it`, { pid: child.pid });
      child.signal("SIGKILL");
    }, STOP_GRACE_MS[child.name] ?? 10_000);
    await child.status;
    clearTimeout(timer);
  }
}

function killAll(): void {
  for (const child of started) child.signal("SIGKILL");
}

/** Stop everything and leave with `code`; a second call (a second Ctrl-C) kills instead. */
async function shutdown(out: DevOutput, code: number): Promise<never> {
  if (stopping) {
    out.log.warn("stopping now: killing what is left");
    killAll();
  } else {
    stopping = stopAll(out);
  }
  await stopping;
  await Promise.all(started.map((c) => c.status));
  out.log.info("stopped");
  Deno.exit(code);
}

/** Stop everything after a failure at start, unless a signal is already stopping it. */
async function fail(
  out: DevOutput,
  message: string,
  fields?: Record<string, unknown>,
): Promise<void> {
  if (stopping) return;
  out.log.error(message, fields);
  await shutdown(out, 1);
}

/** Poll `url` until it answers 2xx; false when `child` exits first or time runs out. */
async function waitHealthy(url: string, child: Child, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!child.exited() && Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.ok) return true;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** A service of the stack through serve.sh, its exit outside a shutdown ending the run. */
function startService(
  out: DevOutput,
  service: "core" | "worker",
  env: Record<string, string>,
): Child {
  const child = spawnChild(service, "sh", {
    args: [SERVE_SH, service],
    env,
    onLine: (line) => out.childLine(service, line),
  });
  started.push(child);
  watchExit(out, child);
  return child;
}

function watchExit(out: DevOutput, child: Child): void {
  child.status.then((s) => {
    if (stopping) return;
    out.log.error(`${child.name} exited: stopping everything`, { code: s.code, signal: s.signal });
    void shutdown(out, 1);
  });
}

async function main(): Promise<void> {
  const dataDir = Deno.args[0];
  let out = devOutput("json");
  let core, worker;
  try {
    out = devOutput(logFormat(Deno.env.get("LOG_FORMAT"), Deno.stdout.isTerminal()));
    if (!dataDir) {
      throw new Error("usage: deno task dev (scripts/serve.sh dev passes the data dir)");
    }
    core = loadCoreConfig(readEnv(CORE_ENV_VARS));
    worker = loadWorkerConfig(readEnv(WORKER_ENV_VARS));
  } catch (err) {
    out.log.error(err instanceof ConfigError ? err.message : String((err as Error).message));
    Deno.exit(2);
  }
  // One Ctrl-C arrives twice: the terminal signals the foreground group (deno task and this
  // process) and deno task passes it on. A repeat within a second is that echo, not a second
  // Ctrl-C asking to force.
  let lastSignal = 0;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      const now = Date.now();
      if (now - lastSignal < ECHO_MS) return;
      lastSignal = now;
      void shutdown(out, 0);
    });
  }

  // Redis.
  const target = redisTarget(core.REDIS_URL);
  let redisDir: string | null = null;
  if (!(await redisAnswers(target))) {
    redisDir = join(dataDir, "redis");
    try {
      const redis = await startPrivateRedis(target, {
        dir: redisDir,
        onLine: (line) => out.childLine("redis", line),
        onSpawn: (child) => started.push(child),
      });
      watchExit(out, redis);
    } catch (err) {
      if (!(err instanceof RedisUnavailable)) throw err;
      return await fail(out, err.message);
    }
  }

  if (stopping) return;
  // The core, then the worker once the core answers (it reports the core unreachable otherwise).
  const coreHost = core.CORE_HOST === "0.0.0.0" ? "127.0.0.1" : core.CORE_HOST;
  const api = `http://${coreHost.includes(":") ? `[${coreHost}]` : coreHost}:${core.CORE_PORT}`;
  const coreChild = startService(out, "core", {});
  if (!(await waitHealthy(`${api}/health`, coreChild, 60_000))) {
    return await fail(out, "the core did not answer /health", { url: `${api}/health` });
  }
  if (stopping) return;
  // The worker calls the core this dev run started, unless told otherwise.
  const coreApiUrl = Deno.env.get("CORE_API_URL") || api;
  const workerChild = startService(out, "worker", { CORE_API_URL: coreApiUrl });
  const metricsPort = worker.WORKER_METRICS_PORT;
  const workerBase = metricsPort === 0 ? null : `http://127.0.0.1:${metricsPort}`;
  if (workerBase && !(await waitHealthy(`${workerBase}/health`, workerChild, 60_000))) {
    return await fail(out, "the worker did not answer /health", { url: `${workerBase}/health` });
  }

  if (stopping) return;
  out.banner({
    api,
    workerMetrics: workerBase && `${workerBase}/metrics`,
    database: core.DATABASE_PATH,
    images: core.IMAGE_STORAGE_PATH,
    redisDir,
    redisUrl: core.REDIS_URL,
    llm: worker.LLM_BASE_URL,
    llmAnswers: await llmAnswers(worker.LLM_BASE_URL),
  });
}

if (import.meta.main) await main();
