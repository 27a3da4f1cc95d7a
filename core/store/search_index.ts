/**
 * What the core writes into the search index (memories_fts, migration 013) itself rather than
 * through a trigger: a new confirmed memory's row. Edits, deletions and tag changes are still
 * indexed by the triggers of migration 013.
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

/** An owner id as the index's `o`/`p` tokens spell it: a minus sign written as `n`. */
export function ownerTokenId(owner: number): string {
  return String(owner).replace("-", "n");
}

/** The `meta` column of an owner's memory: `o<owner>`, and `p<owner>` when it is pinned. */
export function metaTokens(owner: number, pinned: boolean): string {
  const id = ownerTokenId(owner);
  return pinned ? `o${id} p${id}` : `o${id}`;
}

/** A new memory, as {@linkcode indexNewMemory} needs it. */
export interface NewIndexedMemory {
  /** The memory's rowid (the index row's rowid). */
  rowid: number | bigint;
  /** Its text, if any. */
  content: string | null;
  /** Its owner. */
  owner_user_id: number;
  /** 0 or 1. */
  is_pinned: number;
}

/**
 * Index a memory just inserted as confirmed, in the caller's transaction. A new memory has no
 * tags yet (memory_tags rows need the memory first).
 */
export function indexNewMemory(db: DatabaseSync, memory: NewIndexedMemory): void {
  db.prepare("INSERT INTO memories_fts (rowid, content, tags, meta) VALUES (?, ?, '', ?)").run(
    memory.rowid,
    memory.content ?? "",
    metaTokens(memory.owner_user_id, memory.is_pinned === 1),
  );
}
