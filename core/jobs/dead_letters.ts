/**
 * The dead-letter stream (messages the worker gave up on): listing, replaying and deleting
 * entries. GET/POST/DELETE /admin/dead-letters and the admin page both call these.
 */
import type { CoreDeps } from "../deps.ts";
import { writeAudit } from "../store/audit.ts";
import { transaction } from "../db/open.ts";
import { ApiError } from "../http/errors.ts";
import type { JobRow } from "../store/job_repo.ts";
import { publishRequeued, requeueFailedJob } from "./job_requeue.ts";
import { redisCall } from "./redis_call.ts";
import { DEAD_LETTER_STREAM, parseEntry } from "../../shared/streams.ts";
import type { z } from "zod";
import type { deadLetterResponse } from "../../shared/response_schemas.ts";

/** Bound on each Redis call here, in ms. */
const REDIS_TIMEOUT_MS = 2000;
const bound = { timeoutMs: REDIS_TIMEOUT_MS };

/** A dead-letter entry as answered. */
export type DeadLetterJson = z.output<typeof deadLetterResponse>;

/** A page of {@linkcode listDeadLetters}. */
export interface DeadLetterPage {
  /** Page size. */
  limit: number;
  /** Only entries older than this entry id. */
  before?: string;
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

async function onRedis<T>(deps: CoreDeps, command: () => Promise<T>): Promise<T> {
  try {
    return await redisCall(deps.redis, command, bound);
  } catch (err) {
    throw redisUnavailable(err);
  }
}

/** Entries newest first; 503 when Redis does not answer. */
export async function listDeadLetters(
  deps: CoreDeps,
  page: DeadLetterPage,
): Promise<DeadLetterJson[]> {
  // Nothing comes before the first possible id (and Redis refuses "(0-0" as a range end).
  if (page.before !== undefined && /^0+-0+$/.test(page.before)) return [];
  // `(id` excludes the last entry of the previous page.
  const end = page.before ? `(${page.before}` : "+";
  const rows = await onRedis(
    deps,
    () => deps.redis.xrevrange(DEAD_LETTER_STREAM, end, "-", "COUNT", page.limit),
  );
  return rows.map(deadLetterJson);
}

async function readDeadLetter(deps: CoreDeps, id: string): Promise<DeadLetterJson> {
  const rows = await onRedis(deps, () => deps.redis.xrange(DEAD_LETTER_STREAM, id, id));
  if (rows.length === 0) throw new ApiError(404, "Dead-letter entry not found");
  return deadLetterJson(rows[0]);
}

/** Delete entry `id` for `actor`, with an audit entry naming its job; 404 when there is none. */
export async function deleteDeadLetter(deps: CoreDeps, id: string, actor: string): Promise<void> {
  const entry = await readDeadLetter(deps, id);
  const n = await onRedis(deps, () => deps.redis.xdel(DEAD_LETTER_STREAM, id));
  if (n === 0) throw new ApiError(404, "Dead-letter entry not found");
  writeAudit(deps.db, {
    entity_type: "dead_letter",
    entity_id: id,
    action: "deleted",
    actor,
    detail: { job_id: entry.job_id, job_type: entry.job_type, reason: entry.reason },
    at: deps.clock().toISOString(),
  });
}

/**
 * Replay entry `id` for `actor`: re-queue the failed job it names, publish it and drop the entry.
 * 404 when there is no entry, 409 when it names no job, or one the core does not have or that
 * is not failed.
 */
export async function replayDeadLetter(
  deps: CoreDeps,
  id: string,
  actor: string,
): Promise<JobRow> {
  const entry = await readDeadLetter(deps, id);
  if (entry.job_id === null) {
    throw new ApiError(
      409,
      "Dead-letter entry names no job (a malformed message); there is nothing to replay, " +
        "delete it instead",
    );
  }
  const jobId = entry.job_id.toLowerCase();
  const at = deps.clock().toISOString();
  const row = transaction(deps.db, () => {
    try {
      return requeueFailedJob(deps.db, jobId, {
        actor,
        at,
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
  await onRedis(deps, () => deps.redis.xdel(DEAD_LETTER_STREAM, id));
  return row;
}
