/**
 * The five handlers through the real consumer: happy paths, failure paths, and re-runs that must
 * not repeat side effects (tags, memories, events, notifications).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { call, sanitizeTests } from "../helpers/core_app.ts";
import { imageUrls, jsonReply, promptText } from "../helpers/fake_llm.ts";
import type { JobType } from "../../shared/enums.ts";
import { JOB_STREAMS, publish } from "../../shared/streams.ts";
import { type Harness, PNG_BYTES, startHarness, waitFor } from "./harness.ts";
import { createLanguageLookup } from "../../llm_worker/user_language.ts";
import { tempDir } from "../helpers/fixtures.ts";

await sanitizeTests();

async function api(h: Harness, method: string, path: string, body?: unknown) {
  const res = await call(h.core.app, method, path, body);
  if (res.status >= 300) {
    throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

async function memory(h: Harness, body: Record<string, unknown>): Promise<string> {
  return (await api(h, "POST", "/memories", { owner_user_id: h.userId, ...body })).id;
}

/** Simulate a crash after the side effects but before the result was stored, and re-deliver. */
async function rerun(h: Harness, id: string): Promise<void> {
  const job = await h.getJob(id);
  h.core.db.prepare("UPDATE llm_jobs SET status = 'processing', result = NULL WHERE id = ?").run(
    id,
  );
  await publish(h.redis, JOB_STREAMS[job.job_type as JobType], {
    job_id: id,
    job_type: job.job_type,
    payload: job.payload,
    user_id: job.user_id,
  });
  const again = await h.waitJob(id);
  assert.equal(again.status, "completed", JSON.stringify(again));
}

function memoriesOf(h: Harness): number {
  return (h.core.db.prepare("SELECT count(*) AS n FROM memories").get() as { n: number }).n;
}

// ---- image_tag ----

Deno.test("image_tag: tags suggested on the memory, image sent as a PNG data URL", async () => {
  await using h = await startHarness();
  const memoryId = await memory(h, { media_type: "image" });
  const path = join(h.core.imageDir, `${crypto.randomUUID()}.png`);
  await Deno.writeFile(path, PNG_BYTES);
  h.fake.setDefault(jsonReply({
    description: "A cat on a sofa.",
    tags: ["Cat", "sofa", "#pet", "cat", "indoor"],
    mood: "calm",
  }));
  const id = await h.createJob("image_tag", { memory_id: memoryId, image_path: path });
  const job = await h.waitJob(id);
  assert.equal(job.status, "completed", JSON.stringify(job));
  assert.deepEqual(job.result, {
    memory_id: memoryId,
    tags: ["cat", "sofa", "pet", "indoor"],
    description: "A cat on a sofa.",
  });
  const mem = await api(h, "GET", `/memories/${memoryId}`);
  assert.deepEqual(
    mem.tags.map((t: { tag: string; status: string }) => [t.tag, t.status]).sort(),
    [["cat", "suggested"], ["indoor", "suggested"], ["pet", "suggested"], [
      "sofa",
      "suggested",
    ]],
  );
  const req = h.fake.requests[0].body;
  assert.equal(req.model, "vision-model");
  assert.deepEqual(imageUrls(req), [
    `data:image/png;base64,${Buffer.from(PNG_BYTES).toString("base64")}`,
  ]);
  assert.ok(!promptText(req).includes("{{"), promptText(req));
  const notes = await h.notifications();
  assert.equal(notes.length, 1);
  assert.equal(notes[0].message_type, "llm_image_tag_result");
  assert.equal(notes[0].content.memory_id, memoryId);
  assert.deepEqual(notes[0].content.tags, job.result.tags);
});

