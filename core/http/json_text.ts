/** Answers whose JSON the store already wrote as text (SQLite's json_object, a search thread). */
import type { Context } from "hono";

/** `json` (JSON text) as the body, with the content type `c.json` gives. */
export function jsonText(c: Context, json: string, status: 200 | 201 = 200): Response {
  return c.body(json, status, { "content-type": "application/json" });
}
