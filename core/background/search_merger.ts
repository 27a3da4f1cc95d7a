/**
 * Keeps the search index in few segments. FTS5 writes each commit's new terms as a segment of
 * their own, and every search looks each of its words up in every segment. FTS5's own merging
 * (automerge) does work in proportion to what a commit wrote, so with memories arriving one at a
 * time, as a user sends them, it falls behind: 20,000 memories written one a commit into the
 * bench's 100,000 left 15-21 segments, and rare-word searches took 2.2x as long as on the
 * one-segment index the bench seeds (417-457 against 172-214 µs in-process, a slow phase of the
 * VM). The same writes with a merge pass every 200 or every 3,300 of them (about a second's worth
 * at that rate) ended at 6 and 9 segments, rare-word searches 262-329 µs, for under 10 µs a
 * memory of merging.
 *
 * The steps run on the main connection, the one writer, between requests: a step never waits
 * for a lock, and each is short (MERGE_STEP_PAGES, core/store/search_index.ts); a pass stops
 * after {@linkcode MERGE_BUDGET_MS} and the next goes on. Merging moves index rows between
 * segments and never changes them, so search results and scores stay the same.
 */
import type { DatabaseSync } from "node:sqlite";
import type { Logger } from "../../shared/log.ts";
import { totalChanges } from "../db/query.ts";
import { mergeIndexStep } from "../store/search_index.ts";
import { type Loop, startLoop } from "./loop.ts";

/** How often writes are looked for, in ms. */
export const MERGE_INTERVAL_MS = 1000;

/** Most time one pass spends merging, in ms: the main thread answers no request meanwhile. */
export const MERGE_BUDGET_MS = 5;

/** What the merger needs. */
export interface SearchMergerDeps {
  /** The core's connection (the one writer). */
  db: DatabaseSync;
  /** Where a failed pass is reported. */
  log: Logger;
}

/** The merge steps of one pass. */
export interface MergePass {
  /** Steps that merged something. */
  steps: number;
  /** Whether the index is merged as far as it goes (a step found nothing to merge). */
  done: boolean;
}

/**
 * Merge steps on `db` until one finds nothing to merge or `budgetMs` has passed (at least one
 * step). Never inside a transaction of the connection: a step would join it.
 */
export function mergePass(db: DatabaseSync, budgetMs = MERGE_BUDGET_MS): MergePass {
  const started = performance.now();
  let steps = 0;
  while (!db.isTransaction) {
    if (!mergeIndexStep(db)) return { steps, done: true };
    steps++;
    if (performance.now() - started >= budgetMs) break;
  }
  return { steps, done: false };
}

/**
 * Every `intervalMs`, when the connection wrote anything since the last pass (its own merges
 * aside) or since the merger started, or the last pass ran out of budget, run a merge pass.
 */
export function startSearchMerger(
  deps: SearchMergerDeps,
  options: { intervalMs?: number } = {},
): Loop {
  const { db } = deps;
  // Not at start: even a step that finds nothing counts as a change, and the checkpointer starts
  // its thread (~10 MB) on any change: an idle core started at 75.7 MB RSS rather than 66.
  let seen = totalChanges(db);
  let done = true;
  const pass = () => {
    if (!db.isOpen || (totalChanges(db) === seen && done)) return;
    // A pass that throws (a full disk) is not tried again until something is written.
    seen = totalChanges(db);
    done = true;
    done = mergePass(db).done;
    seen = totalChanges(db);
  };
  return startLoop(() => Promise.resolve(pass()), {
    intervalMs: options.intervalMs ?? MERGE_INTERVAL_MS,
    name: "search index merge",
    log: deps.log,
  });
}
