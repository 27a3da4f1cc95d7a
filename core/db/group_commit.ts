/**
 * Group commit: the writes of requests that reach this point in the same turn of the event loop
 * share one transaction. A commit is a WAL write: one per request was most of the cost of
 * POST /memories and POST /llm_jobs (a single-row commit ~200 µs here, against ~55 µs a row in a
 * group of 16). Each request's writes run in a savepoint of their own, so one that fails is undone
 * alone and fails alone; each caller is answered only after the shared COMMIT, so it never
 * reports a write that is not in the database (durability is the same as a transaction of its
 * own: synchronous = NORMAL in WAL mode, core/db/open.ts).
 */
import type { DatabaseSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import { savepoint } from "./open.ts";
import { rollbackIfActive } from "./sqlite_errors.ts";

interface Pending {
  fn: () => unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

// Work waiting for the next flush, per database.
const groups = new WeakMap<DatabaseSync, Pending[]>();

/**
 * Run `fn` (synchronous database work) in the next group commit of `db`; resolves with its
 * result once that commit is done, or rejects with its own error (or the commit's).
 */
export function groupCommit<T>(db: DatabaseSync, fn: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let group = groups.get(db);
    if (group === undefined) {
      const pending: Pending[] = [];
      group = pending;
      groups.set(db, pending);
      // After the I/O callbacks of this turn, not in a microtask: requests whose bodies arrived in
      // the same turn resume through several promise hops and should land in this group. Not
      // setTimeout(0) either, which waits ~2 ms in Deno.
      setImmediate(() => {
        groups.delete(db);
        flush(db, pending);
      });
    }
    group.push({ fn, resolve: resolve as (value: unknown) => void, reject });
  });
}

function flush(db: DatabaseSync, pending: Pending[]): void {
  const results: { ok: boolean; value: unknown }[] = [];
  try {
    db.exec("BEGIN IMMEDIATE");
    for (const p of pending) {
      try {
        results.push({ ok: true, value: savepoint(db, p.fn) });
      } catch (err) {
        if (!db.isTransaction) throw err; // the whole transaction is gone (e.g. a full disk)
        results.push({ ok: false, value: err });
      }
    }
    db.exec("COMMIT");
  } catch (err) {
    rollbackIfActive(db);
    for (const p of pending) p.reject(err);
    return;
  }
  pending.forEach((p, i) =>
    results[i].ok ? p.resolve(results[i].value) : p.reject(results[i].value)
  );
}
