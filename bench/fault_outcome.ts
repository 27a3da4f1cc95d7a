/**
 * What came out of the fault run (bench/faults.ts): the Redis streams read back, and the checks
 * on the database, the notifications and the dead letters, each finding pushed to one list of
 * problems in a fixed order.
 */
import { DatabaseSync } from "node:sqlite";
import type { Redis } from "ioredis";
import { ALL_JOB_STREAMS, WORKER_GROUP } from "../shared/streams.ts";
import { type Kind, type PlannedJob, RESULT_TYPE } from "./fault_plan.ts";
import type { FaultCounts } from "./faults.ts";

/** One stream entry's `data`, parsed (its shape is the checks' business). */
// deno-lint-ignore no-explicit-any
export type Entry = any;

/** How the checks name an `llm_failure` that says the job will be retried. */
const RETRY_NOTICE = "llm_failure (will retry)";

/** Every entry of `stream`, oldest first. */
export async function readStream(client: Redis, stream: string): Promise<Entry[]> {
  const rows = await client.xrange(stream, "-", "+");
  return rows.map(([, fields]) => JSON.parse(fields[fields.indexOf("data") + 1]));
}

/** Entries delivered to the worker group and not acknowledged, over all job streams. */
export async function pendingCount(client: Redis): Promise<number> {
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
export async function redisIdle(client: Redis): Promise<boolean> {
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

/** Input of {@linkcode countOutcome}. */
export interface OutcomeInput {
  /** The jobs, with the ids they were given. */
  planned: PlannedJob[];
  /** The core's SQLite file (opened read-only). */
  databasePath: string;
  /** The notification stream's entries. */
  notes: Entry[];
  /** The dead-letter stream's entries. */
  dead: Entry[];
  /** Findings are pushed here. */
  problems: string[];
}

/** The counts {@linkcode countOutcome} makes (the rest of FaultCounts comes from the run). */
export type OutcomeCounts = Omit<
  FaultCounts,
  "jobs" | "pendingEntries" | "faults" | "settleSeconds" | "seconds"
>;

// A type, not an interface: the cast from SQLite's rows needs its implicit index signature.
type JobRow = {
  id: string;
  status: string;
  error_message: string | null;
};

/** What the checks of created rows share: the jobs, their rows by id, the problems. */
interface Checked {
  planned: PlannedJob[];
  rows: Map<string, JobRow>;
  problems: string[];
}

/** Count the jobs, rows and notifications, pushing each problem found to `input.problems`. */
export function countOutcome(input: OutcomeInput): OutcomeCounts {
  const { planned, notes, dead, problems } = input;
  const db = new DatabaseSync(input.databasePath, { readOnly: true });
  try {
    const jobs = countJobRows(db, { planned, problems });
    const checked = { planned, rows: jobs.rows, problems };
    const memories = countMemories(db, checked);
    const events = countEvents(db, checked);
    const tagProblems = countTagProblems(db, checked);
    const notifications = countNotifications(planned, { notes, problems });
    const marked = checkDeadLetters(planned, { dead, problems });
    return {
      jobRows: jobs.jobRows,
      marked,
      ...jobs.status,
      markedFailedReadably: jobs.markedFailedReadably,
      unmarkedNotCompleted: jobs.unmarkedNotCompleted,
      ...memories,
      ...events,
      tagProblems,
      ...notifications,
      deadLetters: dead.length,
    };
  } finally {
    db.close();
  }
}

/** Job rows: one per job posted, unmarked ones completed, marked ones failed readably. */
function countJobRows(db: DatabaseSync, input: { planned: PlannedJob[]; problems: string[] }) {
  const { planned, problems } = input;
  const jobRows = (db.prepare("SELECT count(*) AS n FROM llm_jobs").get() as { n: number }).n;
  const rows = new Map(
    (db.prepare("SELECT id, status, error_message FROM llm_jobs").all() as JobRow[])
      .map((r) => [r.id, r]),
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
  return { jobRows, rows, status, markedFailedReadably, unmarkedNotCompleted };
}

/** The unmarked jobs of `kind` that completed. */
function completed(checked: Checked, kind: Kind): PlannedJob[] {
  return checked.planned.filter((j) =>
    j.kind === kind && !j.marked && checked.rows.get(j.id ?? "")?.status === "completed"
  );
}

/** The rows of a grouped count (`SELECT <key> AS key, count(*) AS n ... GROUP BY`) as a map. */
function countsBy(db: DatabaseSync, sql: string): Map<string, number> {
  return new Map(
    (db.prepare(sql).all() as { key: string; n: number }[]).map((r) => [r.key, r.n]),
  );
}

/** Options for {@linkcode checkOnePerJob}. */
interface OnePerJob {
  /** The jobs checked. */
  kind: Kind;
  /** The key a job's row is counted under, from its payload. */
  key: (payload: Entry) => unknown;
  /** The problem when a job has `n` rows and should have `want`. */
  says: (job: PlannedJob, n: number, want: number) => string;
}

/** Each job of a kind made exactly one row, a marked one none (`counts` by key). */
function checkOnePerJob(checked: Checked, counts: Map<string, number>, o: OnePerJob): void {
  for (const job of checked.planned.filter((j) => j.kind === o.kind)) {
    const n = counts.get(String(job.body.payload && o.key(job.body.payload))) ?? 0;
    const want = job.marked ? 0 : 1;
    if (n !== want) checked.problems.push(o.says(job, n, want));
  }
}

/** Memories made by intent jobs: one per completed job, none for a marked one. */
function countMemories(db: DatabaseSync, checked: Checked) {
  const { problems } = checked;
  // Memories made by intent jobs, by content (each job's message is unique).
  const memoryCounts = countsBy(
    db,
    "SELECT content AS key, count(*) AS n FROM memories WHERE content LIKE 'note to self fj-%' GROUP BY content",
  );
  let memoriesFound = 0;
  for (const [content, n] of memoryCounts) {
    memoriesFound += n;
    if (n > 1) problems.push(`memory "${content}" was created ${n} times`);
  }
  checkOnePerJob(checked, memoryCounts, {
    kind: "intent_classify",
    key: (payload) => payload.message,
    says: (job, n, want) => `intent job ${job.id}: ${n} memories, want ${want}`,
  });
  return { memoriesExpected: completed(checked, "intent_classify").length, memoriesFound };
}

/** Events made by email jobs: one per completed job, none for a marked one. */
function countEvents(db: DatabaseSync, checked: Checked) {
  // Events made by email jobs, by source_detail (the unique subject).
  const eventCounts = countsBy(
    db,
    "SELECT source_detail AS key, count(*) AS n FROM events WHERE source_detail LIKE 'Appointment fj-%' GROUP BY source_detail",
  );
  let eventsFound = 0;
  for (const n of eventCounts.values()) eventsFound += n;
  checkOnePerJob(checked, eventCounts, {
    kind: "email_extract",
    key: (payload) => payload.subject,
    says: (job, n, want) => `email job ${job.id}: ${n} events, want ${want}`,
  });
  return { eventsExpected: completed(checked, "email_extract").length, eventsFound };
}

/** Duplicate (memory, tag) pairs, and image memories without exactly their tags. */
function countTagProblems(db: DatabaseSync, checked: Checked): number {
  const { planned, problems } = checked;
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
  return tagProblems;
}

/** Notification counts by job id, then by type (retry notices apart). */
function notificationsPerJob(notes: Entry[]): Map<string, Map<string, number>> {
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
  return perJob;
}

/** Notifications: exactly one per job, of the job's result type (llm_failure when marked). */
function countNotifications(
  planned: PlannedJob[],
  input: { notes: Entry[]; problems: string[] },
) {
  const { problems } = input;
  const perJob = notificationsPerJob(input.notes);
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
  return {
    notificationsExpected: planned.filter((j) => j.id).length,
    notificationsFound,
    notificationDuplicates,
    notificationsMissing,
    notificationsUnexpected,
  };
}

/** Each marked job dead-lettered as bad output, and nothing else; returns the marked count. */
function checkDeadLetters(planned: PlannedJob[], input: { dead: Entry[]; problems: string[] }) {
  const { dead, problems } = input;
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
  return markedCount;
}
