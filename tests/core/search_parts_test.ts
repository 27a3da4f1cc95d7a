/**
 * The search index numbered by owner (migration 021, core/store/search_index.ts): an upgraded
 * file answers every search as before, with the same scores; a memory given to another owner
 * moves to that owner's part; every user has a part, and a memory whose owner has none is
 * refused rather than indexed where another owner could find it.
 */
import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { openDatabase } from "../../core/db/open.ts";
import { migrate } from "../../core/db/migrate.ts";
import { insertMemory } from "../../core/store/memory_repo.ts";
import { newMemory } from "../helpers/fixtures.ts";
import { buildMatchQuery, searchMemories } from "../../core/store/search_query.ts";
import { SEARCH_PART_SPAN } from "../../core/store/search_index.ts";
import { newRowId } from "../../core/store/row_id.ts";
import { DEFAULT_SEARCH_TUNING } from "../../core/store/search_pool.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const OWNERS = [1001, 1002, -100123];
const WORDS = [
  "apple",
  "pear",
  "plum",
  "fig",
  "kiwi",
  "lime",
  "date",
  "lemon",
  "melon",
  "grape",
  "peach",
  "mango",
];

function addUser(db: DatabaseSync, id: number): void {
  db.prepare(
    "INSERT INTO users (telegram_user_id, display_name, is_allowed, created_at) VALUES (?, 'S', 1, ?)",
  ).run(id, new Date().toISOString());
}

/**
 * Memories of every owner through plain SQL, indexed as version 20 indexes them: a new confirmed
 * memory by the core's code (here the statement migration 013 indexed the store with), tags by
 * the triggers.
 */
