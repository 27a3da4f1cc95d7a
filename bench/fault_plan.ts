/**
 * What the fault run (bench/faults.ts) posts and how its fake model answers: the jobs, a fifth of
 * each type with a marked tenth the model always answers with garbage, and a model that fails a
 * share of all calls and otherwise answers each job by the marker in its prompt or image.
 */
import { join } from "node:path";
import {
  type ChatRequest,
  type FakeReply,
  imageUrls,
  promptText,
} from "../tests/helpers/fake_llm.ts";
import { prng } from "./prng.ts";
import type { FaultCounts } from "./faults.ts";

/** The user who owns every job, memory and task of the run. */
export const USER = 7001;

const TYPES = ["intent_classify", "followup", "email_extract", "task_match", "image_tag"] as const;

/** A job type the run posts. */
export type Kind = typeof TYPES[number];

/** The notification message_type that carries each job type's result. */
export const RESULT_TYPE: Record<Kind, string> = {
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

/** One job of the plan. */
export interface PlannedJob {
  /** Position in the plan (when it is posted in the window). */
  index: number;
  /** Its type. */
  kind: Kind;
  /** The model answers it with garbage: it must fail. */
  marked: boolean;
  /** Text unique to this job in its payload (and image), by which the fake model finds it. */
  marker: string;
  /** The POST /llm_jobs body. */
  body: Record<string, unknown>;
  /** The job's id, once posted. */
  id?: string;
  /** The image memory of an image_tag job. */
  imageMemoryId?: string;
}

/** An answer of the core: status and the JSON body (null when empty). */
export interface CoreAnswer {
  /** HTTP status. */
  status: number;
  /** Parsed JSON body. */
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** POST `body` as JSON to the core's `path`. */
export type CorePost = (
  path: string,
  body: unknown,
  options?: { headers?: Record<string, string> },
) => Promise<CoreAnswer>;

/** Options for {@linkcode planJobs}. */
export interface PlanOptions {
  /** Reaches the core (each image_tag job needs an image memory). */
  post: CorePost;
  /** The set-up note that task_match jobs name. */
  noteId: string;
  /** IMAGE_STORAGE_PATH: the image files go there. */
  imageDir: string;
}

/** The `count` jobs to post, in order; writes each image file and creates its memory. */
export async function planJobs(count: number, options: PlanOptions): Promise<PlannedJob[]> {
  const { post, noteId, imageDir } = options;
  const tag = crypto.randomUUID().slice(0, 6);
  const planned: PlannedJob[] = [];
  for (let i = 0; i < count; i++) {
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
        payload = { memory_id: noteId, memory_content: `renewed passport ${marker}` };
        break;
      case "image_tag": {
        const mem = await post("/memories", { owner_user_id: USER, media_type: "image" });
        job.imageMemoryId = mem.body.id;
        const file = `${marker}.png`;
        await Deno.writeFile(
          join(imageDir, file),
          new Uint8Array([...PNG, ...new TextEncoder().encode(marker)]),
        );
        payload = { memory_id: mem.body.id, image_path: file };
        break;
      }
    }
    job.body = { job_type: kind, payload, user_id: USER };
    planned.push(job);
  }
  return planned;
}

/** The model's share of the run's fault counts, counted up as calls come in. */
export type ModelFaults = Pick<
  FaultCounts["faults"],
  "modelCalls" | "model5xx" | "modelTimeouts" | "modelGarbage"
>;

/** Options for {@linkcode fakeModel}. */
export interface FakeModelOptions {
  /** The open task that task_match answers name. */
  taskId: string;
  /** Share of calls that fail transiently (2/3 answer 5xx, 1/3 hang). */
  failRate: number;
  /** PRNG seed for the failures and delays. */
  seed: number;
  /** Raised as calls come in (the run's own counts, so the report sees them). */
  faults: ModelFaults;
}

/** The fake model's handler for the planned jobs (for `FakeLlm.setDefault`). */
export function fakeModel(
  planned: PlannedJob[],
  options: FakeModelOptions,
): (request: ChatRequest) => FakeReply {
  const { faults, failRate, taskId } = options;
  const rnd = prng(options.seed);
  const byMarker = new Map(planned.map((j) => [j.marker, j]));
  return (request) => {
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
    if (roll < failRate * 2 / 3) {
      faults.model5xx++;
      return { status: [500, 502, 503][Math.floor(rnd() * 3)], delayMs: delayMs / 3 };
    }
    if (roll < failRate) {
      faults.modelTimeouts++;
      return { hang: true };
    }
    if (!job) return { status: 400, message: "fake model: no job marker in the prompt" };
    if (job.marked) {
      faults.modelGarbage++;
      // Unusable: cut-off JSON, or (followup answers plain text) nothing at all.
      return { content: job.kind === "followup" ? "   " : '{"intent": "gen', delayMs };
    }
    return goodAnswer(job, { taskId, delayMs });
  };
}

/** A usable answer to an unmarked job. */
function goodAnswer(job: PlannedJob, options: { taskId: string; delayMs: number }): FakeReply {
  const { taskId, delayMs } = options;
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
}
