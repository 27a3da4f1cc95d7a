/**
 * What the core writes into the search index (memories_fts, migrations 013 and 021) itself rather
 * than through a trigger: a new confirmed memory's row, and the numbering of the index's rows.
 * Edits, deletions and tag changes are still indexed by triggers (migration 021's).
 *
 * Why not a trigger: FTS5 writes the terms it holds in memory out as a new segment of the index
 * whenever a savepoint opens, and SQLite opens one (a statement journal) for every INSERT into a
 * table with a trigger that can write (even one whose WHEN is false). Indexing through the
 * insert trigger made every new memory its own segment, merged again and again by FTS5 later: ~45
 * of the ~85 µs a new memory cost in a group commit of 16 (bench store, in-process). A plain
 * INSERT ... VALUES keeps the terms of a whole group commit in memory until its COMMIT (~15 µs a
 * memory). The group commit runs its parts without savepoints for the same reason.
 */
import type { DatabaseSync } from "node:sqlite";
import { totalChanges } from "../db/query.ts";

/** An owner id as the index's `o`/`p` tokens spell it: a minus sign written as `n`. */
export function ownerTokenId(owner: number): string {
  return String(owner).replace("-", "n");
}

/** The `meta` column of an owner's memory: `o<owner>`, and `p<owner>` when it is pinned. */
export function metaTokens(owner: number, pinned: boolean): string {
  const id = ownerTokenId(owner);
  return pinned ? `o${id} p${id}` : `o${id}`;
}

/**
 * The span of rowids of an owner's part of the search index (migration 021): a memory's index
 * row is numbered `part * SEARCH_PART_SPAN + rowid`, `part` being the owner's
 * `search_owners.part`, so one range of rowids holds exactly an owner's memories. 2^40: a
 * memory's rowid stays below it (a rowid is one more than the largest so far), and parts up to
 * 2^23 - 1 (8,388,607 owners) fit in SQLite's 64-bit rowids. Migration 021's triggers spell the
 * same number.
 */
export const SEARCH_PART_SPAN = 1099511627776;

/** A new memory, as {@linkcode indexNewMemory} needs it. */
export interface NewIndexedMemory {
  /** The memory's rowid. */
  rowid: number | bigint;
  /** Its text, if any. */
  content: string | null;
  /** Its owner. */
  owner_user_id: number;
  /** 0 or 1. */
  is_pinned: number;
}

/**
 * Index a memory just inserted as confirmed, in the caller's transaction, in its owner's part.
 * A new memory has no tags yet (memory_tags rows need the memory first). Throws when the owner
 * has no part, which every user is given when created: a memory left out of the index would be
 * one its owner could never find.
 */
export function indexNewMemory(db: DatabaseSync, memory: NewIndexedMemory): void {
  const owner = db.prepare("SELECT part FROM search_owners WHERE owner_user_id = ?")
    .get(memory.owner_user_id) as { part: number } | undefined;
  if (owner === undefined) {
    throw new Error(`owner ${memory.owner_user_id} has no part of the search index`);
  }
  // VALUES, not INSERT ... SELECT: SQLite gives a statement with a SELECT a statement journal,
  // and FTS5 writes its pending terms out as a segment at each one (see above).
  db.prepare(
    `INSERT INTO memories_fts (rowid, content, tags, meta)
     VALUES (? * ${SEARCH_PART_SPAN} + ?, ?, '', ?)`,
  ).run(
    // As integers: node:sqlite binds a number as a double, and a part's rowids pass 2^53.
    BigInt(owner.part),
    BigInt(memory.rowid),
    memory.content ?? "",
    metaTokens(memory.owner_user_id, memory.is_pinned === 1),
  );
}

/**
 * Pages of new segment one merge step writes (4 KB each): a step is ~1-5 ms on the main thread
 * (bench store, a slow phase of the VM).
 */
export const MERGE_STEP_PAGES = 16;

/**
 * One step of FTS5's incremental merge of the search index: merge the segments of a level that
 * holds at least `usermerge` (FTS5's default, 4) of them, writing about
 * {@linkcode MERGE_STEP_PAGES} pages. True when it merged something; false when there was
 * nothing to merge (FTS5 counts a step that did nothing as fewer than 2 changes).
 */
export function mergeIndexStep(db: DatabaseSync): boolean {
  const before = totalChanges(db);
  db.prepare(
    `INSERT INTO memories_fts (memories_fts, rank) VALUES ('merge', ${MERGE_STEP_PAGES})`,
  ).run();
  return totalChanges(db) - before >= 2;
}
