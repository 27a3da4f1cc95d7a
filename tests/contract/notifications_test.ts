/**
 * The contract with the chat gateway: every notification type we send, produced the real way
 * (the scheduler in the core; the worker against the fake model), carries the content keys the
 * gateway reads, and the gateway's sentence can be rendered from them with no empty part.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call, sanitizeTests } from "../helpers/core_app.ts";
import { jsonReply, promptText } from "../helpers/fake_llm.ts";
import { type GatewayNotification, renderLikeGateway } from "../helpers/gateway.ts";
import { runSchedulerOnce } from "../../core/background/scheduler.ts";
import { MESSAGE_TYPES } from "../../shared/enums.ts";
import { type Harness, PNG_BYTES, startHarness } from "../llm_worker/harness.ts";

await sanitizeTests();

async function api(h: Harness, method: string, path: string, body?: unknown) {
  const res = await call(h.core.app, method, path, body);
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Run one job to its end. */
async function run(h: Harness, type: Parameters<Harness["createJob"]>[0], payload: object) {
  return await h.waitJob(await h.createJob(type, payload as Record<string, unknown>), 15_000);
}

function scriptModel(h: Harness, taskId: string): void {
  const on = (needle: string, reply: ReturnType<typeof jsonReply>) =>
    h.fake.when((r) => promptText(r).includes(needle), reply);
  on("Describe this image", jsonReply({ description: "A cat.", tags: ["cat", "sofa", "pet"] }));
  on(
    "User message: keep this: wifi",
    jsonReply({ intent: "general_note", suggested_tags: ["wifi"] }),
  );
  on("User message: where is my passport", jsonReply({ intent: "search", keywords: ["passport"] }));
  on("User message: hmm", jsonReply({ intent: "ambiguous", followup_question: "Hmm what?" }));
  on(
    "Subject: Dentist",
    jsonReply({
      events: [{ description: "Dentist", event_time: "2030-03-10T09:00:00Z", confidence: 0.9 }],
    }),
  );
  on("Their open tasks", jsonReply({ matched_task_id: taskId, confidence: 0.95, reason: "paid" }));
  h.fake.when((r) => promptText(r).includes("User message: which"), { content: "Which one?" });
  h.fake.when((r) => promptText(r).includes("model down"), { status: 503, message: "asleep" });
}

async function workerNotifications(h: Harness): Promise<void> {
  const image = (await api(h, "POST", "/memories", {
    owner_user_id: h.userId,
    media_type: "image",
  })).id;
  const path = join(h.core.imageDir, `${crypto.randomUUID()}.png`);
  await Deno.writeFile(path, PNG_BYTES);
  const passport = (await api(h, "POST", "/memories", {
    owner_user_id: h.userId,
    content: "passport is in the desk",
  })).id;
  const task = await api(h, "POST", "/tasks", {
    memory_id: passport,
    owner_user_id: h.userId,
    description: "Pay the rent",
  });
  scriptModel(h, task.id);
  const jobs: [Parameters<Harness["createJob"]>[0], object][] = [
    ["image_tag", { memory_id: image, image_path: path }],
    ["intent_classify", { message: "keep this: wifi" }],
    ["intent_classify", { message: "where is my passport" }],
    ["intent_classify", { message: "hmm" }],
    ["followup", { message: "which" }],
    ["task_match", { memory_id: passport, memory_content: "Paid the rent" }],
    ["email_extract", { subject: "Dentist", body: "See you on 10 March at 9." }],
  ];
  for (const [type, payload] of jobs) {
    const job = await run(h, type, payload);
    assert.equal(job.status, "completed", `${type}: ${JSON.stringify(job)}`);
  }
  // Last, since its outage holds the other jobs: the horizon (0.72 s) passes, the job fails.
  const down = await run(h, "followup", { message: "model down" });
  assert.equal(down.status, "failed");
  // The reminder on the image memory (no content) and the email's event for the scheduler.
  await api(h, "POST", "/reminders", {
    memory_id: image,
    owner_user_id: h.userId,
    text: "feed the cat",
    fire_at: new Date(Date.now() - 60_000).toISOString(),
  });
  const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
  h.core.db.prepare("UPDATE events SET pending_since = ?, created_at = ?").run(
    twoDaysAgo,
    twoDaysAgo,
  );
}

Deno.test(
  "every notification type we send carries the keys the gateway reads, none of them empty",
  async () => {
    await using h = await startHarness({ env: { LLM_OUTAGE_MAX_HOURS: "0.0002" } });
    await workerNotifications(h);
    const pass = await runSchedulerOnce(h.core.deps);
    assert.deepEqual(pass.errors, []);
    const sent = await h.notifications() as GatewayNotification[];
    const types = new Set(sent.map((n) => n.message_type));
    assert.deepEqual([...MESSAGE_TYPES].filter((t) => !types.has(t)), [], "types not covered");
    const shown = sent.map((n) => [n.message_type, renderLikeGateway(n)] as const);
    const of = (type: string) => shown.filter(([t]) => t === type).map(([, s]) => s);
    assert.deepEqual(of("reminder"), [
      `Reminder (${sent.find((n) => n.message_type === "reminder")!.content.fire_at}): ` +
      "feed the cat",
    ]);
    assert.deepEqual(of("event_confirmation"), [
      'I found an event: "Dentist" on 2030-03-10T09:00:00.000Z. Add it?',
    ]);
    assert.deepEqual(of("event_reprompt"), [
      'Still waiting: is "Dentist" on 2030-03-10T09:00:00.000Z right?',
    ]);
    assert.ok(of("llm_intent_result").some((s) => s!.includes("Tags: wifi [Confirm Tags]")));
    assert.ok(of("llm_intent_result").some((s) => s!.includes("- passport is in the desk")));
    assert.deepEqual(
      of("llm_failure").map((s) => /retry automatically|stopped trying/.test(s!)),
      [
        true,
        true,
      ],
    );
  },
);

Deno.test("the gateway renderer fails on a missing or empty key", () => {
  const reminder = (content: Record<string, unknown>) =>
    renderLikeGateway({ user_id: 1, message_type: "reminder", content });
  assert.equal(
    reminder({ memory_content: "Call mum", fire_at: "2026-01-01T09:00:00.000Z" }),
    "Reminder (2026-01-01T09:00:00.000Z): Call mum",
  );
  assert.throws(() => reminder({ text: "Call mum", fire_at: "2026-01-01T09:00:00.000Z" }));
  assert.throws(() => reminder({ memory_content: " ", fire_at: "2026-01-01T09:00:00.000Z" }));
  assert.throws(() =>
    renderLikeGateway({
      user_id: 1,
      message_type: "event_confirmation",
      content: { description: "Dentist", event_time: "2030-03-10T09:00:00.000Z" },
    })
  );
});
