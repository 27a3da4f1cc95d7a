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
  | { kind: "open"; path: string; mmapBytes: number; cacheBytes: number; tuning: SearchTuning }
  | { kind: "search"; id: number; params: SearchParams }
  | { kind: "close" };

/** A message from a worker to the pool. */
export type SearchReply =
  /**
   * The hits as JSON text (SQLite writes the memories' part), null for an unknown owner. A string
   * crosses between threads as a plain copy; the hits as objects took a structured clone, ~9 us
   * for a rare word's four against ~1.5 us to write them as JSON, which the main thread would
   * then have done anyway for the answer.
   */
  | { kind: "hits"; id: number; json: string | null }
  | { kind: "failed"; id: number; error: string }
  /** The worker has loaded and tried to open the database: searches may be timed from now. */
  | { kind: "ready" }
  | { kind: "closed" };

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

/**
 * The worker's message handler: `open` the database, answer each `search` with hits or the
 * error's message (a failed search is an answer, not a crash), `close` it. Replies go through
 * `post`.
 */
export function searchMessageHandler(
  post: (reply: SearchReply) => void,
): (event: MessageEvent<SearchCommand>) => void {
  // The connection and how to rank on it, both from the `open` command.
  let open: { db: DatabaseSync; tuning: SearchTuning } | undefined;
  // Kept so every search says why there is no connection, rather than a bare "not open".
  let openError = "the search worker has no database open";
  return ({ data }) => {
    switch (data.kind) {
      case "open":
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
        if (open === undefined) {
          post({ kind: "failed", id: data.id, error: openError });
          return;
        }
        try {
          post({
            kind: "hits",
            id: data.id,
            json: searchMemoriesJson(open.db, data.params, open.tuning),
          });
        } catch (err) {
          post({ kind: "failed", id: data.id, error: (err as Error).message });
        }
        return;
      case "close":
        open?.db.close();
        open = undefined;
        post({ kind: "closed" });
        return;
    }
  };
}
