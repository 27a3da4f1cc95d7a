/**
 * What a search worker does (core/store/search_worker.ts is its entry point, search_pool.ts the
 * main thread's side): hold a read-only connection to the database file and answer searches with
 * the same {@linkcode searchMemoriesJson} as an inline search, so the two cannot drift apart.
 *
 * Only what searching needs is imported here: under `deno task core` a worker may read just the
 * modules it loads (scripts/serve.sh), and the migrations are not among them.
 */
import type { DatabaseSync } from "node:sqlite";
import { openConnection } from "../db/statement_cache.ts";
import { searchMemoriesJson, type SearchParams, type SearchTuning } from "./search_query.ts";

/** A message from the pool to a worker. */
export type SearchCommand =
  | {
    kind: "open";
    path: string;
    mmapBytes: number;
    cacheBytes: number;
    tuning: SearchTuning;
    /** Shared with the pool: see {@linkcode SENT} and {@linkcode RUNNING}. */
    progress: Int32Array;
  }
  /** Searches to run in order (several when they came while the worker was busy). */
  | { kind: "search"; searches: SentSearch[] }
  | { kind: "close" };

/** A search as the pool sends it: its id, which its answer carries, and what to search. */
export interface SentSearch {
  id: number;
  params: SearchParams;
}

/**
 * One search's answer: the hits as JSON text (SQLite writes the memories' part), null for an
 * unknown owner, or why the search failed (a failed search is an answer, not a crash). A string
 * crosses between threads as a plain copy; the hits as objects took a structured clone, ~9 us
 * for a rare word's four against ~1.5 us to write them as JSON, which the main thread would
 * then have done anyway for the answer.
 */
export type SearchAnswer = { id: number; json: string | null } | { id: number; error: string };

/** A message from a worker to the pool. */
export type SearchReply =
  /** Answers, in the order their searches were sent (see {@linkcode searchMessageHandler}). */
  | { kind: "answers"; answers: SearchAnswer[] }
  /** The worker has loaded and tried to open the database: searches may be timed from now. */
  | { kind: "ready" }
  | { kind: "closed" };

/** Index in the `progress` array of how many searches the pool has posted (it adds each). */
export const SENT = 0;
/**
 * Index in the `progress` array of the id of the search the worker is running (`id | 0`), 0
 * between searches: when a worker crashes or hangs, the pool fails that search alone.
 */
export const RUNNING = 1;
/** Length of the `progress` array. */
export const PROGRESS_SLOTS = 2;

/**
 * An answer is held back only after a search quicker than this (ms): a held answer waits for the
 * next search, and a rare-word search takes well under it where a common word's takes ms.
 */
const HOLD_AFTER_MS = 0.5;

/** Say which search the worker is running (0: none); the pool reads it after a crash or hang. */
export function markRunning(progress: Int32Array | undefined, id: number): void {
  if (progress !== undefined) Atomics.store(progress, RUNNING, id | 0);
}

/**
 * Open `path` read-only, reading up to `mmapBytes` of it through a memory map (SEARCH_MMAP_MB;
 * 0 turns the map off), with a page cache of `cacheBytes` (SEARCH_CACHE_MB; SQLite's 2 MB when
 * not given). The writer (core/db/open.ts) put the file in WAL mode, so this connection
 * reads the last committed state without blocking the writer or being blocked by it.
 *
 * Why the map: Deno's SQLite is built with SQLITE_ENABLE_MEMORY_MANAGEMENT, which
 * puts the page caches of every connection in the process behind one mutex: two threads
 * searching at once each took three times as long as one alone (a common word at 100,000
 * memories: 4.5 ms alone, 14 ms each side by side), so a second worker lowered search throughput.
 * Pages read through the map skip that cache: 4.1 ms alone, 4.6-4.9 ms each side by side. The
 * mapped pages are the kernel's page cache of the file, shared and reclaimable, but they count in
 * the process's RSS once read. The map is off by default all the same: in WAL mode a reader drops
 * its whole map once any commit has landed (SQLite's pager, on a changed WAL), so with writes
 * going on each search paid a munmap and page faults (DEFAULT_SEARCH_MMAP_MB in shared/config.ts).
 */
export function openReadOnly(
  path: string,
  options: { mmapBytes: number; cacheBytes?: number },
): DatabaseSync {
  const db = openConnection(path, { readOnly: true });
  db.exec(`PRAGMA mmap_size = ${Math.trunc(options.mmapBytes)}`);
  // A negative cache_size is in KiB.
  if (options.cacheBytes !== undefined) {
    db.exec(`PRAGMA cache_size = -${Math.max(1, Math.trunc(options.cacheBytes / 1024))}`);
  }
  return db;
}

