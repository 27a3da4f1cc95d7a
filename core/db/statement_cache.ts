/**
 * Reusing prepared statements by SQL text. Its own module so the search workers
 * (core/store/search_worker.ts) can use it without loading the migrations.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";

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
