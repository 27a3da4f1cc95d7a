/**
 * Environment configuration for both services, parsed with zod. A bad value stops the service at
 * start with a message naming the variable; every setting has a documented default
 * (see `.env.example`).
 */
import { z } from "zod";

const port = z.coerce.number().int().min(1).max(65535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);
const url = z.string().url();
const redisUrl = z.string().regex(/^rediss?:\/\/[^\s]+$/, "must look like redis://host:port[/db]");
const logLevel = z.enum(["debug", "info", "warn", "error"]);
// Sent as a bearer token, so only the characters RFC 6750 allows there (hono/bearer-auth on the
// core refuses any other); a short token is too easy to guess to be worth it.
const apiToken = z.string().regex(
  /^[A-Za-z0-9._~+/-]+=*$/,
  "must be letters, digits and - . _ ~ + / only (optionally ending in =), no whitespace",
).min(
  16,
  "must be at least 16 characters (e.g. the output of `openssl rand -hex 32`)",
);

/**
 * Default of SEARCH_WORKERS: one search thread. Deno's SQLite is built with
 * SQLITE_ENABLE_MEMORY_MANAGEMENT, which puts every connection's page cache in the process behind
 * one mutex, and a ranked search takes it for every B-tree page it touches (an owner check per
 * match, a document length per ranked row). Two threads searching at once each ran 2.5-3.5x
 * slower than one alone (a common word at 100,000 memories: 2.8 ms alone, 7.6-10.8 ms each side
 * by side; a rare word 0.19 against 0.32-0.39 ms), so a second thread lowered throughput: with 2,
 * common-word searches ran at 163 req/s (p99 119 ms), with 1 at 368 req/s (p99 56 ms). One thread
 * still keeps searches off the thread that serves HTTP and writes. More pay only with
 * SEARCH_MMAP_MB set, where a reader's pages bypass that cache.
 */
export const DEFAULT_SEARCH_WORKERS = 1;

/**
 * Default of SEARCH_CANDIDATE_CAP: how many of an owner's newest matches a search ranks
 * (core/store/search_query.ts; every pinned match is ranked too). bm25 costs about a microsecond
 * per ranked row and searches run one at a time per thread, so the cap bounds a common word's
 * search. The bench's common words at 100,000 memories have 913-1,050 matches of the searching
 * owner: 1000 ranks all of them for four of the five, so their results are exact, and 16
 * connections searching them got ~200-330 req/s, p99 ~60-95 ms. A cap of 250 ranked only the
 * newest quarter of those matches and doubled that (~470-710 req/s, p99 ~35-63 ms). An owner
 * with fewer matches than the cap has all of them ranked whatever its value.
 */
export const DEFAULT_SEARCH_CANDIDATE_CAP = 1000;

/**
 * Default of SEARCH_CACHE_MB: the page cache of each search thread's connection, in megabytes
 * (SQLite's own default is 2). A connection's cache is its own, and a page it does not hold is a
 * read of the file: a system call, which costs several microseconds on a VM. At 1,000,000 memories
 * 2 MB does not even hold the inner pages of the trees a search walks: a rare-word search made ~19
 * reads, and 16 connections searching got 2,184-2,450 req/s with 2 MB against 3,449-3,695 with 16
 * (alternating runs, one machine); common words at 100,000 memories 192-193 against 221-222 req/s;
 * rare words at 100,000 memories the same either way. The cache fills only as pages are read, so a
 * small store never fills it.
 */
export const DEFAULT_SEARCH_CACHE_MB = 16;

/** Default of MAX_JSON_DEPTH: deeper than any body of the contract, far below stack limits. */
export const DEFAULT_MAX_JSON_DEPTH = 32;

/**
 * Default of SEARCH_MMAP_MB: off. After any commit SQLite drops a reader's whole map and maps the
 * file again (its pages may have changed), and with writes going on that undid the map's gain: a
 * mixed load of reads, searches and writes ran at ~800 req/s with the map against ~1,800 without
 * (one munmap of ~1.4 ms per search, every other thread stalled meanwhile). Worth setting only for
 * a store that is searched far more often than written.
 */
export const DEFAULT_SEARCH_MMAP_MB = 0;

// Limits of every HTTP listener (the core's API, the worker's /metrics); see shared/http_server.ts.
const httpShape = {
  HTTP_MAX_CONNECTIONS: positiveInt.default(512),
  HTTP_HEADERS_TIMEOUT_SECONDS: positiveInt.default(10),
  HTTP_REQUEST_TIMEOUT_SECONDS: positiveInt.default(120),
  HTTP_IDLE_TIMEOUT_SECONDS: positiveInt.default(5),
};

