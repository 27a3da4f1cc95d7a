/**
 * Full-text search over memories: turning user text into a safe FTS5 MATCH expression, and the
 * two queries of GET /search (ranked search, and the pinned list).
 *
 * User text never reaches FTS5 syntax: it is split into words of letters and digits (the same
 * characters the index's unicode61 tokenizer keeps), and each word is written as a quoted
 * phrase, so `"`, `*`, `:`, parentheses, `AND`, `OR`, `NEAR` and the like are only ever words.
 */
import type { DatabaseSync } from "node:sqlite";
import { MEMORY_COLUMNS, type MemoryJson, type MemoryRow, withTags } from "./memory_repo.ts";

/** Most results one search answers. */
export const SEARCH_LIMIT = 20;

/** Most distinct words of a query that are searched; the rest are ignored. */
export const MAX_QUERY_WORDS = 16;

/** Common English words dropped from queries (lower case). */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    "a about above after again against all am an and any are as at be because been before " +
    "being below between both but by can could d did do does doing down during each few for " +
    "from further had has have having he her here hers herself him himself his how i if in " +
    "into is it its itself just ll m me more most my myself no nor not now of off on once " +
    "only or other our ours ourselves out over own re s same she should so some such t than " +
    "that the their theirs them themselves then there these they this those through to too " +
    "under until up ve very was we were what when where which while who whom why will with " +
    "would you your yours yourself yourselves"
  ).split(" "),
);

const WORD = /[\p{L}\p{N}\p{M}]+/gu;

/**
 * The distinct words of `q` to search for, lower case, in order of first appearance, stop words
 * dropped. When every word is a stop word the words are kept: "the who" should still find
 * something rather than nothing.
 */
export function searchWords(q: string): string[] {
  const all = [...new Set((q.normalize("NFC").match(WORD) ?? []).map((w) => w.toLowerCase()))];
  const kept = all.filter((w) => !STOP_WORDS.has(w));
  return (kept.length > 0 ? kept : all).slice(0, MAX_QUERY_WORDS);
}

/** One word as an FTS5 phrase: quoted, embedded quotes doubled. */
function phrase(word: string): string {
  return `"${word.replaceAll('"', '""')}"`;
}

/**
 * The word and its simple English singular or plural ("meeting" and "meetings"), so a query
 * finds both. Words are otherwise matched exactly: a prefix query ("meet"*) merges the lists of
 * every indexed word that starts so, which on a large store cost several times the rest of the
 * search (measured: p99 70 ms against 10 ms on 100,000 memories).
 */
function forms(word: string): string[] {
  if (!/^\p{L}{3,}$/u.test(word)) return [word];
  if (/(ss|us|is|x|z|ch|sh)$/u.test(word)) return [word, `${word}es`];
  if (/(ss|x|z|ch|sh)es$/u.test(word)) return [word, word.slice(0, -2)];
  if (word.endsWith("s")) return [word, word.slice(0, -1)];
  return [word, `${word}s`];
}

/**
 * The FTS5 MATCH expression for user text `q`: its words (and their singular or plural) ORed,
 * or null when `q` has no word to search for (only punctuation, say).
 */
export function buildMatchQuery(q: string): string | null {
  const words = searchWords(q);
  if (words.length === 0) return null;
  return [...new Set(words.flatMap(forms))].map(phrase).join(" OR ");
}

/** One search result. */
export interface SearchHit {
  /** The memory with its tags. */
  memory: MemoryJson;
  /** Relevance, higher is better (`-bm25`); 0 in the pinned list, which is not ranked. */
  score: number;
}

/** What to search. */
export interface SearchParams {
  /** Whose confirmed memories. */
  owner: number;
  /** User text; blank with `pinnedOnly` lists the pinned memories. */
  q?: string | null;
  /** Only pinned memories. */
  pinnedOnly?: boolean;
}

/**
 * Bounds that keep a search fast on a large store; the defaults suit 100,000 memories. Tests
 * lower them to exercise every plan on a few rows.
 */