Deno.test(
  "image_tag: a message delivered twice, and a re-run after a crash, add tags and notify once",
  async () => {
    await using h = await startHarness({ worker: false });
    const memoryId = await memory(h, { media_type: "image" });
    await Deno.writeFile(join(h.core.imageDir, "twice.png"), PNG_BYTES);
    h.fake.setDefault(jsonReply({ description: "Twice.", tags: ["one", "two", "three"] }));
    const id = await h.createJob("image_tag", { memory_id: memoryId, image_path: "twice.png" });
    await publish(h.redis, JOB_STREAMS.image_tag, {
      job_id: id,
      job_type: "image_tag",
      payload: { memory_id: memoryId, image_path: "twice.png" },
      user_id: h.userId,
    });
    await h.startWorker();
    assert.equal((await h.waitJob(id)).status, "completed");
    await waitFor(
      "both copies acked",
      async () => await h.pendingCount(JOB_STREAMS.image_tag) === 0 || undefined,
    );
    await rerun(h, id);
    const mem = await api(h, "GET", `/memories/${memoryId}`);
    assert.deepEqual(
      mem.tags.map((t: { tag: string }) => t.tag).sort(),
      ["one", "three", "two"],
    );
    const count = h.core.db.prepare("SELECT count(*) AS n FROM memory_tags WHERE memory_id = ?")
      .get(memoryId) as { n: number };
    assert.equal(count.n, 3);
    assert.equal((await h.notifications()).length, 1);
  },
);

Deno.test("image_tag: paths outside the directory are refused and never reach the model", async () => {
  await using h = await startHarness({ worker: false });
  await using outsideDirTmp = await tempDir("memori_outside_");
  const outsideDir = outsideDirTmp.path;
  const secret = new Uint8Array([...PNG_BYTES, ...new TextEncoder().encode("TOP-SECRET")]);
  const secretPath = join(outsideDir, "secret.png");
  await Deno.writeFile(secretPath, secret);
  await Deno.symlink(secretPath, join(h.core.imageDir, "link.png"));
  h.fake.setDefault(jsonReply({ description: "leak", tags: ["leak"] }));
  const memoryId = await memory(h, { media_type: "image" });
  const ids: string[] = [];
  // The core refuses all three at POST /llm_jobs; put them in the row to test the worker.
  for (const bad of [secretPath, `../${outsideDir.split("/").pop()}/secret.png`, "link.png"]) {
    const id = await h.createJob("image_tag", { memory_id: memoryId, image_path: "ok.png" });
    h.core.db.prepare("UPDATE llm_jobs SET payload = ? WHERE id = ?")
      .run(JSON.stringify({ memory_id: memoryId, image_path: bad }), id);
    ids.push(id);
  }
  await h.startWorker();
  for (const id of ids) {
    const job = await h.waitJob(id);
    assert.equal(job.status, "failed", JSON.stringify(job));
    assert.match(job.error_message!, /outside IMAGE_STORAGE_PATH/);
  }
  assert.equal(h.fake.requests.length, 0, "nothing was sent to the model");
  const notes = await h.notifications();
  assert.equal(notes.length, 3);
  assert.ok(notes.every((n) => n.message_type === "llm_failure"));
  assert.match(notes[0].content.message, /not in the image store/);
  assert.equal(notes[0].content.memory_id, memoryId);
  const dead = await h.deadLetters();
  assert.deepEqual(dead.map((d) => d.reason), Array(3).fill("image_path_refused"));
  assert.ok(!h.logs.some((l) => l.includes("TOP-SECRET")));
});

Deno.test(
  "image_tag: a missing image fails at once; a deleted memory fails with a clear error",
  async () => {
    await using h = await startHarness();
    const memoryId = await memory(h, { media_type: "image" });
    const missing = await h.createJob("image_tag", {
      memory_id: memoryId,
      image_path: "gone.png",
    });
    const job = await h.waitJob(missing);
    assert.equal(job.status, "failed");
    assert.match(job.error_message!, /does not exist/);
    assert.equal(h.fake.requests.length, 0);
    assert.ok(!h.logs.some((l) => l.includes("retrying")), "a missing file is not an outage");

    await Deno.writeFile(join(h.core.imageDir, "orphan.png"), PNG_BYTES);
    // The core does not check that the memory exists at POST /llm_jobs; it may be deleted
    // before the worker gets to the job.
    const deleted = crypto.randomUUID();
    h.fake.setDefault(jsonReply({ description: "x", tags: ["a", "b", "c"] }));
    const id = await h.createJob("image_tag", { memory_id: deleted, image_path: "orphan.png" });
    const failed = await h.waitJob(id);
    assert.equal(failed.status, "failed");
    assert.match(failed.error_message!, /no longer exists/);
    const notes = await h.notifications();
    assert.match(notes[notes.length - 1].content.message, /the memory was deleted/);
  },
);

