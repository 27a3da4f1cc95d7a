/**
 * The workload of the CPU check (bench/cpu_probe.ts): a fixed piece of the work the core does
 * (SQLite B-tree lookups, an FTS5 ranked search, JSON), timed on an in-memory database, so it
 * needs no permission. Prints the median milliseconds of its timed rounds.
 *
 * Why SQLite and not a plain loop: on this VM one CPU at times ran searches at half the speed of
 * the other for minutes on end while a loop of integer arithmetic ran equally fast on both (the
 * host's other load shares the core's caches and execution units, which a chain of dependent
 * multiplications hardly uses). A check has to do the kind of work that slows down.
 */
import { DatabaseSync } from "node:sqlite";
import { prng } from "./prng.ts";

const DOCS = 4_000;
const WORDS_PER_DOC = 12;
const VOCABULARY = 2_000;
const ROUNDS = 3;

function build(rnd: () => number): { db: DatabaseSync; ids: string[] } {
  const db = new DatabaseSync(":memory:");
  db.exec("CREATE TABLE t (id TEXT PRIMARY KEY, body TEXT NOT NULL)");
  db.exec("CREATE VIRTUAL TABLE f USING fts5(body)");
  // Word k is drawn with weight ~1/(k+1): a few common words, a long tail.
  const word = () => `w${Math.floor(Math.exp(rnd() * Math.log(VOCABULARY + 1)) - 1)}`;
  const ids: string[] = [];
  const insert = db.prepare("INSERT INTO t (id, body) VALUES (?, ?)");
  const index = db.prepare("INSERT INTO f (rowid, body) VALUES (?, ?)");
  db.exec("BEGIN");
  for (let i = 0; i < DOCS; i++) {
    const body = Array.from({ length: WORDS_PER_DOC }, word).join(" ");
    const id = crypto.randomUUID();
    ids.push(id);
    insert.run(id, body);
    index.run(i + 1, body);
  }
  db.exec("COMMIT");
  return { db, ids };
}

function round(db: DatabaseSync, ids: string[], rnd: () => number): number {
  const byId = db.prepare("SELECT id, body FROM t WHERE id = ?");
  const search = db.prepare(
    "SELECT rowid, -bm25(f) AS score FROM f WHERE f MATCH ? ORDER BY score DESC LIMIT 20",
  );
  const started = performance.now();
  let bytes = 0;
  for (let i = 0; i < 10_000; i++) {
    bytes += JSON.stringify(byId.get(ids[Math.floor(rnd() * ids.length)])).length;
  }
  for (let i = 0; i < 40; i++) bytes += JSON.stringify(search.all(`w${i % 5}`)).length;
  if (bytes === 0) throw new Error("the check's queries found nothing");
  return performance.now() - started;
}

const rnd = prng(11);
const { db, ids } = build(rnd);
round(db, ids, rnd);
const times = Array.from({ length: ROUNDS }, () => round(db, ids, rnd)).sort((a, b) => a - b);
console.log(times[Math.floor(ROUNDS / 2)].toFixed(2));
