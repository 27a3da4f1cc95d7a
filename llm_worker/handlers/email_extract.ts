/**
 * email_extract: find dated events in an email. Each event with confidence above 0.7 and a
 * parseable event_time is created as a pending event (source_type `email`, source_detail the
 * subject) with Idempotency-Key `llm_job:<job_id>:event:<hash of the event>`, so a re-run
 * creates nothing twice. Result `{event_ids, events: [{event_id, description, event_time,
 * source_type, source_detail}], skipped}`; each created event gets an `event_confirmation`
 * notification.
 */
import { z } from "zod";
import { toUtcIso } from "../../shared/fields.ts";
import type { emailExtractPayload } from "../../shared/job_types.ts";
import { PermanentError } from "../errors.ts";
import { emailExtractPrompt } from "../prompts.ts";
import type { JobContext, JobResult } from "./context.ts";
import { confidenceNumber } from "./task_match.ts";

/** Events at or below this confidence are not created. */
export const EVENT_THRESHOLD = 0.7;

/**
 * Most events created from one email; the rest are skipped. Checked before anything is created,
 * so a runaway answer can neither flood the user nor make a result too large to store after its
 * events exist.
 */
export const MAX_EVENTS_PER_EMAIL = 20;

/** Longest subject repeated in each event of the result (the event row keeps it whole). */
const MAX_RESULT_SUBJECT_CHARS = 200;

/** The model's answer: a list of events (each checked on its own, see {@linkcode eventItem}). */
export const emailExtractOutput = z.object({ events: z.array(z.unknown()) });

/** One event as the model should write it; a malformed item is skipped, not the whole answer. */
export const eventItem = z.object({
  description: z.string().trim().min(1).max(100_000),
  event_time: z.string().nullish(),
  confidence: confidenceNumber,
});

/** Run an email_extract job. */
export async function handleEmailExtract(
  ctx: JobContext<z.output<typeof emailExtractPayload>>,
): Promise<JobResult> {
  const { job, core, signal } = ctx;
  const { subject, body } = job.payload;
  if (job.user_id === null || job.user_id === undefined) {
    throw new PermanentError("bad_payload", "email_extract needs the job's user_id (the owner)");
  }
  const out = await ctx.llm.json(
    emailExtractOutput,
    emailExtractPrompt({ subject, body, now: ctx.clock().toISOString() }),
    { signal },
  );
  const events: Record<string, unknown>[] = [];
  let skipped = 0;
  for (const raw of out.events) {
    const item = eventItem.safeParse(raw);
    const eventTime = item.success && item.data.event_time
      ? toUtcIso(item.data.event_time.trim())
      : null;
    if (
      !item.success || eventTime === null || item.data.confidence <= EVENT_THRESHOLD ||
      events.length >= MAX_EVENTS_PER_EMAIL
    ) {
      skipped++;
      continue;
    }
    const body = {
      owner_user_id: job.user_id,
      event_time: eventTime,
      description: item.data.description,
      source_type: "email" as const,
      source_detail: subject,
    };
    // Keyed by the event itself: a re-run that gets the same answer finds the same events, and
    // one that gets another answer (models are not deterministic) creates its own instead of
    // reusing a key with a different body, which the core refuses.
    const created = await core.createEvent(body, {
      signal,
      idempotencyKey: `llm_job:${job.id}:event:${await digest(body)}`,
    });
    if (events.some((e) => e.event_id === created.id)) {
      skipped++;
      continue;
    }
    events.push({
      event_id: created.id,
      description: created.description ?? item.data.description,
      event_time: created.event_time ?? eventTime,
      source_type: "email",
      source_detail: subject.slice(0, MAX_RESULT_SUBJECT_CHARS),
    });
  }
  return { event_ids: events.map((e) => e.event_id), events, skipped };
}

/** A short SHA-256 of `value` as JSON, hex. */
async function digest(value: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...hash.slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
