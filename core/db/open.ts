/** Opens the SQLite store with the settings the core relies on. */
import type { DatabaseSync } from "node:sqlite";
import { migrate, type MigrateOptions } from "./migrate.ts";
import { rollbackIfActive } from "./sqlite_errors.ts";
import { openConnection } from "./statement_cache.ts";

/** What an emptied WAL file is truncated to (see core/background/checkpointer.ts). */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

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
  const db = openConnection(path);
  try {
    if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    // After a checkpoint, a WAL grown large under load is cut back to this size on disk.
    db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    db.exec("PRAGMA foreign_keys = ON");
    if (options.migrate !== false) migrate(db, options);
    // Statement journals in memory. A group commit runs each request in a savepoint, whose
    // journal holds the pages the transaction had already changed; past 64 KiB SQLite spilled it
    // to a temp file (/var/tmp), as POST /memories did on every request: 86 -> 20 KB written per
    // POST /memories, 3.5k -> 4.9k req/s. No commit depends on a writable temp directory either.
    // A journal is bounded by the pages of one group. Set after the migrations, whose index
    // builds on a large old store may sort more than should be held in memory.
    db.exec("PRAGMA temp_store = MEMORY");
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Run `fn` inside one transaction: all of its writes land, or none do. Inside a transaction
 * already open (a group commit, core/db/group_commit.ts) it is a savepoint of that one.
 */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  if (db.isTransaction) return savepoint(db, fn);
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

/** Run `fn` in a savepoint of the open transaction: on an error its writes alone are undone. */
export function savepoint<T>(db: DatabaseSync, fn: () => T): T {
  // Prepared (and cached), not exec'd: a group commit opens one per request.
  db.prepare("SAVEPOINT part").run();
  try {
    const out = fn();
    db.prepare("RELEASE part").run();
    return out;
  } catch (err) {
    // After some errors (a full disk) SQLite has rolled the whole transaction back itself.
    if (db.isTransaction) db.exec("ROLLBACK TO part; RELEASE part");
    throw err;
  }
}