// The defaults are a workstation's: local paths under ./data (relative to where the service runs;
// scripts/serve.sh makes them absolute) and Redis and the core on loopback. The images set the
// container values (ENV in core/Dockerfile and llm_worker/Dockerfile), as .env.example does.
const coreShape = {
  CORE_HOST: z.string().min(1).default("127.0.0.1"),
  CORE_PORT: port.default(8000),
  DATABASE_PATH: z.string().min(1).default("./data/db/life_organiser.db"),
  IMAGE_STORAGE_PATH: z.string().min(1).default("./data/images"),
  REDIS_URL: redisUrl.default("redis://127.0.0.1:6379"),
  MAX_UPLOAD_BYTES: positiveInt.default(10 * 1024 * 1024),
  MAX_CONCURRENT_UPLOADS: positiveInt.default(8),
  MAX_BODY_BYTES: positiveInt.default(1024 * 1024),
  MAX_JSON_DEPTH: positiveInt.default(DEFAULT_MAX_JSON_DEPTH),
  // Searches run on this many threads with their own read-only connections (core/store/
  // search_pool.ts); 0 runs them on the main thread.
  SEARCH_WORKERS: nonNegativeInt.default(DEFAULT_SEARCH_WORKERS),
  SEARCH_MAX_QUEUE: nonNegativeInt.default(64),
  SEARCH_TIMEOUT_SECONDS: positiveInt.default(10),
  // How much of the database file each search thread reads through a memory map (0: none); see
  // openReadOnly in core/store/search_thread.ts for why.
  SEARCH_MMAP_MB: nonNegativeInt.default(DEFAULT_SEARCH_MMAP_MB),
  // Each search thread's page cache, in megabytes (see DEFAULT_SEARCH_CACHE_MB).
  SEARCH_CACHE_MB: positiveInt.default(DEFAULT_SEARCH_CACHE_MB),
  SEARCH_CANDIDATE_CAP: positiveInt.default(DEFAULT_SEARCH_CANDIDATE_CAP),
  SCHEDULER_INTERVAL_SECONDS: positiveInt.default(30),
  REPUBLISH_INTERVAL_SECONDS: positiveInt.default(5),
  LOG_LEVEL: logLevel.default("info"),
  // Unset keeps the API open, as the first version was; see README "Operating it".
  CORE_API_TOKEN: apiToken.optional(),
  ...httpShape,
};

const workerShape = {
  LLM_BASE_URL: url.default("http://localhost:8080/v1"),
  LLM_VISION_MODEL: z.string().min(1).default("llava"),
  LLM_TEXT_MODEL: z.string().min(1).default("mistral"),
  LLM_API_KEY: z.string().min(1).default("not-needed"),
  LLM_MAX_RETRIES: nonNegativeInt.default(5),
  LLM_TIMEOUT_SECONDS: positiveInt.default(120),
  LLM_RETRY_BASE_MS: positiveInt.default(1000),
  LLM_RETRY_MAX_MS: positiveInt.default(60000),
  REDIS_URL: redisUrl.default("redis://127.0.0.1:6379"),
  CORE_API_URL: url.default("http://127.0.0.1:8000"),
  IMAGE_STORAGE_PATH: z.string().min(1).default("./data/images"),
  WORKER_CONCURRENCY: positiveInt.default(4),
  WORKER_CLAIM_IDLE_SECONDS: positiveInt.default(60),
  LOG_LEVEL: logLevel.default("info"),
  CORE_API_TOKEN: apiToken.optional(),
  // 0 turns the worker's /metrics and /health listener off.
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9100),
  // Hours, fractions allowed: how long a job waits out a model outage before it fails.
  LLM_OUTAGE_MAX_HOURS: z.coerce.number().positive().default(24),
  LLM_PROBE_MAX_SECONDS: positiveInt.default(10),
  LLM_MAX_ANSWER_CHARS: positiveInt.default(65536),
  WORKER_MAX_DELIVERIES: positiveInt.default(10),
  ...httpShape,
};

const coreSchema = z.object(coreShape);
const workerSchema = z.object(workerShape);

/** Core service settings. */
export type CoreConfig = z.infer<typeof coreSchema>;
/** Worker settings. */
export type WorkerConfig = z.infer<typeof workerSchema>;

/** Variables the core reads; the `--allow-env` list of `deno task core` is this list. */
export const CORE_ENV_VARS: readonly string[] = Object.keys(coreShape);
/** Variables the worker reads; the `--allow-env` list of `deno task worker` is this list. */
export const WORKER_ENV_VARS: readonly string[] = Object.keys(workerShape);

/** Variables with no default: unset means the feature is off (see `.env.example`). */
export const OPTIONAL_ENV_VARS: readonly string[] = ["CORE_API_TOKEN"];

/** Variables whose values are never printed, not even in a configuration error. */
export const SECRET_VARS: readonly string[] = ["LLM_API_KEY", "CORE_API_TOKEN"];

/** Raised when the environment holds a bad value; the message names each variable. */
export class ConfigError extends Error {
  /** Build from one message per bad variable. */
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

function parseWith<T>(schema: z.ZodType<T>, env: Record<string, string | undefined>): T {
  // An empty variable means "not set", as in a .env line `FOO=`.
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== "") cleaned[k] = v;
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0]);
        // The message goes to the log; a mistyped secret is still a secret.
        const shown = SECRET_VARS.includes(name) ? "<hidden>" : JSON.stringify(cleaned[name] ?? "");
        return `${i.path.join(".")}=${shown}: ${i.message}`;
      }),
    );
  }
  return parsed.data;
}

/** Parse the core's settings from `env` (a plain record, so tests can pass their own). */
export function loadCoreConfig(env: Record<string, string | undefined>): CoreConfig {
  return parseWith(coreSchema, env);
}

/** Parse the worker's settings from `env`. */
export function loadWorkerConfig(env: Record<string, string | undefined>): WorkerConfig {
  return parseWith(workerSchema, env);
}

/** Read just `names` from the process environment (works under a narrow `--allow-env`). */
export function readEnv(names: readonly string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const name of names) out[name] = Deno.env.get(name);
  return out;
}

/** `host:port` of a redis:// URL, for logs and permission lists. */
export function redisHostPort(redisUrl: string): string {
  const u = new URL(redisUrl.replace(/^rediss?:/, "http:"));
  return `${u.hostname}:${u.port || "6379"}`;
}
