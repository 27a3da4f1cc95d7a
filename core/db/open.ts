/** Opens the SQLite store with the settings the core relies on. */
import { DatabaseSync } from "node:sqlite";
import { migrate, type MigrateOptions } from "./migrate.ts";
import { rollbackIfActive } from "./sqlite_errors.ts";
import { cacheStatements } from "./statement_cache.ts";

/** Options for {@linkcode openDatabase}. */
export interface OpenOptions extends MigrateOptions {
  /** Skip migrations (tests that build old files). */
  migrate?: boolean;
}

/**
 * Open (creating if needed) the database at `path` (`:memory:` for tests): WAL, foreign keys on,
 * a busy timeout so a second connection waits instead of failing, then migrate to the latest.
 */
export function openDatabase(path: string, options: OpenOptions = {}): DatabaseSync {
  const db = new DatabaseSync(path);
  cacheStatements(db);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    if (options.migrate !== false) migrate(db, options);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** Run `fn` inside one transaction: all of its writes land, or none do. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const out = fn();
    db.exec("COMMIT");
    return out;
  } catch (err) {
    rollbackIfActive(db);
    throw err;
  }
}
