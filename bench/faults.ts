/**
 * `deno task faults`: jobs of every type through the real services while things break, then a
 * count of what came out. During the run it
 *
 * - SIGKILLs a worker process mid-job several times and starts a replacement (its unacked
 *   entries must be reclaimed after WORKER_CLAIM_IDLE_SECONDS),
 * - SIGKILLs redis-server and starts it again on its append-only file (`appendfsync always`, so
 *   every acknowledged write survives),
 * - SIGKILLs the core and starts it again on the same database,
 * - has the model fail a share of all calls (5xx, or no answer until the client's timeout), and
 *   answer garbage, always, for a marked set of jobs.
 *
 * At the end every unmarked job must be completed and every marked one failed with a readable
 * error_message; none queued or processing; no job, memory or event created twice, no duplicate
 * tag; exactly one result notification per job (an `llm_failure` for the marked ones); no entry
 * left pending. {@linkcode runFaults} returns the counts and the problems; the task prints them
 * and exits non-zero on any problem. Loopback only, bounded in time, and it stops everything it
 * started (by pid).
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { Redis } from "ioredis";
import { type FakeLlm, startFakeLlm } from "../tests/helpers/fake_llm.ts";
import {
  type BenchCore,
  type BenchRedis,
  type BenchService,
  coreDirs,
  type CoreFiles,
  startBenchRedis,
  startCore,
  startWorkerProcess,
} from "./stack.ts";
import { DEAD_LETTER_STREAM, NOTIFY_STREAM, WORKER_GROUP } from "../shared/streams.ts";
import { type CorePost, fakeModel, planJobs, type PlannedJob, USER } from "./fault_plan.ts";
import { countOutcome, pendingCount, readStream, redisIdle } from "./fault_outcome.ts";

/** Options for {@linkcode runFaults}. */
export interface FaultOptions {
  /** Jobs to post (a fifth of each type). */
  jobs: number;
  /** Worker processes running at once. */
  workers: number;
  /** WORKER_CONCURRENCY of each. */
  concurrency: number;
  /** Worker SIGKILLs. */
  workerKills: number;
  /** redis-server SIGKILLs and restarts. */
  redisRestarts: number;
  /** Core SIGKILLs and restarts. */
  coreRestarts: number;
  /** How long redis-server and the core stay down each time, ms (default 2000). */
  downMs?: number;
  /** Share of model calls that fail transiently (2/3 answer 5xx, 1/3 time out). */
  failRate: number;
  /** Jobs are posted evenly over this many ms; the faults happen in the same window. */
  submitMs: number;
  /** Bound on the whole run, ms. */
  deadlineMs: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** PRNG seed for the model's failures. */
  seed?: number;
}

/** What came out of a run. */
export interface FaultCounts {
  /** Jobs posted (and acknowledged 201). */
  jobs: number;
  /** Rows in llm_jobs (must equal `jobs`: a retried POST must not create a second job). */
  jobRows: number;
  /** Jobs whose payload carries the garbage marker. */
  marked: number;
  /** Status counts. */
  completed: number;
  /** See completed. */
  failed: number;
  /** See completed. */
  queued: number;
  /** See completed. */
  processing: number;
  /** Marked jobs failed with an error_message about unusable output. */
  markedFailedReadably: number;
  /** Unmarked jobs that did not complete. */
  unmarkedNotCompleted: number;
  /** Memories created by intent jobs: expected (one per completed intent job) and found. */
  memoriesExpected: number;
  /** See memoriesExpected. */
  memoriesFound: number;
  /** Events created by email jobs: expected and found. */
  eventsExpected: number;
  /** See eventsExpected. */
  eventsFound: number;
  /** (memory, tag) pairs stored more than once, and tagged memories without their tags. */
  tagProblems: number;
  /** Result notifications: expected (one per job), found, duplicates, missing, of a wrong type. */
  notificationsExpected: number;
  /** See notificationsExpected. */
  notificationsFound: number;
  /** See notificationsExpected. */
  notificationDuplicates: number;
  /** See notificationsExpected. */
  notificationsMissing: number;
  /** See notificationsExpected. */
  notificationsUnexpected: number;
  /** Dead-letter entries (one per marked job expected). */
  deadLetters: number;
  /** Entries still pending (unacked) in the worker group at the end. */
  pendingEntries: number;
  /** What was done to the system. */
  faults: {
    workerKills: number;
    redisRestarts: number;
    coreRestarts: number;
    modelCalls: number;
    model5xx: number;
    modelTimeouts: number;
    modelGarbage: number;
    reclaimedEntries: number;
  };
  /** Seconds from the first POST until everything settled. */
  settleSeconds: number;
  /** Seconds of the whole run. */
  seconds: number;
}

