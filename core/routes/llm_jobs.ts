/**
 * /llm_jobs: create (commit, then publish to the job type's stream), read, list, and the
 * worker's status updates. completed and failed are terminal, so a job re-run after a crash is
 * applied once.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { z } from "zod";
import { defineRoute } from "../http/route.ts";
import { ACTOR_HEADER, fail, IDEMPOTENCY_KEY, invalid, list, ok } from "../openapi.ts";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { writeAudit } from "../store/audit.ts";
import { actorOf, claimedActor } from "../http/actor.ts";
import { groupCommit } from "../db/group_commit.ts";
import { ApiError, notFound, validationError, type ValidationIssue } from "../http/errors.ts";
import { pathId } from "../http/validate.ts";
import { findIdempotent, idempotencyKey, rememberIdempotent } from "../store/idempotency.ts";
import {
  getJob,
  insertJob,
  jobJson,
  type JobRow,
  listJobs,
  TERMINAL_STATUSES,
} from "../store/job_repo.ts";
import { publishJob } from "../jobs/job_publisher.ts";
import { retryFailedJobs, retryJob } from "../jobs/job_requeue.ts";
import type { JobType } from "../../shared/enums.ts";
import { parsePayload } from "../../shared/job_types.ts";
import { WORKER_ACTOR } from "../../shared/actors.ts";
import {
  llmJobCreate,
  llmJobListQuery,
  llmJobRetryFailed,
  llmJobUpdate,
} from "../../shared/schemas.ts";
import { newRowId } from "../store/row_id.ts";

const WHAT = "LLM job";

async function validatePayload(
  jobType: JobType,
  payload: Record<string, unknown>,
  imageDir: string,
): Promise<Record<string, unknown>> {
  const parsed = await parsePayload(jobType, payload, { imageDir });
  if (parsed.success) return parsed.data;
  const issues: ValidationIssue[] = parsed.shapeError
    ? validationError("payload", parsed.shapeError).detail as ValidationIssue[]
    : parsed.issues.map((i) => ({
      loc: ["payload", ...i.path.map(String)],
      msg: i.message,
      type: "value_error",
    }));
  throw new ApiError(422, issues.map((i) => ({ ...i, loc: ["body", ...i.loc] })));
}

/** Router for /llm_jobs. */
export function llmJobsRouter(deps: CoreDeps): Hono {
  const { db, clock, config } = deps;
  const app = new Hono();

  defineRoute(app, {
    method: "POST",
    path: "/",
    tag: "llm_jobs",
    summary: "Create an LLM job (committed, then published to its stream)",
    description: "The payload is checked per job type: image_tag {memory_id, image_path}, " +
      "intent_classify {message (or query), memory_id?, original_timestamp?, " +
      "followup_context?}, followup {message, context?}, task_match {memory_id, " +
      "memory_content}, email_extract {subject, body}.",
    body: llmJobCreate,
    headers: [IDEMPOTENCY_KEY, ACTOR_HEADER],
    responses: { 201: ok("Job", "created"), 422: invalid },
  }, async (c, input) => {
    const body = await input.body();
    const payload = await validatePayload(body.job_type, body.payload, config.IMAGE_STORAGE_PATH);
    const key = await idempotencyKey(c);
    const now = nowIso(clock);
    const userId = body.user_id ?? null;
    // One commit for the jobs of a turn; the job is published only after it.
    const { row, replay } = await groupCommit(db, () => {
      const existing = findIdempotent(db, key, "llm_job");
      if (existing !== null) {
        const prior = getJob(db, existing);
        if (prior) return { row: prior, replay: true };
      }
      const inserted = insertJob(db, {
        id: newRowId(),
        job_type: body.job_type,
        payload,
        user_id: userId,
        at: now,
      });
      writeAudit(db, {
        entity_type: "llm_job",
        entity_id: inserted.id,
        action: "created",
        actor: actorOf(c, userId),
        detail: { job_type: body.job_type },
        at: now,
      });
      rememberIdempotent(db, key, { type: "llm_job", id: inserted.id, at: now });
      return { row: inserted, replay: false };
    });
    // Only after the commit: a worker must never receive a job id the database does not have.
    // A repeat of an idempotent request was published (or left to the republisher) the first time.
    if (!replay) await publishJob(deps, row, { recordInBackground: true });
    return c.json(jobJson(row), 201);
  });

  defineRoute(app, {
    method: "GET",
    path: "/",
    tag: "llm_jobs",
    summary: "List LLM jobs",
    query: llmJobListQuery,
    responses: { 200: list("Job"), 422: invalid },
  }, (c, input) => {
    const q = input.query();
    return c.json(listJobs(db, q).map(jobJson));
  });

  defineRoute(app, {
    method: "GET",
    path: "/:id",
    tag: "llm_jobs",
    summary: "An LLM job",
    responses: { 200: ok("Job"), 404: fail("LLM job not found") },
  }, (c) => {
    const id = pathId(c, "id", WHAT);
    const row = getJob(db, id);
    if (!row) throw notFound(WHAT);
    return c.json(jobJson(row));
  });

  defineRoute(app, {
    method: "PATCH",
    path: "/:id",
    tag: "llm_jobs",
    summary: "Update a job's status, result or error (the worker does this)",
    body: llmJobUpdate,
    headers: [ACTOR_HEADER],
    responses: {
      200: ok("Job"),
      404: fail("LLM job not found"),
      409: fail("the job is already completed or failed"),
      422: invalid,
    },
  }, async (c, input) => {
    const id = pathId(c, "id", WHAT);
    const body = await input.body();
    const now = nowIso(clock);
    // In a group commit: under load the worker's updates share commits with the new jobs.
    const row = await groupCommit(db, () => updateJob(deps, c, { id, body, now }));
    return c.json(jobJson(row));
  });

  // Operator retries (see job_requeue.ts): the one way out of `failed`.
  defineRoute(app, {
    method: "POST",
    path: "/retry-failed",
    tag: "llm_jobs",
    summary: "Retry every failed job (optionally of one type), oldest first",
    body: llmJobRetryFailed,
    bodyOptional: true,
    headers: [ACTOR_HEADER],
    responses: { 200: ok("RetryFailed"), 422: invalid },
  }, async (c, input) => {
    const body = await input.body();
    const rows = await retryFailedJobs(deps, actorOf(c), body);
    return c.json({ requeued: rows.map((r) => r.id), count: rows.length });
  });

  defineRoute(app, {
    method: "POST",
    path: "/:id/retry",
    tag: "llm_jobs",
    summary: "Retry a failed job: back to queued and onto its stream",
    headers: [ACTOR_HEADER],
    responses: {
      200: ok("Job", "the job, queued again"),
      404: fail("LLM job not found"),
      409: fail("the job is not failed"),
    },
  }, async (c) => {
    const id = pathId(c, "id", WHAT);
    return c.json(jobJson(await retryJob(deps, id, actorOf(c))));
  });

  return app;
}

