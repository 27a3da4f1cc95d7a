/** Existence checks that turn unknown ids into 404s instead of foreign-key 500s. */
import type { DatabaseSync } from "node:sqlite";
import { ApiError, notFound } from "../http/errors.ts";
import { userExists } from "./users.ts";

/** Throw 404 "User not found" unless `userId` exists. */
export function requireUser(db: DatabaseSync, userId: number): void {
  if (!userExists(db, userId)) throw notFound("User");
}

/** Throw 404 "Memory not found" unless memory `id` exists; returns its owner. */
export function requireMemory(db: DatabaseSync, id: string): { owner_user_id: number } {
  const row = db.prepare("SELECT owner_user_id FROM memories WHERE id = ?").get(id) as
    | { owner_user_id: number }
    | undefined;
  if (!row) throw notFound("Memory");
  return row;
}

/** The memory and owner a new task, reminder or event names. */
export interface MemoryRef {
  /** Memory id from the request body. */
  memory_id: string;
  /** Owner from the request body. */
  owner_user_id: number;
}

/**
 * Check that the owner exists (404 "User not found"), the memory exists (404 "Memory not found")
 * and belongs to that owner (422 on `body.memory_id`), so a task, reminder or event can never
 * point to someone else's memory.
 */
export function requireOwnedMemory(db: DatabaseSync, ref: MemoryRef): void {
  requireUser(db, ref.owner_user_id);
  const memory = requireMemory(db, ref.memory_id.toLowerCase());
  if (memory.owner_user_id !== ref.owner_user_id) {
    throw new ApiError(422, [{
      loc: ["body", "memory_id"],
      msg: "memory belongs to another user than owner_user_id",
      type: "value_error",
    }]);
  }
}
