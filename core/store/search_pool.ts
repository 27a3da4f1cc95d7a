/**
 * GET /search off the main thread: a few Deno Workers (search_worker.ts), each with its own
 * read-only connection to the database file, run searches in parallel, so concurrent searches
 * use every CPU instead of waiting in turn on the thread that serves HTTP and writes. They run
 * the same {@linkcode searchMemoriesJson} as an inline search (search_thread.ts).
 *
 * Reads see every committed write: the database is in WAL mode and the core commits a write
 * before it answers, so a search sent after a POST /memories has answered finds that memory.
 */
import type { DatabaseSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import {
  type CoreConfig,
  DEFAULT_SEARCH_CACHE_MB,
  DEFAULT_SEARCH_CANDIDATE_CAP,
  DEFAULT_SEARCH_MMAP_MB,
} from "../../shared/config.ts";
import type { Logger } from "../../shared/log.ts";
import { ApiError } from "../http/errors.ts";
import { searchMemoriesJson, type SearchParams, type SearchTuning } from "./search_query.ts";
import {
  PROGRESS_SLOTS,
  RUNNING,
  type SearchCommand,
  type SearchReply,
  SENT,
  type SentSearch,
} from "./search_thread.ts";

/**
 * Runs one search; what routes/search.ts is given (CoreDeps.search). Answers the hits
 * (an array of search_query.ts's SearchHit) as JSON text, the body of GET /search's answer
 * (see search_thread.ts), or null when the owner does not exist.
 */
export type SearchFn = (params: SearchParams) => Promise<string | null>;

/** How searches run: on the main thread or on a pool, and how to stop it. */
export interface SearchBackend {
  /** Run one search. */
  search: SearchFn;
  /** `pool` or `inline`, for the start-up log. */
  mode: "pool" | "inline";
  /** Stop the pool's workers (nothing to do inline). */
  close(): Promise<void>;
}

/** Options of {@linkcode createSearchPool}. */
export interface SearchPoolOptions {
  /** The database file (not `:memory:`: each thread would open its own, empty, database). */
  databasePath: string;
  /** Worker threads. */
  size: number;
  /** Searches that may wait for a busy worker; the next ones answer 503 at once. */
  maxQueue: number;
  /** A search running longer than this is stopped (its worker replaced) and answers 503. */
  timeoutMs: number;
  /** How much of the file each worker reads through a memory map (SEARCH_MMAP_MB's default). */
  mmapBytes?: number;
  /** Each worker's page cache (SEARCH_CACHE_MB's default). */
  cacheBytes?: number;
  /** How the workers rank (SEARCH_CANDIDATE_CAP's default). */
  tuning?: SearchTuning;
  /** Where crashes and timeouts are logged. */
  log: Logger;
  /** The worker's module; tests pass one that can crash or hang. search_worker.ts by default. */
  workerUrl?: URL;
  /** How long an idle worker is kept ({@linkcode IDLE_WORKER_MS} by default). */
  idleWorkerMs?: number;
}

/** What a pool is doing, for tests and logs. */
export interface SearchPoolStats {
  /** Worker threads running (a replaced one is started again by the next search). */
  workers: number;
  /** Searches running. */
  running: number;
  /** Searches waiting for a worker. */
  queued: number;
  /** Workers stopped because they crashed or ran past the timeout. */
  replaced: number;
}

/** A pool of search workers; `await using` closes it. */
export interface SearchPool extends AsyncDisposable {
  /** Run one search on an idle worker, or wait for one (bounded); see {@linkcode SearchPoolOptions}. */
  search: SearchFn;
  /** Current counts. */
  stats(): SearchPoolStats;
  /** Answer waiting searches 503, let each worker close its connection, then end the threads. */
  close(): Promise<void>;
}

interface Job {
  params: SearchParams;
  resolve(json: string | null): void;
  reject(err: Error): void;
}

/** A search sent to a worker, with the id its reply carries. */
interface Sent {
  job: Job;
  id: number;
}

interface Slot {
  worker?: Worker;
  /** Shared with the worker: searches posted to it, and the one it runs (search_thread.ts). */
  progress?: Int32Array;
  /** Searches sent while the worker was busy, posted together at the end of this turn. */
  outbox: SentSearch[];
  /**
   * The searches sent to the worker, in order: the first runs, the rest wait in the worker's own
   * queue (at most {@linkcode PIPELINE_DEPTH} in all).
   */
  sent: Sent[];
  timer?: ReturnType<typeof setTimeout>;
  /** Whether the worker has said it is ready; a search is timed only from then. */
  ready?: boolean;
  /** Ends the worker once it has been idle for {@linkcode IDLE_WORKER_MS}. */
  idleTimer?: ReturnType<typeof setTimeout>;
}

/**
 * A worker idle this long is ended. Each is a V8 isolate of ~8 MB; on a small box searches come
 * now and then, so the pool holds memory only while they do. Workers start on demand (tens of
 * ms), and a search goes to a running idle worker before a new one is started.
 */
export const IDLE_WORKER_MS = 60_000;

/**
 * How long a new worker may take to load and open the database before its search fails: a cold
 * start (modules compiled, a first connection) is not the search's time, and SEARCH_TIMEOUT_SECONDS
 * counts from when the worker is ready.
 */
const STARTUP_TIMEOUT_MS = 30_000;

/**
 * Most searches sent to one worker at once: while one runs, the next ones already wait in its
 * own queue. A worker that waits for the main thread between searches goes idle and wakes for
 * each one, which cost it ~430 us of CPU per rare-word search against ~245 us when the next one
 * was already waiting (a search alone is ~190 us). A deeper queue keeps both threads busier with
 * less waking: rare-word searches on 100,000 memories, 16 connections, one worker, alternating
 * runs of 5 s (req/s; CPU a request on the main thread / the worker):
 *
 * | depth | req/s | main thread | worker |
 * |---:|---:|---:|---:|
 * | 2 | 5,491-5,506 | 112-116 us | 146-150 us |
 * | 4 | 5,963-6,028 | 102-103 us | 137-139 us |
 * | 8 | 5,692-6,184 | 99-105 us | 137-147 us |
 * | 16 | 6,542-6,910 | 91-96 us | 127-132 us |
 *
 * With one worker (the default) a deeper queue costs nothing: a search waits behind the same
 * searches in the worker's queue as it would in the pool's. With several, a search waits behind
 * those already sent to its worker even when another worker has become free meanwhile (a message
 * sent to a worker cannot be taken back); new searches go to the least loaded worker.
 */
const PIPELINE_DEPTH = 16;

/** How long a closing worker gets to close its connection before it is terminated anyway. */
const CLOSE_GRACE_MS = 1000;

const RETRY_AFTER = { "Retry-After": "1" };

/** A pool of at most `size` search workers on `databasePath`, started as searches need them. */
export function createSearchPool(options: SearchPoolOptions): SearchPool {
  const { databasePath, maxQueue, timeoutMs, log } = options;
  const idleWorkerMs = options.idleWorkerMs ?? IDLE_WORKER_MS;
  const workerUrl = options.workerUrl ?? new URL("./search_worker.ts", import.meta.url);
  const slots: Slot[] = Array.from({ length: options.size }, () => ({ sent: [], outbox: [] }));
  const queue: Job[] = [];
  let seq = 0;
  let replaced = 0;
  let closed = false;

  const spawn = (slot: Slot, index: number): Worker => {
    const worker = new Worker(workerUrl, { type: "module", name: `search-${index}` });
    worker.onmessage = (event: MessageEvent<SearchReply>) => onReply(slot, worker, event.data);
    const crashed = (event: Event, error: string) => {
      // Handled here: unhandled, a worker's error would end the whole core.
      event.preventDefault();
      if (slot.worker !== worker) return;
      log.error("search worker crashed; replacing it", { worker: index, error });
      replace(slot, new ApiError(500, "the search failed: its worker stopped; try again"));
    };
    worker.onerror = (event) => crashed(event, event.message);
    worker.onmessageerror = (event) => crashed(event, "a reply could not be read");
    worker.postMessage(
      {
        kind: "open",
        path: databasePath,
        mmapBytes: options.mmapBytes ?? megabytes(DEFAULT_SEARCH_MMAP_MB),
        cacheBytes: options.cacheBytes ?? megabytes(DEFAULT_SEARCH_CACHE_MB),
        tuning: options.tuning ?? DEFAULT_SEARCH_TUNING,
        progress: slot.progress = new Int32Array(
          new SharedArrayBuffer(PROGRESS_SLOTS * Int32Array.BYTES_PER_ELEMENT),
        ),
      } satisfies SearchCommand,
    );
    slot.worker = worker;
    slot.ready = false;
    return worker;
  };

  const dispatch = (slot: Slot, job: Job) => {
    clearTimeout(slot.idleTimer);
    const worker = slot.worker ?? spawn(slot, slots.indexOf(slot));
    const id = ++seq;
    slot.sent.push({ job, id });
    slot.outbox.push({ id, params: job.params });
    // An idle worker gets its search at once. A busy one cannot start it before its search ends,
    // so the searches of this turn of the event loop go to it in one message (~4.5 a message
    // with rare words, 16 connections): the main thread posted each for ~4-5 us of its CPU and
    // the worker took ~7 to receive it (search_thread.ts). A/B against posting each, rare words
    // through HTTP on 2 CPUs: more req/s in 3 of 4 rounds (+6% on average), p99 5.4-6.0 against
    // 5.7-7.8 ms; with the core on one CPU no difference over 5 rounds.
    if (slot.sent.length === 1) {
      post(slot, worker);
      armTimer(slot);
    } else if (slot.outbox.length === 1) setImmediate(() => post(slot, worker));
  };

  const post = (slot: Slot, worker: Worker) => {
    // Replaced meanwhile: these searches went back to the queue with the others (takeBack).
    if (slot.worker !== worker || slot.outbox.length === 0) return;
    const searches = slot.outbox.splice(0);
    // Counted before they are posted, so the worker never sees fewer posted than it received.
    Atomics.add(slot.progress!, SENT, searches.length);
    worker.postMessage({ kind: "search", searches } satisfies SearchCommand);
  };

  // Until the worker is ready, only its start is bounded; then the search it runs, from when
  // the last answers came: a worker holds answers only behind searches of under 0.5 ms, at most
  // about half of those in flight (search_thread.ts), so its clock starts at most a few ms early.
  const armTimer = (slot: Slot) => {
    clearTimeout(slot.timer);
    if (slot.sent.length === 0) return;
    if (!slot.ready) {
      slot.timer = setTimeout(() => {
        log.error("search worker did not start in time; replacing it", {
          worker: slots.indexOf(slot),
          timeout_ms: STARTUP_TIMEOUT_MS,
        });
        replace(slot, busy("the search worker did not start"));
      }, STARTUP_TIMEOUT_MS);
      return;
    }
    slot.timer = setTimeout(() => {
      log.warn("search ran past SEARCH_TIMEOUT_SECONDS; replacing its worker", {
        worker: slots.indexOf(slot),
        timeout_ms: timeoutMs,
      });
      // A synchronous SQLite call cannot be interrupted; ending the thread is the only way.
      replace(slot, busy(`the search took longer than ${timeoutMs} ms`));
    }, timeoutMs);
  };

  // Every search sent to the slot's worker, taken back: the first one sent is the one running.
  const takeBack = (slot: Slot): Job[] => {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.outbox.length = 0;
    return slot.sent.splice(0).map((s) => s.job);
  };

  // Fill the worker's queue from the pool's; a worker left with nothing is ended after idling.
  const next = (slot: Slot) => {
    while (slot.sent.length < PIPELINE_DEPTH && queue.length > 0) dispatch(slot, queue.shift()!);
    if (slot.sent.length === 0 && slot.worker !== undefined && !closed) {
      slot.idleTimer = setTimeout(() => void stopWorker(slot, []), idleWorkerMs);
    }
  };

  const onReply = (slot: Slot, worker: Worker, reply: SearchReply) => {
    if (slot.worker !== worker || reply.kind === "closed") return;
    if (reply.kind === "ready") {
      slot.ready = true;
      return armTimer(slot);
    }
    for (const answer of reply.answers) {
      if (answer.id !== slot.sent[0]?.id) continue;
      const { job } = slot.sent.shift()!;
      if ("json" in answer) job.resolve(answer.json);
      // A search that failed (not a crash): the app answers 500 and logs the message.
      else job.reject(new Error(`search failed: ${answer.error}`));
    }
    armTimer(slot);
    next(slot);
  };

  // The slot's next search starts a new worker; until then it has none. Starting it lazily
  // rather than at once keeps a worker that cannot even load (a missing permission) from
  // being restarted in a loop: each search then fails alone, and says why in the log.
  // Only the running search fails (the first unanswered when the worker was between searches);
  // the others go back to the front of the pool's queue: those behind it never started, and
  // those before it had answers the worker held (search_thread.ts), lost with it, so they run
  // again.
  const replace = (slot: Slot, err: Error) => {
    const at = runningIndex(slot);
    const others = takeBack(slot);
    const [running] = others.splice(at, 1);
    slot.worker?.terminate();
    slot.worker = undefined;
    replaced++;
    running?.reject(err);
    if (closed) {
      for (const job of others) job.reject(shuttingDown());
      return;
    }
    queue.unshift(...others);
    next(slot);
  };

  const waiting = () => waitingCount(slots, queue);

  const close = async () => {
    if (closed) return;
    closed = true;
    for (const job of queue.splice(0)) job.reject(shuttingDown());
    for (const slot of slots) clearTimeout(slot.idleTimer);
    await Promise.all(slots.map((slot) => stopWorker(slot, takeBack(slot))));
  };

  return {
    search(params) {
      if (closed) return Promise.reject(shuttingDown());
      return new Promise<string | null>((resolve, reject) => {
        const job = { params, resolve, reject };
        const mayWait = waiting() < maxQueue;
        const slot = slotFor(slots, { mayWait });
        if (slot !== undefined) dispatch(slot, job);
        else if (mayWait) queue.push(job);
        else {
          reject(busy(`too many searches at once (${slots.length} running, ${maxQueue} waiting)`));
        }
      });
    },
    stats: () => ({
      workers: slots.filter((s) => s.worker !== undefined).length,
      running: slots.filter((s) => s.sent.length > 0).length,
      queued: waiting(),
      replaced,
    }),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Where a new search goes: a running idle worker, else a slot that can start one, else (when
 * `mayWait`, i.e. the queue has room) the busy worker with the fewest searches sent, if it has
 * room in its own queue.
 */
function slotFor(slots: Slot[], options: { mayWait: boolean }): Slot | undefined {
  const idle = slots.find((s) => s.sent.length === 0 && s.worker !== undefined) ??
    slots.find((s) => s.sent.length === 0);
  if (idle !== undefined || !options.mayWait) return idle;
  let least: Slot | undefined;
  for (const s of slots) {
    if (s.sent.length < (least?.sent.length ?? PIPELINE_DEPTH)) least = s;
  }
  return least;
}

/** Where in `slot.sent` the search its worker is running is: 0 when it runs none of them. */
function runningIndex(slot: Slot): number {
  const id = slot.progress === undefined ? 0 : Atomics.load(slot.progress, RUNNING);
  if (id === 0) return 0;
  return Math.max(0, slot.sent.findIndex((s) => (s.id | 0) === id));
}

/** Searches not running: in the pool's queue or in a worker's. */
function waitingCount(slots: Slot[], queue: Job[]): number {
  return queue.length + slots.reduce((n, s) => n + Math.max(0, s.sent.length - 1), 0);
}

/** A 503 saying `why`, to be retried shortly. */
function busy(why: string): ApiError {
  return new ApiError(503, `${why}; retry shortly`, { ...RETRY_AFTER });
}

function shuttingDown(): ApiError {
  return busy("the core is shutting down");
}

/** Let the slot's worker close its connection (briefly), then end it; its searches answer 503. */
async function stopWorker(slot: Slot, jobs: Job[]): Promise<void> {
  for (const job of jobs) job.reject(shuttingDown());
  const worker = slot.worker;
  slot.worker = undefined;
  if (worker === undefined) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CLOSE_GRACE_MS);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    worker.onmessage = (event: MessageEvent<SearchReply>) => {
      if (event.data.kind === "closed") done();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      done();
    };
    worker.postMessage({ kind: "close" } satisfies SearchCommand);
  });
  worker.terminate();
}

