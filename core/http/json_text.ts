/** Answers whose JSON the store already wrote as text (SQLite's json_object, a search thread). */
import type { Context } from "hono";

/** `json` (JSON text) as a 200's body, with the content type `c.json` gives. */
export function jsonText(c: Context, json: string): Response {
  return c.body(json, 200, { "content-type": "application/json" });
}
