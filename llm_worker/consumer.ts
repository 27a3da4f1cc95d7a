/**
 * The consumer: reads job messages from the five `llm:*` streams and runs them.
 *
 * - One blocking XREADGROUP over all five streams, on its own connection, asking for as many
 *   entries as there are free slots (WORKER_CONCURRENCY jobs in flight at most; COUNT is per
 *   stream, so any surplus waits in a small local backlog).
 * - Each job runs on its own promise: a job sleeping in backoff holds one slot, never the loop.
 * - Per job: GET it; completed or failed → (re-send a completed job's notifications, which the
 *   markers drop if sent) ack and skip; PATCH processing; run the handler with retries; PATCH
 *   completed with the result (or failed); notify; ack only once the outcome is stored.
 * - Every few seconds: XAUTOCLAIM entries idle longer than WORKER_CLAIM_IDLE_SECONDS (a dead
 *   consumer's) and run them; and touch our own in-flight entries (XCLAIM JUSTID) so a slow job
 *   of a live consumer is not taken over.
 * - stop(): stop reading, let in-flight jobs finish (bounded), hand back the rest (PATCH queued,
 *   left unacked so another consumer reclaims them), close the connections it opened.
 */
import type { Redis } from "ioredis";
import type { WorkerConfig } from "../shared/config.ts";
import type { JobType } from "../shared/enums.ts";
import type { Logger } from "../shared/log.ts";
import { silentLogger } from "../shared/log.ts";
import { createRedis } from "../shared/redis.ts";
import { JOB_PAYLOAD_SCHEMAS, type JobMessage, jobMessage } from "../shared/schemas.ts";
import {
  ack,
  ALL_JOB_STREAMS,
  autoClaim,
  ensureGroup,
  readGroup,
  type StreamEntry,
  WORKER_GROUP,
} from "../shared/streams.ts";
import { type CoreClient, createCoreClient, type JobRecord } from "./core_client.ts";
import {
  BadOutputError,
  JobFinalError,
  PermanentError,
  ShutdownError,
  TransientError,
} from "./errors.ts";
import { createLlmClient, type LlmClient } from "./llm_client.ts";
import {
  deadLetterOnce,
  type JobNotification,
  notifyOnce,
  resultNotifications,
} from "./notifications.ts";
import { backoffDelay, sleep } from "./retry.ts";
import { runInJobScope } from "./job_scope.ts";
import type { WorkerMetricsHooks } from "./metrics.ts";
import type { JobContext, JobResult } from "./handlers/context.ts";
import { handleImageTag } from "./handlers/image_tag.ts";
import { handleIntent } from "./handlers/intent.ts";
import { handleFollowup } from "./handlers/followup.ts";
import { handleTaskMatch } from "./handlers/task_match.ts";
import { handleEmailExtract } from "./handlers/email_extract.ts";

// deno-lint-ignore no-explicit-any
type AnyHandler = (ctx: JobContext<any>) => Promise<JobResult>;

/** The handler of each job type. */
export const HANDLERS: Readonly<Record<JobType, AnyHandler>> = {
  image_tag: handleImageTag,
  intent_classify: handleIntent,
  followup: handleFollowup,
  task_match: handleTaskMatch,
  email_extract: handleEmailExtract,
};

/** How many times unusable model output is retried before the job fails. */
export const BAD_OUTPUT_RETRIES = 2;

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
  /** Jobs being run right now. */
  inFlight(): number;
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

type Failure = {
  /** What kind of failure decides the notification and dead-letter reason. */
  kind: "bad_output" | "llm_unavailable" | "permanent";
  /** Dead-letter reason. */
  reason: string;
  /** error_message of the job. */
  error: string;
  /** Sentence for the user. */
  userMessage: string;
};

const TYPE_LABEL: Record<JobType, string> = {
  image_tag: "tag your image",
  intent_classify: "understand your message",
  followup: "prepare a follow-up question",
  task_match: "check your note against your tasks",
  email_extract: "read the events in your email",
};

