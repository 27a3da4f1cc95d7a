/** followup: ask the text model for one clarifying question, as plain text. Result `{question}`. */
import type { z } from "zod";
import type { followupPayload } from "../../shared/job_types.ts";
import { BadOutputError } from "../errors.ts";
import { jsonCandidates, stripThink } from "../json_output.ts";
import { followupPrompt } from "../prompts.ts";
import type { JobContext, JobResult } from "./context.ts";

/** Longest question passed on; anything longer is not "one short question". */
export const MAX_QUESTION_CHARS = 1000;

/**
 * The question in a model's plain-text answer: reasoning blocks, code fences, a leading
 * "Question:" and wrapping quotes removed; a JSON answer's `question` field is taken as well,
 * since some models answer JSON whatever they are told.
 */
export function cleanQuestion(text: string): string {
  const json = jsonCandidates(text).find((c) => typeof c.question === "string");
  let q = json ? String(json.question) : text;
  q = stripThink(q)
    .replace(/```[a-zA-Z]*\s*([\s\S]*?)```/g, "$1")
    .trim()
    .replace(/^(clarifying\s+)?question\s*:\s*/i, "")
    .trim();
  if (/^(["'“‘]).*(["'”’])$/s.test(q)) q = q.slice(1, -1).trim();
  return q;
}

/** Run a followup job. */
export async function handleFollowup(
  ctx: JobContext<z.output<typeof followupPayload>>,
): Promise<JobResult> {
  const { message, context } = ctx.job.payload;
  const text = await ctx.llm.text(followupPrompt({ message, context, language: ctx.language }), {
    signal: ctx.signal,
  });
  const question = cleanQuestion(text);
  if (question === "") throw new BadOutputError("the model's answer holds no question");
  if (question.length > MAX_QUESTION_CHARS) {
    throw new BadOutputError(`the model's question is ${question.length} characters long`);
  }
  return { question };
}
