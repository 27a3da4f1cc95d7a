/**
 * /admin: what the job queue is doing, and the dead-letter stream (messages the worker gave up
 * on), so an operator can see and fix stuck work without opening SQLite or redis-cli.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { ApiError } from "../http/errors.ts";
import { parseQuery } from "../http/validate.ts";
import { jobJson } from "../job_repo.ts";
import { publishRequeued, requeueFailedJob } from "../job_requeue.ts";
import { queueStats } from "../queue_stats.ts";
import { redisCall } from "../redis_call.ts";
import { deadLetterListQuery, streamEntryId } from "../../shared/schemas.ts";
import { DEAD_LETTER_STREAM, parseEntry } from "../../shared/streams.ts";

/** Bound on each Redis call of these endpoints, in ms. */
const REDIS_TIMEOUT_MS = 2000;
const bound = { timeoutMs: REDIS_TIMEOUT_MS };

/** A dead-letter entry as answered. */
export interface DeadLetterJson {
  /** Entry id on llm:dead_letter. */
  id: string;
  /** Why the worker gave up. */
  reason: string | null;
  /** Detail of the failure. */
  error: string | null;
  /** The job, when the message named one. */
  job_id: string | null;
  /** Its type, when known. */
  job_type: string | null;
  /** The job stream the message came from. */
  stream: string | null;
  /** Its entry id there. */
  entry_id: string | null;
  /** When it was parked. */
  dead_lettered_at: string | null;
  /** The original message. */
  message: unknown;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** One raw `[id, fields]` entry of the dead-letter stream as answered. */
function deadLetterJson(raw: [string, string[]]): DeadLetterJson {
  const entry = parseEntry(DEAD_LETTER_STREAM, raw);
  const data = entry.data && typeof entry.data === "object"
    ? entry.data as Record<string, unknown>
    : {};
  return {
    id: entry.id,
    reason: stringOrNull(data.reason),
    error: stringOrNull(data.error) ?? entry.error ?? null,
    job_id: stringOrNull(data.job_id),
    job_type: stringOrNull(data.job_type),
    stream: stringOrNull(data.stream),
    entry_id: stringOrNull(data.entry_id),
    dead_lettered_at: stringOrNull(data.dead_lettered_at),
    // An entry someone wrote by hand without `data` shows its raw fields.
    message: entry.data === undefined ? raw[1] : (data.message ?? null),
  };
}

function redisUnavailable(err: unknown): ApiError {
  return new ApiError(503, `Redis is unavailable: ${(err as Error).message}`);
}

/** The entry id path parameter; anything that is not an entry id names no entry. */
function pathEntryId(c: Context): string {
  const id = c.req.param("entry_id") ?? "";
  if (!streamEntryId.safeParse(id).success) throw new ApiError(404, "Dead-letter entry not found");
  return id;
}

/** Router for /admin. */
export function adminRouter(deps: CoreDeps): Hono {
  const { db, redis, clock } = deps;
  const app = new Hono();

  async function readEntry(id: string): Promise<DeadLetterJson> {
    let rows: [string, string[]][];
    try {
      rows = await redisCall(redis, () => redis.xrange(DEAD_LETTER_STREAM, id, id), bound);
    } catch (err) {
      throw redisUnavailable(err);
    }
    if (rows.length === 0) throw new ApiError(404, "Dead-letter entry not found");
    return deadLetterJson(rows[0]);
  }

  async function deleteEntry(id: string): Promise<number> {
    try {
      return await redisCall(redis, () => redis.xdel(DEAD_LETTER_STREAM, id), bound);
    } catch (err) {
      throw redisUnavailable(err);
    }
  }

  app.get("/queue-stats", async (c) => {
    return c.json(await queueStats(deps, { timeoutMs: REDIS_TIMEOUT_MS }));
  });

  app.get("/dead-letters", async (c) => {
    const q = parseQuery(c, deadLetterListQuery);
    // Nothing comes before the first possible id (and Redis refuses "(0-0" as a range end).
    if (q.before !== undefined && /^0+-0+$/.test(q.before)) return c.json([]);
    let rows: [string, string[]][];
    try {
      // Newest first; `(id` excludes the last entry of the previous page.
      rows = await redisCall(
        redis,
        () =>
          redis.xrevrange(
            DEAD_LETTER_STREAM,
            q.before ? `(${q.before}` : "+",
            "-",
            "COUNT",
            q.limit,
          ),
        bound,
      );
    } catch (err) {
      throw redisUnavailable(err);
    }
    return c.json(rows.map(deadLetterJson));
  });

  app.post("/dead-letters/:entry_id/replay", async (c) => {
    const id = pathEntryId(c);
    const entry = await readEntry(id);
    if (entry.job_id === null) {
      throw new ApiError(
        409,
        "Dead-letter entry names no job (a malformed message); there is nothing to replay, " +
          "delete it instead",
      );
    }
    const jobId = entry.job_id.toLowerCase();
    const now = nowIso(clock);
    const row = transaction(db, () => {
      try {
        return requeueFailedJob(db, jobId, {
          actor: actorOf(c),
          at: now,
          reason: "dead_letter_replay",
          detail: { dead_letter_id: id, dead_letter_reason: entry.reason },
        });
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
          throw new ApiError(
            409,
            `Dead-letter entry names job ${entry.job_id}, which the core does not have; ` +
              "delete the entry instead",
          );
        }
        throw err;
      }
    });
    await publishRequeued(deps, [row]);
    // The job is queued in the database, so it runs even if this delete fails; a second
    // replay then answers 409 and the entry can be deleted.
    await deleteEntry(id);
    return c.json(jobJson(row));
  });

  app.delete("/dead-letters/:entry_id", async (c) => {
    const id = pathEntryId(c);
    if (await deleteEntry(id) === 0) throw new ApiError(404, "Dead-letter entry not found");
    return c.body(null, 204);
  });

  return app;
}
