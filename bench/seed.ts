/**
 * A realistic search corpus, written straight into a database file before the core starts:
 * memories made of words from a fixed vocabulary drawn with Zipf-like frequencies (a few words
 * are in most memories, most words are rare), stop words mixed in as in real notes, some
 * confirmed tags, a few pinned, spread over a few owners of different sizes. Everything comes
 * from a seeded PRNG, so every run indexes the same corpus and asks the same queries.
 */
import { openDatabase, transaction } from "../core/db/open.ts";
import { prng } from "./prng.ts";

// Frequent words of personal notes first, so the head of the distribution reads like notes.
const NOTE_WORDS = (
  "meeting call buy milk doctor appointment passport birthday mum dad car keys office email " +
  "report project deadline dinner lunch train flight hotel booking ticket bank card payment " +
  "invoice rent gym school kids pickup groceries bread eggs coffee tea wine gift party friday " +
  "monday tuesday wednesday thursday saturday sunday morning evening tonight tomorrow week " +
  "month year photo receipt password wifi code door garage garden plants dentist pharmacy " +
  "medicine insurance tax form letter parcel delivery shop store market recipe book film " +
  "music concert game team client boss colleague plan idea list notes phone charger laptop " +
  "bike repair plumber electrician landlord holiday trip beach museum park walk run yoga " +
  "class course exam homework teacher vet dog cat food water bill electricity internet " +
  "subscription renew cancel order return refund address street station airport visa"
).split(" ");

const STOP = (
  "the a to and of in for on at with my is it this that be have from by about i we our " +
  "your at an or as do"
).split(" ");