/** Counts and every problem found (empty when all is well). */
export interface FaultReport {
  /** The counts. */
  counts: FaultCounts;
  /** Human-readable problems. */
  problems: string[];
}

// Timing and retry settings of the workers.
//
// A model call fails transiently (5xx, timeout) with probability 0.3: an outage, which never
// fails a job (it waits, up to LLM_OUTAGE_MAX_HOURS, far beyond the run). Each such failure
// opens the worker's circuit breaker; LLM_PROBE_MAX_SECONDS = 1 keeps the probes that close it
// again frequent. LLM_MAX_RETRIES counts core failures (the core restart): 12 retries of
// 50-400 ms ride it out. LLM_TIMEOUT_SECONDS = 1 makes a hung call cost one second.
const WORKER_ENV = {
  LLM_PROBE_MAX_SECONDS: "1",
  LLM_MAX_RETRIES: "12",
  LLM_RETRY_BASE_MS: "50",
  LLM_RETRY_MAX_MS: "400",
  LLM_TIMEOUT_SECONDS: "1",
  WORKER_CLAIM_IDLE_SECONDS: "3",
  LOG_LEVEL: "info",
};

const CORE_ENV = { REPUBLISH_INTERVAL_SECONDS: "1", LOG_LEVEL: "info" };

/** The worker's log line for an entry taken over from a dead consumer. */
const RECLAIMED = "reclaimed an idle entry";

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The services of one run. The chaos actions put what they start in place of what they killed,
 * and the clean-up stops whatever is here at that moment, also after a set-up failure halfway.
 */
interface Stack {
  options: FaultOptions;
  log: (line: string) => void;
  dirs: CoreFiles & { root: string };
  redis?: BenchRedis;
  core?: BenchCore;
  /** Set by the first start and kept on restarts: the workers' CORE_API_URL stays valid. */
  corePort: number;
  fake?: FakeLlm;
  client?: Redis;
  workers: BenchService[];
  /** Output of services already gone (killed workers, earlier cores), for a failure's tail. */
  workerOutputs: string[];
  faults: FaultCounts["faults"];
}

/** Run the scenario; never throws for a finding (those are `problems`), only for set-up errors. */
export async function runFaults(options: FaultOptions): Promise<FaultReport> {
  const started = Date.now();
  const deadline = started + options.deadlineMs;
  const stack = await newStack(options);
  const log = stack.log;
  try {
    await startServices(stack);
    const post = corePost(stack.corePort);
    const { noteId, taskId } = await createTask(post);
    const planned = await planJobs(options.jobs, { post, noteId, imageDir: stack.dirs.imageDir });
    stack.fake = await startFakeLlm();
    stack.fake.setDefault(fakeModel(planned, {
      taskId,
      failRate: options.failRate,
      seed: options.seed ?? 1234,
      faults: stack.faults,
    }));
    for (let i = 0; i < options.workers; i++) await addWorker(stack);
    log(`stack up: redis, core, ${options.workers} workers × ${options.concurrency}`);

    const firstPost = Date.now();
    const [posted] = await Promise.all([
      submitJobs(planned, { post, firstPost, submitMs: options.submitMs, deadline }),
      runChaos(stack, firstPost),
    ]);
    log(`posted ${posted} jobs; waiting for them to settle`);

    const problems: string[] = [];
    const settled = await waitSettled(stack, deadline);
    const settleSeconds = (Date.now() - firstPost) / 1000;
    if (!settled) problems.push(`not settled within ${options.deadlineMs / 1000} s of the start`);
    log(`settled after ${settleSeconds.toFixed(1)} s`);

    return await collect(stack, { planned, posted, problems, settleSeconds, started });
  } catch (err) {
    // A set-up failure: show the services' own words with it.
    const tail = [...stack.workerOutputs, ...stack.workers.map((w) => w.proc.output())]
      .join("\n").split("\n").slice(-40).join("\n");
    (err as Error).message += `\n--- last service output ---\n${tail}`;
    throw err;
  } finally {
    await stopAll(stack);
  }
}

