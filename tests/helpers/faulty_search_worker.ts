/**
 * A search worker for tests of core/store/search_pool.ts: the real one, except that the query
 * `crash now` throws out of the message handler (an uncaught error, as a crash of the thread)
 * and `hang now` never answers (a search that runs forever), and `open settings` answers the
 * settings its `open` command carried (as the hits' JSON text).
 */
import { type SearchCommand, searchMessageHandler } from "../../core/store/search_thread.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<SearchCommand>) => void) | null;
  postMessage(message: unknown): void;
};

const handle = searchMessageHandler((reply) => scope.postMessage(reply));

let opened: SearchCommand | undefined;

scope.onmessage = (event) => {
  if (event.data.kind === "open") opened = event.data;
  const q = event.data.kind === "search" ? event.data.params.q : undefined;
  if (q === "open settings" && event.data.kind === "search" && opened?.kind === "open") {
    const { mmapBytes, cacheBytes, tuning } = opened;
    const json = JSON.stringify({ mmapBytes, cacheBytes, tuning });
    scope.postMessage({ kind: "hits", id: event.data.id, json });
    return;
  }
  if (q === "crash now") throw new Error("simulated search worker crash");
  if (q === "hang now") {
    // Busy, as a runaway SQLite call would be: only terminating the thread ends it.
    while (true) { /* spin */ }
  }
  handle(event);
};