// ---- intent_classify ----

Deno.test("intent: a note creates a memory whose real id is in the result, once per job", async () => {
  await using h = await startHarness();
  h.fake.setDefault(jsonReply({
    intent: "general_note",
    suggested_tags: ["wifi"],
    confidence: 0.93,
  }));
  const before = memoriesOf(h);
  const id = await h.createJob("intent_classify", { message: "The wifi password is hunter2" });
  const job = await h.waitJob(id);
  assert.equal(job.status, "completed", JSON.stringify(job));
  const r = job.result;
  assert.equal(r.intent, "general_note");
  assert.equal(r.query, "The wifi password is hunter2");
  assert.deepEqual(r.suggested_tags, ["wifi"]);
  assert.equal(r.confidence, 0.93);
  assert.deepEqual(r.results, []);
  assert.equal(r.stale, undefined);
  assert.equal(typeof r.memory_id, "string");
  const mem = await api(h, "GET", `/memories/${r.memory_id}`);
  assert.equal(mem.content, "The wifi password is hunter2");
  assert.equal(mem.owner_user_id, h.userId);
  // The gateway's "Confirm Tags" confirms these, so they must be on the memory.
  assert.deepEqual(mem.tags.map((t: { tag: string; status: string }) => [t.tag, t.status]), [
    ["wifi", "suggested"],
  ]);
  assert.equal(memoriesOf(h), before + 1);
  const notes = await h.notifications();
  assert.equal(notes.length, 1);
  assert.equal(notes[0].message_type, "llm_intent_result");
  assert.equal(notes[0].content.memory_id, r.memory_id);
  await rerun(h, id);
  assert.equal((await h.getJob(id)).result.memory_id, r.memory_id);
  assert.equal(memoriesOf(h), before + 1, "the re-run reused the memory");
  assert.equal((await api(h, "GET", `/memories/${r.memory_id}`)).tags.length, 1);
  assert.equal((await h.notifications()).length, 1);
});

Deno.test("intent: past reminder and task times are stale; future ones are not", async () => {
  await using h = await startHarness();
  const past = "2020-01-01T09:00:00Z";
  const future = new Date(Date.now() + 86_400_000).toISOString();
  h.fake.when(
    (r) => promptText(r).includes("old reminder"),
    jsonReply({
      intent: "reminder",
      reminder_text: "call mum",
      resolved_time: past,
    }),
  );
  h.fake.when(
    (r) => promptText(r).includes("new reminder"),
    jsonReply({
      intent: "reminder",
      resolved_time: future,
    }),
  );
  h.fake.when(
    (r) => promptText(r).includes("old task"),
    jsonReply({
      intent: "TASK",
      task_description: "file taxes",
      resolved_due_time: past,
    }),
  );
  const a = await h.waitJob(await h.createJob("intent_classify", { message: "old reminder" }));
  const b = await h.waitJob(await h.createJob("intent_classify", { message: "new reminder" }));
  const c = await h.waitJob(await h.createJob("intent_classify", { query: "old task" }));
  assert.equal(a.result.stale, true);
  assert.equal(a.result.resolved_time, past);
  assert.equal(a.result.reminder_text, "call mum");
  assert.equal(b.result.stale, undefined);
  assert.equal(c.result.stale, true);
  assert.equal(c.result.intent, "task");
  assert.equal(c.result.query, "old task", "the legacy `query` payload works");
  for (const j of [a, b, c]) assert.equal(typeof j.result.memory_id, "string");
});

