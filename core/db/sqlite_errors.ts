/** SQLite failures the core treats specially: rolling back after one, and a full disk. */
import type { DatabaseSync } from "node:sqlite";

// SQLite's primary result code for "database or disk is full" (also max_page_count reached).
const SQLITE_FULL = 13;

/**
 * Roll back the open transaction, if there still is one. After some errors (SQLITE_FULL, I/O
 * errors) SQLite has already rolled back by itself; a second ROLLBACK would throw "cannot
 * rollback - no transaction is active" and hide the error that mattered.
 */
export function rollbackIfActive(db: DatabaseSync): void {
  if (db.isTransaction) db.exec("ROLLBACK");
}

/** Whether `err` is SQLite saying the disk (or the database's page limit) is full. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  // Extended result codes keep the primary code in their low byte.
  return typeof code === "number" && (code & 0xff) === SQLITE_FULL;
}