export interface SearchTuning {
  /** Up to this many index matches (all owners), rank every one of the owner's matches. */
  exactLimit?: number;
  /**
   * Past `exactLimit`, an owner with at most this many memories still has every match ranked
   * (filtered through the set of their rowids instead of a join).
   */
  smallOwner?: number;
  /**
   * Past both, rank only the owner's newest this-many matches, plus every pinned match.
   */
  candidateCap?: number;
}

const DEFAULT_TUNING: Required<SearchTuning> = {
  exactLimit: 4000,
  smallOwner: 5000,
  candidateCap: 1000,
};

/** A ranked match: the memory's rowid and its relevance. */
interface Ranked {
  rid: number;
  score: number;
}

/**
 * Search the owner's confirmed memories. With words: FTS5 MATCH over content and confirmed
 * tags, pinned first, then by relevance (`-bm25`, higher is better; newer first on ties), at
 * most {@linkcode SEARCH_LIMIT}. Without words and with `pinnedOnly`: the owner's pinned
 * confirmed memories, newest first, also at most {@linkcode SEARCH_LIMIT}, score 0 (nothing was
 * matched, so there is no relevance to report). Only the results' rows and tags are loaded, with one query each.
 *
 * bm25 costs about a microsecond per matching row, so a word found in most of a large store
 * would take tens of milliseconds to rank in full. The plan therefore depends on how much
 * matches (see {@linkcode SearchTuning}): every match is ranked unless the query matches more
 * than `exactLimit` rows and the owner has more than `smallOwner` memories; then only the
 * owner's newest `candidateCap` matches compete on relevance, while pinned matches of any age
 * still come first. Such a common word says little about relevance, and recent memories are
 * the likelier target.
 */
export function searchMemories(
  db: DatabaseSync,
  params: SearchParams,
  tuning: SearchTuning = {},
): SearchHit[] {
  const q = (params.q ?? "").trim();
  const pinnedOnly = params.pinnedOnly === true;
  if (q === "") {
    if (!pinnedOnly) return [];
    const rows = db.prepare(
      `SELECT ${MEMORY_COLUMNS} FROM memories m
       WHERE m.owner_user_id = ? AND m.is_pinned = 1 AND m.status = 'confirmed'
       ORDER BY m.created_at DESC, m.rowid DESC LIMIT ?`,
    ).all(params.owner, SEARCH_LIMIT) as unknown as MemoryRow[];
    return withTags(db, rows).map((memory) => ({ memory, score: 0 }));
  }
  const match = buildMatchQuery(q);
  if (match === null) return [];
  const ranked = rank(db, { match, owner: params.owner, pinnedOnly }, {
    ...DEFAULT_TUNING,
    ...tuning,
  });
  return load(db, ranked);
}

function rank(
  db: DatabaseSync,
  p: { match: string; owner: number; pinnedOnly: boolean },
  t: Required<SearchTuning>,
): Ranked[] {
  if (p.pinnedOnly) return rankPinned(db, p.match, p.owner);
  const total = (db.prepare(
    `SELECT count(*) AS n FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? LIMIT ?)`,
  ).get(p.match, t.exactLimit + 1) as { n: number }).n;
  if (total === 0) return [];
  if (total <= t.exactLimit) return rankJoined(db, p.match, p.owner);
  const ownerSize = (db.prepare(
    `SELECT count(*) AS n FROM (SELECT 1 FROM memories WHERE owner_user_id = ? LIMIT ?)`,
  ).get(p.owner, t.smallOwner + 1) as { n: number }).n;
  if (ownerSize <= t.smallOwner) return rankOwnerSet(db, p.match, p.owner);
  const hasPinned = db.prepare(
    "SELECT 1 AS x FROM memories WHERE owner_user_id = ? AND is_pinned = 1 LIMIT 1",
  ).get(p.owner) !== undefined;
  const pinned = hasPinned ? rankPinned(db, p.match, p.owner) : [];
  const seen = new Set(pinned.map((r) => r.rid));
  const rest = rankNewest(db, { match: p.match, owner: p.owner, cap: t.candidateCap });
  return [...pinned, ...rest.filter((r) => !seen.has(r.rid))].slice(0, SEARCH_LIMIT);
}

