/**
 * User notifications on `notify:telegram`, and dead-letter entries, each published at most once.
 *
 * A job can run more than once (a crash before the ack, a duplicate stream message), so every
 * publish goes through a Lua script that sets a marker key with `SET NX EX` and appends to the
 * stream only when the marker was new. Both happen in one atomic script: a re-run never
 * notifies twice, and no crash can fall between the marker and the XADD.
 *
 * Notifications of a completed job are derived from its stored result alone
 * ({@linkcode resultNotifications}), so a re-delivered, already completed job re-sends exactly
 * what the first run would have (and the marker drops it when that run did send it).
 */
import type { Redis } from "ioredis";
import { JOB_TYPE_INFO, type JobType } from "../shared/job_types.ts";
import { type Notification, notification } from "../shared/schemas.ts";
import { DEAD_LETTER_STREAM, deadLetterMarkerKey, NOTIFY_STREAM } from "../shared/streams.ts";

/** How long a marker lives: longer than any job stays pending (7 days). */
export const MARKER_TTL_SECONDS = 604800;

const PUBLISH_ONCE_LUA = `
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  return redis.call('XADD', KEYS[2], '*', 'data', ARGV[1])
end
return false
`;

/** Options for {@linkcode publishOnce}. */
export interface PublishOnceOptions {
  /** Stream to append to. */
  stream: string;
  /** The JSON value of the entry's `data` field. */
  data: unknown;
  /** Marker lifetime in seconds. */
  ttlSeconds?: number;
}

/**
 * Append `data` to a stream unless `markerKey` already exists; resolves to the new entry id, or
 * null when it had been published before.
 */
export async function publishOnce(
  redis: Redis,
  markerKey: string,
  options: PublishOnceOptions,
): Promise<string | null> {
  const id = await redis.eval(
    PUBLISH_ONCE_LUA,
    2,
    markerKey,
    options.stream,
    JSON.stringify(options.data),
    String(options.ttlSeconds ?? MARKER_TTL_SECONDS),
  );
  return typeof id === "string" ? id : null;
}

/** A notification to send for a job, with its position (the marker's `<n>`). */
export interface JobNotification {
  /** The job it belongs to (the marker's `<job_id>`). */
  jobId: string;
  /** Marker suffix: the index among the job's result notifications, or `failure`. */
  n: string;
  /** The notification itself. */
  notification: Notification;
}

/** Send a job's notification once: marker `notified:<job_id>:<n>`. */
export async function notifyOnce(redis: Redis, item: JobNotification): Promise<boolean> {
  const id = await publishOnce(redis, `notified:${item.jobId}:${item.n}`, {
    stream: NOTIFY_STREAM,
    data: item.notification,
  });
  return id !== null;
}

/** What a dead-letter entry says. */
export interface DeadLetter {
  /** Short machine-readable reason, e.g. `bad_output`, `malformed_entry`. */
  reason: string;
  /** Human-readable detail. */
  error: string;
  /** Stream the message came from. */
  stream: string;
  /** Its entry id there. */
  entry_id: string;
  /** Job id, when the message named one. */
  job_id?: string | null;
  /** Job type, when known. */
  job_type?: string | null;
  /** The original message: its parsed `data`, or the raw fields when it had none. */
  message: unknown;
  /** When it was parked. */
  dead_lettered_at: string;
}

/**
 * Park a message on `llm:dead_letter`, once per job (or, for a malformed entry, whose job id
 * cannot be trusted, once per stream entry).
 */
export async function deadLetterOnce(redis: Redis, entry: DeadLetter): Promise<boolean> {
  const marker = entry.job_id && entry.reason !== "malformed_entry"
    ? deadLetterMarkerKey(entry.job_id)
    : `deadletter:${entry.stream}:${entry.entry_id}`;
  const id = await publishOnce(redis, marker, {
    stream: DEAD_LETTER_STREAM,
    data: { ...entry, message: storable(entry.message) },
  });
  return id !== null;
}

/** Largest original message kept whole in a dead-letter entry, in JSON characters. */
export const MAX_DEAD_LETTER_MESSAGE_CHARS = 65536;

/**
 * The message as a dead-letter entry can hold it: a message too deep to serialize (a stack
 * overflow in JSON.stringify) or too large is replaced by a note and a prefix, so the entry can
 * always be parked and acked instead of looping forever.
 */
function storable(message: unknown): unknown {
  let json: string;
  try {
    json = JSON.stringify(message) ?? "null";
  } catch (err) {
    return { unserializable: (err as Error).message };
  }
  if (json.length <= MAX_DEAD_LETTER_MESSAGE_CHARS) return message;
  return { truncated: true, length: json.length, prefix: json.slice(0, 1000) };
}

/** The job fields notifications are made from. */
export interface NotifiableJob {
  /** Job id (goes into the content so the gateway can correlate). */
  id: string;
  /** Job type. */
  job_type: JobType;
  /** Recipient; no notifications without one. */
  user_id: number | null;
}

