/**
 * zod schemas of what the core answers: one per kind of JSON body of the HTTP contract
 * (DESIGN.md section 3), plus the operator endpoints. The OpenAPI document (core/openapi.ts)
 * publishes them as named components, and the tests check real answers against them, so a
 * change to an answer's shape that is not made here fails a test.
 *
 * Objects are strict: a key the schema does not name is an error, which is what lets the tests
 * catch an answer growing or losing a field unnoticed.
 */
import { z } from "zod";
import {
  EVENT_SOURCE_TYPES,
  EVENT_STATUSES,
  JOB_STATUSES,
  JOB_TYPES,
  MEDIA_TYPES,
  MEMORY_STATUSES,
  TAG_STATUSES,
  TASK_STATES,
} from "./enums.ts";

const timestamp = z.iso.datetime().describe("ISO 8601 UTC date-time ending in Z");
const id = z.string().describe("UUID");
const telegramUserId = z.number().int().describe("Telegram user id");

/** GET /health */
export const healthResponse = z.strictObject({ status: z.literal("ok") });

/** A user (POST /users). */
export const userResponse = z.strictObject({
  telegram_user_id: telegramUserId,
  display_name: z.string(),
  is_allowed: z.boolean(),
  created_at: timestamp,
});

/** A tag of a memory. */
export const tagResponse = z.strictObject({
  tag: z.string(),
  status: z.enum(TAG_STATUSES),
  suggested_at: timestamp.nullable(),
  confirmed_at: timestamp.nullable(),
});

/** A memory with its tags (every endpoint that answers a memory). */
export const memoryResponse = z.strictObject({
  id,
  owner_user_id: telegramUserId,
  source_chat_id: z.number().int().nullable(),
  source_message_id: z.number().int().nullable(),
  content: z.string().nullable(),
  media_type: z.enum(MEDIA_TYPES).nullable(),
  media_file_id: z.string().nullable(),
  media_local_path: z.string().nullable(),
  status: z.enum(MEMORY_STATUSES),
  pending_expires_at: timestamp.nullable(),
  is_pinned: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
  tags: z.array(tagResponse),
});

/** POST /memories/{id}/image */
export const imageUploadResponse = z.strictObject({
  local_path: z.string().describe("where the image was stored, inside IMAGE_STORAGE_PATH"),
});

