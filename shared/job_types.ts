/**
 * Everything the system knows about each kind of LLM job, in one table: its stream, the shape of
 * its payload, the notification its result becomes, and what it does for the user (in failure
 * messages). Adding a job type means a row here and a handler in llm_worker/handlers/mod.ts.
 */
import { z } from "zod";
import type { MessageType } from "./enums.ts";
import { textField } from "./fields.ts";
import { checkImageFile, imagePathInside } from "./images.ts";

/** Payload of an image_tag job. */
export const imageTagPayload = z.looseObject({
  memory_id: textField().min(1),
  image_path: textField().min(1).max(4096),
});

/** Payload of an intent_classify job; `query` is the legacy name of `message`. */
export const intentPayload = z.looseObject({
  message: textField().min(1).max(100_000).optional(),
  query: textField().min(1).max(100_000).optional(),
  memory_id: textField().min(1).nullish(),
  original_timestamp: textField().nullish(),
  followup_context: z.looseObject({
    followup_question: textField(),
    user_answer: textField(),
  }).nullish(),
}).refine((p) => p.message !== undefined || p.query !== undefined, {
  message: "payload needs `message` (or the legacy `query`)",
  path: ["message"],
});

/** Payload of a followup job. */
export const followupPayload = z.looseObject({
  message: textField().min(1).max(100_000),
  context: textField().max(100_000).nullish(),
});

/** Payload of a task_match job. */
export const taskMatchPayload = z.looseObject({
  memory_id: textField().min(1),
  memory_content: textField().min(1).max(100_000),
});

/** Payload of an email_extract job. */
export const emailExtractPayload = z.looseObject({
  subject: textField().max(10_000),
  body: textField().max(1_000_000),
});

/** What a payload rule may depend on: where this deployment keeps images. */
export interface PayloadContext {
  /** IMAGE_STORAGE_PATH. */
  imageDir: string;
}

/** One problem of a payload, at `path` inside it. */
export interface PayloadIssue {
  /** Where, e.g. `["image_path"]`. */
  path: PropertyKey[];
  /** What is wrong. */
  message: string;
}

/**
 * A payload rule beyond its shape: the payload as stored (normalized), or its issues. Runs in the
 * core on POST /llm_jobs and again in the worker before the job runs.
 */
export type PayloadRule = (
  payload: Record<string, unknown>,
  context: PayloadContext,
) => Promise<{ payload: Record<string, unknown> } | { issues: PayloadIssue[] }>;

/**
 * image_tag: `image_path` is an image file inside IMAGE_STORAGE_PATH (absolute, or relative to
 * it), stored as the normalized absolute path that was checked. A file not there yet is the
 * worker's to report (a client may queue the job before the upload lands).
 */
const imagePathRule: PayloadRule = async (payload, { imageDir }) => {
  const issue = (message: string) => ({ issues: [{ path: ["image_path"], message }] });
  const inside = imagePathInside(String(payload.image_path), imageDir);
  if (inside === null) {
    return issue(
      "must be a file inside IMAGE_STORAGE_PATH (absolute, or relative to it), without NUL bytes",
    );
  }
  const check = await checkImageFile(inside, imageDir);
  if (!check.ok && check.problem !== "missing") return issue(`refused: ${check.message}`);
  return { payload: { ...payload, image_path: inside } };
};

/** What the system knows about one job type. */
export interface JobTypeInfo {
  /** The Redis stream its messages go to. */
  stream: string;
  /** Its payload's shape, as POST /llm_jobs accepts it and the worker reads it. */
  payload: z.ZodType<Record<string, unknown>>;
  /** Its rule beyond the shape, if any. */
  rule?: PayloadRule;
  /** The notification a completed job's result becomes. */
  resultMessage: MessageType;
  /** What it does for the user, after "I could not ..." in failure messages. */
  label: string;
}

/** The job types. */
export const JOB_TYPE_INFO = {
  image_tag: {
    stream: "llm:image_tag",
    payload: imageTagPayload,
    rule: imagePathRule,
    resultMessage: "llm_image_tag_result",
    label: "tag your image",
  },
  intent_classify: {
    stream: "llm:intent",
    payload: intentPayload,
    resultMessage: "llm_intent_result",
    label: "understand your message",
  },
  followup: {
    stream: "llm:followup",
    payload: followupPayload,
    resultMessage: "llm_followup_result",
    label: "prepare a follow-up question",
  },
  task_match: {
    stream: "llm:task_match",
    payload: taskMatchPayload,
    resultMessage: "llm_task_match_result",
    label: "check your note against your tasks",
  },
  email_extract: {
    stream: "llm:email_extract",
    payload: emailExtractPayload,
    resultMessage: "event_confirmation",
    label: "read the events in your email",
  },
} as const satisfies Record<string, JobTypeInfo>;

/** A kind of LLM job. */
export type JobType = keyof typeof JOB_TYPE_INFO;

/** The job types, in a fixed order. */
export const JOB_TYPES = Object.keys(JOB_TYPE_INFO) as [JobType, ...JobType[]];

/** Whether `value` names a job type (a row hand-edited into another one does not). */
export function isJobType(value: string): value is JobType {
  return Object.hasOwn(JOB_TYPE_INFO, value);
}

/** The outcome of {@linkcode parsePayload}. */
export type PayloadParse =
  | { success: true; data: Record<string, unknown> }
  /** `shapeError`: the schema's own error, when the shape was wrong (for detailed answers). */
  | { success: false; issues: PayloadIssue[]; shapeError?: z.ZodError };

/**
 * Check a `type` payload: its shape, then its rule. On success the payload as it is stored (the
 * client's keys kept, unknown ones too: the worker reads it as the client wrote it, with rule
 * normalizations applied).
 */
export async function parsePayload(
  type: JobType,
  payload: Record<string, unknown>,
  context: PayloadContext,
): Promise<PayloadParse> {
  const info: JobTypeInfo = JOB_TYPE_INFO[type];
  const shape = info.payload.safeParse(payload);
  if (!shape.success) {
    return {
      success: false,
      issues: shape.error.issues.map((i) => ({ path: i.path, message: i.message })),
      shapeError: shape.error,
    };
  }
  if (!info.rule) return { success: true, data: payload };
  const ruled = await info.rule(payload, context);
  return "issues" in ruled
    ? { success: false, issues: ruled.issues }
    : { success: true, data: ruled.payload };
}
