/**
 * Whether a user exists, as plain SQL: its own module so a search thread, which may load only
 * core/store and core/db (scripts/serve.sh), can check a search's owner without loading the HTTP
 * errors that lookups.ts's requireUser throws.
 */
import type { DatabaseSync } from "node:sqlite";

/** Whether user `userId` (a Telegram user id) exists. */
export function userExists(db: DatabaseSync, userId: number): boolean {
  return db.prepare("SELECT 1 AS x FROM users WHERE telegram_user_id = ?").get(userId) !==
    undefined;
}
