/**
 * One stream entry to its outcome: parse it, mark its job processing (which answers the job) while
 * its handler runs under the retry policy (job_marking.ts), then store, notify and ack
 * (job_outcomes.ts). Plain functions of their inputs: the dispatcher calls {@linkcode runEntry} once
 * per delivery.
 */
import type { Logger } from "../shared/log.ts";
import { jobMessage } from "../shared/schemas.ts";
import { JOB_TYPE_INFO } from "../shared/job_types.ts";
import type { StreamEntry } from "../shared/streams.ts";
import type { CoreClient, JobRecord } from "./core_client.ts";
import { BadOutputError, JobFinalError, PermanentError } from "./errors.ts";
import type { JobContext, JobResult } from "./handlers/context.ts";
import { HANDLERS } from "./handlers/mod.ts";
import { runInJobScope } from "./job_scope.ts";
import {
  ackEntry,
  completeJob,
  failJob,
  type Failure,
  finishTerminal,
  handBack,
  type JobRun,
  leavePending,
  type OutcomeDeps,
  recheck,
} from "./job_outcomes.ts";
import type { LlmClient } from "./llm_client.ts";
import type { ModelBreaker } from "./model_breaker.ts";
import type { ModelSlots } from "./model_slots.ts";
import {
  deadLetterOnce,
  type FailingJob,
  notificationProblems,
  resultNotifications,
} from "./notifications.ts";
import {
  gatedCore,
  markedAlready,
  type Marking,
  markProcessing,
  startMarking,
} from "./job_marking.ts";
import { childSignal } from "./signals.ts";
import { type AttemptCounts, nextStep, sleep } from "./retry.ts";
import { beginOutage, type Outage } from "./outage.ts";
import { plural } from "../shared/plural.ts";

/** What a job run needs beyond the outcome's services. */
export interface RunnerDeps extends OutcomeDeps {
  /** The model client, reporting to `breaker`. */
  llm: LlmClient;
  /** The model's circuit breaker. */
  breaker: ModelBreaker;
  /** The model calls that may be out at once (WORKER_CONCURRENCY). */
  slots: ModelSlots;
  /** How long a job waits out a model outage, in ms (LLM_OUTAGE_MAX_HOURS). */
  outageMaxMs: number;
  /** IMAGE_STORAGE_PATH. */
  imageDir: string;
  /** The language a user reads (see JobContext.language). */
  language: (userId: number | null) => Promise<string>;
  /** The worker's logger. */
  log: Logger;
}

/** A run with the runner's services. */
interface Run extends JobRun {
  deps: RunnerDeps;
}

/** How the attempts at a job ended. */
type Outcome =
  | { kind: "completed"; result: JobResult }
  | { kind: "failed"; failure: Failure }
  | { kind: "hand_back" }
  | { kind: "leave_pending"; error: string };

/** Run one delivered entry to its outcome. Never throws. */
export async function runEntry(
  entry: StreamEntry,
  deps: RunnerDeps,
  options: { signal: AbortSignal },
): Promise<void> {
  const log = withFields(deps.log, { stream: entry.stream, entry_id: entry.id });
  const parsed = entry.error ? undefined : jobMessage.safeParse(entry.data);
  if (!parsed?.success) {
    const problem = entry.error ?? "data is not a job message: " + issuesText(parsed!.error);
    return await parkMalformed({ entry, deps, log }, problem);
  }
  const msg = parsed.data;
  const jlog = withFields(log, { job_id: msg.job_id, job_type: msg.job_type });
  // In the job's scope every core request carries X-Request-Id: <job_id>, every log line job_id.
  await runInJobScope(msg.job_id, () => runJob({ entry, msg, deps, log: jlog }, options.signal));
}

/** Park an entry that is no job message on the dead-letter stream, then ack it. */
export async function parkMalformed(run: JobRun, problem: string): Promise<void> {
  run.log.warn("malformed stream entry; dead-lettered", { error: problem });
  try {
    await deadLetterOnce(run.deps.redis, {
      reason: "malformed_entry",
      error: problem,
      stream: run.entry.stream,
      entry_id: run.entry.id,
      job_id: null,
      job_type: null,
      message: run.entry.data ?? await rawFields(run),
      dead_lettered_at: run.deps.clock().toISOString(),
    });
  } catch (err) {
    // Without the dead-letter copy we must not drop it: leave it for a reclaim.
    run.log.error("dead-lettering failed; entry left pending", { error: err as Error });
    return;
  }
  await ackEntry(run);
}

/**
 * An entry delivered more than WORKER_MAX_DELIVERIES times never finished (its runs crashed or
 * stalled): fail its job, or park it when it names none, instead of running it again.
 */
