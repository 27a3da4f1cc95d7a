/**
 * LLM job rows: reading them as the contract's JSON, inserting, listing and recording publishes;
 * plus the image path check shared by job payloads and the scheduler's file cleanup.
 */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { JobStatus, JobType } from "../../shared/enums.ts";
import { utcOut } from "./time.ts";
import type { jobResponse } from "../../shared/response_schemas.ts";
import type { z } from "zod";
import { limitParam, queryAll, queryOne } from "../db/query.ts";

/** An `llm_jobs` row as stored (payload and result are JSON text). */
export interface JobRow {
  /** UUID. */
  id: string;
  /** Its job type (POST /llm_jobs stores no other; only a hand-edited row could differ). */
  job_type: JobType;
  /** JSON text of the payload. */
  payload: string;
  /** Telegram user the job is for, if any. */
  user_id: number | null;
  /** queued, processing, completed or failed. */
  status: JobStatus;
  /** JSON text of the result, if any. */
  result: string | null;
  /** Why the job failed, if it did. */
  error_message: string | null;
  /** ISO UTC. */
  created_at: string;
  /** ISO UTC. */
  updated_at: string;
  /** Redis entry id of the last publish; NULL until the job reached Redis. */
  stream_message_id: string | null;
  /** When it was last published. */
  published_at: string | null;
}

/** The job as the HTTP contract spells it. */
export type JobJson = z.output<typeof jobResponse>;

/** The statuses after which a job never changes again. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ["completed", "failed"];

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    // A row the first version wrote by hand could hold non-JSON text; show it rather than 500.
    return text;
  }
}

/**
 * A payload or result column as answered: an object, since the core stores only validated
 * payloads and PATCHed result objects. A row the first version wrote by hand could hold other
 * JSON or plain text; it is answered as found (the schema's object is the contract, not a check).
 */
function jsonColumn(text: string | null): JobJson["result"] {
  return parseJson(text) as JobJson["result"];
}

/** A row as the contract's job object (payload and result as objects). */
export function jobJson(row: JobRow): JobJson {
  return {
    id: row.id,
    job_type: row.job_type,
    payload: jsonColumn(row.payload)!,
    user_id: row.user_id,
    status: row.status,
    result: jsonColumn(row.result),
    error_message: row.error_message,
    created_at: utcOut(row.created_at),
    updated_at: utcOut(row.updated_at),
  };
}

/** The row of job `id`, or undefined. */
export function getJob(db: DatabaseSync, id: string): JobRow | undefined {
  return queryOne<JobRow>(db, "SELECT * FROM llm_jobs WHERE id = ?", id) ?? undefined;
}

/** What {@linkcode insertJob} stores. */
export interface NewJob {
  /** UUID of the new job. */
  id: string;
  /** Job type. */
  job_type: JobType;
  /** Validated payload. */
  payload: Record<string, unknown>;
  /** User id or null. */
  user_id: number | null;
  /** Creation time, ISO UTC. */
  at: string;
}

/** Insert a queued, not yet published job; call inside the caller's transaction. */
export function insertJob(db: DatabaseSync, job: NewJob): JobRow {
  db.prepare(
    `INSERT INTO llm_jobs (id, job_type, payload, user_id, status, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'queued', ?, ?)`,
  ).run(job.id, job.job_type, JSON.stringify(job.payload), job.user_id, job.at, job.at);
  // The row as inserted, without reading it back (one query less per POST /llm_jobs).
  return {
    id: job.id,
    job_type: job.job_type,
    payload: JSON.stringify(job.payload),
    user_id: job.user_id,
    status: "queued",
    result: null,
    error_message: null,
    created_at: job.at,
    updated_at: job.at,
    stream_message_id: null,
    published_at: null,
  };
}

/** Filters of {@linkcode listJobs}. */
export interface JobFilter {
  /** Only this status. */
  status?: string;
  /** Only this type. */
  job_type?: string;
  /** Only this user's jobs. */
  user_id?: number;
  /** Page size. */
  limit: number;
  /** Rows to skip. */
  offset: number;
}

/** Jobs matching `filter`, newest first. */
export function listJobs(db: DatabaseSync, filter: JobFilter): JobRow[] {
  const { sql, args } = listJobsQuery(filter);
  return queryAll<JobRow>(db, sql, ...args);
}

/**
 * The query of {@linkcode listJobs}. Each filter has an index ending in `created_at` (migration
 * 017), so a page is read in order rather than sorted from every matching job.
 */
export function listJobsQuery(filter: JobFilter): { sql: string; args: SQLInputValue[] } {
  const where: string[] = [];
  const args: SQLInputValue[] = [];
  if (filter.status !== undefined) {
    where.push("status = ?");
    args.push(filter.status);
  }
  if (filter.job_type !== undefined) {
    where.push("job_type = ?");
    args.push(filter.job_type);
  }
  if (filter.user_id !== undefined) {
    where.push("user_id = ?");
    args.push(filter.user_id);
  }
  const sql = `SELECT * FROM llm_jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY created_at DESC, rowid DESC LIMIT ${limitParam()} OFFSET ?`;
  return { sql, args: [...args, filter.limit, filter.offset] };
}

/** Options for {@linkcode recordPublished}. */
export interface RecordPublishedOptions {
  /** Only record when no publish was recorded yet (the request's own, possibly late, XADD). */
  onlyIfUnpublished?: boolean;
}

/** Remember that job `id` is on its stream as entry `messageId`, published at `at`. */
export function recordPublished(
  db: DatabaseSync,
  publish: { id: string; messageId: string; at: string },
  options: RecordPublishedOptions = {},
): boolean {
  const guard = options.onlyIfUnpublished ? " AND stream_message_id IS NULL" : "";
  const res = db.prepare(
    `UPDATE llm_jobs SET stream_message_id = ?, published_at = ? WHERE id = ?${guard}`,
  ).run(publish.messageId, publish.at, publish.id);
  return Number(res.changes) > 0;
}

/** The `{job_id, job_type, payload, user_id}` message of the streams contract for a row. */
export function jobMessageOf(row: JobRow): Record<string, unknown> {
  return {
    job_id: row.id,
    job_type: row.job_type,
    payload: parseJson(row.payload),
    user_id: row.user_id,
  };
}
