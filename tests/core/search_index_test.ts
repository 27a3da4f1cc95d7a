/**
 * core/store/search_index.ts: a new confirmed memory is indexed by the core's insert, exactly as
 * the triggers of migration 013 index it when it changes, and the new memories of one group
 * commit reach the index together (one segment, whatever their owners), not one by one, as they
 * are at its COMMIT.
 */
import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { openDatabase } from "../../core/db/open.ts";
import { groupCommit } from "../../core/db/group_commit.ts";
import { insertMemory } from "../../core/store/memory_repo.ts";
import { ownerTokenId } from "../../core/store/search_index.ts";
import { searchMemories } from "../../core/store/search_query.ts";
import { newMemory } from "../helpers/fixtures.ts";
import { DEFAULT_SEARCH_TUNING } from "../../core/store/search_pool.ts";

const OWNERS = [1001, -100123];

function store(): DatabaseSync {
  const db = openDatabase(":memory:");
  for (const id of OWNERS) {
    db.prepare(
      "INSERT INTO users (telegram_user_id, display_name, is_allowed, created_at) VALUES (?, 'S', 1, ?)",
    ).run(id, new Date().toISOString());
  }
  return db;
}

/**
 * The `meta` column of an owner's memory as migration 021's view spells it: `o<owner>`, and
 * `p<owner>` when it is pinned, in the spelling search_query.ts matches.
 */
function metaTokens(owner: number, pinned: boolean): string {
  const id = ownerTokenId(owner);
  return pinned ? `o${id} p${id}` : `o${id}`;
}

/**
 * The terms of memory `id`'s index row, by column and position (the index keeps no text since
 * migration 022, only terms), or undefined when it has none.
 */
function indexRow(db: DatabaseSync, id: string) {
  db.exec(
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.terms USING fts5vocab(main, memories_fts, instance)",
  );
  const terms = db.prepare(
    `SELECT col, term FROM temp.terms
     WHERE doc = (SELECT fts_rowid FROM memories_fts_rows WHERE memory_id = ?) ORDER BY col, offset`,
  ).all(id) as { col: string; term: string }[];
  if (terms.length === 0) return undefined;
  const row: Record<string, string> = { content: "", tags: "", meta: "" };
  for (const t of terms) row[t.col] = `${row[t.col]} ${t.term}`.trim();
  return row;
}

Deno.test("a new confirmed memory is indexed as the triggers index a changed one", () => {
  using db = store();
  for (const owner of OWNERS) {
    const row = insertMemory(db, newMemory(owner, "Blue umbrella by the door"));
    const byInsert = indexRow(db, row.id);
    assert.deepEqual(byInsert, {
      content: "blue umbrella by the door",
      tags: "",
      meta: metaTokens(owner, false),
    });
    // The update trigger of migration 021 writes the row again with its own SQL.
    db.prepare("UPDATE memories SET content = content WHERE id = ?").run(row.id);
    assert.deepEqual(indexRow(db, row.id), byInsert);
    db.prepare("UPDATE memories SET is_pinned = 1 WHERE id = ?").run(row.id);
    assert.equal(indexRow(db, row.id)!.meta, metaTokens(owner, true));
    const hits = searchMemories(db, { owner, q: "umbrella" }, DEFAULT_SEARCH_TUNING);
    assert.deepEqual(hits.map((h) => h.memory.id), [row.id]);
  }
  const pending = insertMemory(db, newMemory(1001, "umbrella photo", { status: "pending" }));
  assert.equal(indexRow(db, pending.id), undefined, "a pending memory is not searchable");
});

Deno.test("the new memories of one group commit reach the index as one segment", async () => {
  using db = store();
  // No merging, so every segment FTS5 writes stays a row of its own in memories_fts_data.
  db.exec("INSERT INTO memories_fts (memories_fts, rank) VALUES ('automerge', 0)");
  db.exec("INSERT INTO memories_fts (memories_fts, rank) VALUES ('crisismerge', 64)");
  const dataRows = () =>
    Number((db.prepare("SELECT count(*) AS n FROM memories_fts_data").get() as { n: number }).n);
  await groupCommit(db, () => insertMemory(db, newMemory(1001, "first words")));
  const before = dataRows();
  // The owners take turns, so the index rowids (part * 2^40 + rowid) descend at every other
  // memory in the order the parts run.
  const made = await Promise.all(
    Array.from(
      { length: 16 },
      (_, i) =>
        groupCommit(db, () => insertMemory(db, newMemory(OWNERS[i % 2], `note ${i} about tea`))),
    ),
  );
  // One new segment is a leaf (plus the structure record rewritten in place); a segment a
  // memory, as through an insert trigger or a savepoint a part, added 16 or more, and rowids
  // written as they descend 8.
  assert.ok(dataRows() - before <= 2, `${dataRows() - before} new rows in memories_fts_data`);
  for (const owner of OWNERS) {
    const hits = searchMemories(db, { owner, q: "tea" }, DEFAULT_SEARCH_TUNING);
    assert.deepEqual(
      new Set(hits.map((h) => h.memory.id)),
      new Set(made.filter((m) => m.owner_user_id === owner).map((m) => m.id)),
    );
  }
});

Deno.test("a memory changed or deleted in its own group commit is indexed as it is at the COMMIT", async () => {
  using db = store();
  const search = (q: string) =>
    new Set(searchMemories(db, { owner: 1001, q }, DEFAULT_SEARCH_TUNING).map((h) => h.memory.id));
  const ids = { gone: "", kept: "", changed: "", hidden: "" };
  const add = (name: keyof typeof ids, text: string) =>
    groupCommit(db, () => (ids[name] = insertMemory(db, newMemory(1001, text)).id));
  const update = (sql: string, name: keyof typeof ids) =>
    groupCommit(db, () => db.prepare(sql).run(ids[name]));
  // One group: the index rows of the new memories are written just before its COMMIT.
  await Promise.all([
    add("gone", "kettle descaler"),
    add("kept", "kettle spare lid"),
    add("changed", "kettle receipt"),
    add("hidden", "kettle box"),
    update("DELETE FROM memories WHERE id = ?", "gone"),
    update("UPDATE memories SET content = 'kettle warranty' WHERE id = ?", "changed"),
    update("UPDATE memories SET status = 'pending' WHERE id = ?", "hidden"),
  ]);
  assert.deepEqual(search("kettle"), new Set([ids.kept, ids.changed]));
  assert.deepEqual(search("warranty"), new Set([ids.changed]));
  assert.deepEqual(search("receipt"), new Set());
  const rows = db.prepare("SELECT count(*) AS n FROM memories_fts").get() as { n: number };
  assert.equal(rows.n, 2, "no index row is left without its confirmed memory");
  // Indexed once: the index keeps no content (migration 022), so nothing but the write itself
  // refuses a second row with the same rowid, which would count in bm25 as another document.
  using fresh = store();
  for (const text of ["kettle spare lid", "kettle warranty"]) {
    insertMemory(fresh, newMemory(1001, text));
  }
  assert.deepEqual(scores(db, "kettle"), scores(fresh, "kettle"));
});

/** bm25 of every index row matching `q`, as search_query.ts weighs the columns, by rowid. */
function scores(db: DatabaseSync, q: string): number[] {
  return db.prepare(
    `SELECT -bm25(memories_fts, 1.0, 1.0, 0.0) AS s FROM memories_fts WHERE memories_fts MATCH ?
     ORDER BY rowid`,
  ).all(q).map((r) => (r as { s: number }).s);
}