Deno.test("intent: a re-classification reuses payload.memory_id and sends the follow-up", async () => {
  await using h = await startHarness();
  const existing = await memory(h, { content: "the thing" });
  const before = memoriesOf(h);
  h.fake.setDefault(jsonReply({ intent: "task", task_description: "fix the bike" }));
  const id = await h.createJob("intent_classify", {
    message: "the thing",
    memory_id: existing,
    original_timestamp: "2026-03-01T10:00:00+02:00",
    followup_context: { followup_question: "What should I do with it?", user_answer: "fix it" },
  });
  const job = await h.waitJob(id);
  assert.equal(job.status, "completed", JSON.stringify(job));
  assert.equal(job.result.memory_id, existing);
  assert.equal(memoriesOf(h), before);
  const prompt = promptText(h.fake.requests[0].body);
  assert.match(prompt, /What should I do with it\?/);
  assert.match(prompt, /fix it/);
  assert.match(prompt, /2026-03-01T08:00:00.000Z/);
  assert.ok(!prompt.includes("{{"));
});

Deno.test("intent: search lists hits with the title rules and creates no memory", async () => {
  await using h = await startHarness();
  const text = await memory(h, { content: "Passport is in the top drawer" });
  const img = await memory(h, { media_type: "image" });
  await api(h, "POST", `/memories/${img}/tags`, {
    tags: ["passport", "document", "scan", "travel"],
    status: "confirmed",
  });
  await api(h, "PATCH", `/memories/${img}`, { status: "confirmed" });
  const before = memoriesOf(h);
  h.fake.setDefault(jsonReply({ intent: "search", keywords: ["passport"], extra: "kept" }));
  const job = await h.waitJob(await h.createJob("intent_classify", { message: "where is it" }));
  assert.equal(job.status, "completed", JSON.stringify(job));
  assert.equal(job.result.intent, "search");
  assert.equal(job.result.memory_id, null);
  assert.equal(job.result.extra, "kept");
  assert.deepEqual(job.result.keywords, ["passport"]);
  const byId = Object.fromEntries(
    job.result.results.map((r: { memory_id: string; title: string }) => [r.memory_id, r.title]),
  );
  assert.equal(byId[text], "Passport is in the top drawer");
  assert.equal(byId[img], "[Image] passport, document, scan (+1 more)");
  assert.equal(memoriesOf(h), before);
});

Deno.test("intent: search without keywords searches the message", async () => {
  await using h = await startHarness();
  const text = await memory(h, { content: "Bicycle lock code 4321" });
  h.fake.setDefault(jsonReply({ intent: "search" }));
  const job = await h.waitJob(await h.createJob("intent_classify", { message: "bicycle lock" }));
  assert.deepEqual(job.result.results, [{ memory_id: text, title: "Bicycle lock code 4321" }]);
});

Deno.test("intent: a server that rejects response_format still gets the job done", async () => {
  await using h = await startHarness();
  h.fake.when((r) => r.response_format !== undefined, {
    status: 400,
    message: "response_format is not supported",
  });
  h.fake.setDefault({
    content: 'Sure!\n```json\n{"intent": "general_note"}\n```',
  });
  const job = await h.waitJob(await h.createJob("intent_classify", { message: "a note" }));
  assert.equal(job.status, "completed", JSON.stringify(job));
  assert.equal(job.result.intent, "general_note");
  const job2 = await h.waitJob(await h.createJob("intent_classify", { message: "another" }));
  assert.equal(job2.status, "completed");
  assert.deepEqual(
    h.fake.requests.map((r) => r.body.response_format?.type ?? null),
    ["json_object", null, null],
  );
});

// ---- task_match ----

