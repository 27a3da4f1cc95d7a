/**
 * Entry point of a search worker thread (started by search_pool.ts); the work is in
 * search_thread.ts. The handler is set before anything is awaited, so no message is lost.
 */
import { type SearchCommand, searchMessageHandler } from "./search_thread.ts";

// The type checker sees the window's globals; this module runs in a worker's scope.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<SearchCommand>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = searchMessageHandler((reply) => scope.postMessage(reply));
