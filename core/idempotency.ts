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

/**
 * The id already created under `key` for `entityType`, if any. Call inside the transaction.
 * A key already used to create another kind of entity is a client error (422): answering with
 * the other entity would be wrong, and inserting the key again would break its uniqueness.
 */
export function findIdempotent(
  db: DatabaseSync,
  key: string | null,
  entityType: string,
): string | null {
  if (key === null) return null;
  const row = db.prepare("SELECT entity_type, entity_id FROM idempotency_keys WHERE key = ?")
    .get(key) as { entity_type: string; entity_id: string } | undefined;
  if (!row) return null;
  if (row.entity_type !== entityType) {
    throw new ApiError(422, [{
      loc: ["header", "Idempotency-Key"],
      msg: `this key was already used to create a ${row.entity_type}`,
      type: "value_error",
    }]);
  }
  return row.entity_id;
}

/** Forget `key`, when the entity it made is gone and the caller chose to free the key. */
export function forgetIdempotent(db: DatabaseSync, key: string): void {
  db.prepare("DELETE FROM idempotency_keys WHERE key = ?").run(key);
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
