/**
 * Reusing prepared statements by SQL text, and opening every connection of the core that way.
 * Its own module so the core's threads (the search workers, core/store/search_thread.ts, and the
 * WAL checkpoint thread, core/db/checkpoint_worker.ts) can use it without loading the migrations.
 */
import { DatabaseSync, type DatabaseSyncOptions, type StatementSync } from "node:sqlite";
import { BUSY_TIMEOUT_MS } from "./busy_timeout.ts";

/** Most prepared statements kept per connection. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Make `db.prepare` reuse statements by SQL text (LRU). Each fresh statement holds native memory
 * that V8 rarely collects: without reuse the core grew to ~960 MB under load, with it ~160 MB
 * (bench/RESULTS.md). Safe because no caller keeps a statement mid-iteration (`iterate()`) or
 * sets per-statement options.
 */
export function cacheStatements(db: DatabaseSync): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, StatementSync>();
  db.prepare = (sql: string): StatementSync => {
    let stmt = cache.get(sql);
    if (stmt !== undefined) {
      cache.delete(sql);
    } else {
      stmt = prepare(sql);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    }
    cache.set(sql, stmt);
    return stmt;
  };
}

/**
 * Open a connection whose `prepare` reuses statements ({@linkcode cacheStatements}) and which
 * waits BUSY_TIMEOUT_MS on a lock another connection holds instead of failing at once (`options`
 * may say otherwise). Every connection of the core is opened here. A statement's native memory
 * (~2.8 KB) is freed only when a full collection finds its object unused, and a thread that
 * allocates little rarely runs one: the WAL checkpoint thread, which prepared its checkpoint afresh
 * 20 times a second while writes went on, held every one of them, and the core grew ~3 MB a minute
 * for as long as writes did.
 */
export function openConnection(path: string, options: DatabaseSyncOptions = {}): DatabaseSync {
  const db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS, ...options });
  cacheStatements(db);
  return db;
}
