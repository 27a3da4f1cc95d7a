/**
 * Group commit: the writes of requests that reach this point in the same turn of the event loop
 * share one transaction. A commit is a WAL write: one per request was most of the cost of
 * POST /memories and POST /llm_jobs (a single-row commit ~200 µs here, against ~55 µs a row in a
 * group of 16). Each caller is answered only after the shared COMMIT, so it never reports a write
 * that is not in the database (durability is the same as a transaction of its own: synchronous =
 * NORMAL in WAL mode, core/db/open.ts).
 *
 * A part that fails is undone alone and fails alone. The parts run one after another without
 * savepoints; only when one fails is the group rolled back and run again with a savepoint around
 * each part. A savepoint per part made FTS5 write each new memory's terms out as a segment of its
 * own (core/store/search_index.ts): POST /memories' store work ~85 -> ~45 µs a memory without.
 * So a part may run twice, and must only read and write the database.
 *
 * In the run without savepoints the group also holds the writes its parts give writeInOrder
 * (core/db/held_writes.ts) and makes them in order just before COMMIT, so FTS5 keeps the new
 * memories of several owners in one segment. Not in the run with savepoints: each savepoint writes
 * FTS5's terms out anyway, and a part undone alone would have to take its held writes with it.
 */
import type { DatabaseSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import { type Holding, holdWrites } from "./held_writes.ts";
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
 * Run `fn` (synchronous database work, nothing else: it may run twice) in the next group commit
 * of `db`; resolves with its result once that commit is done, or rejects with its own error (or
 * the commit's).
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

type Outcome = { ok: boolean; value: unknown };

function flush(db: DatabaseSync, pending: Pending[]): void {
  let outcomes: Outcome[];
  try {
    outcomes = runGroup(db, pending, { eachInSavepoint: false }) ??
      runGroup(db, pending, { eachInSavepoint: true })!;
  } catch (err) {
    rollbackIfActive(db);
    for (const p of pending) p.reject(err);
    return;
  }
  pending.forEach((p, i) =>
    outcomes[i].ok ? p.resolve(outcomes[i].value) : p.reject(outcomes[i].value)
  );
}

/**
 * Every part in one transaction, committed. With `eachInSavepoint` a failing part is undone alone
 * and the others are kept. Without, a failing part (or a failing held write) rolls the group back:
 * a group of one fails with its part, a larger group is answered null (run it again part by
 * part). Throws what fails the whole group (BEGIN, COMMIT, a transaction SQLite ended itself, e.g.
 * on a full disk).
 */
function runGroup(
  db: DatabaseSync,
  pending: Pending[],
  options: { eachInSavepoint: boolean },
): Outcome[] | null {
  db.exec("BEGIN IMMEDIATE");
  if (options.eachInSavepoint) {
    const outcomes = pending.map((p) => runInSavepoint(db, p));
    db.exec("COMMIT");
    return outcomes;
  }
  const holding = holdWrites(db);
  try {
    const outcomes = runParts(db, pending);
    // A failed part has rolled the group back already.
    if (outcomes === null || outcomes.some((o) => !o.ok)) return outcomes;
    if (!releaseHeld(db, holding)) return null;
    db.exec("COMMIT");
    return outcomes;
  } finally {
    holding.drop();
  }
}

/**
 * The parts one after another. When one fails the group is rolled back: null for a group of
 * several (each is run again alone), the failure itself for a group of one.
 */
function runParts(db: DatabaseSync, pending: Pending[]): Outcome[] | null {
  const outcomes: Outcome[] = [];
  for (const p of pending) {
    try {
      outcomes.push({ ok: true, value: p.fn() });
    } catch (err) {
      if (!db.isTransaction) throw err;
      db.exec("ROLLBACK");
      if (pending.length > 1) return null;
      return [{ ok: false, value: err }];
    }
  }
  return outcomes;
}

/** A part in a savepoint of its own: undone alone when it fails. */
function runInSavepoint(db: DatabaseSync, p: Pending): Outcome {
  try {
    return { ok: true, value: savepoint(db, p.fn) };
  } catch (err) {
    if (!db.isTransaction) throw err;
    return { ok: false, value: err };
  }
}

/**
 * Make the held writes; false when one failed and the group was rolled back (run again part by
 * part, the writes made at once, so that the part whose write fails fails alone).
 */
function releaseHeld(db: DatabaseSync, holding: Holding): boolean {
  try {
    holding.release();
    return true;
  } catch (err) {
    if (!db.isTransaction) throw err;
    db.exec("ROLLBACK");
    return false;
  }
}