/**
 * The notifications of a completed job, from its result alone:
 * - image_tag, intent_classify, followup: one notification whose content is the result.
 * - task_match: one `llm_task_match_result` only when a task matched (`task_id` not null); a
 *   non-match is not worth interrupting the user for.
 * - email_extract: one `event_confirmation` per created event, asking the user to confirm it.
 */
export function resultNotifications(
  job: NotifiableJob,
  result: Record<string, unknown>,
): JobNotification[] {
  if (job.user_id === null || job.user_id === undefined) return [];
  const user_id = job.user_id;
  const one = (content: Record<string, unknown>): JobNotification[] => [{
    jobId: job.id,
    n: "0",
    notification: { user_id, message_type: JOB_TYPE_INFO[job.job_type].resultMessage, content },
  }];
  switch (job.job_type) {
    case "task_match":
      return result.task_id ? one({ ...result, job_id: job.id }) : [];
    case "email_extract": {
      const events = Array.isArray(result.events) ? result.events : [];
      return events.map((raw, i) => {
        const event = raw as Record<string, unknown>;
        return {
          jobId: job.id,
          n: String(i),
          notification: {
            user_id,
            message_type: "event_confirmation",
            // The gateway reads event_date; results stored before it was added lack it.
            content: { ...event, event_date: event.event_date ?? event.event_time, job_id: job.id },
          },
        };
      });
    }
    default:
      return one({ ...result, job_id: job.id });
  }
}

/** The job fields failure notifications are made from. */
export interface FailingJob extends NotifiableJob {
  /** The payload (for `memory_id` and the user's original message). */
  payload: Record<string, unknown> | null;
}

/** How a job failed, for the user. */
export interface FailureNotice {
  /** The model stayed unreachable past LLM_OUTAGE_MAX_HOURS (`duration`, e.g. "24 hours"). */
  outage?: { duration: string };
  /** What went wrong, in words for the user (after "Sorry, I could not ..."). */
  detail?: string;
}

/**
 * The `llm_failure` a user gets the first time a job meets a model outage: the job is not lost,
 * it will be retried. Marker `outage`, so it is sent once per job however often the job is
 * re-run.
 */
export function outageNotice(job: FailingJob): JobNotification[] {
  const message = `The AI model is not reachable right now, so I could not ${
    JOB_TYPE_INFO[job.job_type].label
  } yet. I will retry automatically when it is back.`;
  const out = failureNotification(job, "outage", message);
  // For newer clients (the gateway ignores extra keys): this failure is not final.
  for (const item of out) item.notification.content.will_retry = true;
  return out;
}

/**
 * The notifications of a failed job: an `llm_failure` with a sentence for the user and, when the
 * model stayed down past the horizon, also an `llm_expiry` for clients that show it.
 */
export function failureNotices(job: FailingJob, notice: FailureNotice): JobNotification[] {
  const label = JOB_TYPE_INFO[job.job_type].label;
  const message = notice.outage
    ? `Sorry, I could not ${label}: the AI model has not been reachable for ${notice.outage.duration}, so I stopped trying. Please send it again once the model is back.`
    : `Sorry, I could not ${label}${notice.detail ? `: ${notice.detail}` : "."}`;
  const out = failureNotification(job, "failure", message);
  if (notice.outage && out.length > 0) {
    const payload = job.payload ?? {};
    out.push({
      jobId: job.id,
      n: "expiry",
      notification: {
        user_id: out[0].notification.user_id,
        message_type: "llm_expiry",
        content: {
          job_type: job.job_type,
          memory_id: memoryIdOf(payload),
          original_message: originalMessage(payload),
          failure_type: "llm_unavailable",
          job_id: job.id,
        },
      },
    });
  }
  return out;
}

/**
 * Problems that would make the gateway show an empty message, one line per notification; the
 * worker checks a result's notifications before it stores the result.
 */
export function notificationProblems(items: JobNotification[]): string[] {
  return items.flatMap((item) => {
    const parsed = notification.safeParse(item.notification);
    return parsed.success ? [] : [
      `${item.notification.message_type}: ${parsed.error.issues.map((i) => i.message).join("; ")}`,
    ];
  });
}

function failureNotification(job: FailingJob, n: string, message: string): JobNotification[] {
  if (job.user_id === null || job.user_id === undefined) return [];
  return [{
    jobId: job.id,
    n,
    notification: {
      user_id: job.user_id,
      message_type: "llm_failure",
      content: {
        job_type: job.job_type,
        memory_id: memoryIdOf(job.payload ?? {}),
        message,
        job_id: job.id,
      },
    },
  }];
}

function memoryIdOf(payload: Record<string, unknown>): string | null {
  return typeof payload.memory_id === "string" ? payload.memory_id : null;
}

function originalMessage(payload: Record<string, unknown>): string | null {
  for (const key of ["message", "query", "memory_content", "subject"]) {
    if (typeof payload[key] === "string") return payload[key] as string;
  }
  return null;
}
