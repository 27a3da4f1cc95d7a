/**
 * The core's router: Hono's RegExpRouter for every path but a few prefixes, which keep the
 * TrieRouter.
 *
 * Hono's default (SmartRouter) takes RegExpRouter, which matches a path with one regular
 * expression, unless a route is one it cannot express: then every request goes through the
 * slower TrieRouter. The contract has one such pair: POST /llm_jobs/retry-failed beside
 * POST /llm_jobs/:id/retry (a literal and a parameter in the same place under one method). With
 * the whole table on TrieRouter, a GET /memories/{id} took 68 µs of the core's CPU against 60
 * with this router (one CPU, 16 connections, alternating runs).
 */
import { type Result, type Router, UnsupportedPathError } from "hono/router";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { TrieRouter } from "hono/router/trie-router";

/** Options for {@linkcode SplitRouter}. */
export interface SplitRouterOptions {
  /** Paths under these (`/llm_jobs`: itself and `/llm_jobs/...`) are matched by TrieRouter. */
  triePrefixes: readonly string[];
}

/**
 * A router that matches paths under `triePrefixes` with a TrieRouter holding every route (so
 * those paths match exactly as they would with TrieRouter alone), and any other path with a
 * RegExpRouter holding every route not under them. A route under a prefix can match only paths
 * under it (its first segments are literal), so both answer as one table would.
 *
 * A route outside the prefixes that RegExpRouter cannot express fails at `add`, i.e. when the
 * app is built, naming the path: give its prefix to the trie.
 */
export class SplitRouter<T> implements Router<T> {
  /** Shown by Hono's inspection helpers. */
  name = "SplitRouter";
  #prefixes: readonly string[];
  #trie = new TrieRouter<T>();
  #regExp = new RegExpRouter<T>();

  /** A router sending paths under `options.triePrefixes` to TrieRouter. */
  constructor(options: SplitRouterOptions) {
    this.#prefixes = options.triePrefixes;
  }

  /** Add a route to the TrieRouter, and to the RegExpRouter unless it is under a prefix. */
  add(method: string, path: string, handler: T): void {
    this.#trie.add(method, path, handler);
    if (this.#underPrefix(path)) return;
    try {
      this.#regExp.add(method, path, handler);
    } catch (err) {
      if (!(err instanceof UnsupportedPathError)) throw err;
      throw new Error(
        `RegExpRouter cannot match ${method} ${path} beside the other routes: ` +
          `add its prefix to SplitRouter's triePrefixes (${err.message})`,
      );
    }
  }

  /** Match `path` with the router its prefix belongs to. */
  match(method: string, path: string): Result<T> {
    return this.#underPrefix(path)
      ? this.#trie.match(method, path)
      : this.#regExp.match(method, path);
  }

  #underPrefix(path: string): boolean {
    for (const prefix of this.#prefixes) {
      if (
        path.startsWith(prefix) && (path.length === prefix.length || path[prefix.length] === "/")
      ) {
        return true;
      }
    }
    return false;
  }
}