/**
 * How a search ranks when nothing sets SEARCH_CANDIDATE_CAP. It lives here, not in
 * search_query.ts: a search thread loads only modules of core/store and core/db, and the default
 * is shared/config.ts's.
 */
export const DEFAULT_SEARCH_TUNING: SearchTuning = { candidateCap: DEFAULT_SEARCH_CANDIDATE_CAP };

/** Search on the main thread with the core's own connection. */
export function inlineSearch(db: DatabaseSync, tuning: SearchTuning): SearchFn {
  return (params) => Promise.resolve().then(() => searchMemoriesJson(db, params, tuning));
}

/**
 * How the core searches, from its settings: a pool of SEARCH_WORKERS workers, or inline with
 * SEARCH_WORKERS=0. An in-memory database (DATABASE_PATH=:memory:, as the tests use) exists only
 * in its own connection, so a worker could not see it: it is always searched inline.
 */
export function openSearch(
  db: DatabaseSync,
  config: Pick<
    CoreConfig,
    | "DATABASE_PATH"
    | "SEARCH_WORKERS"
    | "SEARCH_MAX_QUEUE"
    | "SEARCH_TIMEOUT_SECONDS"
    | "SEARCH_MMAP_MB"
    | "SEARCH_CACHE_MB"
    | "SEARCH_CANDIDATE_CAP"
  >,
  log: Logger,
  options: { workerUrl?: URL } = {},
): SearchBackend {
  const tuning = { candidateCap: config.SEARCH_CANDIDATE_CAP };
  if (config.SEARCH_WORKERS === 0 || config.DATABASE_PATH === ":memory:") {
    return { search: inlineSearch(db, tuning), mode: "inline", close: () => Promise.resolve() };
  }
  const pool = createSearchPool({
    databasePath: config.DATABASE_PATH,
    size: config.SEARCH_WORKERS,
    maxQueue: config.SEARCH_MAX_QUEUE,
    timeoutMs: config.SEARCH_TIMEOUT_SECONDS * 1000,
    mmapBytes: megabytes(config.SEARCH_MMAP_MB),
    cacheBytes: megabytes(config.SEARCH_CACHE_MB),
    tuning,
    log,
    workerUrl: options.workerUrl,
  });
  return { search: pool.search, mode: "pool", close: pool.close };
}

function megabytes(mb: number): number {
  return mb * 1024 * 1024;
}
