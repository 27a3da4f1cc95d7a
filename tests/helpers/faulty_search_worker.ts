/**
 * A search worker for tests of core/store/search_pool.ts: the real one, except that the query
 * `crash now` throws out of the message handler (an uncaught error, as a crash of the thread)
 * and `hang now` never answers (a search that runs forever), both marked running as a real
 * search is, and `open settings` answers the settings its `open` command carried (as the hits'
 * JSON text).
 */
import {
  markRunning,
  type SearchCommand,
  searchMessageHandler,
} from "../../core/store/search_thread.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<SearchCommand>) => void) | null;
  postMessage(message: unknown): void;
};

// Every answer held as long as searches wait, whatever this machine's speed.
const handle = searchMessageHandler((reply) => scope.postMessage(reply), {
  holdAfterMs: Infinity,
});

let opened: SearchCommand | undefined;

scope.onmessage = (event) => {
  const data = event.data;
  if (data.kind === "open") opened = data;
  if (data.kind !== "search" || opened?.kind !== "open") return handle(event);
  // One search at a time, as the real handler runs them.
  for (const search of data.searches) {
    const q = search.params.q;
    if (q === "open settings") {
      const { mmapBytes, cacheBytes, tuning } = opened;
      const json = JSON.stringify({ mmapBytes, cacheBytes, tuning });
      scope.postMessage({ kind: "answers", answers: [{ id: search.id, json }] });
      continue;
    }
    if (q === "crash now" || q === "hang now") markRunning(opened.progress, search.id);
    if (q === "crash now") throw new Error("simulated search worker crash");
    if (q === "hang now") {
      // Busy, as a runaway SQLite call would be: only terminating the thread ends it.
      while (true) { /* spin */ }
    }
    handle({ data: { kind: "search", searches: [search] } } as MessageEvent<SearchCommand>);
  }
};
