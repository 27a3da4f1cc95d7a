/**
 * Core service entry point: wiring and serving (shared/http_server.ts, with the HTTP_* limits).
 * Everything testable lives in app.ts.
 */
import { dirname } from "node:path";
import { createApp } from "./app.ts";
import type { CoreDeps } from "./deps.ts";
import { openDatabase } from "./db/open.ts";
import { openSearch } from "./store/search_pool.ts";
import { startScheduler } from "./background/scheduler.ts";
import { startRepublisher } from "./background/republisher.ts";
import { startCheckpointer } from "./background/checkpointer.ts";
import { startSearchMerger } from "./background/search_merger.ts";
import { CORE_ENV_VARS, loadCoreConfig, readEnv } from "../shared/config.ts";
import { createLogger } from "../shared/log.ts";
import { createRedis } from "../shared/redis.ts";
import { httpLimits, serveFetch } from "../shared/http_server.ts";
import { plural } from "../shared/plural.ts";

async function main(): Promise<void> {
  let config;
  try {
    config = loadCoreConfig(readEnv(CORE_ENV_VARS));
  } catch (err) {
    console.error((err as Error).message);
    Deno.exit(2);
  }
  const log = createLogger("core", { level: config.LOG_LEVEL });
  let db;
  try {
    if (config.DATABASE_PATH !== ":memory:") {
      await Deno.mkdir(dirname(config.DATABASE_PATH), { recursive: true });
    }
    await Deno.mkdir(config.IMAGE_STORAGE_PATH, { recursive: true });
    db = openDatabase(config.DATABASE_PATH, { log });
  } catch (err) {
    log.error("cannot open the database or the image directory", {
      database_path: config.DATABASE_PATH,
      image_storage_path: config.IMAGE_STORAGE_PATH,
      error: (err as Error).message,
    });
    Deno.exit(1);
  }
  const redis = createRedis(config.REDIS_URL, {
    log,
    name: "memori-core",
    autoPipelining: true,
  });
  const searching = openSearch(db, config, log);
  const deps: CoreDeps = {
    db,
    redis,
    config,
    clock: () => new Date(),
    log,
    search: searching.search,
  };
  const app = createApp(deps);

  const scheduler = startScheduler(deps, { intervalMs: config.SCHEDULER_INTERVAL_SECONDS * 1000 });
  const republisher = startRepublisher(deps, {
    intervalMs: config.REPUBLISH_INTERVAL_SECONDS * 1000,
  });
  const merger = startSearchMerger({ db, log });
  // A file database only: :memory: has no WAL.
  const checkpointer = config.DATABASE_PATH === ":memory:"
    ? null
    : startCheckpointer({ db, log, databasePath: config.DATABASE_PATH });
  let server;
  try {
    server = await serveFetch(app.fetch, {
      hostname: config.CORE_HOST,
      port: config.CORE_PORT,
      log,
      ...httpLimits(config),
    });
  } catch (err) {
    log.error("cannot listen", { host: config.CORE_HOST, port: config.CORE_PORT, error: err });
    Deno.exit(1);
  }
  log.info("core listening", {
    hostname: config.CORE_HOST,
    port: server.port,
    // Whether the API is open is worth seeing at start; the token itself never is.
    core_api_token: config.CORE_API_TOKEN === undefined ? "unset" : "set",
    search: searching.mode === "pool" ? plural(config.SEARCH_WORKERS, "worker") : "inline",
  });

  let stopping = false;
  const shutdown = async () => {
    // deno task and sh may both pass the signal on; shut down once.
    if (stopping) return;
    stopping = true;
    log.info("core shutting down");
    await Promise.allSettled([
      scheduler.stop(),
      republisher.stop(),
      merger.stop(),
      checkpointer?.stop(),
      server.shutdown(),
    ]);
    // After the server: a search still being answered is let finish first.
    await searching.close();
    redis.disconnect();
    db.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", shutdown);
  Deno.addSignalListener("SIGINT", shutdown);
}

if (import.meta.main) await main();
