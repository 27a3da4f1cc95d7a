/** Enumerations shared by the core and the worker. Values are the wire values. */

/** The kinds of LLM job: defined with everything else about them in job_types.ts. */
export { JOB_TYPES, type JobType } from "./job_types.ts";

/** Lifecycle of an LLM job. */
export const JOB_STATUSES = ["queued", "processing", "completed", "failed"] as const;
/** A job status. */
export type JobStatus = typeof JOB_STATUSES[number];

/** A memory is pending until the user confirms it (images), else confirmed. */
export const MEMORY_STATUSES = ["confirmed", "pending"] as const;
/** A memory status. */
export type MemoryStatus = typeof MEMORY_STATUSES[number];

/** The only media type the system stores. */
export const MEDIA_TYPES = ["image"] as const;
/** A media type. */
export type MediaType = typeof MEDIA_TYPES[number];

/** Tags the user confirmed, or that the model suggested. */
export const TAG_STATUSES = ["confirmed", "suggested"] as const;
/** A tag status. */
export type TagStatus = typeof TAG_STATUSES[number];

/** Task states, upper case as in the first version. */
export const TASK_STATES = ["NOT_DONE", "DONE"] as const;
/** A task state. */
export type TaskState = typeof TASK_STATES[number];

/** Event review states. */
export const EVENT_STATUSES = ["pending", "confirmed", "rejected"] as const;
/** An event status. */
export type EventStatus = typeof EVENT_STATUSES[number];

/** Where an event came from. */
export const EVENT_SOURCE_TYPES = ["email", "manual"] as const;
/** An event source type. */
export type EventSourceType = typeof EVENT_SOURCE_TYPES[number];

/** Audit actions. */
export const AUDIT_ACTIONS = [
  "created",
  "confirmed",
  "deleted",
  "expired",
  "fired",
  "updated",
  "rejected",
  "requeued",
  "published",
] as const;
/** An audit action. */
export type AuditAction = typeof AUDIT_ACTIONS[number];

/** Audited entity types. */
export const ENTITY_TYPES = [
  "memory",
  "task",
  "reminder",
  "event",
  "llm_job",
  "user",
  "user_settings",
  "tag",
  "dead_letter",
] as const;
/** An audited entity type. */
export type EntityType = typeof ENTITY_TYPES[number];

/**
 * Names an audit row may carry for an entity type that now has another name: a database written
 * before settings were logged as `user_settings` holds `settings` rows too.
 */
export const LEGACY_ENTITY_TYPES: Readonly<Record<string, EntityType>> = {
  settings: "user_settings",
};

/** Notification kinds on `notify:telegram`. */
export const MESSAGE_TYPES = [
  "llm_image_tag_result",
  "llm_intent_result",
  "llm_followup_result",
  "llm_task_match_result",
  "event_confirmation",
  "llm_failure",
  "llm_expiry",
  "reminder",
  "event_reprompt",
] as const;
/** A notification kind. */
export type MessageType = typeof MESSAGE_TYPES[number];
