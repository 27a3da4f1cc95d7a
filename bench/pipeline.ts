/**
 * Worker pipeline benchmark: followup jobs through POST /llm_jobs, Redis, `deno task worker`
 * and the fake model answering in a fixed time, until each job's result notification lands on
 * notify:telegram.
 *
 * Two phases per run:
 * - saturation: `jobs` jobs posted as fast as 4 connections allow; throughput is jobs divided by
 *   the time from the first POST to the last notification;
 * - latency: `latencyJobs` jobs with `outstanding` in flight at a time (fewer than the worker's
 *   slots, so none waits in the stream): POST -> the model's first request for the job, and the
 *   pipeline's own time per job (POST -> notification, minus the model's answer time).
 *
 * Times are taken in this process (`performance`), which also runs the fake model, so every
 * timestamp is on one clock. A notification's time is when this process read it, which slightly
 * overstates the pipeline's time. The model's own time for each job is taken from the fake's
 * record of the request (arrival to answer), not assumed to be the scripted `modelMs`.
 */
import { Redis } from "ioredis";
import { median, quantile } from "./stats.ts";
import { type FakeLlm, promptText } from "../tests/helpers/fake_llm.ts";
import { NOTIFY_STREAM } from "../shared/streams.ts";

/** Figures of one pipeline run. */
export interface PipelineRun {
  /** Jobs per second in the saturation phase. */
  throughput: number;
  /** POST -> the model's first request, p50 and p99 (ms). */
  firstCallP50: number;
  /** See firstCallP50. */
  firstCallP99: number;
  /**
   * POST -> notification minus the model's own time for the job, p50 and p99 (ms). The model's
   * time is the fake's, from the request's arrival to its answer: Deno's timers fire 1-2 ms late,
   * so it is above the scripted time, and that lateness is not the pipeline's.
   */
  overheadP50: number;
  /** See overheadP50. */
  overheadP99: number;
  /** The model's own time per job in the latency phase, p50 (ms); absent in older saved runs. */
  modelP50?: number;
}

/** Options for {@linkcode runPipeline}. */
export interface PipelineOptions {
  /** The core. */
  coreUrl: string;
  /** Redis (to read notifications). */
  redisUrl: string;
  /** The fake model (this module scripts it). */
  fake: FakeLlm;
  /** The model's answer time in ms. */
  modelMs: number;
  /** Jobs in the saturation phase. */
  jobs: number;
  /** Jobs in the latency phase. */
  latencyJobs: number;
  /** Jobs in flight at a time in the latency phase. */
  outstanding: number;
  /** Owner of the jobs (must exist). */
  userId: number;
  /** Bound on one phase, in ms. */
  timeoutMs: number;
}

const MARK = /bench-job-([0-9a-z-]+)/;

function now(): number {
  return performance.timeOrigin + performance.now();
}

interface Tracker {
  posted: Map<string, number>;
  done: Map<string, number>;
  waiters: Map<string, () => void>;
  stop(): Promise<void>;
}

/** Follow the notify stream from now on; `done` gets each job's arrival time by job id. */
async function track(redisUrl: string): Promise<Tracker> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const last = await redis.xrevrange(NOTIFY_STREAM, "+", "-", "COUNT", 1);
  let from = last[0]?.[0] ?? "0-0";
  const t: Tracker = {
    posted: new Map(),
    done: new Map(),
    waiters: new Map(),
    stop: async () => {},
  };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const reply = await redis.xread("BLOCK", 200, "STREAMS", NOTIFY_STREAM, from)
        .catch(() => null);
      const at = now();
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          from = id;
          const data = JSON.parse(fields[fields.indexOf("data") + 1]);
          const jobId = data?.content?.job_id;
          if (typeof jobId !== "string" || t.done.has(jobId)) continue;
          t.done.set(jobId, at);
          t.waiters.get(jobId)?.();
          t.waiters.delete(jobId);
        }
      }
    }
  })();
  t.stop = async () => {
    stopped = true;
    await loop;
    redis.disconnect();
  };
  return t;
}

