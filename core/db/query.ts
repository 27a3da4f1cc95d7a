/**
 * Typed reads, and the small pieces of SQL every store module shares (a bound LIMIT, the count of
 * rows written). node:sqlite answers rows as `Record<string, SQLOutputValue>`; the caller names
 * the row shape its SQL selects, and this is the one place that trusts the SQL to produce it.
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

/**
 * A LIMIT bound as a parameter, as SQL: `CAST(? AS INTEGER)`, or `CAST(?N AS INTEGER)` for
 * parameter `n`. Never a bare `LIMIT ?`: Deno's SQLite (3.53) plans a bare one with the bound
 * value and marks the statement to be compiled again whenever that parameter is bound, and
 * node:sqlite binds every parameter on every run, so a cached statement was parsed and planned
 * afresh each time: the ranking of a rare-word search took 75-120 us so and takes 43-64 with the
 * cast (in-process, pinned, a slow phase of the VM), a small list ~19 and ~10 us. An expression
 * is not planned by value, and the cast keeps the value an integer (node:sqlite binds every JS
 * number as a REAL). OFFSET is not planned by value.
 */
export function limitParam(n?: number): string {
  return `CAST(?${n ?? ""} AS INTEGER)`;
}

/** Rows inserted, updated or deleted through `db` since it opened (SQLite's total_changes()). */
export function totalChanges(db: DatabaseSync): number {
  return (db.prepare("SELECT total_changes() AS n").get() as { n: number }).n;
}
