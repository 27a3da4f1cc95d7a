/**
 * Every prompt the worker sends, in one place. Prompts are plain template literals: the JSON
 * shapes shown to the model use single braces (the first version sent `{{` to the model from a
 * format-string template; tests check that no prompt text contains `{{`).
 */
import type { Prompt } from "./llm_client.ts";

const JSON_ONLY = "Answer with one JSON object only, no prose and no code fences.";

/**
 * The instruction to write `what` in the user's `language`; none for English, the prompts'
 * own language. JSON keys and fixed values stay in English either way.
 */
function inLanguage(language: string | undefined, what: string): string[] {
  if (!language || language === "English") return [];
  return [`Write ${what} in ${language}; keep the JSON keys and fixed values in English.`];
}

/** image_tag: describe an image and suggest 3 to 7 tags, in the user's `language`. */
export function imageTagPrompt(language?: string): Prompt {
  return {
    system: "You describe photos and screenshots for a personal memory app so they can be " +
      `found again later. ${JSON_ONLY}`,
    user: [
      "Describe this image in one or two sentences and suggest 3 to 7 short tags for it.",
      "Tags are lower case, one to three words each, about what is shown (objects, places,",
      "people's roles, text topics), without the # sign.",
      'Answer exactly in this shape: {"description": "...", "tags": ["tag one", "tag two", "tag three"]}',
      ...inLanguage(language, "the description and the tags"),
    ].join("\n"),
  };
}

/** What the intent prompt needs. */
export interface IntentPromptInput {
  /** The user's message. */
  message: string;
  /** When the user sent it, ISO UTC; relative times are resolved against it. */
  now: string;
  /** The clarifying question asked earlier and the user's answer, for a re-classification. */
  followup?: { followup_question: string; user_answer: string } | null;
  /** The language the user reads (English names, e.g. "German"). */
  language?: string;
}

/** intent_classify: decide what the user wants and pull out the fields of that intent. */
export function intentPrompt(input: IntentPromptInput): Prompt {
  const lines = [
    `Current date and time (UTC): ${input.now}`,
    "",
    "Classify the user's message into exactly one intent:",
    '- "reminder": the user wants to be reminded of something at a time.',
    '- "task": something the user has to do, maybe with a due time.',
    '- "search": the user is looking for something they saved earlier.',
    '- "general_note": information to keep (a note, an idea, a fact).',
    '- "ambiguous": you cannot tell which of the above it is.',
    "",
    "Answer in this shape, including only the fields of the chosen intent:",
    "{",
    '  "intent": "reminder" | "task" | "search" | "general_note" | "ambiguous",',
    '  "reminder_text": "what to remind about" (reminder),',
    '  "resolved_time": "ISO 8601 UTC time of the reminder, e.g. 2026-01-31T09:00:00Z" (reminder),',
    '  "task_description": "what to do" (task),',
    '  "resolved_due_time": "ISO 8601 UTC due time, or null when none is given" (task),',
    '  "keywords": ["words", "to", "search", "for"] (search),',
    '  "suggested_tags": ["tag", "tag"] (reminder, task, general_note),',
    '  "followup_question": "one short question that would settle it" (ambiguous),',
    '  "possible_intents": ["reminder", "task"] (ambiguous)',
    "}",
    "Resolve relative times (tomorrow, in 2 hours, next Monday) against the current time above.",
    ...inLanguage(
      input.language,
      "reminder_text, task_description, suggested_tags and followup_question",
    ),
    "",
    `User message: ${input.message}`,
  ];
  if (input.followup) {
    lines.push(
      "",
      "The message was unclear, so the user was asked a question. Use the answer to decide.",
      `Question asked: ${input.followup.followup_question}`,
      `User's answer: ${input.followup.user_answer}`,
    );
  }
  return {
    system: `You sort messages sent to a personal memory assistant. ${JSON_ONLY}`,
    user: lines.join("\n"),
  };
}

/** followup: one clarifying question, as plain text, in the user's `language`. */
export function followupPrompt(
  input: { message: string; context?: string | null; language?: string },
): Prompt {
  const lines = [`User message: ${input.message}`];
  if (input.context) lines.push(`Context: ${input.context}`);
  lines.push(
    "",
    "The message is unclear. Ask the user exactly one short clarifying question that would",
    "settle what they want. Answer with the question only, as plain text.",
  );
  if (input.language && input.language !== "English") {
    lines.push(`Write the question in ${input.language}.`);
  }
  return {
    system: "You help a personal memory assistant understand its user.",
    user: lines.join("\n"),
  };
}

/** One open task shown to the task matcher. */
export interface TaskLine {
  /** Task id. */
  id: string;
  /** What to do. */
  description: string;
  /** Due time, if any. */
  due_at?: string | null;
}

/** task_match: does a new memory complete one of the user's open tasks? */
export function taskMatchPrompt(input: { memoryContent: string; tasks: TaskLine[] }): Prompt {
  const taskLines = input.tasks.map((t) =>
    `- id: ${t.id} | ${t.description}${t.due_at ? ` | due ${t.due_at}` : ""}`
  );
  return {
    system: `You match notes to a person's open tasks. ${JSON_ONLY}`,
    user: [
      "The user saved this new note:",
      input.memoryContent,
      "",
      "Their open tasks:",
      ...taskLines,
      "",
      "Does the note show that one of these tasks is done or directly about it?",
      'Answer in this shape: {"matched_task_id": "<id from the list>" or null, ' +
      '"confidence": number from 0 to 1, "reason": "short explanation"}',
    ].join("\n"),
  };
}

/** email_extract: find dated events in an email. */
export function emailExtractPrompt(input: { subject: string; body: string; now: string }): Prompt {
  return {
    system: `You find appointments, deadlines and events in emails. ${JSON_ONLY}`,
    user: [
      `Current date and time (UTC): ${input.now}`,
      "",
      `Subject: ${input.subject}`,
      "Body:",
      input.body,
      "",
      "List every event with a specific date or time in this email.",
      'Answer in this shape: {"events": [{"description": "what happens", ' +
      '"event_time": "ISO 8601 UTC, e.g. 2026-01-31T09:00:00Z", ' +
      '"confidence": number from 0 to 1}]}',
      'Answer {"events": []} when there are none.',
    ].join("\n"),
  };
}
