/**
 * searchMemories against a plain reference query on a seeded corpus (bench/seed.ts: five owners,
 * Zipf-distributed words, 1% pinned, tags): for rare, middling and common words, the same
 * memories in the same order with the same scores. The reference has none of the search's plans
 * (no index choice, no candidate cap, pinned ranked with the rest): every owner match, pinned
 * first, then by -bm25, newer first on ties. Words with more owner matches than the candidate cap
 * (SEARCH_CANDIDATE_CAP) are left out: there the search ranks the newest of them by design.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openDatabase } from "../../core/db/open.ts";
import { buildMatchQuery, SEARCH_LIMIT, searchMemories } from "../../core/store/search_query.ts";
import { SEED_OWNERS, seedMemories } from "../../bench/seed.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { DEFAULT_SEARCH_TUNING } from "../../core/store/search_pool.ts";
import { SEARCH_PART_SPAN } from "../../core/store/search_index.ts";

Deno.test.sanitizer({ ops: true, resources: true });

interface Expected {
  id: string;
  score: number;
}

type Db = ReturnType<typeof openDatabase>;

function matchOf(q: string): string {
  return `{content tags} : (${buildMatchQuery(q)})`;
}

// Each index row's memory: its rowid less the owner's part (migration 021), a lookup by rowid
// for each match. Joining through the view memories_fts_rows instead reads the whole view for
// each match, its fts_rowid being an expression: ~6 minutes for this test, against under a second.
const OWNER_ROWS = `JOIN memories m ON m.rowid = memories_fts.rowid % ${SEARCH_PART_SPAN}`;

function ownerMatches(db: Db, q: string, owner: number): number {
  return (db.prepare(
    `SELECT count(*) AS n FROM memories_fts ${OWNER_ROWS}
     WHERE memories_fts MATCH ? AND m.owner_user_id = ?`,
  ).get(matchOf(q), owner) as { n: number }).n;
}

function reference(db: Db, q: string, owner: number): Expected[] {
  const match = matchOf(q);
  return db.prepare(
    `SELECT m.id AS id, -bm25(memories_fts, 1.0, 1.0, 0.0) AS score
     FROM memories_fts ${OWNER_ROWS}
     WHERE memories_fts MATCH ? AND m.owner_user_id = ?
     ORDER BY m.is_pinned DESC, score DESC, m.rowid DESC LIMIT ?`,
  ).all(match, owner, SEARCH_LIMIT) as unknown as Expected[];
}

Deno.test("search answers what a plain ranked query over every match answers", async () => {
  await using tmp = await tempDir("memori_search_ref_");
  const path = join(tmp.path, "x.db");
  const seeded = seedMemories(path, { count: 6000, vocabularySize: 3000 });
  const db = openDatabase(path);
  try {
    // Every 10th word of the vocabulary, most frequent first: from words in a third of the
    // memories down to words in one or two.
    const words = seeded.words.filter((_, i) => i % 10 === 0).slice(0, 150);
    let compared = 0;
    let pinnedSeen = false;
    for (const word of words) {
      for (const { id: owner } of SEED_OWNERS) {
        if (ownerMatches(db, word, owner) > DEFAULT_SEARCH_TUNING.candidateCap) continue;
        const want = reference(db, word, owner);
        const got = searchMemories(db, { owner, q: word }, DEFAULT_SEARCH_TUNING);
        assert.deepEqual(
          got.map((h) => h.memory.id),
          want.map((e) => e.id),
          `"${word}" for ${owner}`,
        );
        got.forEach((h, i) => assert.equal(h.score, want[i].score, `"${word}" for ${owner}`));
        if (got.some((h) => h.memory.is_pinned)) pinnedSeen = true;
        compared += want.length;
      }
    }
    assert.ok(compared > 2500, `only ${compared} results compared`);
    assert.ok(pinnedSeen, "no pinned memory among the results");
  } finally {
    db.close();
  }
});
