/**
 * image_tag: send the image to the vision model, add the tags it suggests to the memory as
 * `suggested` (an upsert, so a re-run adds nothing twice). Result `{memory_id, tags, description}`.
 */
import { z } from "zod";
import type { imageTagPayload } from "../../shared/job_types.ts";
import { PermanentError } from "../errors.ts";
import { loadImage } from "../images.ts";
import { imageTagPrompt } from "../prompts.ts";
import type { JobContext, JobResult } from "./context.ts";

/** Most tags kept from one answer. */
export const MAX_TAGS = 7;

/** Tags as the model wrote them, cleaned: trimmed, lower case, no `#`, unique, at most 7. */
export function normalizeTags(raw: unknown): string[] {
  const items = typeof raw === "string" ? raw.split(",") : Array.isArray(raw) ? raw : [];
  const out: string[] = [];
  for (const item of items) {
    if (typeof item !== "string") continue;
    const tag = item.trim().replace(/^#+/, "").replace(/\s+/g, " ").toLowerCase().slice(0, 100)
      .trim();
    if (tag && !out.includes(tag)) out.push(tag);
  }
  return out.slice(0, MAX_TAGS);
}

/** What the vision model must answer; unknown keys are ignored. */
export const imageTagOutput = z.object({
  description: z.string().trim().optional().default(""),
  tags: z.unknown().transform(normalizeTags).pipe(
    z.array(z.string()).min(1, "at least one tag is needed"),
  ),
});

/** Run an image_tag job. */
export async function handleImageTag(
  ctx: JobContext<z.output<typeof imageTagPayload>>,
): Promise<JobResult> {
  const { memory_id, image_path } = ctx.job.payload;
  const image = await loadImage(ctx.imageDir, image_path);
  ctx.log.debug("image loaded", { mime: image.mime, size: image.size });
  const out = await ctx.llm.visionJson(
    imageTagOutput,
    { ...imageTagPrompt(ctx.language), imageDataUrl: image.dataUrl },
    { signal: ctx.signal },
  );
  try {
    await ctx.core.addTags(memory_id, { tags: out.tags, status: "suggested" }, {
      signal: ctx.signal,
    });
  } catch (err) {
    if (err instanceof PermanentError && err.reason === "not_found") {
      throw new PermanentError("not_found", `memory ${memory_id} no longer exists`, {
        userMessage: "the memory was deleted",
        cause: err,
      });
    }
    throw err;
  }
  return { memory_id, tags: out.tags, description: out.description };
}
