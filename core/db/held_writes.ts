/**
 * Writes a group commit may hold until just before its COMMIT and then make in the order of their
 * keys rather than in the order of its parts (core/db/group_commit.ts).
 *
 * Why: FTS5 keeps the terms of new rows in memory until the transaction ends, but only while
 * their rowids ascend; a rowid below the last one writes what it holds out as a segment of its own
 * (sqlite3Fts5IndexBeginWrite). The search index numbers an owner's rows in a range of their own
 * (core/store/search_index.ts), so the new memories of several owners in one group descend at
 * each change of owner: 16 memories of 5 owners made 3-4 segments instead of one, and cost
 * POST /memories ~15% of its throughput. Written in order of rowid, they are one segment again.
 */
import type { DatabaseSync } from "node:sqlite";

/** A write to make later: `write` runs once, with the writes of smaller `key`s before it. */
export interface HeldWrite {
  /** Its place among the held writes (the search index's rowid). */
  key: bigint;
  /** The write; it reads the database again, as what it writes may have changed since. */
  write(): void;
}

// The writes held for each database while a group commit holds them.
const held = new WeakMap<DatabaseSync, HeldWrite[]>();

/**
 * Make `w` now, or, while a group commit of `db` holds writes, with the group's other held writes
 * in order of key just before its COMMIT.
 */
export function writeInOrder(db: DatabaseSync, w: HeldWrite): void {
  const writes = held.get(db);
  if (writes === undefined) w.write();
  else writes.push(w);
}

/** The writes a group commit holds: made in order, or dropped with the rolled back group. */
export interface Holding {
  /** Stop holding and make the held writes in order of key; throws what a write throws. */
  release(): void;
  /** Stop holding and forget the held writes (their transaction was rolled back). */
  drop(): void;
}

/** Hold the writes {@linkcode writeInOrder} is given for `db` until the answer is released. */
export function holdWrites(db: DatabaseSync): Holding {
  const writes: HeldWrite[] = [];
  held.set(db, writes);
  const stop = () => {
    if (held.get(db) === writes) held.delete(db);
  };
  return {
    release() {
      stop();
      writes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const w of writes.splice(0)) w.write();
    },
    drop() {
      stop();
      writes.length = 0;
    },
  };
}
