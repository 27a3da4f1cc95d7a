/** What the core's routes and loops are given, instead of importing globals. */
import type { DatabaseSync } from "node:sqlite";
import type { Redis } from "ioredis";
import type { CoreConfig } from "../shared/config.ts";
import type { Logger } from "../shared/log.ts";
import type { SearchFn } from "./store/search_pool.ts";

/** Current time; tests pass a fixed or stepping clock. */
export type Clock = () => Date;

/** Dependencies of the core app. */
export interface CoreDeps {
  /** The SQLite store (single source of truth). */
  db: DatabaseSync;
  /**
   * Redis client used to publish jobs and notifications, created with the offline queue off so
   * a command fails at once when Redis is down (the job row is already committed).
   */
  redis: Redis;
  /** Parsed settings. */
  config: CoreConfig;
  /** Time source. */
  clock: Clock;
  /** Structured logger. */
  log: Logger;
  /**
   * GET /search's query: on the pool of search workers, or inline on `db`
   * (core/store/search_pool.ts; tests pass either).
   */
  search: SearchFn;
}

/** Now as the contract's ISO 8601 UTC string. */
export function nowIso(clock: Clock): string {
  return clock().toISOString();
}
