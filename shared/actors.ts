/**
 * Audit actors: who the audit trail says made a change. Clients name themselves with the
 * `X-Actor` header, but only as an actor a client may be; the scheduler's name is the core's own,
 * so a client claiming it would forge the trail.
 */

/** The core when no one more specific asked (the default). */
export const API_ACTOR = "system:api";
/** The LLM worker; it sends this on every request. */
export const WORKER_ACTOR = "system:llm_worker";
/** The core's own scheduler and republisher. Never accepted from a client. */
export const SCHEDULER_ACTOR = "system:scheduler";
/** The operator's web page. */
export const ADMIN_WEB_ACTOR = "admin:web";

/** The actor of a user's own request. */
export function userActor(telegramUserId: number): string {
  return `user:${telegramUserId}`;
}

const CLIENT_SYSTEM_ACTORS: readonly string[] = [API_ACTOR, WORKER_ACTOR, ADMIN_WEB_ACTOR];
// Telegram user ids are positive and fit in a safe integer (at most 16 digits).
const USER_ACTOR = /^user:(\d{1,16})$/;

/** Whether a client may name itself `value` in `X-Actor`. */
export function isClientActor(value: string): boolean {
  if (CLIENT_SYSTEM_ACTORS.includes(value)) return true;
  const user = USER_ACTOR.exec(value);
  return user !== null && Number.isSafeInteger(Number(user[1]));
}

/** What {@linkcode isClientActor} accepts, for error messages and the API reference. */
export const CLIENT_ACTORS_TEXT = `user:<telegram id>, ${CLIENT_SYSTEM_ACTORS.join(", ")}`;
