/** A real core app for tests: SQLite (in memory or a file), real Redis, a temp image dir. */
import type { DatabaseSync } from "node:sqlite";
import type { Hono } from "hono";
import type { Redis } from "ioredis";
import { createApp } from "../../core/app.ts";
import type { Clock, CoreDeps } from "../../core/deps.ts";
import { openDatabase } from "../../core/db/open.ts";
import { openSearch } from "../../core/store/search_pool.ts";
import { loadCoreConfig } from "../../shared/config.ts";
import { type Logger, silentLogger } from "../../shared/log.ts";
import { closeRedis, createRedis } from "../../shared/redis.ts";
import { sharedRedisUrl, testRedis } from "./redis_server.ts";

/** What {@linkcode makeCore} gives a test. */
export interface TestCore extends AsyncDisposable {
  /** The app; call `app.request()`. */
  app: Hono;
  /** Its dependencies (db, redis publisher, config, clock). */
  deps: CoreDeps;
  /** The database. */
  db: DatabaseSync;
  /** A separate Redis client for the test's own reads (same database number). */
  redis: Redis;
  /** Redis URL including the database number. */
  redisUrl: string;
  /** Temp directory standing in for IMAGE_STORAGE_PATH. */
  imageDir: string;
  /** Close everything and remove temp files (also what `await using` calls). */
  close(): Promise<void>;
}

/** Options for {@linkcode makeCore}. */
export interface MakeCoreOptions {
  /** Redis URL for the app's publisher (e.g. an unreachable one); the test's own by default. */
  redisUrl?: string;
  /** Clock; real time by default. */
  clock?: Clock;
  /** Database path; `:memory:` by default. */
  databasePath?: string;
  /**
   * Extra config variables. SEARCH_WORKERS is 0 unless given here: a pool only serves a file
   * database, and most tests need no threads of their own.
   */
  env?: Record<string, string>;
  /** The app's logger (silent by default). */
  log?: Logger;
  /** The search workers' module (a faulty one, to test the pool); the core's by default. */
  searchWorkerUrl?: URL;
}

/** Build a core app on real parts. */
export async function makeCore(options: MakeCoreOptions = {}): Promise<TestCore> {
  const r = await testRedis();
  const imageDir = await Deno.makeTempDir({ prefix: "memori_images_" });
  const config = loadCoreConfig({
    DATABASE_PATH: options.databasePath ?? ":memory:",
    IMAGE_STORAGE_PATH: imageDir,
    REDIS_URL: options.redisUrl ?? r.url,
    SEARCH_WORKERS: "0",
    ...options.env,
  });
  const db = openDatabase(config.DATABASE_PATH);
  const publisher = createRedis(config.REDIS_URL);
  const log = options.log ?? silentLogger;
  const searching = openSearch(db, config, log, { workerUrl: options.searchWorkerUrl });
  const deps: CoreDeps = {
    db,
    redis: publisher,
    config,
    clock: options.clock ?? (() => new Date()),
    log,
    search: searching.search,
  };
  const close = async () => {
    await searching.close();
    await closeRedis(publisher);
    await r.close();
    db.close();
    await Deno.remove(imageDir, { recursive: true }).catch(() => {});
  };
  return {
    app: createApp(deps),
    deps,
    db,
    redis: r.client,
    redisUrl: r.url,
    imageDir,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Send JSON to the app and return `{status, body}` (body parsed when JSON). */
export async function call(
  app: Hono,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; body: any }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const res = await app.request(path, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch { /* not JSON */ }
  return { status: res.status, body: parsed };
}

/** Create a user (and default settings); returns its id. */
export async function createUser(app: Hono, id = 12345, name = "Test User"): Promise<number> {
  const res = await call(app, "POST", "/users", { telegram_user_id: id, display_name: name });
  if (res.status !== 200) throw new Error(`POST /users: ${res.status} ${JSON.stringify(res.body)}`);
  return id;
}

/**
 * Turn the ops and resources sanitizers on for the calling test module (they are opt-in since
 * Deno 2.8), after starting the run's Redis so that the server, which outlives every test, is not
 * counted as a leak of the first test to use it. Await it at the module's top level, before the
 * module's tests.
 */
export async function sanitizeTests(): Promise<void> {
  await sharedRedisUrl();
  Deno.test.sanitizer({ ops: true, resources: true });
}

/**
 * Deno.test with the sanitizers off, for a test that cannot own everything it starts (each use
 * says why).
 */
export function itest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn });
}