/** A stack with nothing started yet, and its directories (with one for the append-only file). */
async function newStack(options: FaultOptions): Promise<Stack> {
  const dirs = await coreDirs("memori_faults_");
  await Deno.mkdir(join(dirs.root, "redis"));
  return {
    options,
    log: options.log ?? (() => {}),
    dirs,
    corePort: 0,
    workers: [],
    workerOutputs: [],
    faults: {
      workerKills: 0,
      redisRestarts: 0,
      coreRestarts: 0,
      modelCalls: 0,
      model5xx: 0,
      modelTimeouts: 0,
      modelGarbage: 0,
      reclaimedEntries: 0,
    },
  };
}

/** redis-server (every write on disk before it answers), the core, and a client for the checks. */
async function startServices(stack: Stack): Promise<void> {
  const redis = await startBenchRedis({
    appendOnlyDir: join(stack.dirs.root, "redis"),
    fsyncAlways: true,
  });
  stack.redis = redis;
  stack.core = await startCore({ ...stack.dirs, redisUrl: redis.url, env: CORE_ENV });
  stack.corePort = stack.core.port;
  stack.client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  stack.client.on("error", () => {}); // down while redis restarts; reads retry
}

/** POSTs to the core on `port`, bounded at 10 s each. */
function corePost(port: number): CorePost {
  return async (path, body, options = {}) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...options.headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

/** Set-up: the user, an open task (task_match asks the model only when there is one). */
async function createTask(post: CorePost): Promise<{ noteId: string; taskId: string }> {
  await post("/users", { telegram_user_id: USER, display_name: "Faults" });
  const note = await post("/memories", { owner_user_id: USER, content: "set-up note" });
  const task = await post("/tasks", {
    memory_id: note.body.id,
    owner_user_id: USER,
    description: "renew the passport",
  });
  if (task.status !== 201) throw new Error(`POST /tasks: ${task.status}`);
  return { noteId: note.body.id, taskId: task.body.id };
}

async function addWorker(stack: Stack): Promise<void> {
  const w = await startWorkerProcess({
    redisUrl: stack.redis!.url,
    coreUrl: `http://127.0.0.1:${stack.corePort}`,
    llmUrl: stack.fake!.url,
    imageDir: stack.dirs.imageDir,
    env: { ...WORKER_ENV, WORKER_CONCURRENCY: String(stack.options.concurrency) },
    count: [RECLAIMED],
  });
  stack.workers.push(w);
}

async function killWorker(stack: Stack): Promise<void> {
  const { faults } = stack;
  const victim = stack.workers.shift()!;
  await victim.kill();
  faults.reclaimedEntries += victim.proc.count(RECLAIMED);
  stack.workerOutputs.push(victim.proc.output());
  faults.workerKills++;
  stack.log(`SIGKILLed worker ${victim.pid}; starting a replacement`);
  await addWorker(stack);
}

async function restartRedis(stack: Stack): Promise<void> {
  await stack.redis!.kill("SIGKILL");
  stack.faults.redisRestarts++;
  stack.log("SIGKILLed redis-server");
  await sleep(stack.options.downMs ?? 2000);
  await stack.redis!.restart();
  stack.log("redis-server restarted from its append-only file");
}

async function restartCore(stack: Stack): Promise<void> {
  stack.workerOutputs.push(`--- core ---\n${stack.core!.proc.output()}`);
  await stack.core!.kill();
  stack.faults.coreRestarts++;
  stack.log("SIGKILLed the core");
  await sleep(stack.options.downMs ?? 2000);
  stack.core = await startCore({
    ...stack.dirs,
    redisUrl: stack.redis!.url,
    port: stack.corePort,
    env: CORE_ENV,
  });
  stack.log("core restarted");
}

/** The faults, spread over the posting window, interleaved: kill, redis, kill, core, ... */
async function runChaos(stack: Stack, firstPost: number): Promise<void> {
  const { options } = stack;
  const actions: ((stack: Stack) => Promise<void>)[] = [];
  let [k, r, c] = [options.workerKills, options.redisRestarts, options.coreRestarts];
  while (k + r + c > 0) {
    if (k-- > 0) actions.push(killWorker);
    if (r-- > 0) actions.push(restartRedis);
    if (k-- > 0) actions.push(killWorker);
    if (c-- > 0) actions.push(restartCore);
  }
  for (let i = 0; i < actions.length; i++) {
    const at = firstPost + options.submitMs * (0.1 + (0.8 * (i + 0.5)) / actions.length);
    if (at > Date.now()) await sleep(at - Date.now());
    await actions[i](stack);
  }
}

/** Options for {@linkcode submitJobs}. */
interface SubmitOptions {
  post: CorePost;
  /** When the window starts, ms since the epoch. */
  firstPost: number;
  /** The window: jobs are posted evenly over it. */
  submitMs: number;
  /** Give up posting after this, ms since the epoch. */
  deadline: number;
}

/** Post every job at its time in the window, four at a time; resolves to the number posted. */
async function submitJobs(planned: PlannedJob[], options: SubmitOptions): Promise<number> {
  let next = 0;
  let posted = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < planned.length) {
      const job = planned[next++];
      const due = options.firstPost + (job.index * options.submitMs) / planned.length;
      if (due > Date.now()) await sleep(due - Date.now());
      await postJob(job, options);
      posted++;
    }
  }));
  return posted;
}

