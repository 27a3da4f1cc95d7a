/**
 * Getting JSON out of model answers. Models differ: some answer bare JSON, some wrap it in prose
 * or code fences, reasoning models prepend `<think>` blocks. We take the first JSON object that
 * the schema accepts; anything else is a {@linkcode BadOutputError} (retried a few times).
 */
import type { z } from "zod";
import { BadOutputError } from "./errors.ts";

/** Every JSON object found in `text`, in order of appearance (outermost objects only). */
export function jsonCandidates(text: string): Record<string, unknown>[] {
  const cleaned = text.replace(/<think>[\s\S]*?<\/think>/gi, "").trim();
  const out: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  const add = (snippet: string) => {
    const value = tryParse(snippet);
    if (isObject(value) && !seen.has(snippet)) {
      seen.add(snippet);
      out.push(value);
    }
  };
  add(cleaned);
  for (const m of cleaned.matchAll(/```[a-zA-Z]*\s*([\s\S]*?)```/g)) add(m[1].trim());
  // Balanced-brace scan for objects embedded in prose; string-aware so braces in values count.
  let i = 0;
  while (i < cleaned.length) {
    if (cleaned[i] !== "{") {
      i++;
      continue;
    }
    const end = matchingBrace(cleaned, i);
    if (end < 0) {
      i++;
      continue;
    }
    const snippet = cleaned.slice(i, end + 1);
    const before = out.length;
    add(snippet);
    // A parsed object's inner braces are part of it; an unparsable span may hide one inside.
    i = out.length > before || seen.has(snippet) ? end + 1 : i + 1;
  }
  return out;
}

/**
 * Parse the model's `text` with `schema`: the first candidate object that validates wins.
 * Throws {@linkcode BadOutputError} naming what was wrong.
 */
export function parseModelJson<S extends z.ZodType>(schema: S, text: string): z.output<S> {
  const candidates = jsonCandidates(text);
  if (candidates.length === 0) {
    throw new BadOutputError(`the model's answer contains no JSON object: ${preview(text)}`);
  }
  let firstError: z.ZodError | undefined;
  for (const candidate of candidates) {
    const parsed = schema.safeParse(candidate);
    if (parsed.success) return parsed.data;
    firstError ??= parsed.error;
  }
  const issues = (firstError?.issues ?? [])
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`)
    .join("; ");
  throw new BadOutputError(`the model's JSON did not have the expected shape (${issues})`);
}

/** A short, single-line preview of model output for error messages. */
export function preview(text: string, max = 120): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat === "") return "(empty answer)";
  return flat.length > max ? `${JSON.stringify(flat.slice(0, max))}...` : JSON.stringify(flat);
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let j = start; j < text.length; j++) {
    const ch = text[j];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === "\\") escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === "{") depth++;
    else if (ch === "}") {
      depth--;
      if (depth === 0) return j;
    }
  }
  return -1;
}
