/**
 * Idempotent creates: a client that may retry a POST (the LLM worker re-running a job after a
 * crash) sends `Idempotency-Key: <key>`; a repeat with the same key answers with the entity the
 * first request made instead of making another.
 */
import type { Context } from "hono";
import type { DatabaseSync } from "node:sqlite";
import { ApiError } from "./http/errors.ts";

/** The request's idempotency key, or null. Keys are at most 200 printable characters. */
export function idempotencyKey(c: Context): string | null {
  const key = c.req.header("idempotency-key");
  if (key === undefined || key === "") return null;
  if (key.length > 200 || !/^[\x21-\x7e]+$/.test(key)) {
    throw new ApiError(422, [{
      loc: ["header", "Idempotency-Key"],
      msg: "must be 1-200 printable ASCII characters",
      type: "value_error",
    }]);
  }
  return key;
}

/** The id already created under `key` for `entityType`, if any. Call inside the transaction. */
export function findIdempotent(
  db: DatabaseSync,
  key: string | null,
  entityType: string,
): string | null {
  if (key === null) return null;
  const row = db.prepare(
    "SELECT entity_id FROM idempotency_keys WHERE key = ? AND entity_type = ?",
  ).get(key, entityType) as { entity_id: string } | undefined;
  return row?.entity_id ?? null;
}

/** Remember that `key` created `entityId`. Call inside the transaction that created it. */
export function rememberIdempotent(
  db: DatabaseSync,
  key: string | null,
  entity: { type: string; id: string; at: string },
): void {
  if (key === null) return;
  db.prepare(
    "INSERT INTO idempotency_keys (key, entity_type, entity_id, created_at) VALUES (?, ?, ?, ?)",
  ).run(key, entity.type, entity.id, entity.at);
}
