/**
 * What the core writes into the search index (memories_fts, migrations 013, 021 and 022) itself
 * rather than through a trigger: a new confirmed memory's row, and the numbering of the index's
 * rows. Edits, deletions and tag changes are still indexed by triggers (migration 021's).
 *
 * Why not a trigger: FTS5 writes the terms it holds in memory out as a new segment of the index
 * whenever a savepoint opens, and SQLite opens one (a statement journal) for every INSERT into a
 * table with a trigger that can write (even one whose WHEN is false). Indexing through the
 * insert trigger made every new memory its own segment, merged again and again by FTS5 later: ~45
 * of the ~85 µs a new memory cost in a group commit of 16 (bench store, in-process). A plain
 * INSERT ... VALUES keeps the terms of a whole group commit in memory until its COMMIT (~15 µs a
 * memory), as long as their rowids ascend; the group commit writes them in order of rowid and
 * runs its parts without savepoints for the same reason.
 */
import type { DatabaseSync } from "node:sqlite";
import { writeInOrder } from "../db/held_writes.ts";
import { totalChanges } from "../db/query.ts";

/** An owner id as the index's `o`/`p` tokens spell it: a minus sign written as `n`. */
export function ownerTokenId(owner: number): string {
  return String(owner).replace("-", "n");
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
  /** The memory's id. */
  id: string;
  /** The memory's rowid. */
  rowid: number | bigint;
  /** Its owner. */
  owner_user_id: number;
}

/**
 * Index a memory just inserted as confirmed, in the caller's transaction, in its owner's part.
 * Throws when the owner has no part, which every user is given when created: a memory left out
 * of the index would be one its owner could never find.
 *
 * Inside a group commit the row is written just before its COMMIT, with the group's other new
 * memories in order of index rowid (core/db/held_writes.ts: rowids that descend, as they do at
 * each change of owner, would cut FTS5's pending terms into several segments). So it is written
 * from the memory as it is then, through the view the triggers read (migration 021): not at all
 * if the memory has been deleted or is no longer confirmed, or has changed meanwhile (its
 * trigger has indexed it).
 */
export function indexNewMemory(db: DatabaseSync, memory: NewIndexedMemory): void {
  const owner = db.prepare("SELECT part FROM search_owners WHERE owner_user_id = ?")
    .get(memory.owner_user_id) as { part: number } | undefined;
  if (owner === undefined) {
    throw new Error(`owner ${memory.owner_user_id} has no part of the search index`);
  }
  // As integers: node:sqlite binds a number as a double, and a part's rowids pass 2^53.
  const key = BigInt(owner.part) * BigInt(SEARCH_PART_SPAN) + BigInt(memory.rowid);
  writeInOrder(db, { key, write: () => writeIndexRow(db, key, memory.id) });
}

/**
 * The index row of memory `id` as it is now, if it is confirmed and not indexed yet (a trigger
 * indexes it when it changes): the index keeps no content (migration 022), so nothing would stop
 * a second row with the same rowid, which FTS5 would count twice.
 */
function writeIndexRow(db: DatabaseSync, rowid: bigint, id: string): void {
  const row = db.prepare(
    `SELECT content, tags, meta FROM memories_fts_rows
     WHERE memory_id = ?1 AND NOT EXISTS (SELECT 1 FROM memories_fts_docsize WHERE id = ?2)`,
  ).get(id, rowid) as { content: string; tags: string; meta: string } | undefined;
  if (row === undefined) return;
  // VALUES, not INSERT ... SELECT: SQLite gives a statement with a SELECT a statement journal,
  // and FTS5 writes its pending terms out as a segment at each one (see above).
  db.prepare("INSERT INTO memories_fts (rowid, content, tags, meta) VALUES (?, ?, ?, ?)")
    .run(rowid, row.content, row.tags, row.meta);
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
