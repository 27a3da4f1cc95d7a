/**
 * Getting JSON out of model answers. Models differ: some answer bare JSON, some wrap it in prose
 * or code fences, reasoning models prepend `<think>` blocks. We take the first JSON object that
 * the schema accepts; anything else is a {@linkcode BadOutputError} (retried a few times).
 */
import type { z } from "zod";
import { BadOutputError } from "./errors.ts";

/** Most embedded spans tried by JSON.parse: bounds the work on an answer full of braces. */
export const MAX_CANDIDATE_SPANS = 64;

/**
 * Every JSON object found in `text`, in order of appearance (outermost objects first; the
 * objects inside a span that does not parse are tried too). Linear in the text's length apart
 * from at most {@linkcode MAX_CANDIDATE_SPANS} parse attempts, so no answer can stall the worker.
 */
export function jsonCandidates(text: string): Record<string, unknown>[] {
  const cleaned = stripThink(text).trim();
  const out: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  const add = (snippet: string): boolean => {
    if (seen.has(snippet)) return true;
    seen.add(snippet);
    const value = tryParse(snippet);
    if (!isObject(value)) return false;
    out.push(value);
    return true;
  };
  add(cleaned);
  for (const m of cleaned.matchAll(/```[a-zA-Z]*\s*([\s\S]*?)```/g)) add(m[1].trim());
  let tried = 0;
  let parsedUpTo = -1;
  for (const [start, end] of braceSpans(cleaned)) {
    // A parsed object's inner braces are part of it.
    if (start <= parsedUpTo) continue;
    if (tried++ >= MAX_CANDIDATE_SPANS) break;
    if (add(cleaned.slice(start, end + 1))) parsedUpTo = end;
  }
  return out;
}

/** `text` without `<think>...</think>` blocks (reasoning models), in one pass. */
export function stripThink(text: string): string {
  const open = /<think>/gi;
  const close = /<\/think>/gi;
  let out = "";
  let from = 0;
  for (;;) {
    open.lastIndex = from;
    const o = open.exec(text);
    if (!o) break;
    close.lastIndex = o.index + o[0].length;
    const c = close.exec(text);
    // An unclosed block stays: with no closing tag after it, none after it can close either.
    if (!c) break;
    out += text.slice(from, o.index);
    from = c.index + c[0].length;
  }
  return out + text.slice(from);
}

/**
 * The balanced `{...}` spans of `text` as [start, end] pairs ordered by start, found in one
 * pass. Quotes count only inside braces, so an apostrophe in prose does not hide an object.
 */
function braceSpans(text: string): [number, number][] {
  const spans: [number, number][] = [];
  const open: number[] = [];
  let inString = false;
  let escaped = false;
  for (let j = 0; j < text.length; j++) {
    const ch = text[j];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === "\\") escaped = true;
      else if (ch === '"') inString = false;
    } else if (ch === '"' && open.length > 0) inString = true;
    else if (ch === "{") open.push(j);
    else if (ch === "}" && open.length > 0) spans.push([open.pop()!, j]);
  }
  return spans.sort((a, b) => a[0] - b[0]);
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