/** Options of {@linkcode searchMessageHandler}, for tests. */
export interface SearchHandlerOptions {
  /** Hold answers only after searches quicker than this ({@linkcode HOLD_AFTER_MS} by default). */
  holdAfterMs?: number;
  /** What runs a search ({@linkcode searchMemoriesJson} by default). */
  search?: typeof searchMemoriesJson;
}

/**
 * The worker's message handler: `open` the database, answer each `search`, `close` it. Replies
 * go through `post`.
 *
 * Answers are posted in groups when searches queue up. Each message between the threads cost
 * ~14 us of the worker's CPU to post and ~7 to receive, mostly the system call that wakes the
 * other thread's event loop (an eventfd write; perf, on this VM): as much as half a rare-word
 * search. So after a quick search the answer is held while more searches than answers held are
 * already sent (the pool counts them in `progress`) and waiting: the main thread gets about half
 * of what is in flight at once and answers it while the worker runs the other half. With 16
 * searches in flight (a pool of one, the bench's rare words through HTTP, the core, wrk and Redis
 * on 2 CPUs, 4 alternating rounds against the answer-per-message worker) the core's CPU a search
 * fell from 168-176 to 144-155 us (the main thread's from ~70 to ~55) and throughput rose 3-6%
 * in every round; common words (1.4 ms a search, answered at once) were unchanged. A lone search,
 * or one after a slow search, is answered at once.
 */
export function searchMessageHandler(
  post: (reply: SearchReply) => void,
  options: SearchHandlerOptions = {},
): (event: MessageEvent<SearchCommand>) => void {
  const holdAfterMs = options.holdAfterMs ?? HOLD_AFTER_MS;
  const search = options.search ?? searchMemoriesJson;
  // The connection and how to rank on it, both from the `open` command.
  let open: Connection | undefined;
  // Kept so every search says why there is no connection, rather than a bare "not open".
  let openError = "the search worker has no database open";
  let progress: Int32Array | undefined;
  let received = 0;
  let held: SearchAnswer[] = [];
  const flush = () => {
    if (held.length === 0) return;
    post({ kind: "answers", answers: held });
    held = [];
  };
  // A message's searches share a read transaction while they are quick: each search's own
  // (searchMemoriesJson) is then a step inside it, and the WAL read lock, system calls that cost
  // ~10 us of a ~60 us rare-word search on this VM, is taken once for them. The snapshot is
  // taken after the message came, so each search still sees every write answered before it was
  // sent. A slow search ends the transaction: a snapshot kept over several common-word searches
  // (ms each) holds back the WAL's checkpoints. With a whole message in one transaction, reads
  // by id on the main thread while 8 connections searched common words, after 16 s of
  // POST /memories, fell from a median of ~7,100 to ~6,000 req/s (4 alternating rounds); with
  // the transaction ended at a slow search they were better than before in 3 of 4 rounds.
  const runSearches = (searches: SentSearch[]) => {
    const db = open?.db;
    try {
      searches.forEach((sent, i) => {
        if (db !== undefined && !db.isTransaction && i < searches.length - 1) db.exec("BEGIN");
        received++;
        const started = performance.now();
        held.push(
          open === undefined
            ? { id: sent.id, error: openError }
            : answer(open, sent, { progress, search }),
        );
        const slow = performance.now() - started > holdAfterMs;
        if (slow && db?.isTransaction) db.exec("COMMIT");
        const waiting = progress === undefined ? 0 : Atomics.load(progress, SENT) - received;
        if (held.length >= waiting || slow) flush();
      });
    } finally {
      if (db?.isTransaction) db.exec("COMMIT");
    }
  };
  return ({ data }) => {
    switch (data.kind) {
      case "open":
        progress = data.progress;
        try {
          open = {
            db: openReadOnly(data.path, { mmapBytes: data.mmapBytes, cacheBytes: data.cacheBytes }),
            tuning: data.tuning,
          };
        } catch (err) {
          openError = `cannot open the database read-only: ${(err as Error).message}`;
        }
        post({ kind: "ready" });
        return;
      case "search":
        runSearches(data.searches);
        return;
      case "close":
        flush();
        open?.db.close();
        open = undefined;
        post({ kind: "closed" });
        return;
    }
  };
}

/** A worker's connection and how to rank on it. */
interface Connection {
  db: DatabaseSync;
  tuning: SearchTuning;
}

/** Run one search with `o.search`, marked running in `o.progress` meanwhile. */
function answer(
  open: Connection,
  sent: SentSearch,
  o: { progress: Int32Array | undefined; search: typeof searchMemoriesJson },
): SearchAnswer {
  markRunning(o.progress, sent.id);
  try {
    return { id: sent.id, json: o.search(open.db, sent.params, open.tuning) };
  } catch (err) {
    return { id: sent.id, error: (err as Error).message };
  } finally {
    markRunning(o.progress, 0);
  }
}
