/**
 * Full-text search over memories: turning user text into a safe FTS5 MATCH expression, and the
 * two queries of GET /search (ranked search, and the pinned list).
 *
 * User text never reaches FTS5 syntax: it is split into words of letters and digits (the same
 * characters the index's unicode61 tokenizer keeps), and each word is written as a quoted
 * phrase, so `"`, `*`, `:`, parentheses, `AND`, `OR`, `NEAR` and the like are only ever words.
 */
import type { DatabaseSync } from "node:sqlite";
import { limitParam, queryAll } from "../db/query.ts";
import { MEMORY_JSON_EXPR } from "./memory_repo.ts";
import { ownerTokenId, SEARCH_PART_SPAN } from "./search_index.ts";
import { searchPart } from "./users.ts";
import type { z } from "zod";
import type { searchHitResponse } from "../../shared/response_schemas.ts";

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

/**
 * One search result: the memory with its tags, and its relevance, higher is better (`-bm25`);
 * 0 in the pinned list, which is not ranked.
 */
export type SearchHit = z.output<typeof searchHitResponse>;

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
 * Bounds that keep a search fast on a large store: SEARCH_CANDIDATE_CAP (its default in
 * shared/config.ts, which this module does not import: a search thread may load only the modules
 * of core/store and core/db). Tests lower it to exercise every plan on a few rows.
 */
export interface SearchTuning {
  /**
   * Rank at most the owner's newest this-many matches, plus every pinned match. An owner with
   * fewer matches has all of them ranked.
   */
  candidateCap: number;
}

/** A ranked match: the memory's rowid and its relevance. */
interface Ranked {
  rid: number;
  score: number;
}

/** The user's words as a MATCH over content and tags (never the index's `meta` column). */
function wordsMatch(words: string): string {
  return `{content tags} : (${words})`;
}

/**
 * The owner's pinned memories matching the words, as one MATCH: the `p<owner>` token of
 * migration 013 (a minus sign written as `n`). Its list is as short as the owner's pinned
 * memories, so counting it for bm25 costs little; the `o<owner>` token of all the owner's
 * memories is no longer used (see {@linkcode searchMemoriesJson}).
 */
function pinnedMatch(words: string, owner: number): string {
  return `meta : "p${ownerTokenId(owner)}" AND ${wordsMatch(words)}`;
}

/**
 * Search the owner's confirmed memories; null when there is no such owner (checked in the
 * search's own read transaction: on a search thread that spares the main thread a statement and
 * its lock calls, ~3 system calls). With words: FTS5 MATCH over content and confirmed
 * tags, pinned first, then by relevance (`-bm25`, higher is better; newer first on ties), at
 * most {@linkcode SEARCH_LIMIT}. Without words and with `pinnedOnly`: the owner's pinned
 * confirmed memories, newest first, also at most {@linkcode SEARCH_LIMIT}, score 0 (nothing was
 * matched, so there is no relevance to report). Answers the hits (SearchHit) as JSON text, the
 * body of GET /search's answer: only the results' rows are loaded, with their tags, as JSON text
 * SQLite writes, in one query ({@linkcode loadRows}).
 *
 * The owner filter is a range of the index's rowids: each owner's memories are numbered in a
 * part of their own (migration 021, {@linkcode SEARCH_PART_SPAN}), which FTS5 reads directly.
 * It was first a phrase of the MATCH (the `o<owner>` token of migration 013, still written but
 * no longer read), whose documents bm25 counts on every ranked query: a pass over the owner's
 * whole list, i.e. the whole store for a single user. Then it was a lookup of every match in
 * idx_memories_owner, every owner's matches of the words: a common-word search at 100,000
 * memories 5.7-7.4 -> 3.2-4.7 ms in-process (a slow phase of the VM; README, Limits). Scores do
 * not depend on rowids, so they are the same; a search costs in proportion to its owner's
 * matches of its words. The pinned subset keeps its `p<owner>` token, whose list is short
 * ({@linkcode pinnedMatch}). bm25 costs about a microsecond per ranked row, so one query ranks
 * the owner's newest `candidateCap` matches (all of them for most owners and queries). When
 * those are fewer than the best matches it keeps, the rows loaded for the answer say which are
 * pinned; otherwise pinned matches are found without ranking, and only pinned matches older
 * than the ranked ones are ranked separately. A common word says little about relevance, and
 * recent memories are the likelier target.
 */
export function searchMemoriesJson(
  db: DatabaseSync,
  params: SearchParams,
  tuning: SearchTuning,
): string | null {
  return inReadTransaction(db, () => {
    const part = searchPart(db, params.owner);
    return part === null ? null : search(db, { ...params, part }, tuning);
  });
}