/** A task. */
export const taskResponse = z.strictObject({
  id,
  memory_id: id,
  owner_user_id: telegramUserId,
  description: z.string(),
  state: z.enum(TASK_STATES),
  due_at: timestamp.nullable(),
  recurrence_minutes: z.number().int().nullable(),
  completed_at: timestamp.nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

/** PATCH /tasks/{id}: the task, and the next one when a recurring task was marked DONE. */
export const taskUpdateResponse = z.strictObject({
  task: taskResponse,
  recurring_task_id: id.nullable(),
});

/** A reminder. */
export const reminderResponse = z.strictObject({
  id,
  memory_id: id,
  owner_user_id: telegramUserId,
  text: z.string(),
  fire_at: timestamp,
  recurrence_minutes: z.number().int().nullable(),
  fired: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
});

/** An event. */
export const eventResponse = z.strictObject({
  id,
  memory_id: id.nullable(),
  owner_user_id: telegramUserId,
  event_time: timestamp,
  description: z.string(),
  status: z.enum(EVENT_STATUSES),
  source_type: z.enum(EVENT_SOURCE_TYPES),
  source_detail: z.string().nullable(),
  reminder_id: id.nullable(),
  confirmed_at: timestamp.nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

/** One search hit. */
export const searchHitResponse = z.strictObject({
  memory: memoryResponse,
  score: z.number(),
});

/** A user's settings. */
export const settingsResponse = z.strictObject({
  user_id: telegramUserId,
  timezone: z.string(),
  language: z.string(),
  created_at: timestamp,
  updated_at: timestamp,
});

/** An audit entry. */
export const auditEntryResponse = z.strictObject({
  id: z.number().int(),
  user_id: telegramUserId.nullable().describe("the user of a `user:<id>` actor"),
  entity_type: z.string(),
  entity_id: z.string(),
  action: z.string(),
  actor: z.string().describe(
    "user:<id>, system:api, system:llm_worker, admin:web or system:scheduler",
  ),
  detail: z.unknown().describe("what changed, as recorded (usually an object)"),
  created_at: timestamp,
});

/** GET /backup/status/{user_id} */
export const backupStatusResponse = z.strictObject({
  backup_id: z.string(),
  user_id: telegramUserId,
  started_at: timestamp,
  completed_at: timestamp.nullable(),
  status: z.string(),
  file_path: z.string().nullable(),
  error_message: z.string().nullable(),
});

/** An LLM job. */
export const jobResponse = z.strictObject({
  id,
  job_type: z.enum(JOB_TYPES),
  payload: z.record(z.string(), z.unknown()),
  user_id: telegramUserId.nullable(),
  status: z.enum(JOB_STATUSES),
  result: z.record(z.string(), z.unknown()).nullable(),
  error_message: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

/** POST /llm_jobs/retry-failed */
export const retryFailedResponse = z.strictObject({
  requeued: z.array(id).describe("the jobs set back to queued, oldest first"),
  count: z.number().int(),
});

const jobStatusCounts = z.strictObject(
  Object.fromEntries(JOB_STATUSES.map((s) => [s, z.number().int()])) as Record<
    typeof JOB_STATUSES[number],
    z.ZodNumber
  >,
);

/** One job stream as GET /admin/queue-stats reports it. */
export const streamStatsResponse = z.strictObject({
  stream: z.string(),
  job_type: z.enum(JOB_TYPES),
  length: z.number().int().nullable().describe("XLEN; null when Redis did not answer"),
  group_exists: z.boolean().nullable().describe("whether the worker group exists on it"),
  pending: z.number().int().nullable().describe("entries delivered to a worker, not yet acked"),
  consumers: z.array(z.strictObject({ name: z.string(), pending: z.number().int() }))
    .describe("pending entries per consumer (XPENDING summary)"),
});

/** GET /admin/queue-stats */
export const queueStatsResponse = z.strictObject({
  jobs: z.strictObject({
    by_status: jobStatusCounts,
    by_type: z.strictObject(
      Object.fromEntries(JOB_TYPES.map((t) => [t, jobStatusCounts])) as Record<
        typeof JOB_TYPES[number],
        typeof jobStatusCounts
      >,
    ),
  }),
  streams: z.array(streamStatsResponse),
  dead_letter: z.strictObject({
    stream: z.string(),
    length: z.number().int().nullable(),
  }),
  redis: z.strictObject({
    ok: z.boolean(),
    error: z.string().nullable(),
  }),
});

/** An entry of the `llm:dead_letter` stream (fields are null when the entry lacks them). */
export const deadLetterResponse = z.strictObject({
  id: z.string().describe("the entry id on llm:dead_letter (use it to page, replay or delete)"),
  reason: z.string().nullable().describe("bad_output, llm_unavailable, bad_payload, ..."),
  error: z.string().nullable(),
  job_id: z.string().nullable(),
  job_type: z.string().nullable(),
  stream: z.string().nullable().describe("the job stream the message came from"),
  entry_id: z.string().nullable().describe("its entry id there"),
  dead_lettered_at: z.string().nullable(),
  message: z.unknown().describe("the original message"),
});

/** `{"detail": "..."}`: every error but a validation error. */
export const errorResponseSchema = z.strictObject({ detail: z.string() });

/** One problem of a validation error. */
export const validationIssueResponse = z.strictObject({
  loc: z.array(z.union([z.string(), z.number().int()])),
  msg: z.string(),
  type: z.string(),
});

/** 422 `{"detail": [{loc, msg, type}, ...]}` */
export const validationErrorResponse = z.strictObject({
  detail: z.array(validationIssueResponse),
});

/**
 * The named schemas, as the OpenAPI document's `components.schemas` calls them. Nested schemas
 * with a name here are referenced (`$ref`) rather than repeated.
 */
export const RESPONSE_SCHEMAS = {
  Health: healthResponse,
  User: userResponse,
  Tag: tagResponse,
  Memory: memoryResponse,
  ImageUpload: imageUploadResponse,
  Task: taskResponse,
  TaskUpdate: taskUpdateResponse,
  Reminder: reminderResponse,
  Event: eventResponse,
  SearchHit: searchHitResponse,
  Settings: settingsResponse,
  AuditEntry: auditEntryResponse,
  BackupStatus: backupStatusResponse,
  Job: jobResponse,
  RetryFailed: retryFailedResponse,
  StreamStats: streamStatsResponse,
  QueueStats: queueStatsResponse,
  DeadLetter: deadLetterResponse,
  Error: errorResponseSchema,
  ValidationIssue: validationIssueResponse,
  ValidationError: validationErrorResponse,
} as const;

/** The name of a response schema. */
export type ResponseSchemaName = keyof typeof RESPONSE_SCHEMAS;
