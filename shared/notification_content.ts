/**
 * The content keys the chat gateway reads from each notification type on `notify:telegram`
 * (DESIGN.md §4). The gateway cannot change, and a missing key reaches the user as an empty
 * string, so every notification the core or the worker sends is checked against this table
 * before it is published.
 *
 * Extra keys are allowed (the gateway ignores them): the schemas are loose objects.
 */
import { z } from "zod";
import { JOB_TYPES, type MessageType } from "./enums.ts";

/** Text the user reads: present and not blank. */
const shown = z.string().refine((s) => s.trim().length > 0, "must not be empty");
const id = z.string().min(1);
const eventPrompt = z.looseObject({ event_id: id, description: shown, event_date: shown });

/** The content schema of each notification type: the keys the gateway reads. */
export const NOTIFICATION_CONTENT = {
  reminder: z.looseObject({
    reminder_id: id,
    memory_id: id,
    memory_content: shown,
    fire_at: shown,
  }),
  event_reprompt: eventPrompt,
  event_confirmation: eventPrompt,
  llm_image_tag_result: z.looseObject({
    memory_id: id,
    tags: z.array(z.string()),
    description: z.string(),
  }),
  llm_intent_result: z.looseObject({
    intent: shown,
    query: z.string(),
    memory_id: id.nullable(),
    results: z.array(z.looseObject({ memory_id: id, title: z.string() })),
    suggested_tags: z.array(z.string()).optional(),
    followup_question: z.string().nullable().optional(),
    keywords: z.array(z.string()).optional(),
    stale: z.boolean().optional(),
  }),
  llm_followup_result: z.looseObject({ question: shown }),
  llm_task_match_result: z.looseObject({
    task_id: id,
    task_description: shown,
    memory_id: id,
  }),
  llm_failure: z.looseObject({
    job_type: z.enum(JOB_TYPES),
    memory_id: id.nullable(),
    message: shown,
  }),
  llm_expiry: z.looseObject({
    job_type: z.enum(JOB_TYPES),
    memory_id: id.nullable(),
    original_message: z.string().nullable(),
    failure_type: shown,
  }),
} satisfies Record<MessageType, z.ZodType>;

/**
 * Problems of `content` as a `messageType` notification, one line each (`key: what is wrong`);
 * empty when the gateway can render it.
 */
export function notificationContentProblems(
  messageType: MessageType,
  content: unknown,
): string[] {
  const parsed = NOTIFICATION_CONTENT[messageType].safeParse(content);
  if (parsed.success) return [];
  return parsed.error.issues.map((i) => `${i.path.join(".") || "(content)"}: ${i.message}`);
}
