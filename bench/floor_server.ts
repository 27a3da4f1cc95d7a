/**
 * The store floor: the core's own store work for each endpoint the bench measures, behind a bare
 * `Deno.serve`, with none of the HTTP layer (no Hono, middleware, validation, access log,
 * metrics or connection limits). The same database settings (core/db/open.ts), search threads
 * (core/store/search_pool.ts), WAL checkpoint thread, group commit and Redis publish as the core,
 * so a figure the floor cannot reach on a machine is out of reach there for any HTTP layer: only
 * less store work would get there.
 *
 * Started by bench/reference.ts on a copy of the seeded store and the phase's Redis:
 * `deno run <flags> bench/floor_server.ts <port> <database path> <redis url>`. Prints "ready"
 * once it listens.
 */
import type { DatabaseSync } from "node:sqlite";
import { openDatabase } from "../core/db/open.ts";
import { groupCommit } from "../core/db/group_commit.ts";
import { openSearch } from "../core/store/search_pool.ts";
import { startCheckpointer } from "../core/background/checkpointer.ts";
import { insertMemory, loadMemoryJsonText, memoryJson } from "../core/store/memory_repo.ts";
import { insertJob, jobJson } from "../core/store/job_repo.ts";
import { writeAudit } from "../core/store/audit.ts";
import { requireUser } from "../core/store/lookups.ts";
import { publishJob } from "../core/jobs/job_publisher.ts";
import type { CoreDeps } from "../core/deps.ts";
import { loadCoreConfig } from "../shared/config.ts";
import { silentLogger } from "../shared/log.ts";
import { createRedis } from "../shared/redis.ts";
import { userActor } from "../shared/actors.ts";
import type { JobType } from "../shared/enums.ts";
import { newRowId } from "../core/store/row_id.ts";

const HEADERS = { "content-type": "application/json" };

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: HEADERS });
}

/**
 * POST /memories: what the core's route does once the body is valid (no idempotency key),
 * answering the row as written.
 */
async function createMemory(deps: CoreDeps, body: Record<string, unknown>): Promise<Response> {
  const { db } = deps;
  const owner = body.owner_user_id as number;
  const id = newRowId();
  const at = new Date().toISOString();
  const row = await groupCommit(db, () => {
    requireUser(db, owner);
    const inserted = insertMemory(db, {
      id,
      owner_user_id: owner,
      content: body.content as string,
      at,
      source_chat_id: null,
      source_message_id: null,
      media_type: null,
      media_file_id: null,
      status: "confirmed",
      pending_expires_at: null,
    });
    writeAudit(db, {
      entity_type: "memory",
      entity_id: id,
      action: "created",
      actor: userActor(owner),
      detail: { status: "confirmed", media_type: null },
      at,
    });
    return inserted;
  });
  return json(memoryJson(row, []), 201);
}

/** POST /llm_jobs: the row and its audit entry in a group commit, then the publish. */
async function createJob(deps: CoreDeps, body: Record<string, unknown>): Promise<Response> {
  const { db } = deps;
  const at = new Date().toISOString();
  const userId = body.user_id as number;
  const row = await groupCommit(db, () => {
    const inserted = insertJob(db, {
      id: newRowId(),
      job_type: body.job_type as JobType,
      payload: body.payload as Record<string, unknown>,
      user_id: userId,
      at,
    });
    writeAudit(db, {
      entity_type: "llm_job",
      entity_id: inserted.id,
      action: "created",
      actor: userActor(userId),
      detail: { job_type: body.job_type },
      at,
    });
    return inserted;
  });
  await publishJob(deps, row, { recordInBackground: true });
  return json(jobJson(row), 201);
}

function handler(deps: CoreDeps): (req: Request) => Promise<Response> {
  return async (req) => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (req.method === "GET" && path.startsWith("/memories/")) {
      const memory = loadMemoryJsonText(deps.db, path.slice("/memories/".length));
      return memory === null
        ? json({ detail: "Memory not found" }, 404)
        : new Response(memory, { headers: HEADERS });
    }
    if (req.method === "GET" && path === "/search") {
      const owner = Number(url.searchParams.get("owner"));
      // The hits as JSON text, answered as the core answers them (core/routes/search.ts); the
      // search checks the owner.
      const hits = await deps.search({ owner, q: url.searchParams.get("q") ?? "" });
      return hits === null
        ? json({ detail: "User not found" }, 404)
        : new Response(hits, { headers: HEADERS });
    }
    if (req.method === "POST" && path === "/memories") return createMemory(deps, await req.json());
    if (req.method === "POST" && path === "/llm_jobs") return createJob(deps, await req.json());
    return json({ detail: "Not Found" }, 404);
  };
}

function floorDeps(db: DatabaseSync, databasePath: string, redisUrl: string): CoreDeps {
  // The core's defaults, as its config would parse them.
  const config = loadCoreConfig({ DATABASE_PATH: databasePath, REDIS_URL: redisUrl });
  const log = silentLogger;
  const redis = createRedis(redisUrl, { log, name: "memori-floor", autoPipelining: true });
  const search = openSearch(db, config, log).search;
  return { db, redis, config, clock: () => new Date(), log, search };
}

if (import.meta.main) {
  const [port, databasePath, redisUrl] = Deno.args;
  const db = openDatabase(databasePath);
  startCheckpointer({ db, log: silentLogger, databasePath });
  const deps = floorDeps(db, databasePath, redisUrl);
  Deno.serve(
    { hostname: "127.0.0.1", port: Number(port), onListen: () => console.log("ready") },
    handler(deps),
  );
}