/**
 * Apply a worker's update with its audit entry (terminal jobs are 409). A part of a group commit,
 * which keeps it all or nothing (core/db/group_commit.ts).
 */
function updateJob(
  deps: CoreDeps,
  c: Context,
  change: { id: string; body: z.output<typeof llmJobUpdate>; now: string },
): JobRow {
  const { db } = deps;
  const { id, body, now } = change;
  const before = getJob(db, id);
  if (!before) throw notFound(WHAT);
  if (TERMINAL_STATUSES.includes(before.status)) {
    throw new ApiError(409, `${WHAT} is already ${before.status}`);
  }
  const sets: string[] = [];
  const args: (string | null)[] = [];
  if (body.status !== undefined) {
    sets.push("status = ?");
    args.push(body.status);
  }
  if (body.result !== undefined) {
    sets.push("result = ?");
    args.push(body.result === null ? null : JSON.stringify(body.result));
  }
  if (body.error_message !== undefined) {
    sets.push("error_message = ?");
    args.push(body.error_message);
  }
  if (sets.length === 0) return before;
  db.prepare(`UPDATE llm_jobs SET ${sets.join(", ")}, updated_at = ? WHERE id = ?`)
    .run(...args, now, id);
  const detail: Record<string, unknown> = {
    from: before.status,
    to: body.status ?? before.status,
  };
  if (body.error_message) detail.error_message = body.error_message;
  writeAudit(db, {
    entity_type: "llm_job",
    entity_id: id,
    action: "updated",
    // The worker is the one client that reports job progress (first-version contract).
    actor: claimedActor(c) ?? WORKER_ACTOR,
    detail,
    at: now,
  });
  return getJob(db, id)!;
}
