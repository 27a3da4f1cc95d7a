/**
 * zod schemas for every request body and query of the HTTP contract, the job payloads and the
 * stream messages. The core validates with them; the worker parses stream messages with them.
 */
import { z } from "zod";
import {
  EVENT_SOURCE_TYPES,
  EVENT_STATUSES,
  JOB_STATUSES,
  JOB_TYPES,
  MEDIA_TYPES,
  MEMORY_STATUSES,
  MESSAGE_TYPES,
  TAG_STATUSES,
  TASK_STATES,
} from "./enums.ts";
import { notificationContentProblems } from "./notification_content.ts";
import { isoDateTime, textField, userId, uuid } from "./fields.ts";

// The field rules live in fields.ts and the job payloads in job_types.ts; re-exported here so a
// module that validates requests finds every schema in one import.
export {
  isoDateTime,
  isSafeText,
  textField,
  toUtcIso,
  UNSAFE_TEXT_MESSAGE,
  userId,
  uuid,
} from "./fields.ts";

const text = textField().min(1).max(100_000);
const positiveMinutes = z.number().int().positive().max(10 * 366 * 24 * 60);

/**
 * Query helpers: query values arrive as strings. A query integer written in plain decimal.
 * `Number()` (and so `z.coerce`) also reads hex, exponents and the empty string: `owner=0x3e9` was
 * user 1001 and `owner=` user 0.
 */
const queryDecimal = () =>
  z.string().regex(/^-?\d{1,16}$/, "must be a decimal integer").transform(Number);
const queryInt = (min: number, max: number) =>
  queryDecimal().pipe(z.number().int().min(min).max(max));
const queryBool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const queryUserId = queryDecimal().pipe(z.number().int().safe());

/** `limit` and `offset` of list endpoints (limit default 50). */
export const pageQuery = {
  limit: queryInt(1, 1000).default(50),
  offset: queryInt(0, Number.MAX_SAFE_INTEGER).default(0),
};

/** POST /users */
export const userCreate = z.object({
  telegram_user_id: userId,
  display_name: textField().min(1).max(1000),
  is_allowed: z.boolean().optional(),
});

/** POST /memories */
export const memoryCreate = z.object({
  owner_user_id: userId,
  content: textField().max(100_000).nullish(),
  media_type: z.enum(MEDIA_TYPES).nullish(),
  media_file_id: textField().max(1000).nullish(),
  source_chat_id: z.number().int().safe().nullish(),
  source_message_id: z.number().int().safe().nullish(),
});

/** PATCH /memories/{id} */
export const memoryUpdate = z.object({
  content: textField().max(100_000).nullish(),
  status: z.enum(MEMORY_STATUSES).optional(),
  is_pinned: z.boolean().optional(),
  media_local_path: textField().min(1).max(4096).nullish(),
});

/** POST /memories/{id}/tags */
export const tagsAdd = z.object({
  tags: z.array(textField().trim().min(1).max(100)).min(1).max(100),
  status: z.enum(TAG_STATUSES).default("confirmed"),
});

/** POST /tasks */
export const taskCreate = z.object({
  memory_id: uuid,
  owner_user_id: userId,
  description: text,
  due_at: isoDateTime.nullish(),
  recurrence_minutes: positiveMinutes.nullish(),
});

/** PATCH /tasks/{id} */
export const taskUpdate = z.object({
  description: text.optional(),
  state: z.enum(TASK_STATES).optional(),
  due_at: isoDateTime.nullish(),
  recurrence_minutes: positiveMinutes.nullish(),
});

/** GET /tasks */
export const taskListQuery = z.object({
  ...pageQuery,
  state: z.enum(TASK_STATES).optional(),
  owner_user_id: queryUserId.optional(),
  due_before: isoDateTime.optional(),
  due_after: isoDateTime.optional(),
});

/** POST /reminders */
export const reminderCreate = z.object({
  memory_id: uuid,
  owner_user_id: userId,
  text: text,
  fire_at: isoDateTime,
  recurrence_minutes: positiveMinutes.nullish(),
});

/** PATCH /reminders/{id} */
export const reminderUpdate = z.object({
  text: text.optional(),
  fire_at: isoDateTime.optional(),
  recurrence_minutes: positiveMinutes.nullish(),
});

/** GET /reminders */
export const reminderListQuery = z.object({
  ...pageQuery,
  owner_user_id: queryUserId.optional(),
  fired: queryBool.optional(),
  upcoming_only: queryBool.optional(),
});

