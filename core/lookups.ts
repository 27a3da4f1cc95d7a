/** Existence checks that turn unknown ids into 404s instead of foreign-key 500s. */
import type { DatabaseSync } from "node:sqlite";
import { notFound } from "./http/errors.ts";

/** Throw 404 "User not found" unless `userId` exists. */
export function requireUser(db: DatabaseSync, userId: number): void {
  const row = db.prepare("SELECT 1 AS x FROM users WHERE telegram_user_id = ?").get(userId);
  if (!row) throw notFound("User");
}

/** Throw 404 "Memory not found" unless memory `id` exists; returns its owner. */
export function requireMemory(db: DatabaseSync, id: string): { owner_user_id: number } {
  const row = db.prepare("SELECT owner_user_id FROM memories WHERE id = ?").get(id) as
    | { owner_user_id: number }
    | undefined;
  if (!row) throw notFound("Memory");
  return row;
}