/** The vocabulary: note words first, then distinct made-up words, `size` in all. */
export function vocabulary(size: number, seed = 7): string[] {
  const rnd = prng(seed);
  const onsets = "b c d f g h j k l m n p r s t v w z br cr dr fl gr pl st tr ch sh th".split(" ");
  const vowels = "a e i o u ai ea io ou".split(" ");
  const codas = ["", "", "", "n", "r", "s", "l", "m", "nd", "st", "x"];
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const words = [...NOTE_WORDS];
  const seen = new Set(words.concat(STOP));
  while (words.length < size) {
    const syllables = 2 + Math.floor(rnd() * 3);
    let w = "";
    for (let s = 0; s < syllables; s++) w += pick(onsets) + pick(vowels);
    w += pick(codas);
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  return words;
}

/** Draws ranks 0..n-1 with probability proportional to 1 / (rank + 1)^s. */
export function zipf(n: number, s: number, rnd: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  return () => {
    const x = rnd() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** An owner of the corpus and the share of memories they have. */
export interface SeedOwner {
  /** Telegram user id. */
  id: number;
  /** Fraction of all memories. */
  share: number;
}

/** The owners: one heavy user, a few lighter ones. */
export const SEED_OWNERS: readonly SeedOwner[] = [
  { id: 1001, share: 0.4 },
  { id: 1002, share: 0.25 },
  { id: 1003, share: 0.2 },
  { id: 1004, share: 0.1 },
  { id: 1005, share: 0.05 },
];

/**
 * The vocabulary for `count` memories: 20,000 words up to 100,000 memories, then one word per 5
 * memories. Real vocabularies grow with the text (Heaps' law); with a fixed 20,000 words even the
 * rarest word is in about 50 of 1,000,000 memories, and a rare-word search could not be measured
 * there.
 */
export function vocabularySizeFor(count: number): number {
  return Math.max(20_000, Math.round(count / 5));
}

/** A word of the corpus and how many memories hold it (in their text or confirmed tags). */
export interface WordCount {
  /** The word. */
  word: string;
  /** Memories holding it. */
  memories: number;
}

/** Options for {@linkcode seedMemories}. */
export interface SeedOptions {
  /** How many memories (100,000 for the benchmark). */
  count: number;
  /** Vocabulary size ({@linkcode vocabularySizeFor} by default). */
  vocabularySize?: number;
  /** Zipf exponent (1.0 by default). */
  exponent?: number;
  /** PRNG seed. */
  seed?: number;
}

/** What was seeded: enough to build requests against it. */
export interface SeedResult {
  /** Some memory ids (every 10th), for GET /memories/{id}. */
  sampleIds: string[];
  /** The vocabulary, most frequent first. */
  words: string[];
  /** Rare words: the {@linkcode RARE_WORDS} words held by closest to 10 memories. */
  rare: WordCount[];
  /** Common words: the {@linkcode COMMON_WORDS} words held by closest to 2.5% of memories. */
  common: WordCount[];
  /** Vocabulary size used. */
  vocabularySize: number;
  /** Seconds it took (writing, indexing and picking the words). */
  seconds: number;
}

/** How many rare words the rare-word search cycles through. */
export const RARE_WORDS = 50;
/** Memories a rare word is in. */
export const RARE_MEMORIES = 10;
/** How many common words the common-word search cycles through. */
export const COMMON_WORDS = 5;
/** Share of memories a common word is in (2,500 of 100,000). */
export const COMMON_SHARE = 0.025;

/** Write users and `count` confirmed memories (indexed by the triggers) into `databasePath`. */
export function seedMemories(databasePath: string, options: SeedOptions): SeedResult {
  const started = performance.now();
  const rnd = prng(options.seed ?? 42);
  const vocabularySize = options.vocabularySize ?? vocabularySizeFor(options.count);
  const words = vocabulary(vocabularySize);
  const word = zipf(words.length, options.exponent ?? 1.0, rnd);
  const db = openDatabase(databasePath);
  // A page cache large enough for the whole transaction: with the default 2 MB, SQLite spills
  // pages to the WAL over and over while the index is built.
  db.exec("PRAGMA cache_size = -524288");
  // Indexing row by row through the triggers takes a while for 100,000 memories; index once at
  // the end instead (as migration 013 does), then put the same triggers back.
  const triggers = db.prepare(
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%memories_fts%'",
  ).all() as { name: string; sql: string }[];
  const sampleIds: string[] = [];
  const base = Date.parse("2025-01-01T00:00:00.000Z");
  try {
    transaction(db, () => {
      for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
      const user = db.prepare(
        "INSERT INTO users (telegram_user_id, display_name, is_allowed, created_at) " +
          "VALUES (?, ?, 1, ?)",
      );
      for (const o of SEED_OWNERS) user.run(o.id, `Bench ${o.id}`, new Date(base).toISOString());
      const insert = db.prepare(
        `INSERT INTO memories (id, owner_user_id, content, status, is_pinned, created_at,
           updated_at) VALUES (?, ?, ?, 'confirmed', ?, ?, ?)`,
      );
      const tag = db.prepare(
        `INSERT OR IGNORE INTO memory_tags (memory_id, tag, status, suggested_at, confirmed_at)
         VALUES (?, ?, 'confirmed', ?, ?)`,
      );
      for (let i = 0; i < options.count; i++) {
        const id = crypto.randomUUID();
        let r = rnd();
        let owner = SEED_OWNERS[0].id;
        for (const o of SEED_OWNERS) {
          if (r < o.share) {
            owner = o.id;
            break;
          }
          r -= o.share;
        }
        const length = 4 + Math.floor(rnd() * 22);
        const tokens: string[] = [];
        for (let t = 0; t < length; t++) {
          tokens.push(rnd() < 0.3 ? STOP[Math.floor(rnd() * STOP.length)] : words[word()]);
        }
        const at = new Date(base + i * 5 * 60_000).toISOString();
        insert.run(id, owner, tokens.join(" "), rnd() < 0.01 ? 1 : 0, at, at);
        if (rnd() < 0.1) {
          const n = 1 + Math.floor(rnd() * 3);
          for (let k = 0; k < n; k++) tag.run(id, words[word()], at, at);
        }
        if (i % 10 === 0) sampleIds.push(id);
      }
      // The rows the index's triggers write (migration 021's view).
      db.exec("DELETE FROM memories_fts");
      db.exec(
        `INSERT INTO memories_fts (rowid, content, tags, meta)
         SELECT fts_rowid, content, tags, meta FROM memories_fts_rows`,
      );
      for (const t of triggers) db.exec(t.sql);
    });
    db.exec("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const counts = documentCounts(db, new Set(words));
    return {
      sampleIds,
      words,
      rare: closest(counts, RARE_MEMORIES, RARE_WORDS),
      common: closest(counts, Math.round(COMMON_SHARE * options.count), COMMON_WORDS),
      vocabularySize,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    db.close();
  }
}

/** How many memories hold each word of `words`, from the search index itself (fts5vocab). */
function documentCounts(db: ReturnType<typeof openDatabase>, words: Set<string>): WordCount[] {
  db.exec("CREATE VIRTUAL TABLE temp.bench_vocab USING fts5vocab(main, memories_fts, row)");
  try {
    const rows = db.prepare("SELECT term, doc FROM temp.bench_vocab").all() as {
      term: string;
      doc: number;
    }[];
    return rows.filter((r) => words.has(r.term)).map((r) => ({
      word: r.term,
      memories: Number(r.doc),
    }));
  } finally {
    db.exec("DROP TABLE temp.bench_vocab");
  }
}

/** The `take` words whose count is closest to `target` (ties: alphabetical), deterministic. */
function closest(counts: WordCount[], target: number, take: number): WordCount[] {
  return [...counts]
    .sort((a, b) =>
      Math.abs(a.memories - target) - Math.abs(b.memories - target) ||
      (a.word < b.word ? -1 : a.word > b.word ? 1 : 0)
    )
    .slice(0, take);
}

/** A note-like sentence for POST /memories. */
export function sentence(words: string[], rnd: () => number, draw: () => number): string {
  const length = 4 + Math.floor(rnd() * 16);
  const tokens: string[] = [];
  for (let t = 0; t < length; t++) {
    tokens.push(rnd() < 0.3 ? STOP[Math.floor(rnd() * STOP.length)] : words[draw()]);
  }
  return tokens.join(" ");
}