/** POST /events */
export const eventCreate = z.object({
  memory_id: uuid.nullish(),
  owner_user_id: userId,
  event_time: isoDateTime,
  description: text,
  source_type: z.enum(EVENT_SOURCE_TYPES),
  source_detail: textField().max(10_000).nullish(),
});

/** PATCH /events/{id} */
export const eventUpdate = z.object({
  event_time: isoDateTime.optional(),
  description: text.optional(),
  status: z.enum(EVENT_STATUSES).optional(),
});

/** GET /events */
export const eventListQuery = z.object({
  ...pageQuery,
  owner_user_id: queryUserId.optional(),
  status: z.enum(EVENT_STATUSES).optional(),
});

/** PUT /settings/{user_id} */
export const settingsUpdate = z.object({
  timezone: textField().min(1).max(100).refine(isTimeZone, "must be an IANA time zone, e.g. UTC")
    .optional(),
  language: textField().min(2).max(35).optional(),
});

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** GET /search */
export const searchQuery = z.object({
  q: textField().max(1000).optional(),
  owner: queryUserId,
  pinned: queryBool.optional(),
});

/** GET /audit */
export const auditQuery = z.object({
  limit: queryInt(1, 1000).default(100),
  offset: pageQuery.offset,
  entity_type: textField().max(100).optional(),
  entity_id: textField().max(200).optional(),
  action: textField().max(100).optional(),
  actor: textField().max(200).optional(),
});

// ---- LLM jobs ----

/** POST /llm_jobs (the payload is checked per type by the route). */
export const llmJobCreate = z.object({
  job_type: z.enum(JOB_TYPES),
  payload: z.record(textField(), z.unknown()),
  user_id: userId.nullish(),
});

/** PATCH /llm_jobs/{id} */
export const llmJobUpdate = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  result: z.record(textField(), z.unknown()).nullish(),
  error_message: textField().max(10_000).nullish(),
});

/** GET /llm_jobs */
export const llmJobListQuery = z.object({
  ...pageQuery,
  status: z.enum(JOB_STATUSES).optional(),
  job_type: z.enum(JOB_TYPES).optional(),
  user_id: queryUserId.optional(),
});

/** A job message on an `llm:*` stream. */
export const jobMessage = z.object({
  // Checked before the id goes into a URL or a log line: a poisoned entry's 1 MB "id" must not.
  job_id: uuid,
  job_type: z.enum(JOB_TYPES),
  payload: z.record(z.string(), z.unknown()),
  user_id: z.number().int().nullable().optional(),
});
/** A job message on an `llm:*` stream. */
export type JobMessage = z.infer<typeof jobMessage>;

/** A notification on `notify:telegram`, its content checked against the gateway's keys. */
export const notification = z.object({
  user_id: z.number().int(),
  message_type: z.enum(MESSAGE_TYPES),
  content: z.record(z.string(), z.unknown()),
}).superRefine((n, ctx) => {
  for (const problem of notificationContentProblems(n.message_type, n.content)) {
    ctx.addIssue({ code: "custom", path: ["content"], message: problem });
  }
});
/** A notification on `notify:telegram`. */
export type Notification = z.infer<typeof notification>;

// ---- operator endpoints ----

/** POST /memories/{id}/image: a multipart body with one `file` part. */
export const imageUpload = z.object({ file: z.file() });

/** POST /llm_jobs/retry-failed (the body is optional: `{}` retries every failed job). */
export const llmJobRetryFailed = z.object({
  job_type: z.enum(JOB_TYPES).optional(),
  limit: z.number().int().min(1).max(10_000).default(1000),
});

/** A Redis stream entry id, e.g. `1700000000000-0`. */
export const streamEntryId = z.string().regex(
  /^\d{1,20}-\d{1,20}$/,
  "must be a stream entry id, e.g. 1700000000000-0",
).refine(
  // Both parts are 64-bit unsigned in Redis; a larger number is no id it could hold.
  (id) =>
    !/^\d+-\d+$/.test(id) || id.split("-").every((part) => BigInt(part) <= 0xffff_ffff_ffff_ffffn),
  "must be a stream entry id, e.g. 1700000000000-0",
);

/** GET /admin/dead-letters: newest first; `before` pages on from the last id of a page. */
export const deadLetterListQuery = z.object({
  limit: queryInt(1, 1000).default(50),
  before: streamEntryId.optional(),
});