Deno.test("task_match: a confident match on an open task is reported; others are not", async () => {
  await using h = await startHarness();
  const m = await memory(h, { content: "tasks live here" });
  const rent = await api(h, "POST", "/tasks", {
    memory_id: m,
    owner_user_id: h.userId,
    description: "Pay the rent",
  });
  const done = await api(h, "POST", "/tasks", {
    memory_id: m,
    owner_user_id: h.userId,
    description: "Old finished task",
  });
  await api(h, "PATCH", `/tasks/${done.id}`, { state: "DONE" });
  const note = await memory(h, { content: "Paid the rent today" });

  h.fake.enqueue(jsonReply({ matched_task_id: rent.id, confidence: 0.92, reason: "paid" }));
  const hit = await h.waitJob(
    await h.createJob("task_match", {
      memory_id: note,
      memory_content: "Paid the rent today",
    }),
  );
  assert.equal(hit.status, "completed", JSON.stringify(hit));
  assert.deepEqual(hit.result, {
    task_id: rent.id,
    task_description: "Pay the rent",
    memory_id: note,
  });
  const prompt = promptText(h.fake.requests[0].body);
  assert.ok(prompt.includes(rent.id) && prompt.includes("Pay the rent"));
  assert.ok(!prompt.includes(done.id), "a DONE task is not offered");
  let notes = await h.notifications();
  assert.equal(notes.length, 1);
  assert.equal(notes[0].message_type, "llm_task_match_result");
  assert.equal(notes[0].content.task_id, rent.id);

  h.fake.enqueue(
    jsonReply({ matched_task_id: rent.id, confidence: 0.5 }),
    jsonReply({ matched_task_id: crypto.randomUUID(), confidence: 0.99 }),
  );
  for (let i = 0; i < 2; i++) {
    const miss = await h.waitJob(
      await h.createJob("task_match", {
        memory_id: note,
        memory_content: "Paid the rent today",
      }),
    );
    assert.deepEqual(miss.result, { task_id: null, memory_id: note });
  }
  notes = await h.notifications();
  assert.equal(notes.length, 1, "no notification without a match");
});

Deno.test("task_match: with no open tasks the model is not asked", async () => {
  await using h = await startHarness();
  const note = await memory(h, { content: "Bought apples" });
  const job = await h.waitJob(
    await h.createJob("task_match", {
      memory_id: note,
      memory_content: "Bought apples",
    }),
  );
  assert.deepEqual(job.result, { task_id: null, memory_id: note });
  assert.equal(h.fake.requests.length, 0);
});

// ---- email_extract ----

Deno.test("email_extract: confident dated events become pending events, once", async () => {
  await using h = await startHarness();
  h.fake.setDefault(jsonReply({
    events: [
      {
        description: "Dentist appointment",
        event_time: "2030-05-02T09:30:00+02:00",
        confidence: 0.9,
      },
      { description: "Maybe a party", event_time: "2030-05-03T20:00:00Z", confidence: 0.4 },
      { description: "Sometime soon", event_time: "next week", confidence: 0.95 },
      { event_time: "2030-05-04T10:00:00Z", confidence: 0.99 },
    ],
  }));
  const id = await h.createJob("email_extract", {
    subject: "Your appointment",
    body: "See you on 2 May at 9:30.",
  });
  const job = await h.waitJob(id);
  assert.equal(job.status, "completed", JSON.stringify(job));
  assert.equal(job.result.event_ids.length, 1);
  assert.equal(job.result.skipped, 3);
  const eventId = job.result.event_ids[0];
  const events = await api(h, "GET", `/events?owner_user_id=${h.userId}`);
  assert.equal(events.length, 1);
  assert.equal(events[0].id, eventId);
  assert.equal(events[0].status, "pending");
  assert.equal(events[0].source_type, "email");
  assert.equal(events[0].source_detail, "Your appointment");
  assert.equal(events[0].description, "Dentist appointment");
  assert.equal(events[0].event_time, "2030-05-02T07:30:00.000Z");
  const notes = await h.notifications();
  assert.equal(notes.length, 1);
  assert.equal(notes[0].message_type, "event_confirmation");
  assert.equal(notes[0].content.event_id, eventId);
  assert.equal(notes[0].content.description, "Dentist appointment");

  await rerun(h, id);
  assert.equal((await api(h, "GET", `/events?owner_user_id=${h.userId}`)).length, 1);
  assert.deepEqual((await h.getJob(id)).result.event_ids, [eventId]);
  assert.equal((await h.notifications()).length, 1);
});