async function postJob(o: PipelineOptions, t: Tracker, marker: string): Promise<string> {
  const started = now();
  const res = await fetch(`${o.coreUrl}/llm_jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      job_type: "followup",
      payload: { message: `which folder for bench-job-${marker} ?` },
      user_id: o.userId,
    }),
  });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`POST /llm_jobs: ${res.status} ${JSON.stringify(body)}`);
  t.posted.set(body.id, started);
  return body.id;
}

// Marker in the job's message -> when the model first saw it. Keyed by marker, not job id: the
// model can see a job before this process has read the POST's answer.
const firstCalls = new Map<string, number>();

function waitDone(t: Tracker, id: string, deadline: number): Promise<void> {
  if (t.done.has(id)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`job ${id} did not finish in time`)),
      Math.max(0, deadline - Date.now()),
    );
    t.waiters.set(id, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The fake's time answering the job's request (its last, if asked more than once): arrival to answer (ms). */
function modelTime(fake: FakeLlm, marker: string): number {
  for (let i = fake.requests.length - 1; i >= 0; i--) {
    const r = fake.requests[i];
    if (r.answeredAt !== undefined && promptText(r.body).match(MARK)?.[1] === marker) {
      return r.answeredAt - r.receivedAt;
    }
  }
  throw new Error(`job ${marker}: the model never answered it`);
}

/** Script the fake: every request is answered after `modelMs`, its arrival recorded. */
export function scriptFake(fake: FakeLlm, modelMs: number): void {
  fake.when(() => true, (request) => {
    const at = now();
    const m = promptText(request).match(MARK);
    if (m && !firstCalls.has(m[1])) firstCalls.set(m[1], at);
    return { content: "Do you mean the blue folder or the red one?", delayMs: modelMs };
  });
}

/** One run: the saturation phase, then the latency phase. */
export async function runPipeline(o: PipelineOptions): Promise<PipelineRun> {
  const runTag = crypto.randomUUID().slice(0, 8);
  // Saturation.
  let t = await track(o.redisUrl);
  let throughput: number;
  try {
    const deadline = Date.now() + o.timeoutMs;
    let next = 0;
    const ids: string[] = [];
    const first = now();
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < o.jobs) {
        const i = next++;
        ids.push(await postJob(o, t, `${runTag}-s${i}`));
      }
    }));
    await Promise.all(ids.map((id) => waitDone(t, id, deadline)));
    const lastDone = Math.max(...ids.map((id) => t.done.get(id)!));
    throughput = o.jobs / ((lastDone - first) / 1000);
  } finally {
    await t.stop();
  }

  // Latency.
  t = await track(o.redisUrl);
  const toFirstCall: number[] = [];
  const overheads: number[] = [];
  const modelTimes: number[] = [];
  try {
    const deadline = Date.now() + o.timeoutMs;
    let next = 0;
    await Promise.all(Array.from({ length: o.outstanding }, async () => {
      while (next < o.latencyJobs) {
        const marker = `${runTag}-l${next++}`;
        const id = await postJob(o, t, marker);
        await waitDone(t, id, deadline);
        const posted = t.posted.get(id)!;
        const call = firstCalls.get(marker);
        if (call === undefined) throw new Error(`job ${id}: the model never saw it`);
        toFirstCall.push(call - posted);
        const model = modelTime(o.fake, marker);
        modelTimes.push(model);
        overheads.push(t.done.get(id)! - posted - model);
      }
    }));
  } finally {
    await t.stop();
    firstCalls.clear();
  }
  toFirstCall.sort((a, b) => a - b);
  overheads.sort((a, b) => a - b);
  modelTimes.sort((a, b) => a - b);
  return {
    modelP50: quantile(modelTimes, 0.5),
    throughput,
    firstCallP50: quantile(toFirstCall, 0.5),
    firstCallP99: quantile(toFirstCall, 0.99),
    overheadP50: quantile(overheads, 0.5),
    overheadP99: quantile(overheads, 0.99),
  };
}

/** Medians over runs. */
export function summarize(runs: PipelineRun[]): PipelineRun {
  const m = (f: (r: PipelineRun) => number) => median(runs.map(f));
  return {
    throughput: m((r) => r.throughput),
    firstCallP50: m((r) => r.firstCallP50),
    firstCallP99: m((r) => r.firstCallP99),
    overheadP50: m((r) => r.overheadP50),
    overheadP99: m((r) => r.overheadP99),
    ...(runs.every((r) => r.modelP50 !== undefined) ? { modelP50: m((r) => r.modelP50!) } : {}),
  };
}
