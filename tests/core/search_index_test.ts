/**
 * core/store/search_index.ts: a new confirmed memory is indexed by the core's insert, exactly as
 * the triggers of migration 013 index it when it changes, and the new memories of one group
 * commit reach the index together (one segment), not one by one.
 */
import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { openDatabase } from "../../core/db/open.ts";
import { groupCommit } from "../../core/db/group_commit.ts";
import { insertMemory } from "../../core/store/memory_repo.ts";
import { metaTokens } from "../../core/store/search_index.ts";
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

const indexRow = (db: DatabaseSync, id: string) =>
  db.prepare(
    `SELECT f.content, f.tags, f.meta FROM memories_fts f
     JOIN memories_fts_rows r ON f.rowid = r.fts_rowid WHERE r.memory_id = ?`,
  ).get(id);

Deno.test("a new confirmed memory is indexed as the triggers index a changed one", () => {
  using db = store();
  for (const owner of OWNERS) {
    const row = insertMemory(db, newMemory(owner, "Blue umbrella by the door"));
    const byInsert = { ...indexRow(db, row.id) };
    assert.deepEqual(byInsert, {
      content: "Blue umbrella by the door",
      tags: "",
      meta: metaTokens(owner, false),
    });
    // The update trigger of migration 013 writes the row again with its own SQL.
    db.prepare("UPDATE memories SET content = content WHERE id = ?").run(row.id);
    assert.deepEqual({ ...indexRow(db, row.id) }, byInsert);
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
  const made = await Promise.all(
    Array.from(
      { length: 16 },
      (_, i) => groupCommit(db, () => insertMemory(db, newMemory(1001, `note ${i} about tea`))),
    ),
  );
  // One new segment is a leaf (plus the structure record rewritten in place); a segment a
  // memory, as through an insert trigger or a savepoint a part, added 16 or more.
  assert.ok(dataRows() - before <= 2, `${dataRows() - before} new rows in memories_fts_data`);
  const hits = searchMemories(db, { owner: 1001, q: "tea" }, DEFAULT_SEARCH_TUNING);
  assert.deepEqual(new Set(hits.map((h) => h.memory.id)), new Set(made.map((m) => m.id)));
});
