/**
 * task_match: does a new memory complete one of the user's open tasks? The text model sees the
 * memory and the open tasks. A match counts when the confidence is above 0.7 and the id is one of
 * the tasks shown: result `{task_id, task_description, memory_id}` (and a notification).
 * Otherwise the result is `{task_id: null, memory_id}` and nobody is notified: a non-match is
 * the common case and not worth a message. With no open tasks the model is not asked at all.
 */
import { z } from "zod";
import type { taskMatchPayload } from "../../shared/job_types.ts";
import { taskMatchPrompt } from "../prompts.ts";
import type { JobContext, JobResult } from "./context.ts";

/** Matches at or below this confidence are ignored. */
export const MATCH_THRESHOLD = 0.7;

/** A number the model may have written as a string or a percentage. */
export const confidenceNumber = z.preprocess(
  (v) => typeof v === "string" ? Number(v.trim().replace(/%$/, "")) : v,
  z.number().finite().min(0).max(100),
).transform((v) => v > 1 ? v / 100 : v);

/** What the model must answer; unknown keys are ignored. */
export const taskMatchOutput = z.object({
  matched_task_id: z.union([z.string(), z.number()]).nullish().transform((v) => {
    if (v === null || v === undefined) return null;
    const s = String(v).trim();
    return s === "" || s.toLowerCase() === "null" || s.toLowerCase() === "none" ? null : s;
  }),
  confidence: confidenceNumber,
  reason: z.string().optional(),
});

/** Run a task_match job. */
export async function handleTaskMatch(
  ctx: JobContext<z.output<typeof taskMatchPayload>>,
): Promise<JobResult> {
  const { memory_id, memory_content } = ctx.job.payload;
  const { core, signal } = ctx;
  // The tasks are the job user's; a job without one is about the memory's owner.
  const owner = ctx.job.user_id ?? (await core.getMemory(memory_id, { signal })).owner_user_id;
  const tasks = await core.openTasks(owner, { signal });
  const none: JobResult = { task_id: null, memory_id };
  if (tasks.length === 0) return none;
  const out = await ctx.llm.json(
    taskMatchOutput,
    taskMatchPrompt({ memoryContent: memory_content, tasks }),
    { signal },
  );
  if (out.matched_task_id === null || out.confidence <= MATCH_THRESHOLD) return none;
  const wanted = out.matched_task_id.toLowerCase();
  const task = tasks.find((t) => t.id.toLowerCase() === wanted);
  if (!task) {
    ctx.log.info("model matched a task that is not among the open tasks", {
      matched_task_id: out.matched_task_id,
    });
    return none;
  }
  return { task_id: task.id, task_description: task.description, memory_id };
}