/**
 * {@linkcode searchMemoriesJson}'s hits as objects, for callers that read them rather than send
 * them (tests, the reference comparison); none for an unknown owner.
 */
export function searchMemories(
  db: DatabaseSync,
  params: SearchParams,
  tuning: SearchTuning,
): SearchHit[] {
  return JSON.parse(searchMemoriesJson(db, params, tuning) ?? "[]") as SearchHit[];
}

/**
 * Run `fn`'s statements in one read transaction: they see one snapshot (no write lands between
 * the ranking and the loading of its rows), and the WAL read lock is taken once, not once per
 * statement (a rare-word search 155 -> 125 us). Inside a transaction already open, just `fn`.
 */
function inReadTransaction<T>(db: DatabaseSync, fn: () => T): T {
  if (db.isTransaction) return fn();
  db.exec("BEGIN");
  try {
    return fn();
  } finally {
    if (db.isTransaction) db.exec("COMMIT");
  }
}

/** A search's parameters with its owner's part of the index. */
interface OwnerSearch extends SearchParams {
  /** The owner's search_owners.part. */
  part: number;
}

/** The first rowid of `part` in the index, as SQLite's 64-bit integer. */
function partBase(part: number): bigint {
  return BigInt(part) * BigInt(SEARCH_PART_SPAN);
}

function search(db: DatabaseSync, params: OwnerSearch, tuning: SearchTuning): string {
  const q = (params.q ?? "").trim();
  const pinnedOnly = params.pinnedOnly === true;
  if (q === "") {
    if (!pinnedOnly) return "[]";
    const rows = queryAll<{ j: string }>(
      db,
      `SELECT ${MEMORY_JSON_EXPR} AS j FROM memories m
       WHERE m.owner_user_id = ? AND m.is_pinned = 1 AND m.status = 'confirmed'
       ORDER BY m.created_at DESC, m.rowid DESC LIMIT ${limitParam()}`,
      params.owner,
      SEARCH_LIMIT,
    );
    return hitsText(rows.map((r) => ({ json: r.j, score: 0 })));
  }
  const words = buildMatchQuery(q);
  if (words === null) return "[]";
  const { candidateCap } = tuning;
  const base = partBase(params.part);
  const pinnedOnes = { match: pinnedMatch(words, params.owner), base };
  if (pinnedOnly) return load(db, rankAll(db, pinnedOnes, SEARCH_LIMIT));
  const ranked = rankNewest(db, { match: wordsMatch(words), base, cap: candidateCap });
  // Fewer rows than either limit of rankNewest: these are all the owner's matches, the pinned
  // ones among them, and their rows say which (the index holds confirmed memories only, with
  // the `p` token exactly when pinned). Matching the `p<owner>` list as well cost a rare-word
  // search more the more the owner had pinned (~12 us at 10,000 memories, ~25 at 1,000,000).
  if (ranked.length < Math.min(candidateCap, RANKED)) return loadPinnedFirst(db, ranked);
  return load(db, pinnedFirst(db, ranked, pinnedOnes));
}

/**
 * The owner's pinned matches first, then the rest of `ranked`, at most SEARCH_LIMIT, for a
 * search with more matches than `ranked` holds. `pinnedOnes` is the MATCH of the pinned ones.
 */
function pinnedFirst(db: DatabaseSync, ranked: Ranked[], pinnedOnes: PartMatch): Ranked[] {
  const pinned = new Set(
    (db.prepare(`SELECT rowid - ?2 AS rid FROM memories_fts WHERE ${IN_PART}`)
      .all(pinnedOnes.match, pinnedOnes.base) as { rid: number }[]).map((r) => r.rid),
  );
  if (pinned.size === 0) return ranked.slice(0, SEARCH_LIMIT);
  let first = ranked.filter((r) => pinned.has(r.rid));
  // Pinned matches older than the ranked ones still come first; rank them all (scores do not
  // depend on which rows are ranked, so they compare with the rest).
  if (first.length < Math.min(pinned.size, SEARCH_LIMIT)) {
    first = rankAll(db, pinnedOnes, SEARCH_LIMIT);
  }
  const rest = ranked.filter((r) => !pinned.has(r.rid));
  return [...first, ...rest].slice(0, SEARCH_LIMIT);
}

function toRanked(rows: unknown[]): Ranked[] {
  return (rows as Ranked[]).map((r) => ({ rid: r.rid, score: r.score }));
}

/** How many of the owner's best matches rankNewest answers: twice what a search answers. */
const RANKED = 2 * SEARCH_LIMIT;

// bm25 column weights: content, tags, and 0 for the meta column (the pinned token).
const BM25 = "-bm25(memories_fts, 1.0, 1.0, 0.0)";

