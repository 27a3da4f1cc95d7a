/**
 * intent_classify: ask the text model what the user wants.
 *
 * - Non-search intents keep the message as a memory: a new one (Idempotency-Key
 *   `llm_job:<job_id>:memory`, so a re-run gets the same memory), or `payload.memory_id` when the
 *   payload names one (a re-classification after a follow-up question names the memory made the
 *   first time; we never make a second one).
 * - search runs GET /search on the model's keywords (or the message) and lists the hits as
 *   `{memory_id, title}`.
 * - The result keeps every key the model returned, beside `query`, `intent`, `memory_id`,
 *   `results`; reminder and task intents whose resolved time has passed get `stale: true`.
 * - Suggested tags of a non-search intent are stored on its memory as `suggested` (cleaned as
 *   image tags are), so the gateway's "Confirm Tags" has something to confirm.
 */
import { z } from "zod";
import { toUtcIso } from "../../shared/fields.ts";
import type { intentPayload } from "../../shared/job_types.ts";
import type { Memory, MemoryTag } from "../core_client.ts";
import { PermanentError } from "../errors.ts";
import { intentPrompt } from "../prompts.ts";
import { normalizeTags } from "./image_tag.ts";
import type { JobContext, JobResult } from "./context.ts";

/** The intents the model chooses from. */
export const INTENTS = ["reminder", "task", "search", "general_note", "ambiguous"] as const;

/** What the model must answer: an intent, plus any fields (all kept). */
export const intentOutput = z.looseObject({
  intent: z.preprocess(
    (v) => typeof v === "string" ? v.trim().toLowerCase().replace(/[\s-]+/g, "_") : v,
    z.enum(INTENTS),
  ),
});

/**
 * Longest title of a search hit, in characters: 20 hits of 100,000-character notes would make a
 * result the core refuses (MAX_BODY_BYTES), and a chat message shows far less.
 */
export const MAX_TITLE_CHARS = 200;

/**
 * The title of a search hit: its content; for an image memory without content, its first three
 * tags joined by ", " (with " (+N more)" past three); else "Untitled". Image memories get the
 * prefix "[Image] ". Cut to {@linkcode MAX_TITLE_CHARS} with "…".
 */
export function searchTitle(memory: Pick<Memory, "content" | "media_type" | "tags">): string {
  const title = fullTitle(memory);
  return title.length <= MAX_TITLE_CHARS ? title : `${title.slice(0, MAX_TITLE_CHARS - 1)}…`;
}

function fullTitle(memory: Pick<Memory, "content" | "media_type" | "tags">): string {
  const isImage = memory.media_type === "image";
  const content = typeof memory.content === "string" ? memory.content.trim() : "";
  let title: string;
  if (content) {
    title = content;
  } else {
    const tags = isImage ? (memory.tags ?? []).map((t: MemoryTag | string) => tagText(t)) : [];
    if (tags.length > 0) {
      title = tags.slice(0, 3).join(", ");
      if (tags.length > 3) title += ` (+${tags.length - 3} more)`;
    } else {
      title = "Untitled";
    }
  }
  return isImage ? `[Image] ${title}` : title;
}

function tagText(tag: MemoryTag | string): string {
  return typeof tag === "string" ? tag : tag.tag;
}

function searchQuery(keywords: unknown, message: string): string {
  let q = "";
  if (Array.isArray(keywords)) {
    q = keywords.filter((k) => typeof k === "string").join(" ");
  } else if (typeof keywords === "string") {
    q = keywords;
  }
  q = q.trim();
  return q || message.trim();
}

/** Run an intent_classify job. */
export async function handleIntent(
  ctx: JobContext<z.output<typeof intentPayload>>,
): Promise<JobResult> {
  const { job, core, signal } = ctx;
  const payload = job.payload;
  const message = (payload.message ?? payload.query ?? "") as string;
  const owner = job.user_id;
  if (owner === null || owner === undefined) {
    throw new PermanentError(
      "bad_payload",
      "intent_classify needs the job's user_id (the owner of the memory or of the search)",
    );
  }
  const sentAt = payload.original_timestamp ? toUtcIso(payload.original_timestamp) : null;
  const now = ctx.clock();
  const out = await ctx.llm.json(
    intentOutput,
    intentPrompt({
      message,
      now: sentAt ?? now.toISOString(),
      followup: payload.followup_context ?? null,
      language: ctx.language,
    }),
    { signal },
  );
  const result: JobResult = { ...out };
  const intent = out.intent;
  let memoryId: string | null = payload.memory_id ?? null;
  let results: { memory_id: string; title: string }[] = [];

  if (intent === "search") {
    const q = searchQuery(out.keywords, message);
    const hits = q ? await core.search(q, owner, { signal }) : [];
    results = hits.map((h) => ({ memory_id: h.memory.id, title: searchTitle(h.memory) }));
  } else if (memoryId === null) {
    const memory = await core.createMemory(
      { owner_user_id: owner, content: message },
      { signal, idempotencyKey: `llm_job:${job.id}:memory` },
    );
    memoryId = memory.id;
  }

  // The gateway offers "Confirm Tags" for these; it confirms the memory's suggested tags, so
  // they must be stored (an upsert: a re-run adds nothing twice).
  const tags = intent === "search" ? [] : normalizeTags(out.suggested_tags ?? []);
  if (tags.length > 0 && memoryId !== null) {
    await core.addTags(memoryId, { tags, status: "suggested" }, { signal });
    result.suggested_tags = tags;
  }

  if (intent === "reminder" || intent === "task") {
    const key = intent === "reminder" ? "resolved_time" : "resolved_due_time";
    const value = out[key];
    const at = typeof value === "string" ? toUtcIso(value) : null;
    if (at !== null && Date.parse(at) < now.getTime()) result.stale = true;
  }
  result.query = message;
  result.intent = intent;
  result.memory_id = memoryId;
  result.results = results;
  return result;
}