// Twice the limit: the newest matches may include the (at most 20) pinned ones, which the
// caller drops as duplicates.
const REST_LIMIT = 2 * SEARCH_LIMIT;

function toRanked(rows: unknown[]): Ranked[] {
  return (rows as Ranked[]).map((r) => ({ rid: r.rid, score: r.score }));
}

/** Every match of the owner, ranked: the plan when few rows match. */
function rankJoined(db: DatabaseSync, match: string, owner: number): Ranked[] {
  return toRanked(
    db.prepare(
      `SELECT memories_fts.rowid AS rid, m.is_pinned AS pinned, -bm25(memories_fts) AS score
       FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid
       WHERE memories_fts MATCH ? AND m.owner_user_id = ? AND m.status = 'confirmed'
       ORDER BY pinned DESC, score DESC, rid DESC LIMIT ${SEARCH_LIMIT}`,
    ).all(match, owner),
  );
}

// The `+` keeps SQLite from handing the rowid test to FTS5 as a lookup per listed rowid
// (which re-runs the MATCH for each); instead FTS5 scans its matches once and each is checked
// against the small in-memory set the subquery builds.

/** The owner's pinned matches, ranked. */
function rankPinned(db: DatabaseSync, match: string, owner: number): Ranked[] {
  return toRanked(
    db.prepare(
      `SELECT rowid AS rid, -bm25(memories_fts) AS score FROM memories_fts
       WHERE memories_fts MATCH ? AND +rowid IN (
         SELECT rowid FROM memories
         WHERE owner_user_id = ? AND is_pinned = 1 AND status = 'confirmed')
       ORDER BY score DESC, rid DESC LIMIT ${SEARCH_LIMIT}`,
    ).all(match, owner),
  );
}

/** Every match of a small owner, pinned first, ranked, in one pass over the matches. */
function rankOwnerSet(db: DatabaseSync, match: string, owner: number): Ranked[] {
  return toRanked(
    db.prepare(
      `SELECT rowid AS rid, -bm25(memories_fts) AS score,
              rowid IN (SELECT rowid FROM memories
                        WHERE owner_user_id = ?2 AND is_pinned = 1) AS pinned
       FROM memories_fts
       WHERE memories_fts MATCH ?1 AND +rowid IN (
         SELECT rowid FROM memories WHERE owner_user_id = ?2 AND status = 'confirmed')
       ORDER BY pinned DESC, score DESC, rid DESC LIMIT ${SEARCH_LIMIT}`,
    ).all(match, owner),
  );
}

/**
 * The owner's newest `cap` matches, ranked. FTS5 walks its matches newest rowid first and stops
 * after `cap` of the owner's, so bm25 runs at most `cap` times.
 */
function rankNewest(
  db: DatabaseSync,
  p: { match: string; owner: number; cap: number },
): Ranked[] {
  return toRanked(
    db.prepare(
      `SELECT rid, score FROM (
         SELECT memories_fts.rowid AS rid, -bm25(memories_fts) AS score
         FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid
         WHERE memories_fts MATCH ? AND m.owner_user_id = ? AND m.status = 'confirmed'
         ORDER BY memories_fts.rowid DESC LIMIT ?)
       ORDER BY score DESC, rid DESC LIMIT ${REST_LIMIT}`,
    ).all(p.match, p.owner, p.cap),
  );
}

/** The ranked memories with their tags, in rank order. */
function load(db: DatabaseSync, ranked: Ranked[]): SearchHit[] {
  if (ranked.length === 0) return [];
  const marks = ranked.map(() => "?").join(", ");
  const rows = db.prepare(
    `SELECT m.rowid AS rid, ${MEMORY_COLUMNS} FROM memories m WHERE m.rowid IN (${marks})`,
  ).all(...ranked.map((r) => r.rid)) as unknown as (MemoryRow & { rid: number })[];
  const byRid = new Map(rows.map((r) => [r.rid, r]));
  const found = ranked.filter((r) => byRid.has(r.rid));
  const memories = withTags(db, found.map((r) => byRid.get(r.rid)!));
  return memories.map((memory, i) => ({ memory, score: found[i].score }));
}