export async function parkPoisoned(
  entry: StreamEntry,
  deps: RunnerDeps,
  options: { deliveries: number },
): Promise<void> {
  const log = withFields(deps.log, { stream: entry.stream, entry_id: entry.id });
  const parsed = jobMessage.safeParse(entry.data);
  const problem = `delivered ${options.deliveries} times without finishing`;
  if (!parsed.success) return await parkMalformed({ entry, deps, log }, problem);
  const run: Run = { entry, msg: parsed.data, deps, log };
  let job: JobRecord;
  try {
    job = await deps.core.getJob(parsed.data.job_id, { signal: deps.abort });
  } catch (err) {
    if (err instanceof PermanentError) {
      return await parkMalformed(run, `${problem}; ${err.message}`);
    }
    return leavePending(run, err);
  }
  if (job.status === "completed" || job.status === "failed") return await finishTerminal(run, job);
  await failJob(run, job, {
    reason: "too_many_deliveries",
    error: `The job's message was ${problem}.`,
    notice: {},
  });
}

async function runJob(run: Run, signal: AbortSignal): Promise<void> {
  if (run.entry.redelivered) return await runAfterMark(run, signal);
  // The model is asked while the job is being marked (job_marking.ts).
  const msg = run.msg!;
  const marking = startMarking(run, signal);
  const fromMessage = { ...msg, id: msg.job_id, user_id: msg.user_id ?? null };
  const outcome = await handle(run, fromMessage, { marking, signal });
  const marked = await marking.answer;
  if (!marked.ok) return await unmarked(run, marked.error);
  if (!marked.matches) {
    // Changed after it was published: what the run did with the message is dropped.
    run.log.warn("the job's row differs from its message; running it from the row");
    return await runMarked(run, marked.job, signal);
  }
  await finish(run, marked.job, outcome);
}

/** Mark the job processing, then run it from the row the core answered with. */
async function runAfterMark(run: Run, signal: AbortSignal): Promise<void> {
  const marked = await markProcessing(run, signal);
  if (!marked.ok) return await unmarked(run, marked.error);
  await runMarked(run, marked.job, signal);
}

async function runMarked(run: Run, job: JobRecord, signal: AbortSignal): Promise<void> {
  await finish(run, job, await handle(run, job, { marking: markedAlready(job), signal }));
}

/**
 * A job that could not be marked processing: the PATCH's 409 says another delivery finished it,
 * a 404 that the core never had it.
 */
async function unmarked(run: Run, err: unknown): Promise<void> {
  if (err instanceof JobFinalError) return await recheck(run, run.msg!.job_id);
  if (err instanceof PermanentError && err.reason === "not_found") {
    return await parkUnknown(run, err);
  }
  if (err instanceof PermanentError) {
    run.log.warn("core refused the job update", { error: err.message });
    return await ackEntry(run);
  }
  leavePending(run, err);
}

/**
 * Run `job`'s handler to an outcome. Its model call and core reads stop, and its waits end, when
 * the marking abandons the run; its core writes wait for the mark.
 */
async function handle(
  run: Run,
  job: FailingJob,
  options: { marking: Marking; signal: AbortSignal },
): Promise<Outcome> {
  const { deps } = run;
  const { marking } = options;
  const calls = childSignal(options.signal, marking.abandoned);
  const waits = childSignal(deps.stopping, marking.abandoned);
  try {
    const core = gatedCore(deps.core, marking);
    const ctx = await contextFor(run, job, { signal: calls.signal, core });
    if ("failure" in ctx) return { kind: "failed", failure: ctx.failure };
    return await attempt(run, ctx, { marking, waits: waits.signal });
  } finally {
    calls.release();
    waits.release();
  }
}

/** The stored outcome of a marked job: its result, its failure, or back to queued. */
async function finish(run: Run, job: JobRecord, outcome: Outcome): Promise<void> {
  switch (outcome.kind) {
    case "completed":
      return await completeJob(run, job, outcome.result);
    case "failed":
      return await failJob(run, job, outcome.failure);
    case "hand_back":
      return await handBack(run, job.id);
    case "leave_pending":
      return leavePending(run, new Error(outcome.error));
  }
}

/** A message whose job the core does not know: dead-letter it, then ack. */
async function parkUnknown(run: Run, err: PermanentError): Promise<void> {
  const { deps, msg } = run;
  run.log.warn("job unknown to the core; dead-lettered", { error: err.message });
  await deadLetterOnce(deps.redis, {
    reason: "unknown_job",
    error: err.message,
    stream: run.entry.stream,
    entry_id: run.entry.id,
    job_id: msg!.job_id,
    job_type: msg!.job_type,
    message: msg,
    dead_lettered_at: deps.clock().toISOString(),
  }).catch(() => {});
  await ackEntry(run);
}

