/**
 * /admin: what the job queue is doing, and the dead-letter stream (messages the worker gave up
 * on), so an operator can see and fix stuck work without opening SQLite or redis-cli. The admin
 * page (admin_web.ts) calls the same functions.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { CoreDeps } from "../deps.ts";
import { actorOf } from "../http/actor.ts";
import { deleteDeadLetter, listDeadLetters, replayDeadLetter } from "../jobs/dead_letters.ts";
import { ApiError } from "../http/errors.ts";
import { parseQuery } from "../http/validate.ts";
import { jobJson } from "../store/job_repo.ts";
import { queueStats } from "../jobs/queue_stats.ts";
import { deadLetterListQuery, streamEntryId } from "../../shared/schemas.ts";

/** Bound on each Redis call of these endpoints, in ms. */
const REDIS_TIMEOUT_MS = 2000;

/** The entry id path parameter; anything that is not an entry id names no entry. */
function pathEntryId(c: Context): string {
  const id = c.req.param("entry_id") ?? "";
  if (!streamEntryId.safeParse(id).success) throw new ApiError(404, "Dead-letter entry not found");
  return id;
}

/** Router for /admin. */
export function adminRouter(deps: CoreDeps): Hono {
  const app = new Hono();

  app.get("/queue-stats", async (c) => {
    return c.json(await queueStats(deps, { timeoutMs: REDIS_TIMEOUT_MS }));
  });

  app.get("/dead-letters", async (c) => {
    const q = parseQuery(c, deadLetterListQuery);
    return c.json(await listDeadLetters(deps, q));
  });

  app.post("/dead-letters/:entry_id/replay", async (c) => {
    const row = await replayDeadLetter(deps, pathEntryId(c), actorOf(c));
    return c.json(jobJson(row));
  });

  app.delete("/dead-letters/:entry_id", async (c) => {
    await deleteDeadLetter(deps, pathEntryId(c), actorOf(c));
    return c.body(null, 204);
  });

  return app;
}