Deno.test(
  "answers come in the user's language: the prompt asks for it, tags stay lower-case and unique",
  async () => {
    await using h = await startHarness();
    const put = await call(h.core.app, "PUT", `/settings/${h.userId}`, { language: "de" });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    h.fake.when(
      (r) => promptText(r).includes("Einkaufsliste"),
      jsonReply({
        intent: "general_note",
        suggested_tags: ["Einkauf", "einkauf", " Milch "],
      }),
    );
    h.fake.when((r) => promptText(r).includes("welcher"), { content: "Welcher Ordner?" });
    const note = await h.waitJob(
      await h.createJob("intent_classify", {
        message: "Einkaufsliste: Milch",
      }),
    );
    assert.equal(note.status, "completed", JSON.stringify(note));
    assert.deepEqual(note.result.suggested_tags, ["einkauf", "milch"]);
    const question = await h.waitJob(await h.createJob("followup", { message: "welcher" }));
    assert.equal(question.result.question, "Welcher Ordner?");
    const prompts = h.fake.requests.map((r) => promptText(r.body));
    assert.match(prompts[0], /in German; keep the JSON keys/);
    assert.match(prompts[1], /Write the question in German\./);

    // An English (or unknown) language adds nothing to the prompts.
    await call(h.core.app, "PUT", `/settings/${h.userId}`, { language: "en" });
    const lookup = createLanguageLookup({
      getSettings: () => Promise.resolve({ language: "zz-not-a-language-tag" }),
    });
    assert.equal(await lookup(1), "English");
  },
);

Deno.test(
  "email_extract: at most 20 events per email, decided before any is created, with a short subject in the result",
  async () => {
    await using h = await startHarness();
    h.fake.setDefault(jsonReply({
      events: Array.from({ length: 25 }, (_, i) => ({
        description: `Meeting ${i}`,
        event_time: `2030-06-${String(i + 1).padStart(2, "0")}T09:00:00Z`,
        confidence: 0.9,
      })),
    }));
    const subject = "S".repeat(5_000);
    const job = await h.waitJob(await h.createJob("email_extract", { subject, body: "x" }));
    assert.equal(job.status, "completed", JSON.stringify(job).slice(0, 500));
    assert.equal(job.result.events.length, 20);
    assert.equal(job.result.skipped, 5);
    assert.equal(job.result.events[0].source_detail.length, 200);
    const rows = h.core.db.prepare(
      "SELECT count(*) AS n, max(length(source_detail)) AS len FROM events",
    )
      .get() as { n: number; len: number };
    assert.deepEqual({ ...rows }, { n: 20, len: 5_000 });
  },
);

Deno.test(
  "email_extract: a re-run that gets another answer completes, and an event listed twice is made once",
  async () => {
    await using h = await startHarness();
    const dentist = {
      description: "Dentist",
      event_time: "2030-05-02T09:30:00Z",
      confidence: 0.9,
    };
    h.fake.enqueue(jsonReply({ events: [dentist, dentist] }));
    const id = await h.createJob("email_extract", { subject: "Appointments", body: "x" });
    const first = await h.waitJob(id);
    assert.equal(first.status, "completed", JSON.stringify(first));
    assert.equal(first.result.event_ids.length, 1);
    assert.equal(first.result.skipped, 1);
    // Crash before the result was stored; the model answers differently the second time.
    h.fake.enqueue(jsonReply({
      events: [{
        description: "Dentist (moved)",
        event_time: "2030-05-03T09:30:00Z",
        confidence: 0.9,
      }],
    }));
    await rerun(h, id);
    const events = await api(h, "GET", `/events?owner_user_id=${h.userId}`);
    assert.deepEqual(
      events.map((e: { description: string }) => e.description).sort(),
      ["Dentist", "Dentist (moved)"],
    );
  },
);
