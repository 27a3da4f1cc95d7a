/**
 * Redis stream names and the helpers both services use to speak the stream contract:
 * every message has one field, `data`, holding JSON.
 */
import type { Redis } from "ioredis";
import { JOB_TYPE_INFO, JOB_TYPES, type JobType } from "./job_types.ts";

/** Stream of each job type (from the job-type table). */
export const JOB_STREAMS: Readonly<Record<JobType, string>> = Object.fromEntries(
  JOB_TYPES.map((t) => [t, JOB_TYPE_INFO[t].stream]),
) as Record<JobType, string>;

/** All job streams, in a fixed order. */
export const ALL_JOB_STREAMS: readonly string[] = Object.values(JOB_STREAMS);

/** The consumer group every worker replica joins. */
export const WORKER_GROUP = "llm-worker-group";

/** User notifications, read by the chat gateway. */
export const NOTIFY_STREAM = "notify:telegram";

/** Messages the worker gave up on, kept for an operator to inspect or replay. */
export const DEAD_LETTER_STREAM = "llm:dead_letter";

/**
 * A hash the worker keeps up to date with what it last saw of the model, for operators (the
 * core's queue stats and admin page). Fields, all optional strings: `state` (`ok` or `outage`),
 * `outage_since`, `last_success_at`, `last_failure_at`, `last_error`, `updated_at` (ISO times).
 * No key means no worker has reported yet: the state is unknown.
 */
export const MODEL_STATUS_KEY = "llm:model_status";

/**
 * The key that makes the worker park a job on the dead-letter stream once only. The core deletes
 * it when an operator re-queues the job, so a job that fails again is parked again.
 */
export function deadLetterMarkerKey(jobId: string): string {
  return `deadletter:${jobId}`;
}

/** One entry read from a stream. */
export interface StreamEntry {
  /** The stream the entry came from. */
  stream: string;
  /** Redis entry id, e.g. `1700000000000-0`. */
  id: string;
  /** Parsed `data` field, or `undefined` when the entry is malformed. */
  data: unknown;
  /** Why `data` could not be parsed, when it could not. */
  error?: string;
  /**
   * True for an entry taken over from another consumer (XAUTOCLAIM): a run of it may have
   * started before, so its job may be finished already.
   */
  redelivered?: boolean;
}

/** Options for {@linkcode publish}. */
export interface PublishOptions {
  /** Trim the stream to about this many entries (`MAXLEN ~`). */
  maxLen?: number;
}

/** Append `data` as JSON to `stream`; resolves to the new entry id. */
export async function publish(
  redis: Redis,
  stream: string,
  data: unknown,
  options: PublishOptions = {},
): Promise<string> {
  const json = JSON.stringify(data);
  const id = options.maxLen
    ? await redis.xadd(stream, "MAXLEN", "~", String(options.maxLen), "*", "data", json)
    : await redis.xadd(stream, "*", "data", json);
  if (id === null) throw new Error(`XADD to ${stream} returned no id`);
  return id;
}

/** Create the consumer group on each stream (and the stream), ignoring BUSYGROUP. */
export async function ensureGroup(
  redis: Redis,
  streams: readonly string[],
  group: string = WORKER_GROUP,
): Promise<void> {
  for (const stream of streams) {
    try {
      await redis.xgroup("CREATE", stream, group, "0", "MKSTREAM");
    } catch (err) {
      if (!String((err as Error).message).includes("BUSYGROUP")) throw err;
    }
  }
}

/** Turn one raw `[id, [field, value, ...]]` entry into a {@linkcode StreamEntry}. */
export function parseEntry(stream: string, raw: [string, string[]]): StreamEntry {
  const [id, fields] = raw;
  const idx = fields ? fields.indexOf("data") : -1;
  if (idx < 0 || idx % 2 !== 0 || idx + 1 >= fields.length) {
    return { stream, id, data: undefined, error: "entry has no `data` field" };
  }
  try {
    return { stream, id, data: JSON.parse(fields[idx + 1]) };
  } catch (err) {
    return { stream, id, data: undefined, error: `data is not JSON: ${(err as Error).message}` };
  }
}

/** Options for {@linkcode readGroup}. */
export interface ReadGroupOptions {
  /** Consumer group name. */
  group?: string;
  /** Most entries to return over all streams. */
  count?: number;
  /** Milliseconds to block waiting for new entries; omit to not block. */
  blockMs?: number;
}

/** One XREADGROUP over several streams for new (`>`) entries. */
export async function readGroup(
  redis: Redis,
  consumer: string,
  options: ReadGroupOptions & { streams: readonly string[] },
): Promise<StreamEntry[]> {
  const args: (string | number)[] = ["GROUP", options.group ?? WORKER_GROUP, consumer];
  if (options.count) args.push("COUNT", options.count);
  if (options.blockMs !== undefined) args.push("BLOCK", options.blockMs);
  args.push("STREAMS", ...options.streams, ...options.streams.map(() => ">"));
  // deno-lint-ignore no-explicit-any
  const reply = await (redis as any).xreadgroup(...args) as
    | [string, [string, string[]][]][]
    | null;
  if (!reply) return [];
  const out: StreamEntry[] = [];
  for (const [stream, entries] of reply) {
    for (const raw of entries) out.push(parseEntry(stream, raw));
  }
  return out;
}

/** Acknowledge one entry. */
export async function ack(
  redis: Redis,
  entry: { stream: string; id: string },
  group: string = WORKER_GROUP,
): Promise<void> {
  await redis.xack(entry.stream, group, entry.id);
}

/** Options for {@linkcode autoClaim}. */
export interface AutoClaimOptions {
  /** Consumer group name. */
  group?: string;
  /** Entries idle at least this long are taken over. */
  minIdleMs: number;
  /** Most entries to claim per stream. */
  count?: number;
}

/** Take over entries another consumer left pending too long (XAUTOCLAIM), on each stream. */
export async function autoClaim(
  redis: Redis,
  consumer: string,
  options: AutoClaimOptions & { streams: readonly string[] },
): Promise<StreamEntry[]> {
  const out: StreamEntry[] = [];
  for (const stream of options.streams) {
    const reply = await redis.xautoclaim(
      stream,
      options.group ?? WORKER_GROUP,
      consumer,
      options.minIdleMs,
      "0-0",
      "COUNT",
      options.count ?? 10,
    ) as [string, ([string, string[]] | null)[], string[]?];
    for (const raw of reply[1] ?? []) {
      // Entries deleted from the stream come back as null; there is nothing to run.
      if (raw) out.push({ ...parseEntry(stream, raw), redelivered: true });
    }
  }
  return out;
}