/** A MATCH within an owner's part of the index: rowids from `base` on. */
interface PartMatch {
  /** The MATCH expression. */
  match: string;
  /** The part's first rowid ({@linkcode partBase}). */
  base: bigint;
}

// Matches of ?1 in the part starting at ?2: FTS5 takes the rowid bounds as part of its query,
// so it reads only that part of each word's list. Rowids are selected as `rowid - ?2`, the
// memory's own rowid.
const IN_PART = `memories_fts MATCH ?1
  AND memories_fts.rowid >= ?2 AND memories_fts.rowid < ?2 + ${SEARCH_PART_SPAN}`;

/** Every match of `m` in its part, ranked, best `limit`. */
function rankAll(db: DatabaseSync, m: PartMatch, limit: number): Ranked[] {
  return toRanked(
    db.prepare(
      `SELECT rowid - ?2 AS rid, ${BM25} AS score FROM memories_fts WHERE ${IN_PART}
       ORDER BY score DESC, rid DESC LIMIT ${limitParam(3)}`,
    ).all(m.match, m.base, limit),
  );
}

/**
 * The owner's newest `cap` matches, ranked, best first (twice the limit: the caller drops the
 * pinned ones, which it puts first). FTS5 walks the part's matches newest rowid first and stops
 * after `cap` of them, so bm25 runs at most `cap` times.
 */
function rankNewest(db: DatabaseSync, p: PartMatch & { cap: number }): Ranked[] {
  return toRanked(
    db.prepare(
      `SELECT rid, score FROM (
         SELECT memories_fts.rowid - ?2 AS rid, ${BM25} AS score FROM memories_fts
         WHERE ${IN_PART} ORDER BY memories_fts.rowid DESC LIMIT ${limitParam(3)})
       ORDER BY score DESC, rid DESC LIMIT ${RANKED}`,
    ).all(p.match, p.base, p.cap),
  );
}

/** The ranked memories with their tags, in rank order, as the answer's JSON text. */
function load(db: DatabaseSync, ranked: Ranked[]): string {
  const rows = loadRows(db, ranked);
  return hitsText(found(ranked, rows));
}

/**
 * All of the owner's matches (`ranked`, in rank order): the pinned ones first, each part in rank
 * order, at most SEARCH_LIMIT, with their tags, as the answer's JSON text.
 */
function loadPinnedFirst(db: DatabaseSync, ranked: Ranked[]): string {
  const rows = loadRows(db, ranked);
  const isPinned = (r: Ranked) => rows.get(r.rid)?.pinned === 1;
  const order = [...ranked.filter(isPinned), ...ranked.filter((r) => !isPinned(r))];
  return hitsText(found(order.slice(0, SEARCH_LIMIT), rows));
}

/** A loaded match: its memory's JSON text (with tags) and is_pinned. */
interface LoadedRow {
  json: string;
  pinned: number;
}

/**
 * The memories of `ranked` by rowid, as JSON text written by SQLite ({@linkcode MEMORY_JSON_EXPR},
 * tags included): one statement, and no row objects built only to be written out again as JSON.
 * A whole rare-word search on the bench's 100,000 memories, in-process, the pages cached:
 * 91-97 -> 82-86 us against loading the rows, then their tags, as objects.
 */
function loadRows(db: DatabaseSync, ranked: Ranked[]): Map<number, LoadedRow> {
  if (ranked.length === 0) return new Map();
  const marks = ranked.map(() => "?").join(", ");
  const rows = queryAll<{ rid: number; pinned: number; j: string }>(
    db,
    `SELECT m.rowid AS rid, m.is_pinned AS pinned, ${MEMORY_JSON_EXPR} AS j FROM memories m
     WHERE m.rowid IN (${marks})`,
    ...ranked.map((r) => r.rid),
  );
  return new Map(rows.map((r) => [r.rid, { json: r.j, pinned: r.pinned }]));
}

/** `ranked`'s memories found in `rows`, in `ranked`'s order, with their scores. */
function found(ranked: Ranked[], rows: Map<number, LoadedRow>): { json: string; score: number }[] {
  const out: { json: string; score: number }[] = [];
  for (const r of ranked) {
    const row = rows.get(r.rid);
    if (row !== undefined) out.push({ json: row.json, score: r.score });
  }
  return out;
}

/** The hits as the JSON text of a SearchHit array: `{"memory":…,"score":…}` each. */
function hitsText(hits: { json: string; score: number }[]): string {
  return `[${
    hits.map((h) => `{"memory":${h.json},"score":${JSON.stringify(h.score)}}`).join(",")
  }]`;
}
