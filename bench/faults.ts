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
import { type FakeLlm, imageUrls, promptText, startFakeLlm } from "../tests/helpers/fake_llm.ts";
import {
  type BenchCore,
  type BenchRedis,
  type BenchService,
  coreDirs,
  startBenchRedis,
  startCore,
  startWorkerProcess,
} from "./stack.ts";
import { prng } from "./seed.ts";
import {
  ALL_JOB_STREAMS,
  DEAD_LETTER_STREAM,
  NOTIFY_STREAM,
  WORKER_GROUP,
} from "../shared/streams.ts";

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

const USER = 7001;
const TYPES = ["intent_classify", "followup", "email_extract", "task_match", "image_tag"] as const;
type Kind = typeof TYPES[number];

const RESULT_TYPE: Record<Kind, string> = {
  intent_classify: "llm_intent_result",
  followup: "llm_followup_result",
  email_extract: "event_confirmation",
  task_match: "llm_task_match_result",
  image_tag: "llm_image_tag_result",
};

/** A 1x1 PNG; each job's image gets its marker appended after the end of the PNG data. */
const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

interface PlannedJob {
  index: number;
  kind: Kind;
  marked: boolean;
  marker: string;
  body: Record<string, unknown>;
  id?: string;
  imageMemoryId?: string;
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

/** How the checks name an `llm_failure` that says the job will be retried. */
const RETRY_NOTICE = "llm_failure (will retry)";

/** The worker's log line for an entry taken over from a dead consumer. */
const RECLAIMED = "reclaimed an idle entry";

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Run the scenario; never throws for a finding (those are `problems`), only for set-up errors. */
export async function runFaults(options: FaultOptions): Promise<FaultReport> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const deadline = started + options.deadlineMs;
  const rnd = prng(options.seed ?? 1234);
  const tag = crypto.randomUUID().slice(0, 6);
  const problems: string[] = [];
  const dirs = await coreDirs("memori_faults_");
  const aofDir = join(dirs.root, "redis");
  await Deno.mkdir(aofDir);

  let redis: BenchRedis | undefined;
  let core: BenchCore | undefined;
  let fake: FakeLlm | undefined;
  let client: Redis | undefined;
  const workers: BenchService[] = [];
  const workerOutputs: string[] = [];
  const faults = {
    workerKills: 0,
    redisRestarts: 0,
    coreRestarts: 0,
    modelCalls: 0,
    model5xx: 0,
    modelTimeouts: 0,
    modelGarbage: 0,
    reclaimedEntries: 0,
  };

  const coreEnv = { REPUBLISH_INTERVAL_SECONDS: "1", LOG_LEVEL: "info" };
  let corePort = 0;
  const coreUrl = () => `http://127.0.0.1:${corePort}`;