/** Start consuming. Returns at once; `ready` resolves when the groups exist. */
export function startWorker(config: WorkerConfig, options: WorkerOptions = {}): Worker {
  const log = options.log ?? silentLogger;
  const consumer = options.consumerName ?? consumerName();
  const ownRedis = !options.redis;
  const redis = options.redis ??
    createRedis(config.REDIS_URL, { log, name: `llm-worker:${consumer}` });
  const reader = options.reader ??
    createRedis(config.REDIS_URL, { log, name: `llm-worker-reader:${consumer}` });
  const llm = options.llm ?? createLlmClient(config, { log });
  const core = options.core ??
    createCoreClient(config.CORE_API_URL, { token: config.CORE_API_TOKEN });
  const clock = options.clock ?? (() => new Date());
  const random = options.random ?? Math.random;
  const metrics = options.metrics;
  const blockMs = options.blockMs ?? 2000;
  const claimIdleMs = config.WORKER_CLAIM_IDLE_SECONDS * 1000;
  const claimIntervalMs = options.claimIntervalMs ??
    Math.max(100, Math.min(5000, Math.floor(claimIdleMs / 3)));
  const graceMs = options.shutdownGraceMs ?? 20_000;
  const badOutputRetries = options.badOutputRetries ?? BAD_OUTPUT_RETRIES;
  const concurrency = config.WORKER_CONCURRENCY;
  const backoff = { baseMs: config.LLM_RETRY_BASE_MS, maxMs: config.LLM_RETRY_MAX_MS, random };

  // `soft` stops reading and cuts backoff sleeps short; `hard` aborts requests after the grace.
  const soft = new AbortController();
  const hard = new AbortController();
  const inflight = new Map<string, { entry: StreamEntry; done: Promise<void> }>();
  const backlog: StreamEntry[] = [];
  let wakeReader: (() => void) | undefined;

  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => resolveReady = r);

  // ---- helpers ----

  async function ackEntry(entry: StreamEntry, jlog: Logger): Promise<void> {
    try {
      await ack(redis, entry);
    } catch (err) {
      // Unacked, the entry is reclaimed later and skipped as already finished.
      jlog.warn("ack failed; the entry will be reclaimed", { error: err as Error });
    }
  }

  /** Retry `fn` on TransientError with backoff; throws the last error when out of retries. */
  async function withTransientRetry<T>(fn: () => Promise<T>, jlog: Logger): Promise<T> {
    for (let attempt = 0;; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof TransientError) || attempt >= config.LLM_MAX_RETRIES) throw err;
        const delay = backoffDelay(attempt, backoff);
        jlog.warn("transient failure; retrying", {
          error: err.message,
          attempt: attempt + 1,
          delay_ms: delay,
        });
        await sleep(delay, soft.signal);
      }
    }
  }

  async function rawFields(entry: StreamEntry): Promise<unknown> {
    try {
      const rows = await redis.xrange(entry.stream, entry.id, entry.id);
      return rows[0]?.[1] ?? null;
    } catch {
      return null;
    }
  }

  // ---- one entry ----

  async function processEntry(entry: StreamEntry): Promise<void> {
    const elog = withFields(log, { stream: entry.stream, entry_id: entry.id });
    let problem = entry.error;
    let msg: JobMessage | undefined;
    if (!problem) {
      const parsed = jobMessage.safeParse(entry.data);
      if (parsed.success) msg = parsed.data;
      else {
        problem = "data is not a job message: " +
          parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
            .join("; ");
      }
    }
    if (!msg) {
      elog.warn("malformed stream entry; dead-lettered", { error: problem });
      try {
        await deadLetterOnce(redis, {
          reason: "malformed_entry",
          error: problem ?? "malformed entry",
          stream: entry.stream,
          entry_id: entry.id,
          job_id: jobIdOf(entry.data),
          job_type: null,
          message: entry.data ?? await rawFields(entry),
          dead_lettered_at: clock().toISOString(),
        });
      } catch (err) {
        // Without the dead-letter copy we must not drop it: leave it for a reclaim.
        elog.error("dead-lettering failed; entry left pending", { error: err as Error });
        return;
      }
      await ackEntry(entry, elog);
      return;
    }
    // In the job's scope, every core request carries X-Request-Id: <job_id> and every log line
    // (the model client's too) its job_id.
    const job = msg;
    const jlog = withFields(elog, { job_id: job.job_id, job_type: job.job_type });
    // The job's own signal, aborted with `hard` while the job runs and detached from it after.
    // The model client composes each request's signal with the one it is given
    // (AbortSignal.any), and Deno keeps an entry on the source signal for every signal composed
    // from it: composed from `hard` directly, the worker's memory grew with every model call.
    const scope = childSignal(hard.signal);
    try {
      await runInJobScope(job.job_id, () => runJob(entry, job, jlog, scope.signal));
    } finally {
      scope.release();
    }
  }

  async function finishTerminal(entry: StreamEntry, job: JobRecord, jlog: Logger): Promise<void> {
    if (job.status === "completed") {
      try {
        await sendNotifications(resultNotifications(job, job.result ?? {}));
      } catch (err) {
        jlog.error("notifying failed; entry left pending", { error: err as Error });
        return;
      }
    }
    jlog.info("job already finished; acked and skipped", { status: job.status });
    metrics?.jobFinished(job.job_type, "skipped");
    await ackEntry(entry, jlog);
  }

  async function sendNotifications(items: JobNotification[]): Promise<void> {
    for (const item of items) await notifyOnce(redis, item);
  }

  async function runJob(
    entry: StreamEntry,
    msg: JobMessage,
    jlog: Logger,
    signal: AbortSignal,
  ): Promise<void> {
    let job: JobRecord;
    try {
      job = await withTransientRetry(() => core.getJob(msg.job_id, { signal }), jlog);
    } catch (err) {
      if (err instanceof PermanentError) {
        jlog.warn("job unknown to the core; dead-lettered", { error: err.message });
        await deadLetterOnce(redis, {
          reason: "unknown_job",
          error: err.message,
          stream: entry.stream,
          entry_id: entry.id,
          job_id: msg.job_id,
          job_type: msg.job_type,
          message: msg,
          dead_lettered_at: clock().toISOString(),
        }).catch(() => {});
        await ackEntry(entry, jlog);
        return;
      }
      leavePending(err, jlog);
      return;
    }
    if (job.status === "completed" || job.status === "failed") {
      await finishTerminal(entry, job, jlog);
      return;
    }

    try {
      job = await withTransientRetry(
        () => core.updateJob(job.id, { status: "processing" }, { signal }),
        jlog,
      );
    } catch (err) {
      if (err instanceof JobFinalError) return await recheck(entry, job.id, jlog);
      if (err instanceof PermanentError) {
        jlog.warn("core refused the job update", { error: err.message });
        await ackEntry(entry, jlog);
        return;
      }
      leavePending(err, jlog);
      return;
    }

    const jobType = job.job_type;
    const schema = JOB_PAYLOAD_SCHEMAS[jobType];
    const handler = HANDLERS[jobType];
    if (!schema || !handler) {
      await failJob(entry, msg, job, {
        kind: "permanent",
        reason: "bad_payload",
        error: `unknown job type ${JSON.stringify(jobType)}`,
        userMessage: "Sorry, I could not process your request.",
      }, jlog);
      return;
    }
    const parsed = schema.safeParse(job.payload);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
        .join("; ");
      await failJob(entry, msg, job, {
        kind: "permanent",
        reason: "bad_payload",
        error: `invalid ${jobType} payload: ${issues}`,
        userMessage: `Sorry, I could not ${TYPE_LABEL[jobType]}: the request was incomplete.`,
      }, jlog);
      return;
    }

    const ctx: JobContext<unknown> = {
      job: { id: job.id, job_type: jobType, user_id: job.user_id ?? null, payload: parsed.data },
      llm,
      core,
      imageDir: config.IMAGE_STORAGE_PATH,
      clock,
      log: jlog,
      signal,
    };

    // Counted per service: a core outage must not use up the model's retries, or a job the model
    // answered well would fail as "model unreachable" on the model's next hiccup.
    const transient = { llm: 0, core: 0 };
    let bad = 0;
    for (;;) {
      let result: JobResult;
      try {
        result = await handler(ctx);
      } catch (err) {
        if (err instanceof ShutdownError || soft.signal.aborted && isAbort(err)) {
          await handBack(job.id, jlog);
          return;
        }
        if (err instanceof TransientError) {
          const tries = transient[err.service];
          if (tries >= config.LLM_MAX_RETRIES) {
            if (err.service === "core") {
              // The core cannot store a failure either; keep the message for a later reclaim.
              leavePending(err, jlog);
              return;
            }
            await failJob(entry, msg, job, {
              kind: "llm_unavailable",
              reason: "llm_unavailable",
              error: `The language model could not be reached after ${
                tries + 1
              } attempts: ${err.message}`,
              userMessage: `Sorry, I could not ${
                TYPE_LABEL[jobType]
              }: the AI model is not reachable right now.`,
            }, jlog);
            return;
          }
          const delay = backoffDelay(transient[err.service]++, backoff);
          metrics?.jobRetried(
            jobType,
            err.service === "llm" ? "llm_unavailable" : "core_unavailable",
          );
          jlog.warn("transient failure; retrying", {
            error: err.message,
            attempt: transient[err.service],
            delay_ms: delay,
          });
          if (!await pause(delay)) return await handBack(job.id, jlog);
          continue;
        }
        if (err instanceof BadOutputError) {
          if (bad >= badOutputRetries) {
            await failJob(entry, msg, job, {
              kind: "bad_output",
              reason: "bad_output",
              error: `The model's answer was unusable after ${bad + 1} attempts: ${err.message}`,
              userMessage: `Sorry, I could not ${
                TYPE_LABEL[jobType]
              }: the AI model gave an answer I could not use.`,
            }, jlog);
            return;
          }
          bad++;
          metrics?.jobRetried(jobType, "bad_output");
          jlog.warn("unusable model output; asking again", { error: err.message, attempt: bad });
          if (!await pause(backoffDelay(0, backoff))) return await handBack(job.id, jlog);
          continue;
        }
        if (err instanceof PermanentError) {
          await failJob(entry, msg, job, {
            kind: "permanent",
            reason: err.reason,
            error: err.message,
            userMessage: `Sorry, I could not ${TYPE_LABEL[jobType]}${
              err.userMessage ? `: ${err.userMessage}` : "."
            }`,
          }, jlog);
          return;
        }
        jlog.error("handler crashed", { error: err as Error });
        await failJob(entry, msg, job, {
          kind: "permanent",
          reason: "internal_error",
          error: `internal error: ${(err as Error)?.message ?? String(err)}`,
          userMessage: `Sorry, I could not ${TYPE_LABEL[jobType]}.`,
        }, jlog);
        return;
      }
      await completeJob(entry, job, result, jlog);
      return;
    }
  }

  /** Sleep for a retry; false when a stop cut it short. */
  async function pause(ms: number): Promise<boolean> {
    try {
      await sleep(ms, soft.signal);
      return true;
    } catch {
      return false;
    }
  }

  async function recheck(entry: StreamEntry, jobId: string, jlog: Logger): Promise<void> {
    try {
      const job = await withTransientRetry(
        () => core.getJob(jobId, { signal: hard.signal }),
        jlog,
      );
      if (job.status === "completed" || job.status === "failed") {
        await finishTerminal(entry, job, jlog);
      } else {
        leavePending(new Error(`job is ${job.status} after a 409`), jlog);
      }
    } catch (err) {
      leavePending(err, jlog);
    }
  }

  async function completeJob(
    entry: StreamEntry,
    job: JobRecord,
    result: JobResult,
    jlog: Logger,
  ): Promise<void> {
    try {
      await withTransientRetry(
        () =>
          core.updateJob(job.id, { status: "completed", result, error_message: null }, {
            signal: hard.signal,
          }),
        jlog,
      );
    } catch (err) {
      // 409: another delivery finished it first; its stored outcome is the one to announce.
      if (err instanceof JobFinalError) return await recheck(entry, job.id, jlog);
      if (err instanceof PermanentError) {
        jlog.error("core refused the result", { error: err.message });
        await failJob(entry, undefined, job, {
          kind: "permanent",
          reason: "rejected",
          error: `the core refused the result: ${err.message}`,
          userMessage: `Sorry, I could not ${TYPE_LABEL[job.job_type]}.`,
        }, jlog);
        return;
      }
      leavePending(err, jlog);
      return;
    }
    try {
      await sendNotifications(resultNotifications(job, result));
    } catch (err) {
      jlog.error("notifying failed; entry left pending for a re-send", { error: err as Error });
      return;
    }
    jlog.info("job completed");
    metrics?.jobFinished(job.job_type, "completed");
    await ackEntry(entry, jlog);
  }

  /**
   * Fail a job: notify the user, park the message on the dead-letter stream, store the failure,
   * ack. The notification and dead-letter copy go first and are deduplicated by markers, so a
   * crash before the PATCH re-runs the job without repeating them, and none can be lost.
   */
  async function failJob(
    entry: StreamEntry,
    msg: JobMessage | undefined,
    job: JobRecord,
    failure: Failure,
    jlog: Logger,
  ): Promise<void> {
    // Another delivery may have finished the job meanwhile; then its outcome stands.
    try {
      const current = await core.getJob(job.id, { signal: hard.signal });
      if (current.status === "completed" || current.status === "failed") {
        return await finishTerminal(entry, current, jlog);
      }
    } catch { /* go on: failing the job is still right */ }
    const payload = job.payload ?? {};
    const memoryId = typeof payload.memory_id === "string" ? payload.memory_id : null;
    try {
      if (job.user_id !== null && job.user_id !== undefined) {
        const notification: JobNotification = failure.kind === "llm_unavailable"
          ? {
            jobId: job.id,
            n: "failure",
            notification: {
              user_id: job.user_id,
              message_type: "llm_expiry",
              content: {
                job_type: job.job_type,
                memory_id: memoryId,
                original_message: originalMessage(payload),
                failure_type: "llm_unavailable",
                job_id: job.id,
              },
            },
          }
          : {
            jobId: job.id,
            n: "failure",
            notification: {
              user_id: job.user_id,
              message_type: "llm_failure",
              content: {
                job_type: job.job_type,
                memory_id: memoryId,
                message: failure.userMessage,
                job_id: job.id,
              },
            },
          };
        await notifyOnce(redis, notification);
      }
      await deadLetterOnce(redis, {
        reason: failure.reason,
        error: failure.error,
        stream: entry.stream,
        entry_id: entry.id,
        job_id: job.id,
        job_type: job.job_type,
        message: msg ?? entry.data,
        dead_lettered_at: clock().toISOString(),
      });
    } catch (err) {
      jlog.error("could not notify or dead-letter a failed job; entry left pending", {
        error: err as Error,
      });
      return;
    }
    try {
      await withTransientRetry(
        () =>
          core.updateJob(job.id, { status: "failed", error_message: failure.error }, {
            signal: hard.signal,
          }),
        jlog,
      );
    } catch (err) {
      if (!(err instanceof JobFinalError) && !(err instanceof PermanentError)) {
        leavePending(err, jlog);
        return;
      }
    }
    jlog.warn("job failed", { reason: failure.reason, error: failure.error });
    metrics?.jobFinished(job.job_type, "failed", failure.reason);
    await ackEntry(entry, jlog);
  }

  async function handBack(jobId: string, jlog: Logger): Promise<void> {
    try {
      // Not the hard signal: it is aborted by now, and this short call must still go out.
      await core.updateJob(jobId, { status: "queued" }, { signal: AbortSignal.timeout(3000) });
      jlog.info("job handed back (queued, left unacked for another consumer)");
    } catch (err) {
      jlog.warn("could not hand the job back; it stays processing until reclaimed", {
        error: err as Error,
      });
    }
  }

  function leavePending(err: unknown, jlog: Logger): void {
    if (err instanceof ShutdownError) {
      jlog.info("stopping; entry left pending for another consumer");
      return;
    }
    jlog.warn("could not finish; entry left pending for a later reclaim", {
      error: err as Error,
    });
  }

  // ---- loops ----

  function keyOf(entry: StreamEntry): string {
    return `${entry.stream}\u0000${entry.id}`;
  }

  /**
   * Queue an entry and start what fits. XREADGROUP's COUNT is per stream, so one read over five
   * streams can return more entries than there are free slots; the extra ones wait here (they
   * are ours in the group already, and are kept alive by the heartbeat like running ones).
   */
  function dispatch(entry: StreamEntry): void {
    const key = keyOf(entry);
    if (inflight.has(key) || backlog.some((e) => keyOf(e) === key)) return;
    backlog.push(entry);
    pump();
  }

  function pump(): void {
    while (!soft.signal.aborted && inflight.size < concurrency && backlog.length > 0) {
      const entry = backlog.shift()!;
      const key = keyOf(entry);
      const done = processEntry(entry)
        .catch((err) => log.error("job crashed", { error: err as Error, entry_id: entry.id }))
        .finally(() => {
          inflight.delete(key);
          pump();
          wakeReader?.();
        });
      inflight.set(key, { entry, done });
    }
  }

  function slotFreed(): Promise<void> {
    return new Promise((resolve) => {
      // Called once per wait for a slot, so the listener must not outlive the wait.
      const onAbort = () => resolve();
      wakeReader = () => {
        wakeReader = undefined;
        soft.signal.removeEventListener("abort", onAbort);
        resolve();
      };
      soft.signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  async function setUp(): Promise<void> {
    for (let attempt = 0; !soft.signal.aborted; attempt++) {
      try {
        await connected(redis, soft.signal);
        await ensureGroup(redis, ALL_JOB_STREAMS);
        resolveReady();
        return;
      } catch (err) {
        log.warn("cannot create the consumer groups yet; retrying", { error: err as Error });
        await pause(Math.min(5000, 200 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  async function readLoop(): Promise<void> {
    await setUp();
    while (!soft.signal.aborted) {
      const free = concurrency - inflight.size - backlog.length;
      if (free <= 0) {
        await slotFreed();
        continue;
      }
      let entries: StreamEntry[];
      try {
        await connected(reader, soft.signal);
        if (soft.signal.aborted) break;
        entries = await readGroup(reader, consumer, {
          streams: ALL_JOB_STREAMS,
          count: free,
          blockMs,
        });
      } catch (err) {
        if (soft.signal.aborted) break;
        const message = (err as Error).message ?? "";
        if (message.includes("NOGROUP")) {
          // A stream or group was deleted under us; recreate and carry on.
          await ensureGroup(redis, ALL_JOB_STREAMS).catch(() => {});
        } else {
          log.warn("reading the job streams failed; retrying", { error: err as Error });
          await pause(500);
        }
        continue;
      }
      for (const entry of entries) dispatch(entry);
    }
  }

  async function claimOnce(): Promise<void> {
    // Touch our own in-flight entries so their idle time never reaches the claim threshold.
    const touchIdle = Math.floor(claimIdleMs / 3);
    const ours = [...[...inflight.values()].map((f) => f.entry), ...backlog];
    for (const entry of ours) {
      await redis.call(
        "XCLAIM",
        entry.stream,
        WORKER_GROUP,
        consumer,
        touchIdle,
        entry.id,
        "JUSTID",
      );
    }
    for (const stream of ALL_JOB_STREAMS) {
      const free = concurrency - inflight.size - backlog.length;
      if (free <= 0 || soft.signal.aborted) return;
      const claimed = await autoClaim(redis, consumer, {
        streams: [stream],
        minIdleMs: claimIdleMs,
        count: free,
      });
      for (const entry of claimed) {
        log.info("reclaimed an idle entry", { stream: entry.stream, entry_id: entry.id });
        dispatch(entry);
      }
    }
  }

  async function claimLoop(): Promise<void> {
    // Wait for the groups, but not past a stop: a worker that never reached Redis must still
    // exit on SIGTERM (stop() waits for this loop).
    await Promise.race([
      ready,
      new Promise<void>((resolve) => {
        if (soft.signal.aborted) resolve();
        soft.signal.addEventListener("abort", () => resolve(), { once: true });
      }),
    ]);
    while (!soft.signal.aborted) {
      try {
        await claimOnce();
      } catch (err) {
        if (!soft.signal.aborted) log.warn("reclaiming failed", { error: err as Error });
      }
      await pause(claimIntervalMs);
    }
  }

  const loops = Promise.all([readLoop(), claimLoop()]).catch((err) =>
    log.error("consumer loop crashed", { error: err as Error })
  );
  log.info("worker started", { consumer, concurrency, claim_idle_ms: claimIdleMs });

  let stopping: Promise<void> | undefined;
  async function stop(): Promise<void> {
    soft.abort();
    // A blocked XREADGROUP would hold the loop for up to blockMs; cut it. The reader is
    // dedicated to this worker (see WorkerOptions.reader), so closing it is ours to do.
    reader.disconnect();
    await loops;
    const pending = [...inflight.values()].map((f) => f.done);
    if (pending.length > 0) {
      log.info("waiting for in-flight jobs", { count: pending.length, grace_ms: graceMs });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const graceOver = new Promise<void>((r) => timer = setTimeout(r, graceMs));
      await Promise.race([Promise.all(pending), graceOver]);
      clearTimeout(timer);
    }
    if (backlog.length > 0) {
      // Never started, so still queued in the core; another consumer reclaims them.
      log.info("leaving unstarted entries pending", { count: backlog.length });
      backlog.length = 0;
    }
    // Past the grace: abort what still runs; each job hands itself back.
    hard.abort();
    await Promise.allSettled([...inflight.values()].map((f) => f.done));
    if (ownRedis) redis.disconnect();
    log.info("worker stopped", { consumer });
  }

  return {
    consumer,
    ready,
    inFlight: () => inflight.size,
    stop() {
      stopping ??= stop();
      return stopping;
    },
  };
}

/** A signal aborted with `parent` until `release()` detaches it. */
export function childSignal(parent: AbortSignal): { signal: AbortSignal; release(): void } {
  const child = new AbortController();
  if (parent.aborted) {
    child.abort(parent.reason);
    return { signal: child.signal, release: () => {} };
  }
  const onAbort = () => child.abort(parent.reason);
  parent.addEventListener("abort", onAbort, { once: true });
  return { signal: child.signal, release: () => parent.removeEventListener("abort", onAbort) };
}

/** Wait until `redis` is connected (commands fail at once before that), or `signal` aborts. */
function connected(redis: Redis, signal: AbortSignal): Promise<void> {
  if (redis.status === "ready") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off("ready", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    // Bounded: a connection that stays down is reported by the failing command instead.
    const timer = setTimeout(done, 5000);
    redis.once("ready", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

function isAbort(err: unknown): boolean {
  return (err as Error)?.name === "AbortError" || err instanceof ShutdownError;
}

function jobIdOf(data: unknown): string | null {
  if (
    data && typeof data === "object" && typeof (data as { job_id?: unknown }).job_id === "string"
  ) {
    return (data as { job_id: string }).job_id;
  }
  return null;
}

function originalMessage(payload: Record<string, unknown>): string | null {
  for (const key of ["message", "query", "memory_content", "subject"]) {
    if (typeof payload[key] === "string") return payload[key] as string;
  }
  return null;
}

function withFields(log: Logger, fields: Record<string, unknown>): Logger {
  return {
    debug: (m, f) => log.debug(m, { ...fields, ...f }),
    info: (m, f) => log.info(m, { ...fields, ...f }),
    warn: (m, f) => log.warn(m, { ...fields, ...f }),
    error: (m, f) => log.error(m, { ...fields, ...f }),
  };
}
