/**
 * What this machine serves with nothing of ours in the way: the HTTP figures are read against a
 * bare `Deno.serve` (bench/reference_server.ts) measured in the same run, with the same wrk
 * settings, and against the core's GET /health (our accept loop, Hono, the middleware and the
 * access log, with a handler that does nothing). This VM's speed for HTTP has been seen to vary
 * by 2x within a day, so a figure alone says little about a change; its share of the bare server
 * of the same run varies less (bench/RESULTS.md gives both).
 *
 * The store floor (bench/floor_server.ts) is the third yardstick: each endpoint's store work
 * behind a bare `Deno.serve`, measured with the same requests on a copy of the same store. What
 * the floor cannot reach on this machine, no HTTP layer reaches.
 */
import { dirname, join } from "node:path";
import { freePort } from "./stack.ts";
import { type RssFigure, rssOf, runtimeFlags } from "./memory.ts";
import { startReadyProcess } from "./ready_process.ts";
import { REPO_ROOT } from "../tests/helpers/processes.ts";
import { runWrkCase, type WrkCase } from "./wrk.ts";
import {
  caseOptions,
  type CaseSettings,
  floorLabel,
  HEALTH_CASE,
  type HttpCasesOptions,
  REFERENCE_CASE,
  runStoreCases,
} from "./http.ts";

/** A running reference server. */
export interface ReferenceServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** SIGTERM it and wait for the exit. */
  stop(): Promise<void>;
}

/**
 * Start bench/reference_server.ts with the `deno run` flags of the services that shape speed and
 * memory (scripts/serve.sh: code cache, V8 heap), and only the network permission it needs.
 */
export async function startReferenceServer(): Promise<ReferenceServer> {
  const port = freePort();
  const server = await startReadyProcess([
    "run",
    "--no-prompt",
    ...await runtimeFlags(),
    `--allow-net=127.0.0.1:${port}`,
    join(REPO_ROOT, "bench/reference_server.ts"),
    String(port),
  ], { cwd: REPO_ROOT, what: "the reference server" });
  return { url: `http://127.0.0.1:${port}`, stop: () => server.stop() };
}

/** GET /health, the request of both reference figures. */
const HEALTH_LUA = 'request = function() return wrk.format("GET", "/health") end\n';

/**
 * The bare server's figure, then the core's GET /health, each as the endpoints are measured (a
 * warm-up, then `runs` runs). The bare server runs alone: it is stopped before the core is loaded.
 */
export async function runReferenceCases(
  coreUrl: string,
  options: CaseSettings,
): Promise<WrkCase[]> {
  const server = await startReferenceServer();
  let bare: WrkCase;
  try {
    bare = await runWrkCase(
      REFERENCE_CASE,
      server.url,
      HEALTH_LUA,
      caseOptions(REFERENCE_CASE, options),
    );
  } finally {
    await server.stop();
  }
  return [
    bare,
    await runWrkCase(HEALTH_CASE, coreUrl, HEALTH_LUA, caseOptions(HEALTH_CASE, options)),
  ];
}

/** Where the store floor runs: a copy of the seeded store, and the phase's Redis. */
export interface FloorServerOptions {
  /** The copy's path; its directory is the only one the floor may read and write. */
  databasePath: string;
  /** `redis://host:port` of the phase's Redis. */
  redisUrl: string;
}

/**
 * Start bench/floor_server.ts with the services' runtime flags and the permissions the core's
 * store needs: the database's directory, the modules of its search and checkpoint threads, the
 * port and Redis.
 */
export async function startFloorServer(
  options: FloorServerOptions,
): Promise<ReferenceServer & { pid: number }> {
  const port = freePort();
  const dir = dirname(options.databasePath);
  const redis = new URL(options.redisUrl);
  const server = await startReadyProcess([
    "run",
    "--no-prompt",
    ...await runtimeFlags(),
    `--allow-net=127.0.0.1:${port},${redis.hostname}:${redis.port || 6379}`,
    `--allow-read=${dir},${join(REPO_ROOT, "core/store")},${join(REPO_ROOT, "core/db")}`,
    `--allow-write=${dir}`,
    "--ignore-env",
    join(REPO_ROOT, "bench/floor_server.ts"),
    String(port),
    options.databasePath,
    options.redisUrl,
  ], { cwd: REPO_ROOT, what: "the store floor" });
  return { url: `http://127.0.0.1:${port}`, pid: server.pid, stop: () => server.stop() };
}

/**
 * The store floor's figure for each endpoint and for the reads under searches, measured as the
 * core's are and named as they are (the results keep them apart), and its RSS after them: the
 * same requests the core serves before its RSS after the HTTP bench is read, but GET /health. It
 * runs alone, like the bare server: the core is idle meanwhile.
 */
export async function runFloorCases(
  options: FloorServerOptions & HttpCasesOptions,
): Promise<{ cases: WrkCase[]; rssAfter: RssFigure }> {
  const server = await startFloorServer(options);
  try {
    const cases = await runStoreCases(server.url, {
      ...options,
      onRun: (name, r) => options.onRun?.(floorLabel(name), r),
    });
    return { cases, rssAfter: await rssOf(server.pid) };
  } finally {
    await server.stop();
  }
}
