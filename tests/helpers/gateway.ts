/**
 * The chat gateway's side of `notify:telegram`, as far as the contract goes: for each
 * notification type, the content keys it reads and the sentence it builds from them
 * (DESIGN.md §4). The gateway shows a missing key as an empty string; here a missing or empty
 * key throws, so a test fails where a Telegram user would see a hole in a message.
 */
import type { MessageType } from "../../shared/enums.ts";

type Content = Record<string, unknown>;

/** A notification as read from the stream. */
export interface GatewayNotification {
  /** Recipient. */
  user_id: number;
  /** Type. */
  message_type: MessageType;
  /** Content. */
  content: Content;
}

function text(c: Content, key: string): string {
  const v = c[key];
  if (typeof v !== "string" || v.trim() === "") {
    throw new Error(`content.${key} is ${JSON.stringify(v)}: the user would see an empty string`);
  }
  return v;
}

function list(c: Content, key: string): unknown[] {
  const v = c[key];
  if (!Array.isArray(v)) throw new Error(`content.${key} is ${JSON.stringify(v)}, not a list`);
  return v;
}

function intentText(c: Content): string {
  const intent = text(c, "intent");
  const head = `You said: ${text(c, "query")}`;
  switch (intent) {
    case "search": {
      const hits = list(c, "results").map((r) => {
        const hit = r as Content;
        text(hit, "memory_id");
        return `- ${text(hit, "title")}`;
      });
      return `${head}\nFound ${hits.length}:\n${hits.join("\n")}`;
    }
    case "ambiguous":
      return `${head}\n${text(c, "followup_question")}`;
    default: {
      text(c, "memory_id");
      const tags = Array.isArray(c.suggested_tags) ? c.suggested_tags.join(", ") : "";
      return `${head}\nSaved as ${intent}.${tags ? ` Tags: ${tags} [Confirm Tags]` : ""}`;
    }
  }
}

const RENDER: Record<MessageType, ((c: Content) => string) | null> = {
  reminder: (c) => `Reminder (${text(c, "fire_at")}): ${text(c, "memory_content")}`,
  event_reprompt: (c) =>
    `Still waiting: is "${text(c, "description")}" on ${text(c, "event_date")} right?`,
  event_confirmation: (c) =>
    `I found an event: "${text(c, "description")}" on ${text(c, "event_date")}. Add it?`,
  llm_image_tag_result: (c) => {
    text(c, "memory_id");
    const tags = list(c, "tags");
    if (tags.length === 0) throw new Error("content.tags is empty");
    return `Tags: ${tags.join(", ")}\n${String(c.description ?? "")}`;
  },
  llm_intent_result: intentText,
  llm_followup_result: (c) => text(c, "question"),
  llm_task_match_result: (c) => {
    text(c, "task_id");
    text(c, "memory_id");
    return `Does this complete "${text(c, "task_description")}"?`;
  },
  llm_failure: (c) => {
    text(c, "job_type");
    return text(c, "message");
  },
  // Not rendered by the gateway (so never the only message a user gets).
  llm_expiry: null,
};

/** The sentence the gateway shows, or null for a type it does not render; throws on a hole. */
export function renderLikeGateway(n: GatewayNotification): string | null {
  const render = RENDER[n.message_type];
  if (render === undefined) throw new Error(`the gateway knows no type ${n.message_type}`);
  return render === null ? null : render(n.content);
}
