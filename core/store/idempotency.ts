/**
 * Idempotent creates: a client that may retry a POST (the LLM worker re-running a job after a
 * crash) sends `Idempotency-Key: <key>`; a repeat of the same request with the same key answers
 * with the entity the first request made instead of making another.
 *
 * A key is bound to the request that first used it (a SHA-256 of method, route pattern and body):
 * the same key with another request is refused with 422, so a guessed or reused key can never
 * hand one caller the entity another caller's request made.
 */
import type { Context } from "hono";
import { routePath } from "hono/route";
import type { DatabaseSync } from "node:sqlite";
import { ApiError } from "../http/errors.ts";

/** An idempotency key and the fingerprint of the request that carries it. */
export interface IdempotencyKey {
  /** The header's value. */
  key: string;
  /** Hex SHA-256 of method, route pattern and raw body. */
  requestHash: string;
}

function keyIssue(msg: string): ApiError {
  return new ApiError(422, [{ loc: ["header", "Idempotency-Key"], msg, type: "value_error" }]);
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The request's idempotency key with its request fingerprint, or null. Keys are at most 200
 * printable characters. Call after the body was parsed (Hono keeps the body text it read).
 */
export async function idempotencyKey(c: Context): Promise<IdempotencyKey | null> {
  const key = c.req.header("idempotency-key");
  if (key === undefined || key === "") return null;
  if (key.length > 200 || !/^[\x21-\x7e]+$/.test(key)) {
    throw keyIssue("must be 1-200 printable ASCII characters");
  }
  const body = await c.req.text();
  // JSON-encoded parts, so no choice of body can make two different requests look alike.
  const requestHash = await sha256Hex(JSON.stringify([c.req.method, routePath(c), body]));
  return { key, requestHash };
}

/**
 * The id already created under `key` for `entityType`, if any. Call inside the transaction.
 * A key already used to create another kind of entity, or with another request, is a client
 * error (422): answering with that entity would hand it to whoever reused the key, and inserting
 * the key again would break its uniqueness.
 */
export function findIdempotent(
  db: DatabaseSync,
  key: IdempotencyKey | null,
  entityType: string,
): string | null {
  if (key === null) return null;
  const row = db.prepare(
    "SELECT entity_type, entity_id, request_hash FROM idempotency_keys WHERE key = ?",
  ).get(key.key) as
    | { entity_type: string; entity_id: string; request_hash: string | null }
    | undefined;
  if (!row) return null;
  if (row.entity_type !== entityType) {
    throw keyIssue(`this key was already used to create a ${row.entity_type}`);
  }
  if (row.request_hash !== key.requestHash) {
    throw keyIssue(
      "this key was already used with a different request; send a new key for a new request",
    );
  }
  return row.entity_id;
}

/** Forget `key`, when the entity it made is gone and the caller chose to free the key. */
export function forgetIdempotent(db: DatabaseSync, key: IdempotencyKey): void {
  db.prepare("DELETE FROM idempotency_keys WHERE key = ?").run(key.key);
}

/** Remember that `key` created `entityId`. Call inside the transaction that created it. */
export function rememberIdempotent(
  db: DatabaseSync,
  key: IdempotencyKey | null,
  entity: { type: string; id: string; at: string },
): void {
  if (key === null) return;
  db.prepare(
    `INSERT INTO idempotency_keys (key, entity_type, entity_id, created_at, request_hash)
     VALUES (?, ?, ?, ?, ?)`,
  ).run(key.key, entity.type, entity.id, entity.at, key.requestHash);
}