function fill(db: DatabaseSync): void {
  const insert = db.prepare(
    `INSERT INTO memories (id, owner_user_id, content, status, is_pinned, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const tags: [string, string, string][] = [];
  for (let i = 0; i < 300; i++) {
    const id = newRowId(Date.UTC(2026, 0, 1) + i * 1000);
    const words = Array.from({ length: 1 + (i % 5) }, (_, k) => WORDS[(i * 7 + k * k) % 12]);
    const at = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
    const status = i % 17 === 0 ? "pending" : "confirmed";
    insert.run(id, OWNERS[i % 3], words.join(" "), status, i % 11 === 0 ? 1 : 0, at, at);
    if (i % 4 === 0) tags.push([id, WORDS[(i + 1) % 12], at]);
  }
  db.exec(
    `INSERT INTO memories_fts (rowid, content, tags, meta)
     SELECT m.rowid, coalesce(m.content, ''), '',
            'o' || replace(m.owner_user_id, '-', 'n') ||
            CASE WHEN m.is_pinned THEN ' p' || replace(m.owner_user_id, '-', 'n') ELSE '' END
     FROM memories m WHERE m.status = 'confirmed'`,
  );
  const tag = db.prepare(
    `INSERT INTO memory_tags (memory_id, tag, status, suggested_at, confirmed_at)
     VALUES (?, ?, 'confirmed', ?, ?)`,
  );
  for (const [id, word, at] of tags) tag.run(id, word, at, at);
}

/** What a search should answer: the owner's matches, pinned first, by -bm25, newer on ties. */
function reference(db: DatabaseSync, q: string, owner: number, indexRowid: string) {
  return db.prepare(
    `SELECT m.id AS id, -bm25(memories_fts, 1.0, 1.0, 0.0) AS score
     FROM memories_fts JOIN memories m ON memories_fts.rowid = ${indexRowid}
     WHERE memories_fts MATCH ? AND m.owner_user_id = ?
     ORDER BY m.is_pinned DESC, score DESC, m.rowid DESC LIMIT 20`,
  ).all(`{content tags} : (${buildMatchQuery(q)})`, owner).map((r) => ({ ...r }));
}

Deno.test("an upgraded file answers every search as before, scores included", () => {
  using db = openDatabase(":memory:", { upTo: 20 });
  for (const id of OWNERS) addUser(db, id);
  fill(db);
  // Version 20: an index row's rowid is its memory's.
  const before = OWNERS.flatMap((o) => WORDS.map((w) => reference(db, w, o, "m.rowid")));
  migrate(db);
  const after = OWNERS.flatMap((o) =>
    WORDS.map((q) =>
      searchMemories(db, { owner: o, q }, DEFAULT_SEARCH_TUNING)
        .map((h) => ({ id: h.memory.id, score: h.score }))
    )
  );
  assert.deepEqual(after, before);
  assert.ok(before.flat().length > 200, `${before.flat().length} hits compared`);
  // Each owner's rows lie in one range of rowids, their part's.
  const spans = db.prepare(
    `SELECT m.owner_user_id AS owner, min(f.rowid / ${SEARCH_PART_SPAN}) AS lo,
            max(f.rowid / ${SEARCH_PART_SPAN}) AS hi, count(*) AS n
     FROM memories_fts f JOIN memories m ON m.rowid = f.rowid % ${SEARCH_PART_SPAN}
     GROUP BY m.owner_user_id`,
  ).all().map((r) => ({ ...r }));
  const parts = new Map(
    db.prepare("SELECT owner_user_id AS o, part FROM search_owners").all()
      .map((r) => [r.o, r.part]),
  );
  assert.equal(spans.length, 3);
  for (const s of spans) assert.deepEqual([s.lo, s.hi], [parts.get(s.owner), parts.get(s.owner)]);
});

const ids = (db: DatabaseSync, owner: number, q: string) =>
  searchMemories(db, { owner, q }, DEFAULT_SEARCH_TUNING).map((h) => h.memory.id);

Deno.test("a memory given to another owner moves to that owner's part", () => {
  using db = openDatabase(":memory:");
  for (const id of OWNERS) addUser(db, id);
  const row = insertMemory(db, newMemory(1001, "blue umbrella"));
  assert.deepEqual(ids(db, 1001, "umbrella"), [row.id]);
  db.prepare("UPDATE memories SET owner_user_id = ? WHERE id = ?").run(-100123, row.id);
  assert.deepEqual(ids(db, 1001, "umbrella"), []);
  assert.deepEqual(ids(db, -100123, "umbrella"), [row.id]);
  db.prepare("DELETE FROM memories WHERE id = ?").run(row.id);
  assert.deepEqual(ids(db, -100123, "umbrella"), []);
  assert.equal((db.prepare("SELECT count(*) AS n FROM memories_fts").get() as { n: number }).n, 0);
});

Deno.test("parts far apart: an owner numbered past 2^53 / 2^40 is searched in its own range", () => {
  using db = openDatabase(":memory:");
  for (const id of OWNERS) addUser(db, id);
  // The largest part a rowid can hold; its rowids are beyond JavaScript's safe integers.
  db.prepare("UPDATE search_owners SET part = ? WHERE owner_user_id = ?").run(2 ** 23 - 1, 1002);
  const a = insertMemory(db, newMemory(1001, "red kite"));
  const b = insertMemory(db, newMemory(1002, "red kite"));
  const c = insertMemory(db, newMemory(1002, "kite string"));
  assert.deepEqual(ids(db, 1001, "kite"), [a.id]);
  assert.deepEqual(ids(db, 1002, "kite").sort(), [b.id, c.id].sort());
  assert.deepEqual(
    searchMemories(db, { owner: 1002, q: "red" }, { candidateCap: 1 }).map((h) => h.memory.id),
    [b.id],
  );
});

Deno.test("every new user gets a part; a memory whose owner has none is refused", () => {
  using db = openDatabase(":memory:");
  for (const id of OWNERS) addUser(db, id);
  const parts = db.prepare("SELECT owner_user_id AS o, part FROM search_owners ORDER BY part")
    .all().map((r) => [r.o, r.part]);
  assert.deepEqual(parts, [[1001, 1], [1002, 2], [-100123, 3]]);
  db.prepare("DELETE FROM search_owners WHERE owner_user_id = 1002").run();
  assert.throws(
    () => insertMemory(db, newMemory(1002, "lost note")),
    /owner 1002 has no part of the search index/,
  );
  assert.equal((db.prepare("SELECT count(*) AS n FROM memories_fts").get() as { n: number }).n, 0);
});