/** POST one job until the core answers 201; sets `job.id`. */
async function postJob(job: PlannedJob, options: SubmitOptions): Promise<void> {
  // Retried until it lands (the core may be restarting): the Idempotency-Key makes a
  // retry of a POST whose answer was lost return the same job instead of a second one.
  while (true) {
    if (Date.now() > options.deadline) throw new Error("deadline passed while posting jobs");
    try {
      const res = await options.post("/llm_jobs", job.body, {
        headers: { "idempotency-key": `faults:${job.marker}` },
      });
      if (res.status === 201) {
        job.id = res.body.id;
        return;
      }
      if (res.status < 500) {
        throw new Error(`POST /llm_jobs: ${res.status} ${JSON.stringify(res.body)}`);
      }
    } catch (err) {
      if (String((err as Error).message).startsWith("POST /llm_jobs")) throw err;
    }
    await sleep(100);
  }
}

/** Wait until settled: no job queued or processing, nothing pending or undelivered in Redis. */
async function waitSettled(stack: Stack, deadline: number): Promise<boolean> {
  const db = new DatabaseSync(stack.dirs.databasePath, { readOnly: true });
  try {
    while (Date.now() < deadline) {
      const open = (db.prepare(
        "SELECT count(*) AS n FROM llm_jobs WHERE status IN ('queued', 'processing')",
      ).get() as { n: number }).n;
      if (open === 0 && await redisIdle(stack.client!)) return true;
      await sleep(250);
    }
    return false;
  } finally {
    db.close();
  }
}

/** What {@linkcode collect} adds to the counts. */
interface RunSoFar {
  planned: PlannedJob[];
  posted: number;
  problems: string[];
  settleSeconds: number;
  started: number;
}

