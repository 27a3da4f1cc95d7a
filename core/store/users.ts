/**
 * Users as plain SQL: its own module so a search thread, which may load only core/store and
 * core/db (scripts/serve.sh), can check a search's owner without loading the HTTP errors that
 * lookups.ts's requireUser throws.
 */
import type { DatabaseSync } from "node:sqlite";

/** Whether user `userId` (a Telegram user id) exists. */
export function userExists(db: DatabaseSync, userId: number): boolean {
  return db.prepare("SELECT 1 AS x FROM users WHERE telegram_user_id = ?").get(userId) !==
    undefined;
}

/**
 * User `userId`'s part of the search index (search_owners.part, migration 021), null when there
 * is no such user. 0 for a user without a part, which no index row is numbered in.
 */
export function searchPart(db: DatabaseSync, userId: number): number | null {
  const row = db.prepare(
    `SELECT coalesce((SELECT part FROM search_owners WHERE owner_user_id = u.telegram_user_id), 0)
       AS part FROM users u WHERE u.telegram_user_id = ?`,
  ).get(userId) as { part: number } | undefined;
  return row === undefined ? null : row.part;
}
