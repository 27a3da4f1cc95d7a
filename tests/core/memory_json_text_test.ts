/**
 * GET /memories/{id}'s JSON is written by SQLite (loadMemoryJsonText), and so are GET /search's
 * memories (searchMemoriesJson); each must be the exact text JSON.stringify makes of the memory
 * as the other endpoints build it (loadMemoryWithTags): same keys in the same order, same
 * escapes, booleans and nulls.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { DatabaseSync } from "node:sqlite";
import { openDatabase } from "../../core/db/open.ts";
import {
  insertMemory,
  loadMemoryJsonText,
  loadMemoryWithTags,
} from "../../core/store/memory_repo.ts";
import { newRowId } from "../../core/store/row_id.ts";
import { DEFAULT_SEARCH_TUNING } from "../../core/store/search_pool.ts";
import { searchMemoriesJson, type SearchParams } from "../../core/store/search_query.ts";

const OWNER = 4242;

function store(): DatabaseSync {
  const db = openDatabase(":memory:");
  db.prepare(
    "INSERT INTO users (telegram_user_id, display_name, is_allowed, created_at) VALUES (?, 'J', 1, ?)",
  ).run(OWNER, new Date().toISOString());
  return db;
}

// Every control character but NUL (below), the characters JSON and JS treat specially, non-BMP
// and non-Latin text, and a lone surrogate (the API refuses one; node:sqlite stores U+FFFD).
const ODD = [
  ...Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)),
  '"',
  "\\",
  "/",
  "\x7f",
  "\u0080",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\ufffd",
  "\ud800",
  "é",
  "日本",
  "😀",
  "👩‍👩‍👧",
  "</script>",
  " ",
];

const text = fc.array(fc.oneof(fc.constantFrom(...ODD), fc.string({ unit: "grapheme" })), {
  maxLength: 8,
}).map((parts) => parts.join("").replaceAll("\0", ""));

/** Pin memory `id` or not, and give it `tags`: every other one confirmed, the rest pending. */
function pinAndTag(
  db: DatabaseSync,
  id: string,
  m: { pinned: boolean; tags: string[]; at: string },
): void {
  db.prepare("UPDATE memories SET is_pinned = ? WHERE id = ?").run(m.pinned ? 1 : 0, id);
  for (const [i, tag] of m.tags.entries()) {
    db.prepare(
      `INSERT INTO memory_tags (memory_id, tag, status, suggested_at, confirmed_at)
       VALUES (?, ?, ?, ?, ?)`,
    ).run(id, tag, i % 2 ? "pending" : "confirmed", m.at, i % 2 ? null : m.at);
  }
}

Deno.test("a memory's JSON text from SQLite is JSON.stringify of the memory, for any text", () => {
  const db = store();
  try {
    fc.assert(
      fc.property(
        fc.record({
          content: fc.option(text),
          tags: fc.uniqueArray(text.filter((t) => t !== ""), { maxLength: 4 }),
          pinned: fc.boolean(),
          pending: fc.boolean(),
          chat: fc.option(fc.integer({ min: -(2 ** 52), max: 2 ** 52 })),
          fileId: fc.option(text),
        }),
        (m) => {
          const at = new Date().toISOString();
          const row = insertMemory(db, {
            id: newRowId(),
            owner_user_id: OWNER,
            source_chat_id: m.chat,
            source_message_id: m.chat === null ? null : 7,
            content: m.content,
            media_type: m.fileId === null ? null : "image",
            media_file_id: m.fileId,
            status: m.pending ? "pending" : "confirmed",
            pending_expires_at: m.pending ? at : null,
            at,
          });
          pinAndTag(db, row.id, { ...m, at });
          const built = loadMemoryWithTags(db, row.id);
          assert.ok(built !== null);
          assert.equal(built.is_pinned, m.pinned);
          assert.equal(built.tags.length, m.tags.length);
          assert.equal(loadMemoryJsonText(db, row.id), JSON.stringify(built));
        },
      ),
      { seed: 20261201, numRuns: 400 },
    );
  } finally {
    db.close();
  }
});

/** `params`' search as JSON text, checked against its hits rebuilt by loadMemoryWithTags. */
function searchedText(db: DatabaseSync, params: SearchParams): { memory: { id: string } }[] {
  const text = searchMemoriesJson(db, params, DEFAULT_SEARCH_TUNING);
  assert.ok(text !== null, "the owner exists");
  const hits = JSON.parse(text) as { memory: { id: string }; score: number }[];
  const rebuilt = hits.map((h) => ({
    memory: loadMemoryWithTags(db, h.memory.id),
    score: h.score,
  }));
  assert.equal(text, JSON.stringify(rebuilt));
  return hits;
}

Deno.test("a search's JSON text is JSON.stringify of its hits, for any text", () => {
  const db = store();
  try {
    let n = 0;
    fc.assert(
      fc.property(
        fc.record({
          content: text,
          tags: fc.uniqueArray(text.filter((t) => t !== ""), { maxLength: 4 }),
          pinned: fc.boolean(),
        }),
        (m) => {
          // A word of its own (letters and digits: one token, no plural form), so the search
          // finds this memory alone.
          const word = `zebra${++n}`;
          const at = new Date().toISOString();
          const row = insertMemory(db, {
            id: newRowId(),
            owner_user_id: OWNER,
            source_chat_id: null,
            source_message_id: null,
            content: `${m.content} ${word}`,
            media_type: null,
            media_file_id: null,
            status: "confirmed",
            pending_expires_at: null,
            at,
          });
          pinAndTag(db, row.id, { ...m, at });
          const found = searchedText(db, { owner: OWNER, q: word });
          assert.deepEqual(found.map((h) => h.memory.id), [row.id]);
          const pinned = searchedText(db, { owner: OWNER, q: word, pinnedOnly: true });
          assert.deepEqual(pinned.map((h) => h.memory.id), m.pinned ? [row.id] : []);
          searchedText(db, { owner: OWNER, q: "", pinnedOnly: true });
        },
      ),
      { seed: 20261201, numRuns: 200 },
    );
  } finally {
    db.close();
  }
});

Deno.test("a NUL a first-version row holds is kept in the JSON text, not cut", () => {
  const db = store();
  try {
    const id = newRowId();
    const at = new Date().toISOString();
    db.prepare(
      `INSERT INTO memories (id, owner_user_id, content, status, created_at, updated_at)
       VALUES (?, ?, ?, 'confirmed', ?, ?)`,
    ).run(id, OWNER, "before\0after", at, at);
    db.prepare("INSERT INTO memory_tags (memory_id, tag) VALUES (?, ?)").run(id, "a\0b");
    const memory = JSON.parse(loadMemoryJsonText(db, id)!);
    assert.equal(memory.content, "before\0after");
    assert.deepEqual(memory.tags.map((t: { tag: string }) => t.tag), ["a\0b"]);
  } finally {
    db.close();
  }
});

Deno.test("a memory's JSON text is null for an unknown id", () => {
  const db = store();
  try {
    assert.equal(loadMemoryJsonText(db, crypto.randomUUID()), null);
  } finally {
    db.close();
  }
});
