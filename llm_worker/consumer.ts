/**
 * The worker: wires the dispatcher (dispatcher.ts: read and claim loops), the job runner
 * (job_runner.ts: one entry to its outcome), the model slots (model_slots.ts: WORKER_CONCURRENCY
 * model calls at once) and the model's circuit breaker (model_breaker.ts), and stops them in order.
 *
 * stop(): stop reading and cut model waits and backoff sleeps short (those jobs hand themselves
 * back), let running jobs finish (bounded), abort what still runs, close owned connections.
 */
import type { Redis } from "ioredis";
import type { WorkerConfig } from "../shared/config.ts";
import type { Logger } from "../shared/log.ts";
import { silentLogger } from "../shared/log.ts";
import { closeRedis, createRedis } from "../shared/redis.ts";
import type { StreamEntry } from "../shared/streams.ts";
import { type CoreClient, createCoreClient } from "./core_client.ts";
import { startDispatcher } from "./dispatcher.ts";
import { parkPoisoned, runEntry, type RunnerDeps } from "./job_runner.ts";
import { createLlmClient, type LlmClient } from "./llm_client.ts";
import type { WorkerMetricsHooks } from "./metrics.ts";
import { createModelBreaker, guardLlm, type ModelBreaker } from "./model_breaker.ts";
import { createModelSlots } from "./model_slots.ts";
import { childSignal } from "./signals.ts";
import { modelStatusWriter } from "./model_status.ts";
import type { RetryPolicy } from "./retry.ts";
import { createLanguageLookup } from "./user_language.ts";

/** How many times unusable model output is retried before the job fails. */
export const BAD_OUTPUT_RETRIES = 2;

/**
 * Jobs a worker holds per model slot: one at the model, one waiting for the slot (and marked
 * processing meanwhile) or having its result stored, its user notified and its entry acked, so
 * that a freed slot is taken at once.
 */
export const JOBS_PER_MODEL_SLOT = 2;

/** Options for {@linkcode startWorker}. */
export interface WorkerOptions {
  /** Logger. */
  log?: Logger;
  /** Connection for commands (ack, publish, claim); made from REDIS_URL when omitted. */
  redis?: Redis;
  /**
   * Connection for the blocking read, used for nothing else; made from REDIS_URL when omitted.
   * stop() closes it either way, to cut a blocked read short.
   */
  reader?: Redis;
  /** Model client; made from the config when omitted. */
  llm?: LlmClient;
  /** Core client; made from CORE_API_URL when omitted. */
  core?: CoreClient;
  /** Current time. */
  clock?: () => Date;
  /** Consumer name; `<hostname>-<pid>-<random>` by default. */
  consumerName?: string;
  /** BLOCK of the XREADGROUP, in ms (default 2000). */
  blockMs?: number;
  /** How often to reclaim idle entries, in ms (default: a third of the claim idle time, ≤ 5 s). */
  claimIntervalMs?: number;
  /** How long stop() lets in-flight jobs finish before handing them back (default 20 s). */
  shutdownGraceMs?: number;
  /** Retries of unusable model output (default {@linkcode BAD_OUTPUT_RETRIES}). */
  badOutputRetries?: number;
  /** Random source for backoff jitter. */
  random?: () => number;
  /** Told how each job run ends and when a job is retried (the worker's /metrics). */
  metrics?: WorkerMetricsHooks;
}

/** A running worker. */
export interface Worker {
  /** This replica's consumer name. */
  readonly consumer: string;
  /** Resolves once the consumer group exists on every stream. */
  readonly ready: Promise<void>;
  /** The model's circuit breaker (its state is also reported in Redis). */
  readonly breaker: ModelBreaker;
  /** Jobs in hand right now: at the model, waiting for a model slot, or being marked or finished. */
  inFlight(): number;
  /** Model calls out right now (at most WORKER_CONCURRENCY). */
  modelCalls(): number;
  /** Stop reading, finish or hand back in-flight jobs, close owned connections. */
  stop(): Promise<void>;
}

