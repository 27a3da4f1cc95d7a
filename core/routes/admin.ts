/**
 * /admin: what the job queue is doing, and the dead-letter stream (messages the worker gave up
 * on), so an operator can see and fix stuck work without opening SQLite or redis-cli. The admin
 * page (admin_web.ts) calls the same functions.
 */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { ACTOR_HEADER, deleted, fail, invalid, list, ok } from "../openapi.ts";
import type { Context } from "hono";
import type { CoreDeps } from "../deps.ts";
import { actorOf } from "../http/actor.ts";
import { deleteDeadLetter, listDeadLetters, replayDeadLetter } from "../jobs/dead_letters.ts";
import { ApiError } from "../http/errors.ts";
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

  defineRoute(app, {
    method: "GET",
    path: "/queue-stats",
    tag: "admin",
    summary: "Jobs by status and type, job stream lengths, pending entries per consumer",
    responses: { 200: ok("QueueStats") },
  }, async (c) => {
    return c.json(await queueStats(deps, { timeoutMs: REDIS_TIMEOUT_MS }));
  });

  defineRoute(app, {
    method: "GET",
    path: "/dead-letters",
    tag: "admin",
    summary: "Messages the worker gave up on, newest first (page on with before=<last id>)",
    query: deadLetterListQuery,
    responses: { 200: list("DeadLetter"), 422: invalid, 503: fail("Redis is unavailable") },
  }, async (c, input) => {
    const q = input.query();
    return c.json(await listDeadLetters(deps, q));
  });

  defineRoute(app, {
    method: "POST",
    path: "/dead-letters/:entry_id/replay",
    tag: "admin",
    summary: "Re-queue the failed job a dead-letter entry names, then delete the entry",
    headers: [ACTOR_HEADER],
    responses: {
      200: ok("Job", "the job, queued again"),
      404: fail("no such dead-letter entry"),
      409: fail("the entry names no job the core has, or the job is not failed"),
      503: fail("Redis is unavailable"),
    },
  }, async (c) => {
    const row = await replayDeadLetter(deps, pathEntryId(c), actorOf(c));
    return c.json(jobJson(row));
  });

  defineRoute(app, {
    method: "DELETE",
    path: "/dead-letters/:entry_id",
    tag: "admin",
    summary: "Delete a dead-letter entry (e.g. a malformed message)",
    // It records who deleted the entry, so it reads X-Actor (and answers 422 to a forged one).
    headers: [ACTOR_HEADER],
    responses: {
      204: deleted,
      404: fail("no such dead-letter entry"),
      503: fail("Redis is unavailable"),
    },
  }, async (c) => {
    await deleteDeadLetter(deps, pathEntryId(c), actorOf(c));
    return c.body(null, 204);
  });

  return app;
}