/** Stop the workers and the core, read what they left, and count it. */
async function collect(stack: Stack, run: RunSoFar): Promise<FaultReport> {
  const { problems } = run;
  // Stop the workers before counting, so nothing changes under the counts.
  for (const w of stack.workers.splice(0)) {
    await w.stop();
    stack.faults.reclaimedEntries += w.proc.count(RECLAIMED);
    stack.workerOutputs.push(w.proc.output());
  }
  const client = stack.client!;
  const notes = await readStream(client, NOTIFY_STREAM);
  const dead = await readStream(client, DEAD_LETTER_STREAM);
  const pendingEntries = await pendingCount(client);
  await stack.core!.stop();
  stack.core = undefined;

  const counts = countOutcome({
    planned: run.planned,
    databasePath: stack.dirs.databasePath,
    notes,
    dead,
    problems,
  });
  return {
    counts: {
      ...counts,
      jobs: run.posted,
      pendingEntries,
      faults: stack.faults,
      settleSeconds: run.settleSeconds,
      seconds: (Date.now() - run.started) / 1000,
    },
    problems: pendingEntries > 0
      ? [...problems, `${pendingEntries} entries still pending in ${WORKER_GROUP}`]
      : problems,
  };
}

/** Stop everything still running (by pid) and remove the run's files. */
async function stopAll(stack: Stack): Promise<void> {
  for (const w of stack.workers.splice(0)) await w.kill();
  await stack.core?.stop().catch(() => {});
  await stack.fake?.close();
  stack.client?.disconnect();
  await stack.redis?.stop();
  await Deno.remove(stack.dirs.root, { recursive: true }).catch(() => {});
}

/** The counts as aligned `name value` lines. */
export function formatCounts(c: FaultCounts): string {
  const rows: [string, string | number][] = [
    ["jobs posted", c.jobs],
    ["job rows", c.jobRows],
    ["completed", c.completed],
    ["failed", c.failed],
    ["queued", c.queued],
    ["processing", c.processing],
    ["marked (garbage answers)", c.marked],
    ["marked, failed with a readable error", c.markedFailedReadably],
    ["unmarked, not completed", c.unmarkedNotCompleted],
    ["memories expected / found", `${c.memoriesExpected} / ${c.memoriesFound}`],
    ["events expected / found", `${c.eventsExpected} / ${c.eventsFound}`],
    ["tag problems", c.tagProblems],
    ["notifications expected / found", `${c.notificationsExpected} / ${c.notificationsFound}`],
    ["notifications duplicated", c.notificationDuplicates],
    ["notifications missing", c.notificationsMissing],
    ["notifications of a wrong type", c.notificationsUnexpected],
    ["dead letters", c.deadLetters],
    ["entries left pending", c.pendingEntries],
    ["worker SIGKILLs", c.faults.workerKills],
    ["redis restarts", c.faults.redisRestarts],
    ["core restarts", c.faults.coreRestarts],
    ["model calls", c.faults.modelCalls],
    [
      "model 5xx / timeouts / garbage",
      `${c.faults.model5xx} / ${c.faults.modelTimeouts} / ${c.faults.modelGarbage}`,
    ],
    ["entries reclaimed from dead workers", c.faults.reclaimedEntries],
    ["settled after (s)", c.settleSeconds.toFixed(1)],
    ["whole run (s)", c.seconds.toFixed(1)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

async function main(): Promise<number> {
  const jobsArg = Deno.args.find((a) => a.startsWith("--jobs="));
  const jobs = jobsArg ? Number(jobsArg.slice(7)) : 1000;
  const report = await runFaults({
    jobs,
    workers: 2,
    concurrency: 16,
    workerKills: 5,
    redisRestarts: 2,
    coreRestarts: 2,
    failRate: 0.3,
    submitMs: Math.max(10_000, jobs * 40),
    deadlineMs: 300_000,
    log: (line) => console.error(`[faults ${new Date().toISOString().slice(11, 19)}] ${line}`),
  });
  console.log(formatCounts(report.counts));
  if (report.problems.length > 0) {
    console.log(`\n${report.problems.length} problem(s):`);
    for (const p of report.problems.slice(0, 50)) console.log(`- ${p}`);
    if (report.problems.length > 50) console.log(`- ... and ${report.problems.length - 50} more`);
    return 1;
  }
  console.log("\nno job lost, none duplicated: all counts as expected");
  return 0;
}

if (import.meta.main) Deno.exit(await main());