/** A consumer name unique per process: `<hostname>-<pid>-<random>`. */
export function consumerName(): string {
  let host = "worker";
  try {
    host = Deno.hostname();
  } catch { /* no --allow-sys=hostname: the pid and random part still make it unique */ }
  return `${host}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Start consuming. Returns at once; `ready` resolves when the groups exist. */
export function startWorker(config: WorkerConfig, options: WorkerOptions = {}): Worker {
  const log = options.log ?? silentLogger;
  const consumer = options.consumerName ?? consumerName();
  const ownRedis = !options.redis;
  const redis = options.redis ??
    createRedis(config.REDIS_URL, { log, name: `llm-worker:${consumer}` });
  const reader = options.reader ??
    createRedis(config.REDIS_URL, { log, name: `llm-worker-reader:${consumer}` });
  const core = options.core ??
    createCoreClient(config.CORE_API_URL, { token: config.CORE_API_TOKEN });
  const clock = options.clock ?? (() => new Date());
  const random = options.random ?? Math.random;
  const claimIdleMs = config.WORKER_CLAIM_IDLE_SECONDS * 1000;
  const graceMs = options.shutdownGraceMs ?? 20_000;
  // `stopping` ends reads, waits and sleeps; `abort` cuts requests after the grace.
  const stopping = new AbortController();
  const abort = new AbortController();

  const policy: RetryPolicy = {
    baseMs: config.LLM_RETRY_BASE_MS,
    maxMs: config.LLM_RETRY_MAX_MS,
    random,
    coreRetries: config.LLM_MAX_RETRIES,
    badOutputRetries: options.badOutputRetries ?? BAD_OUTPUT_RETRIES,
  };
  const breaker = createModelBreaker({
    baseMs: config.LLM_RETRY_BASE_MS,
    maxMs: Math.max(config.LLM_RETRY_BASE_MS, config.LLM_PROBE_MAX_SECONDS * 1000),
    random,
    clock,
    onChange: modelStatusWriter(redis, { log, clock }),
  });
  const slots = createModelSlots(config.WORKER_CONCURRENCY, { stopping: stopping.signal });
  const deps: RunnerDeps = {
    redis,
    core,
    llm: guardLlm(options.llm ?? createLlmClient(config, { log }), breaker),
    breaker,
    slots,
    policy,
    outageMaxMs: config.LLM_OUTAGE_MAX_HOURS * 3_600_000,
    imageDir: config.IMAGE_STORAGE_PATH,
    language: createLanguageLookup(core),
    clock,
    log,
    metrics: options.metrics,
    stopping: stopping.signal,
    abort: abort.signal,
  };
  const dispatcher = startDispatcher({
    redis,
    reader,
    consumer,
    concurrency: config.WORKER_CONCURRENCY * JOBS_PER_MODEL_SLOT,
    blockMs: options.blockMs ?? 2000,
    claimIdleMs,
    claimIntervalMs: options.claimIntervalMs ??
      Math.max(100, Math.min(5000, Math.floor(claimIdleMs / 3))),
    maxDeliveries: config.WORKER_MAX_DELIVERIES,
    log,
    gate: breaker,
    stopping: stopping.signal,
    run: (entry) => runScoped(entry, deps),
    poisoned: (entry, deliveries) => parkPoisoned(entry, deps, { deliveries }),
  });
  log.info("worker started", { consumer, concurrency: config.WORKER_CONCURRENCY });

  async function stop(): Promise<void> {
    stopping.abort();
    // A blocked XREADGROUP would hold the loop for up to blockMs; cut it. The reader is
    // dedicated to this worker (see WorkerOptions.reader), so closing it is ours to do.
    const readerClosed = closeRedis(reader);
    await dispatcher.drain(graceMs);
    // Past the grace: abort what still runs; each job hands itself back.
    abort.abort();
    await dispatcher.settled();
    breaker.close();
    await readerClosed;
    if (ownRedis) await closeRedis(redis);
    log.info("worker stopped", { consumer });
  }

  let stopped: Promise<void> | undefined;
  return {
    consumer,
    ready: dispatcher.ready,
    breaker,
    inFlight: () => dispatcher.inFlight(),
    modelCalls: () => slots.busy(),
    stop: () => stopped ??= stop(),
  };
}

/**
 * Run an entry with its own signal, aborted with the worker's `abort` while the job runs and
 * detached after. The model client composes each request's signal with it (AbortSignal.any),
 * and Deno keeps an entry on the source signal for every signal composed from it: composed from
 * the worker's signal directly, memory grew with every model call.
 */
async function runScoped(entry: StreamEntry, deps: RunnerDeps): Promise<void> {
  const scope = childSignal(deps.abort);
  try {
    await runEntry(entry, deps, { signal: scope.signal });
  } finally {
    scope.release();
  }
}
