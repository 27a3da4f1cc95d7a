/**
 * A search worker for tests of core/store/search_pool.ts: the real one, except that the query
 * `crash now` throws out of the message handler (an uncaught error, as a crash of the thread),
 * `hang now` never answers (a search that runs forever), and `open settings` answers the
 * settings its `open` command carried (as the hits' JSON text). Both crash and hang are marked
 * running, as a real search is; the other two run inside the real handler, in its order.
 */
import { searchMemoriesJson } from "../../core/store/search_query.ts";
import {
  markRunning,
  type SearchCommand,
  searchMessageHandler,
} from "../../core/store/search_thread.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<SearchCommand>) => void) | null;
  postMessage(message: unknown): void;
};

let opened: SearchCommand | undefined;

const handle = searchMessageHandler((reply) => scope.postMessage(reply), {
  // Every answer held as long as searches wait, whatever this machine's speed.
  holdAfterMs: Infinity,
  search(db, params, tuning) {
    if (params.q === "open settings" && opened?.kind === "open") {
      const { mmapBytes, cacheBytes } = opened;
      return JSON.stringify({ mmapBytes, cacheBytes, tuning: opened.tuning });
    }
    if (params.q === "hang now") {
      // Busy, as a runaway SQLite call would be: only terminating the thread ends it.
      while (true) { /* spin */ }
    }
    return searchMemoriesJson(db, params, tuning);
  },
});

scope.onmessage = (event) => {
  const data = event.data;
  if (data.kind === "open") opened = data;
  if (data.kind !== "search" || opened?.kind !== "open") return handle(event);
  // The searches before a crash run in the real handler, as one message, as they came.
  const crash = data.searches.findIndex((s) => s.params.q === "crash now");
  if (crash < 0) return handle(event);
  if (crash > 0) {
    const searches = data.searches.slice(0, crash);
    handle({ data: { kind: "search", searches } } as MessageEvent<SearchCommand>);
  }
  markRunning(opened.progress, data.searches[crash].id);
  throw new Error("simulated search worker crash");
};
