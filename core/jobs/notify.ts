/** User notifications from the core (reminders due, event re-prompts) on `notify:telegram`. */
import type { Redis } from "ioredis";
import { publishWithin, type PublishWithinOptions } from "./job_publisher.ts";
import type { MessageType } from "../../shared/enums.ts";
import { type Notification, notification } from "../../shared/schemas.ts";
import { NOTIFY_STREAM } from "../../shared/streams.ts";

/** A notification to send. */
export interface NotifyMessage {
  /** Telegram user to tell. */
  user_id: number;
  /** What kind of message it is. */
  message_type: MessageType;
  /** Its content, per message type. */
  content: Record<string, unknown>;
}

/**
 * Publish `message` to `notify:telegram` as `{user_id, message_type, content}` in `data`,
 * bounded by a short timeout. Resolves to the entry id; rejects when Redis is down or slow, so
 * the caller can leave its state unchanged and try again on its next pass.
 */
export async function notify(
  redis: Redis,
  message: NotifyMessage,
  options: PublishWithinOptions = {},
): Promise<string> {
  // Checked here so a malformed notification fails in the core, not in the chat gateway.
  const data: Notification = notification.parse(message);
  const out = await publishWithin(redis, { stream: NOTIFY_STREAM, data }, options);
  if (out.id === null) throw new Error(`notification not published: ${out.error}`);
  return out.id;
}
