/**
 * A job is marked processing beside its first model call (llm_worker/job_marking.ts): the model is
 * asked before the core has answered the mark, nothing is written or sent before it has, and an
 * answer that ends the run cuts the model call. Real Redis, a real core over HTTP, the fake model;
 * the worker's core client is the real one, with the mark held back for a while.
 */
import assert from "node:assert/strict";
import { sanitizeTests } from "../helpers/core_app.ts";
import { count } from "../helpers/fixtures.ts";
import { jsonReply, promptText } from "../helpers/fake_llm.ts";
import { ensureGroup, JOB_STREAMS, publish, readGroup } from "../../shared/streams.ts";
import { type CoreClient, createCoreClient } from "../../llm_worker/core_client.ts";
import { type Harness, startHarness, waitFor } from "./harness.ts";

await sanitizeTests();

/** When things happened, on the clock the fake model records its requests with. */
interface Times {
  marked?: number;
  written: number[];
}

/** The real core client, with the PATCH to `processing` answered only after `holdMs`. */
function slowMarkCore(h: Harness, holdMs: number, times: Times): CoreClient {
  const core = createCoreClient(h.server.url);
  return {
    ...core,
    async updateJob(id, update, o) {
      if (update.status !== "processing") return await core.updateJob(id, update, o);
      await new Promise((r) => setTimeout(r, holdMs));
      try {
        return await core.updateJob(id, update, o);
      } finally {
        times.marked = performance.now();
      }
    },
    async createMemory(body, o) {
      times.written.push(performance.now());
      return await core.createMemory(body, o);
    },
  };
}

Deno.test(
  "the model is asked while the job is being marked; the handler's writes wait for the mark",
  async () => {
    await using h = await startHarness({ worker: false });
    const times: Times = { written: [] };
    await h.startWorker({ core: slowMarkCore(h, 300, times) });
    h.fake.setDefault(jsonReply({ intent: "general_note", suggested_tags: ["bike"] }));
    const id = await h.createJob("intent_classify", { message: "The bike lock code is 4711" });
    const job = await h.waitJob(id);
    assert.equal(job.status, "completed", JSON.stringify(job));
    assert.equal(h.fake.requests.length, 1);
    const asked = h.fake.requests[0].receivedAt;
    assert.ok(times.marked !== undefined);
    assert.ok(asked < times.marked, "the model was asked before the mark was answered");
    assert.equal(times.written.length, 1);
    assert.ok(times.written[0] >= times.marked, "the memory was created after the mark");
    assert.equal(typeof job.result.memory_id, "string");
    assert.equal((await h.notifications()).length, 1);
  },
);

Deno.test(
  "the same message delivered twice is applied once: the second's model call is cut by the 409",
  async () => {
    await using h = await startHarness({ worker: false });
    await h.startWorker({ core: slowMarkCore(h, 300, { written: [] }) });
    h.fake.enqueue({ content: "Once?" });
    // The second copy's answer would come after the mark's 409; it must not be stored.
    h.fake.setDefault({ content: "Twice?", delayMs: 1000 });
    const id = await h.createJob("followup", { message: "duplicate me" });
    const first = await h.waitJob(id);
    assert.deepEqual(first.result, { question: "Once?" });
    await publish(h.redis, JOB_STREAMS.followup, {
      job_id: id,
      job_type: "followup",
      payload: { message: "duplicate me" },
      user_id: h.userId,
    });
    await waitFor(
      "second copy acked",
      async () =>
        (await h.pendingCount(JOB_STREAMS.followup) === 0 &&
          h.logs.some((l) => l.includes("already finished"))) || undefined,
    );
    assert.equal(h.fake.requests.length, 2, "the second copy asked the model beside its mark");
    await waitFor("the cut", () => h.fake.requests[1].cutAt);
    assert.equal(h.fake.requests[1].answeredAt, undefined, "the call was cut before its answer");
    assert.deepEqual((await h.getJob(id)).result, { question: "Once?" });
    assert.equal((await h.notifications()).length, 1);
    const completions = count(
      h.core,
      'SELECT count(*) AS n FROM audit_log WHERE entity_id = ? AND detail LIKE \'%"to":"completed"%\'',
      id,
    );
    assert.equal(completions, 1, "the job was completed once");
  },
);

Deno.test("an entry taken over from another consumer is marked before the model is asked", async () => {
  await using h = await startHarness({ worker: false, env: { WORKER_CLAIM_IDLE_SECONDS: "1" } });
  await ensureGroup(h.redis, Object.values(JOB_STREAMS));
  const times: Times = { written: [] };
  h.fake.setDefault({ content: "Reclaimed?" });
  const id = await h.createJob("followup", { message: "orphan" });
  assert.equal((await readGroup(h.redis, "dead", { streams: [JOB_STREAMS.followup] })).length, 1);
  await h.startWorker({ core: slowMarkCore(h, 200, times) });
  assert.equal((await h.waitJob(id)).status, "completed");
  assert.equal(h.fake.requests.length, 1);
  assert.ok(h.fake.requests[0].receivedAt > times.marked!, "asked only after the mark");
});

Deno.test(
  "a row changed after its message was published: the job runs from the row",
  async () => {
    await using h = await startHarness({ worker: false });
    h.fake.when((r) => promptText(r).includes("from the message"), {
      content: "From the message?",
    });
    h.fake.setDefault({ content: "From the row?" });
    const id = await h.createJob("followup", { message: "from the message" });
    h.core.db.prepare("UPDATE llm_jobs SET payload = ? WHERE id = ?")
      .run(JSON.stringify({ message: "from the row" }), id);
    // The mark is answered after the model, so the run has the message's answer in hand by then.
    await h.startWorker({ core: slowMarkCore(h, 200, { written: [] }) });
    const job = await h.waitJob(id);
    assert.equal(job.status, "completed");
    assert.deepEqual(job.result, { question: "From the row?" });
    const asked = h.fake.requests.map((r) => promptText(r.body));
    assert.equal(asked.length, 2, JSON.stringify(asked));
    assert.match(asked[0], /from the message/);
    assert.match(asked[1], /from the row/);
    const notes = (await h.notifications()).map((n) => n.content.question);
    assert.deepEqual(notes, ["From the row?"]);
    assert.ok(h.logs.some((l) => l.includes("row differs from its message")));
  },
);