/** The handler's context, or the failure of a payload that does not fit its job type. */
async function contextFor(
  run: Run,
  job: FailingJob,
  options: { signal: AbortSignal; core: CoreClient },
): Promise<JobContext<unknown> | { failure: Failure }> {
  const { deps } = run;
  // The shape only: a file named in the payload is checked by the handler as it reads it, by the
  // same rule (shared/images.ts), with a reason that says what was wrong with the file.
  const parsed = JOB_TYPE_INFO[job.job_type].payload.safeParse(job.payload);
  if (!parsed.success) {
    return {
      failure: {
        reason: "bad_payload",
        error: `invalid ${job.job_type} payload: ${issuesText(parsed.error)}`,
        notice: { detail: "the request was incomplete." },
      },
    };
  }
  return {
    job: { id: job.id, job_type: job.job_type, user_id: job.user_id ?? null, payload: parsed.data },
    llm: deps.llm,
    core: options.core,
    imageDir: deps.imageDir,
    clock: deps.clock,
    log: run.log,
    signal: options.signal,
    language: await deps.language(job.user_id ?? null),
  };
}

/** Run the handler until it succeeds or the retry policy ends it. */
async function attempt(
  run: Run,
  ctx: JobContext<unknown>,
  options: { marking: Marking; waits: AbortSignal },
): Promise<Outcome> {
  const { deps } = run;
  const { job } = ctx;
  const counts: AttemptCounts = { core: 0, bad: 0 };
  let outage: Outage | undefined;
  for (;;) {
    const turn = await deps.breaker.turn({ signal: options.waits, until: outage?.deadline })
      .catch(() => undefined);
    if (!turn) return { kind: "hand_back" };
    if (turn.expired) {
      return { kind: "failed", failure: outageFailure(deps.outageMaxMs, outage!, deps.breaker) };
    }
    if (outage) await outage.resume(turn.probe);
    try {
      return { kind: "completed", result: await deps.slots.run(() => runHandler(ctx)) };
    } catch (err) {
      const step = nextStep(err, counts, { policy: deps.policy, stopping: deps.stopping.aborted });
      if (step.action === "hand_back") return { kind: "hand_back" };
      if (step.action === "leave_pending") return { kind: "leave_pending", error: step.error };
      if (step.action === "fail") {
        return {
          kind: "failed",
          failure: { reason: step.reason, error: step.error, notice: { detail: userDetail(step) } },
        };
      }
      if (step.action === "await_model") {
        deps.metrics?.jobRetried(job.job_type, "llm_unavailable");
        run.log.warn("the model is unreachable; waiting for it", { error: step.error });
        if (outage) await outage.pause();
        else {
          // Its user is told and its status changed: not before the mark.
          const marked = await options.marking.job().catch(() => undefined);
          if (!marked) return { kind: "hand_back" };
          outage = await beginOutage(run, marked, { maxMs: deps.outageMaxMs });
        }
        continue;
      }
      deps.metrics?.jobRetried(job.job_type, step.cause);
      run.log.warn("retrying", { error: step.error, cause: step.cause, delay_ms: step.delayMs });
      try {
        await sleep(step.delayMs, options.waits);
      } catch {
        return { kind: "hand_back" };
      }
    } finally {
      turn.done();
    }
  }
}

/** The handler's result, checked to make notifications the gateway can show. */
async function runHandler(ctx: JobContext<unknown>): Promise<JobResult> {
  const { job } = ctx;
  const result = await HANDLERS[job.job_type](ctx);
  const problems = notificationProblems(resultNotifications(job, result));
  if (problems.length > 0) {
    throw new BadOutputError(`the result would notify the user with ${problems.join("; ")}`);
  }
  return result;
}

function outageFailure(outageMaxMs: number, outage: Outage, breaker: ModelBreaker): Failure {
  const duration = formatDuration(outageMaxMs);
  return {
    reason: "llm_unavailable",
    error: `The language model was unreachable for ${duration} (since ${
      new Date(outage.since).toISOString()
    }): ${breaker.status().last_error ?? "no answer"}`,
    notice: { outage: { duration } },
  };
}

/** `ms` in the largest whole unit that fits: "24 hours", "90 minutes", "1 second". */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [["hour", 3_600_000], ["minute", 60_000]] as const) {
    if (ms >= size && ms % size === 0) return plural(ms / size, unit);
  }
  if (ms >= 3_600_000) return plural(Math.round(ms / 3_600_000), "hour");
  if (ms >= 60_000) return plural(Math.round(ms / 60_000), "minute");
  return plural(Math.max(1, Math.round(ms / 1000)), "second");
}

function userDetail(step: { kind: string; userDetail?: string }): string | undefined {
  if (step.kind === "bad_output") return "the AI model gave an answer I could not use.";
  return step.userDetail;
}

/** The entry's fields as Redis holds them, for an entry without a parseable `data`. */
async function rawFields(run: JobRun): Promise<unknown> {
  try {
    const rows = await run.deps.redis.xrange(run.entry.stream, run.entry.id, run.entry.id);
    return rows[0]?.[1] ?? null;
  } catch {
    return null;
  }
}

function issuesText(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}

function withFields(log: Logger, fields: Record<string, unknown>): Logger {
  return {
    debug: (m, f) => log.debug(m, { ...fields, ...f }),
    info: (m, f) => log.info(m, { ...fields, ...f }),
    warn: (m, f) => log.warn(m, { ...fields, ...f }),
    error: (m, f) => log.error(m, { ...fields, ...f }),
  };
}
