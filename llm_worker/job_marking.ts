/**
 * Marking a job `processing` beside its first model call instead of before it.
 *
 * The PATCH that marks a job also tells its run whether to go on: a 409 says another delivery
 * finished the job, a 404 that the core never had it. Waiting for that answer put a core round
 * trip before every model call. A first delivery's message holds what its handler needs
 * (DESIGN.md §4: the payload and the user, which the core published from the row), so the run asks
 * the model at once and the mark goes out beside it. Nothing the run stores or sends goes out
 * before the answer, and only when the row holds what the message said: the handler's core writes
 * wait for it ({@linkcode gatedCore}), and so does every outcome (job_runner.ts). Otherwise
 * `abandoned` aborts, which cuts the model call and the run's waits, and the run ends as the
 * answer says, or starts again from the row.
 *
 * An entry taken over from another consumer may well be a finished job's, so it is marked before
 * anything else, as every entry was before.
 */
import type { CoreClient, JobRecord } from "./core_client.ts";
import { RunAbandonedError } from "./errors.ts";
import type { JobRun } from "./job_outcomes.ts";
import { retryCore } from "./retry.ts";
import { setImmediate } from "node:timers";

/** The core's answer to marking a job processing. */
export type Marked =
  /** Marked; `matches` when the row holds the message's job type, user and payload. */
  | { ok: true; job: JobRecord; matches: boolean }
  /** Not marked: the PATCH's error (JobFinalError, PermanentError, TransientError, ShutdownError). */
  | { ok: false; error: unknown };

/** A job's mark, possibly still on its way. */
export interface Marking {
  /** The core's answer; never rejects. */
  readonly answer: Promise<Marked>;
  /** Aborted once the answer says the run must not go on with what it has. */
  readonly abandoned: AbortSignal;
  /** The marked job, once answered; rejects with a RunAbandonedError when the run is abandoned. */
  job(): Promise<JobRecord>;
}

/** Mark the run's job processing (core outages retried per the policy); never rejects. */
export function markProcessing(run: JobRun, signal: AbortSignal): Promise<Marked> {
  const { deps, msg } = run;
  return retryCore(
    () => deps.core.updateJob(msg!.job_id, { status: "processing" }, { signal }),
    deps.policy,
    { signal: deps.stopping },
  ).then(
    (job): Marked => ({ ok: true, job, matches: sameJob(job, run) }),
    (error): Marked => ({ ok: false, error }),
  );
}

/**
 * Start marking the run's job; the run goes on with its message meanwhile. The PATCH leaves on the
 * next turn of the event loop: the handler's way to the model is promise hops when the user's
 * language is known, so the model's request goes out first (200 of 200 jobs one at a time, read ->
 * model request p50 ~2.3 -> 1.6 ms); sent first, the PATCH's own ~0.5 ms of client work came
 * before it.
 */
export function startMarking(run: JobRun, signal: AbortSignal): Marking {
  const turn = new Promise<void>((resolve) => setImmediate(resolve));
  return markingOf(turn.then(() => markProcessing(run, signal)));
}

/** The marking of a job already marked (a run that waited for the answer). */
export function markedAlready(job: JobRecord): Marking {
  return markingOf(Promise.resolve({ ok: true, job, matches: true }));
}

function markingOf(answer: Promise<Marked>): Marking {
  const abandon = new AbortController();
  const settled = answer.then((marked) => {
    if (!marked.ok || !marked.matches) abandon.abort(new RunAbandonedError());
    return marked;
  });
  return {
    answer: settled,
    abandoned: abandon.signal,
    async job() {
      const marked = await settled;
      if (!marked.ok || !marked.matches) throw new RunAbandonedError();
      return marked.job;
    },
  };
}

/**
 * The row holds what the message said. The core publishes the row's payload as it stores it, so
 * the two serialize alike; a row edited since, or a message written by hand, does not match.
 */
function sameJob(job: JobRecord, run: JobRun): boolean {
  const msg = run.msg!;
  return job.job_type === msg.job_type && (job.user_id ?? null) === (msg.user_id ?? null) &&
    JSON.stringify(job.payload) === JSON.stringify(msg.payload);
}

/** The core client a handler is given: its writes wait for the mark; its reads do not. */
export function gatedCore(core: CoreClient, marking: Marking): CoreClient {
  return {
    getJob: (id, o) => core.getJob(id, o),
    updateJob: async (id, update, o) => (await marking.job(), await core.updateJob(id, update, o)),
    getMemory: (id, o) => core.getMemory(id, o),
    createMemory: async (body, o) => (await marking.job(), await core.createMemory(body, o)),
    addTags: async (id, body, o) => (await marking.job(), await core.addTags(id, body, o)),
    createEvent: async (body, o) => (await marking.job(), await core.createEvent(body, o)),
    openTasks: (owner, o) => core.openTasks(owner, o),
    search: (q, owner, o) => core.search(q, owner, o),
    getSettings: (userId, o) => core.getSettings(userId, o),
  };
}
