/**
 * Typed reads. node:sqlite answers rows as `Record<string, SQLOutputValue>`; the caller names the
 * row shape its SQL selects, and this is the one place that trusts the SQL to produce it.
 */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";

/** The first row `sql` selects with `args` bound, as `T`, or null when there is none. */
export function queryOne<T extends object>(
  db: DatabaseSync,
  sql: string,
  ...args: SQLInputValue[]
): T | null {
  const row = db.prepare(sql).get(...args);
  return row === undefined ? null : row as T;
}

/** Every row `sql` selects with `args` bound, as `T`, in the order SQLite returns them. */
export function queryAll<T extends object>(
  db: DatabaseSync,
  sql: string,
  ...args: SQLInputValue[]
): T[] {
  return db.prepare(sql).all(...args) as T[];
}