  async function api(method: string, path: string, body?: unknown, headers = {}) {
    const res = await fetch(`${coreUrl()}${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  async function addWorker(): Promise<void> {
    const w = await startWorkerProcess({
      redisUrl: redis!.url,
      coreUrl: coreUrl(),
      llmUrl: fake!.url,
      imageDir: dirs.imageDir,
      env: { ...WORKER_ENV, WORKER_CONCURRENCY: String(options.concurrency) },
      count: [RECLAIMED],
    });
    workers.push(w);
  }

  try {
    redis = await startBenchRedis({ appendOnlyDir: aofDir, fsyncAlways: true });
    core = await startCore({ ...dirs, redisUrl: redis.url, env: coreEnv });
    corePort = core.port;
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    client.on("error", () => {}); // down while redis restarts; reads retry

    // Set-up: the user, an open task (task_match asks the model only when there is one).
    await api("POST", "/users", { telegram_user_id: USER, display_name: "Faults" });
    const note = await api("POST", "/memories", { owner_user_id: USER, content: "set-up note" });
    const task = await api("POST", "/tasks", {
      memory_id: note.body.id,
      owner_user_id: USER,
      description: "renew the passport",
    });
    if (task.status !== 201) throw new Error(`POST /tasks: ${task.status}`);
    const taskId: string = task.body.id;

    const planned: PlannedJob[] = [];
    for (let i = 0; i < options.jobs; i++) {
      const kind = TYPES[i % TYPES.length];
      // Every tenth group of five is marked, so each type has marked jobs.
      const marked = Math.floor(i / TYPES.length) % 10 === 3;
      const marker = `fj-${tag}-${i}${marked ? "-garbage" : ""}`;
      const job: PlannedJob = { index: i, kind, marked, marker, body: {} };
      let payload: Record<string, unknown>;
      switch (kind) {
        case "intent_classify":
          payload = { message: `note to self ${marker}` };
          break;
        case "followup":
          payload = { message: `where did I put it ${marker}`, context: "keys" };
          break;
        case "email_extract":
          payload = { subject: `Appointment ${marker}`, body: "See you on 3 March at 10:00." };
          break;
        case "task_match":
          payload = { memory_id: note.body.id, memory_content: `renewed passport ${marker}` };
          break;
        case "image_tag": {
          const mem = await api("POST", "/memories", { owner_user_id: USER, media_type: "image" });
          job.imageMemoryId = mem.body.id;
          const file = `${marker}.png`;
          await Deno.writeFile(
            join(dirs.imageDir, file),
            new Uint8Array([...PNG, ...new TextEncoder().encode(marker)]),
          );
          payload = { memory_id: mem.body.id, image_path: file };
          break;
        }
      }
      job.body = { job_type: kind, payload, user_id: USER };
      planned.push(job);
    }
    const byMarker = new Map(planned.map((j) => [j.marker, j]));

    fake = await startFakeLlm();
    fake.setDefault((request) => {
      faults.modelCalls++;
      let text = promptText(request);
      for (const url of imageUrls(request)) {
        text += " " + new TextDecoder("latin1").decode(
          Uint8Array.from(atob(url.slice(url.indexOf(",") + 1)), (c) => c.charCodeAt(0)),
        );
      }
      const m = text.match(/fj-[0-9a-f]{6}-\d+(-garbage)?/);
      const job = m ? byMarker.get(m[0]) : undefined;
      const delayMs = 30 + Math.floor(rnd() * 120);
      const roll = rnd();
      if (roll < options.failRate * 2 / 3) {
        faults.model5xx++;
        return { status: [500, 502, 503][Math.floor(rnd() * 3)], delayMs: delayMs / 3 };
      }
      if (roll < options.failRate) {
        faults.modelTimeouts++;
        return { hang: true };
      }
      if (!job) return { status: 400, message: "fake model: no job marker in the prompt" };
      if (job.marked) {
        faults.modelGarbage++;
        // Unusable: cut-off JSON, or (followup answers plain text) nothing at all.
        return { content: job.kind === "followup" ? "   " : '{"intent": "gen', delayMs };
      }
      const json = (v: unknown) => ({ content: JSON.stringify(v), delayMs });
      switch (job.kind) {
        case "intent_classify":
          return json({ intent: "general_note", suggested_tags: ["faults"] });
        case "followup":
          return { content: `Which one do you mean (${job.marker})?`, delayMs };
        case "email_extract":
          return json({
            events: [{
              description: `Appointment ${job.marker}`,
              event_time: "2030-03-03T10:00:00Z",
              confidence: 0.95,
            }],
          });
        case "task_match":
          return json({ matched_task_id: taskId, confidence: 0.9, reason: "passport" });
        case "image_tag":
          return json({ description: "a pixel", tags: ["pixel", "tiny", "red"] });
      }
    });

    for (let i = 0; i < options.workers; i++) await addWorker();
    log(`stack up: redis, core, ${options.workers} workers × ${options.concurrency}`);

    // The faults, spread over the posting window, interleaved: kill, redis, kill, core, ...
    const killWorker = async () => {
      const victim = workers.shift()!;
      await victim.kill();
      faults.reclaimedEntries += victim.proc.count(RECLAIMED);
      workerOutputs.push(victim.proc.output());
      faults.workerKills++;
      log(`SIGKILLed worker ${victim.pid}; starting a replacement`);
      await addWorker();
    };
    const restartRedis = async () => {
      await redis!.kill("SIGKILL");
      faults.redisRestarts++;
      log("SIGKILLed redis-server");
      await sleep(options.downMs ?? 2000);
      await redis!.restart();
      log("redis-server restarted from its append-only file");
    };
    const restartCore = async () => {
      workerOutputs.push(`--- core ---\n${core!.proc.output()}`);
      await core!.kill();
      faults.coreRestarts++;
      log("SIGKILLed the core");
      await sleep(options.downMs ?? 2000);
      core = await startCore({ ...dirs, redisUrl: redis!.url, port: corePort, env: coreEnv });
      log("core restarted");
    };
    const actions: (() => Promise<void>)[] = [];
    let [k, r, c] = [options.workerKills, options.redisRestarts, options.coreRestarts];
    while (k + r + c > 0) {
      if (k-- > 0) actions.push(killWorker);
      if (r-- > 0) actions.push(restartRedis);
      if (k-- > 0) actions.push(killWorker);
      if (c-- > 0) actions.push(restartCore);
    }

    const firstPost = Date.now();
    let posted = 0;
    const submit = (async () => {
      let next = 0;
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < planned.length) {
          const job = planned[next++];
          const due = firstPost + (job.index * options.submitMs) / planned.length;
          if (due > Date.now()) await sleep(due - Date.now());
          // Retried until it lands (the core may be restarting): the Idempotency-Key makes a
          // retry of a POST whose answer was lost return the same job instead of a second one.
          while (true) {
            if (Date.now() > deadline) throw new Error("deadline passed while posting jobs");
            try {
              const res = await api("POST", "/llm_jobs", job.body, {
                "idempotency-key": `faults:${job.marker}`,
              });
              if (res.status === 201) {
                job.id = res.body.id;
                posted++;
                break;
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
      }));
    })();
    const chaos = (async () => {
      for (let i = 0; i < actions.length; i++) {
        const at = firstPost + options.submitMs * (0.1 + (0.8 * (i + 0.5)) / actions.length);
        if (at > Date.now()) await sleep(at - Date.now());
        await actions[i]();
      }
    })();
    await Promise.all([submit, chaos]);
    log(`posted ${posted} jobs; waiting for them to settle`);

    // Settled: no job queued or processing, nothing pending or undelivered in Redis.
    const db = new DatabaseSync(dirs.databasePath, { readOnly: true });
    let settled = false;
    try {
      while (Date.now() < deadline) {
        const open = (db.prepare(
          "SELECT count(*) AS n FROM llm_jobs WHERE status IN ('queued', 'processing')",
        ).get() as { n: number }).n;
        if (open === 0 && await redisIdle(client)) {
          settled = true;
          break;
        }
        await sleep(250);
      }
    } finally {
      db.close();
    }
    const settleSeconds = (Date.now() - firstPost) / 1000;
    if (!settled) problems.push(`not settled within ${options.deadlineMs / 1000} s of the start`);
    log(`settled after ${settleSeconds.toFixed(1)} s`);

    // Stop the workers before counting, so nothing changes under the counts.
    for (const w of workers.splice(0)) {
      await w.stop();
      faults.reclaimedEntries += w.proc.count(RECLAIMED);
      workerOutputs.push(w.proc.output());
    }
    const notes = await readStream(client, NOTIFY_STREAM);
    const dead = await readStream(client, DEAD_LETTER_STREAM);
    const pendingEntries = await pendingCount(client);
    await core.stop();
    core = undefined;

    const counts = countOutcome({
      planned,
      databasePath: dirs.databasePath,
      notes,
      dead,
      problems,
    });
    return {
      counts: {
        ...counts,
        jobs: posted,
        pendingEntries,
        faults,
        settleSeconds,
        seconds: (Date.now() - started) / 1000,
      },
      problems: pendingEntries > 0
        ? [...problems, `${pendingEntries} entries still pending in ${WORKER_GROUP}`]
        : problems,
    };
  } catch (err) {
    // A set-up failure: show the services' own words with it.
    const tail = [...workerOutputs, ...workers.map((w) => w.proc.output())]
      .join("\n").split("\n").slice(-40).join("\n");
    (err as Error).message += `\n--- last service output ---\n${tail}`;
    throw err;
  } finally {
    for (const w of workers.splice(0)) await w.kill();
    await core?.stop().catch(() => {});
    await fake?.close();
    client?.disconnect();
    await redis?.stop();
    await Deno.remove(dirs.root, { recursive: true }).catch(() => {});
  }
}

// deno-lint-ignore no-explicit-any
type Entry = any;

async function readStream(client: Redis, stream: string): Promise<Entry[]> {
  const rows = await client.xrange(stream, "-", "+");
  return rows.map(([, fields]) => JSON.parse(fields[fields.indexOf("data") + 1]));
}

async function pendingCount(client: Redis): Promise<number> {
  let n = 0;
  for (const stream of ALL_JOB_STREAMS) {
    try {
      const info = await client.xpending(stream, WORKER_GROUP) as [number, ...unknown[]];
      n += Number(info[0]);
    } catch { /* no group on this stream */ }
  }
  return n;
}

/** No entry pending and none waiting to be delivered, on every job stream. */
async function redisIdle(client: Redis): Promise<boolean> {
  try {
    if (await pendingCount(client) > 0) return false;
    for (const stream of ALL_JOB_STREAMS) {
      const groups = await client.xinfo("GROUPS", stream) as unknown[][];
      for (const g of groups) {
        const lag = g[g.indexOf("lag") + 1];
        if (g[g.indexOf("name") + 1] === WORKER_GROUP && lag !== 0 && lag !== null) return false;
      }
    }
    return true;
  } catch {
    return false; // redis restarting
  }
}

function countOutcome(input: {
  planned: PlannedJob[];
  databasePath: string;
  notes: Entry[];
  dead: Entry[];
  problems: string[];
}) {
  const { planned, notes, dead, problems } = input;
  const db = new DatabaseSync(input.databasePath, { readOnly: true });
  try {
    const jobRows = (db.prepare("SELECT count(*) AS n FROM llm_jobs").get() as { n: number }).n;
    const rows = new Map(
      (db.prepare("SELECT id, status, error_message FROM llm_jobs").all() as {
        id: string;
        status: string;
        error_message: string | null;
      }[]).map((r) => [r.id, r]),
    );
    const status = { completed: 0, failed: 0, queued: 0, processing: 0 };
    let markedFailedReadably = 0;
    let unmarkedNotCompleted = 0;
    const missingIds = planned.filter((j) => !j.id).length;
    if (missingIds) problems.push(`${missingIds} jobs were never created`);
    if (jobRows !== planned.length) {
      problems.push(`${jobRows} job rows for ${planned.length} jobs posted`);
    }
    for (const job of planned) {
      const row = job.id ? rows.get(job.id) : undefined;
      if (!row) continue;
      status[row.status as keyof typeof status]++;
      if (job.marked) {
        if (row.status === "failed" && /unusable/.test(row.error_message ?? "")) {
          markedFailedReadably++;
        } else {
          problems.push(
            `marked job ${job.id} (${job.kind}) is ${row.status}: ${row.error_message ?? "-"}`,
          );
        }
      } else if (row.status !== "completed") {
        unmarkedNotCompleted++;
        problems.push(`job ${job.id} (${job.kind}) is ${row.status}: ${row.error_message ?? "-"}`);
      }
    }

    const completed = (kind: Kind) =>
      planned.filter((j) =>
        j.kind === kind && !j.marked && rows.get(j.id ?? "")?.status === "completed"
      );
    // Memories made by intent jobs, by content (each job's message is unique).
    const memoryCounts = new Map(
      (db.prepare(
        "SELECT content, count(*) AS n FROM memories WHERE content LIKE 'note to self fj-%' GROUP BY content",
      ).all() as { content: string; n: number }[]).map((r) => [r.content, r.n]),
    );
    let memoriesFound = 0;
    for (const [content, n] of memoryCounts) {
      memoriesFound += n;
      if (n > 1) problems.push(`memory "${content}" was created ${n} times`);
    }
    const memoriesExpected = completed("intent_classify").length;
    for (const job of planned.filter((j) => j.kind === "intent_classify")) {
      const n = memoryCounts.get(String(job.body.payload && (job.body.payload as Entry).message));
      const want = job.marked ? 0 : 1;
      if ((n ?? 0) !== want) {
        problems.push(`intent job ${job.id}: ${n ?? 0} memories, want ${want}`);
      }
    }
    // Events made by email jobs, by source_detail (the unique subject).
    const eventCounts = new Map(
      (db.prepare(
        "SELECT source_detail, count(*) AS n FROM events WHERE source_detail LIKE 'Appointment fj-%' GROUP BY source_detail",
      ).all() as { source_detail: string; n: number }[]).map((r) => [r.source_detail, r.n]),
    );
    let eventsFound = 0;
    for (const n of eventCounts.values()) eventsFound += n;
    for (const job of planned.filter((j) => j.kind === "email_extract")) {
      const n = eventCounts.get(String((job.body.payload as Entry).subject)) ?? 0;
      const want = job.marked ? 0 : 1;
      if (n !== want) problems.push(`email job ${job.id}: ${n} events, want ${want}`);
    }
    // Tags: never twice per memory, and each tagged image has exactly the model's three.
    let tagProblems = (db.prepare(
      "SELECT count(*) AS n FROM (SELECT 1 FROM memory_tags GROUP BY memory_id, tag HAVING count(*) > 1)",
    ).get() as { n: number }).n;
    if (tagProblems) problems.push(`${tagProblems} duplicate (memory, tag) pairs`);
    const tagsOf = db.prepare("SELECT tag FROM memory_tags WHERE memory_id = ? ORDER BY tag");
    for (const job of planned.filter((j) => j.kind === "image_tag")) {
      const tags = (tagsOf.all(job.imageMemoryId!) as { tag: string }[]).map((t) => t.tag);
      const want = job.marked ? [] : ["pixel", "red", "tiny"];
      if (JSON.stringify(tags) !== JSON.stringify(want)) {
        tagProblems++;
        problems.push(
          `image job ${job.id}: tags ${JSON.stringify(tags)}, want ${JSON.stringify(want)}`,
        );
      }
    }

    // Notifications: exactly one per job, of the job's result type (llm_failure when marked).
    const perJob = new Map<string, Map<string, number>>();
    for (const n of notes) {
      const id = n?.content?.job_id;
      if (typeof id !== "string") continue;
      const types = perJob.get(id) ?? new Map<string, number>();
      // A job that met a model outage is told once that it will be retried (not final).
      const type = n.content.will_retry === true ? RETRY_NOTICE : n.message_type;
      types.set(type, (types.get(type) ?? 0) + 1);
      perJob.set(id, types);
    }
    let notificationDuplicates = 0;
    let notificationsMissing = 0;
    let notificationsUnexpected = 0;
    let notificationsFound = 0;
    for (const job of planned) {
      if (!job.id) continue;
      const want = job.marked ? "llm_failure" : RESULT_TYPE[job.kind];
      const types = perJob.get(job.id) ?? new Map();
      for (const [type, n] of types) {
        if (type === RETRY_NOTICE) {
          if (n > 1) {
            notificationDuplicates += n - 1;
            problems.push(`job ${job.id} (${job.kind}) was told ${n} times it will be retried`);
          }
          continue;
        }
        notificationsFound += n;
        if (type !== want) {
          notificationsUnexpected += n;
          problems.push(`job ${job.id} (${job.kind}) got ${n} ${type} notification(s)`);
        } else if (n > 1) {
          notificationDuplicates += n - 1;
          problems.push(`job ${job.id} (${job.kind}) got ${n} ${type} notifications`);
        }
      }
      if (!types.has(want)) {
        notificationsMissing++;
        problems.push(`job ${job.id} (${job.kind}) got no ${want} notification`);
      }
    }
    const markedCount = planned.filter((j) => j.marked).length;
    const deadForMarked = new Set(
      dead.filter((d) => d?.reason === "bad_output").map((d) => d.job_id),
    );
    for (const job of planned.filter((j) => j.marked && j.id)) {
      if (!deadForMarked.has(job.id)) problems.push(`marked job ${job.id} was not dead-lettered`);
    }
    if (dead.length !== markedCount) {
      problems.push(`${dead.length} dead-letter entries for ${markedCount} marked jobs`);
    }
    return {
      jobRows,
      marked: markedCount,
      ...status,
      markedFailedReadably,
      unmarkedNotCompleted,
      memoriesExpected,
      memoriesFound,
      eventsExpected: completed("email_extract").length,
      eventsFound,
      tagProblems,
      notificationsExpected: planned.filter((j) => j.id).length,
      notificationsFound,
      notificationDuplicates,
      notificationsMissing,
      notificationsUnexpected,
      deadLetters: dead.length,
    };
  } finally {
    db.close();
  }
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
