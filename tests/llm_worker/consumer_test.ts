/**
 * The consumer end to end (real Redis, a real core over HTTP, the fake model): completion,
 * failure classes, retries without blocking, reclaiming, duplicates, malformed entries,
 * concurrency. Most jobs here are followup and email_extract jobs, which need only /llm_jobs.
 */
import assert from "node:assert/strict";
import { sanitizeTests } from "../helpers/core_app.ts";
import { jsonReply, promptText } from "../helpers/fake_llm.ts";
import {
  ensureGroup,
  JOB_STREAMS,
  MODEL_STATUS_KEY,
  publish,
  readGroup,
} from "../../shared/streams.ts";
import { childSignal } from "../../llm_worker/signals.ts";
import { createCoreClient } from "../../llm_worker/core_client.ts";
import { TransientError } from "../../llm_worker/errors.ts";
import { createLlmClient, type LlmClient } from "../../llm_worker/llm_client.ts";
import { startHarness, TEST_API_KEY, waitFor } from "./harness.ts";

await sanitizeTests();

Deno.test(
  "a followup job completes, notifies once, is acked, and the worker acts as itself",
  async () => {
    await using h = await startHarness();
    h.fake.enqueue({ content: '  "Do you mean the blue folder or the red one?"  ' });
    const id = await h.createJob("followup", {
      message: "where is the folder",
      context: "files",
    });
    const job = await h.waitJob(id);
    assert.equal(job.status, "completed", JSON.stringify(job));
    assert.deepEqual(job.result, { question: "Do you mean the blue folder or the red one?" });
    assert.equal(job.error_message, null);
    const notes = await h.notifications();
    assert.deepEqual(notes, [{
      user_id: h.userId,
      message_type: "llm_followup_result",
      content: { question: "Do you mean the blue folder or the red one?", job_id: id },
    }]);
    const prompt = promptText(h.fake.requests[0].body);
    assert.match(prompt, /where is the folder/);
    assert.match(prompt, /Context: files/);
    assert.ok(!prompt.includes("{{"));
    await waitFor(
      "ack",
      async () => await h.pendingCount(JOB_STREAMS.followup) === 0 || undefined,
    );
    const actors = h.core.db.prepare(
      "SELECT DISTINCT actor FROM audit_log WHERE entity_type = 'llm_job' AND action = 'updated'",
    ).all().map((r) => r.actor);
    assert.deepEqual(actors, ["system:llm_worker"]);
    assert.ok(h.logs.length > 0);
    assert.ok(!h.logs.some((l) => l.includes(TEST_API_KEY)), "the API key reached the log");
  },
);

Deno.test(
  "unusable model output is retried twice, then failed with a notification and a dead letter",
  async () => {
    await using h = await startHarness();
    h.fake.setDefault({ content: "<think>hmm</think>" });
    const id = await h.createJob("email_extract", { subject: "Hi", body: "See you Monday" });
    const job = await h.waitJob(id);
    assert.equal(job.status, "failed");
    assert.match(job.error_message!, /unusable after 3 attempts/);
    assert.match(job.error_message!, /no JSON object/);
    assert.equal(h.fake.requests.length, 3, "one try and two retries");
    const notes = await h.notifications();
    assert.equal(notes.length, 1);
    assert.equal(notes[0].message_type, "llm_failure");
    assert.equal(notes[0].user_id, h.userId);
    assert.equal(notes[0].content.job_type, "email_extract");
    assert.equal(notes[0].content.memory_id, null);
    assert.match(notes[0].content.message, /^Sorry, I could not read the events in your email/);
    const dead = await h.deadLetters();
    assert.equal(dead.length, 1);
    assert.equal(dead[0].reason, "bad_output");
    assert.equal(dead[0].job_id, id);
    assert.equal(dead[0].stream, "llm:email_extract");
    assert.equal(dead[0].message.job_id, id);
    assert.deepEqual(dead[0].message.payload, { subject: "Hi", body: "See you Monday" });
    await waitFor(
      "ack",
      async () => await h.pendingCount(JOB_STREAMS.email_extract) === 0 || undefined,
    );
  },
);

Deno.test("output that fails the schema once and then fits completes the job", async () => {
  await using h = await startHarness();
  h.fake.enqueue(jsonReply({ evnts: [] }), jsonReply({ events: [] }));
  const id = await h.createJob("email_extract", { subject: "Nothing", body: "No dates here" });
  const job = await h.waitJob(id);
  assert.equal(job.status, "completed", JSON.stringify(job));
  assert.deepEqual(job.result, { event_ids: [], events: [], skipped: 0 });
  assert.equal(h.fake.requests.length, 2);
  assert.deepEqual(await h.deadLetters(), []);
});

Deno.test(
  "during a model outage the worker stops reading, probes one job at a time, tells the user once, and every job completes when the model is back",
  async () => {
    await using h = await startHarness({
      // The old policy failed a job after LLM_MAX_RETRIES=2 retries of 20-80 ms.
      env: { LLM_MAX_RETRIES: "2", LLM_RETRY_BASE_MS: "20", LLM_PROBE_MAX_SECONDS: "1" },
    });
    h.fake.setDefault({ status: 503, message: "model loading" });
    const first = await h.createJob("followup", { message: "the first one" });
    await waitFor(
      "the outage",
      () => h.logs.some((l) => l.includes("waiting for it")) || undefined,
    );
    const later = [
      await h.createJob("followup", { message: "the second one" }),
      await h.createJob("email_extract", { subject: "Later", body: "no events" }),
    ];
    await new Promise((r) => setTimeout(r, 1500));
    for (const id of [first, ...later]) assert.equal((await h.getJob(id)).status, "queued");
    // Nothing new was taken: the jobs sent during the outage are still unread in Redis.
    assert.equal(await h.pendingCount(JOB_STREAMS.followup), 1);
    assert.equal(await h.pendingCount(JOB_STREAMS.email_extract), 0);
    const probes = h.fake.requests.length;
    assert.equal(h.fake.maxActive, 1, "one probe at a time");
    assert.ok(probes >= 2 && probes < 30, `${probes} requests during the outage`);
    assert.equal(await h.redis.hget(MODEL_STATUS_KEY, "state"), "outage");

    h.fake.setDefault((r) =>
      promptText(r).includes("Subject: Later")
        ? jsonReply({ events: [] })
        : { content: "Which one?" }
    );
    for (const id of [first, ...later]) {
      const job = await h.waitJob(id);
      assert.equal(job.status, "completed", JSON.stringify(job));
    }
    assert.deepEqual(await h.deadLetters(), []);
    const notes = await h.notifications();
    const told = notes.filter((n) => n.message_type === "llm_failure");
    assert.equal(told.length, 1, JSON.stringify(notes));
    assert.equal(told[0].content.job_id, first);
    assert.equal(told[0].content.job_type, "followup");
    assert.equal(told[0].content.memory_id, null);
    assert.match(told[0].content.message, /retry automatically/);
    const results = notes.filter((n) => n.message_type === "llm_followup_result");
    assert.deepEqual(results.map((n) => n.content.job_id).sort(), [first, later[0]].sort());
    assert.equal(await h.redis.hget(MODEL_STATUS_KEY, "state"), "ok");
  },
);

Deno.test(
  "a model server that goes away and comes back on the same port: the job completes",
  async () => {
    await using h = await startHarness({
      env: { LLM_MAX_RETRIES: "200", LLM_RETRY_BASE_MS: "20", LLM_RETRY_MAX_MS: "80" },
    });
    h.fake.setDefault({ content: "Which one?" });
    await h.fake.stop();
    const id = await h.createJob("followup", { message: "that one" });
    await waitFor(
      "retries",
      () => h.logs.filter((l) => l.includes("unreachable")).length >= 2 || undefined,
    );
    // Waiting for the model, the job is back in the queue.
    assert.equal((await h.getJob(id)).status, "queued");
    await h.fake.restart();
    const job = await h.waitJob(id);
    assert.equal(job.status, "completed", JSON.stringify(job));
    assert.deepEqual(job.result, { question: "Which one?" });
  },
);

Deno.test("a timeout counts as an outage and is retried", async () => {
  await using h = await startHarness({ env: { LLM_TIMEOUT_SECONDS: "1" } });
  h.fake.enqueue({ hang: true }, { content: "Which folder?" });
  const id = await h.createJob("followup", { message: "the folder" });
  const job = await h.waitJob(id);
  assert.equal(job.status, "completed", JSON.stringify(job));
  assert.equal(h.fake.requests.length, 2);
  assert.ok(h.logs.some((l) => l.includes("did not answer in time")));
});

Deno.test(
  "an outage past LLM_OUTAGE_MAX_HOURS fails the job: the user hears it will retry, then that it failed",
  async () => {
    // 0.0002 h = 0.72 s.
    await using h = await startHarness({ env: { LLM_OUTAGE_MAX_HOURS: "0.0002" } });
    h.fake.setDefault({ status: 502, message: "bad gateway" });
    const id = await h.createJob("followup", { message: "anything" });
    const job = await h.waitJob(id);
    assert.equal(job.status, "failed");
    assert.match(job.error_message!, /unreachable for 1 second/);
    assert.match(job.error_message!, /502/);
    const notes = await h.notifications();
    assert.deepEqual(notes.map((n) => n.message_type), [
      "llm_failure",
      "llm_failure",
      "llm_expiry",
    ]);
    assert.match(notes[0].content.message, /retry automatically/);
    assert.match(notes[1].content.message, /stopped trying/);
    assert.deepEqual(notes[2].content, {
      job_type: "followup",
      memory_id: null,
      original_message: "anything",
      failure_type: "llm_unavailable",
      job_id: id,
    });
    const dead = await h.deadLetters();
    assert.equal(dead.length, 1);
    assert.equal(dead[0].reason, "llm_unavailable");
  },
);

Deno.test("an entry left pending by a dead consumer is reclaimed and completed", async () => {
  await using h = await startHarness({ worker: false, env: { WORKER_CLAIM_IDLE_SECONDS: "1" } });
  await ensureGroup(h.redis, Object.values(JOB_STREAMS));
  h.fake.setDefault({ content: "Reclaimed?" });
  const id = await h.createJob("followup", { message: "orphan" });
  const taken = await readGroup(h.redis, "dead", { streams: [JOB_STREAMS.followup], count: 1 });
  assert.equal(taken.length, 1);
  assert.equal((taken[0].data as { job_id: string }).job_id, id);
  const w = await h.startWorker();
  const job = await h.waitJob(id);
  assert.equal(job.status, "completed", JSON.stringify(job));
  await waitFor("ack", async () => await h.pendingCount(JOB_STREAMS.followup) === 0 || undefined);
  assert.ok(h.logs.some((l) => l.includes("reclaimed an idle entry")));
  const consumers = await h.redis.xinfo(
    "CONSUMERS",
    JOB_STREAMS.followup,
    "llm-worker-group",
  ) as unknown[][];
  const names = consumers.map((c) => c[1]);
  assert.ok(names.includes(w.consumer) && names.includes("dead"));
  assert.match(w.consumer, /^.+-\d+-[0-9a-f]{8}$/);
});

Deno.test("a long job of a live consumer is not taken over by another consumer", async () => {
  await using h = await startHarness({ env: { WORKER_CLAIM_IDLE_SECONDS: "1" } });
  await h.startWorker();
  // Longer than WORKER_CLAIM_IDLE_SECONDS, shorter than LLM_TIMEOUT_SECONDS (2).
  h.fake.enqueue({ content: "Slow?", delayMs: 1700 });
  h.fake.setDefault({ content: "Again?" });
  const id = await h.createJob("followup", { message: "long" });
  const job = await h.waitJob(id);
  assert.equal(job.status, "completed");
  assert.equal(h.fake.requests.length, 1, "the second worker did not run it again");
  assert.equal((await h.notifications()).length, 1);
});

Deno.test(
  "two copies of a message in flight at once: one result stored, one notification",
  async () => {
    await using h = await startHarness({ worker: false });
    h.fake.setDefault({ content: "Together?", delayMs: 100 });
    const id = await h.createJob("followup", { message: "twins" });
    await publish(h.redis, JOB_STREAMS.followup, {
      job_id: id,
      job_type: "followup",
      payload: { message: "twins" },
      user_id: h.userId,
    });
    await h.startWorker();
    const job = await h.waitJob(id);
    assert.equal(job.status, "completed");
    await waitFor(
      "both acked",
      async () => await h.pendingCount(JOB_STREAMS.followup) === 0 || undefined,
    );
    assert.equal((await h.notifications()).length, 1);
  },
);

Deno.test("malformed stream entries are dead-lettered and acked; the next job still runs", async () => {
  await using h = await startHarness();
  await h.redis.xadd(JOB_STREAMS.intent_classify, "*", "other", "field");
  await h.redis.xadd(JOB_STREAMS.intent_classify, "*", "data", "{not json");
  await h.redis.xadd(JOB_STREAMS.intent_classify, "*", "data", '{"job_id": 5}');
  await h.redis.xadd(JOB_STREAMS.followup, "*", "data", '{"job_id":"x","job_type":"nope"}');
  h.fake.setDefault({ content: "Still working?" });
  const id = await h.createJob("followup", { message: "after the junk" });
  assert.equal((await h.waitJob(id)).status, "completed");
  const dead = await waitFor("dead letters", async () => {
    const d = await h.deadLetters();
    return d.length === 4 ? d : undefined;
  });
  assert.ok(dead.every((d) => d.reason === "malformed_entry"), JSON.stringify(dead));
  const byError = dead.map((d) => d.error).join("\n");
  assert.match(byError, /no `data` field/);
  assert.match(byError, /not JSON/);
  assert.match(byError, /not a job message/);
  assert.deepEqual(dead.find((d) => /no `data`/.test(d.error)).message, ["other", "field"]);
  for (const s of [JOB_STREAMS.intent_classify, JOB_STREAMS.followup]) {
    await waitFor(`acks on ${s}`, async () => await h.pendingCount(s) === 0 || undefined);
  }
});

Deno.test("a bad payload fails at once, without asking the model", async () => {
  await using h = await startHarness({ worker: false });
  const id = await h.createJob("followup", { message: "fine at first" });
  h.core.db.prepare("UPDATE llm_jobs SET payload = ? WHERE id = ?")
    .run(JSON.stringify({ message: 5 }), id);
  // Its message as the core publishes a row (a retry, the republisher): with the row's payload.
  const [[entryId]] = await h.redis.xrange(JOB_STREAMS.followup, "-", "+");
  await h.redis.xdel(JOB_STREAMS.followup, entryId);
  await publish(h.redis, JOB_STREAMS.followup, {
    job_id: id,
    job_type: "followup",
    payload: { message: 5 },
    user_id: h.userId,
  });
  await h.startWorker();
  const job = await h.waitJob(id);
  assert.equal(job.status, "failed");
  assert.match(job.error_message!, /invalid followup payload: message/);
  assert.equal(h.fake.requests.length, 0);
  const dead = await h.deadLetters();
  assert.equal(dead[0].reason, "bad_payload");
  const notes = await h.notifications();
  assert.equal(notes[0].message_type, "llm_failure");
});

Deno.test("a message for a job the core does not know is dead-lettered and acked", async () => {
  await using h = await startHarness();
  h.fake.setDefault({ content: "Boo?", delayMs: 1000 });
  const ghost = crypto.randomUUID();
  await publish(h.redis, JOB_STREAMS.followup, {
    job_id: ghost,
    job_type: "followup",
    payload: { message: "boo" },
    user_id: h.userId,
  });
  const dead = await waitFor("dead letter", async () => {
    const d = await h.deadLetters();
    return d.length ? d : undefined;
  });
  assert.equal(dead[0].reason, "unknown_job");
  assert.equal(dead[0].job_id, ghost);
  await waitFor("ack", async () => await h.pendingCount(JOB_STREAMS.followup) === 0 || undefined);
  // A model call made beside the mark is cut by the core's 404.
  await waitFor("cut", () => h.fake.requests.every((r) => r.cutAt !== undefined) || undefined);
  assert.ok(h.fake.requests.every((r) => r.answeredAt === undefined));
  assert.deepEqual(await h.notifications(), []);
});

Deno.test("with the core unreachable a job is left pending, not failed", async () => {
  await using h = await startHarness({ worker: false, env: { LLM_MAX_RETRIES: "1" } });
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (l.addr as Deno.NetAddr).port;
  l.close();
  await h.startWorker({
    core: (await import("../../llm_worker/core_client.ts")).createCoreClient(
      `http://127.0.0.1:${deadPort}`,
    ),
  });
  const id = await h.createJob("followup", { message: "core down" });
  await waitFor("give up", () => h.logs.some((l) => l.includes("left pending")) || undefined);
  assert.equal((await h.getJob(id)).status, "queued");
  assert.equal(await h.pendingCount(JOB_STREAMS.followup), 1);
  assert.deepEqual(await h.deadLetters(), []);
  assert.deepEqual(await h.notifications(), []);
});

Deno.test("12 jobs of 100 ms each at concurrency 4 run in parallel, never more than 4", async () => {
  await using h = await startHarness({ worker: false, env: { WORKER_CONCURRENCY: "4" } });
  h.fake.when(
    (r) => promptText(r).includes("Subject:"),
    jsonReply({ events: [] }, {
      delayMs: 100,
    }),
  );
  h.fake.setDefault({ content: "Parallel?", delayMs: 100 });
  const ids: string[] = [];
  // Spread over two streams: one read returns up to COUNT entries per stream.
  for (let i = 0; i < 6; i++) {
    ids.push(await h.createJob("followup", { message: `job ${i}` }));
    ids.push(await h.createJob("email_extract", { subject: `mail ${i}`, body: "none" }));
  }
  const started = performance.now();
  await h.startWorker();
  const jobs = await Promise.all(ids.map((id) => h.waitJob(id)));
  const elapsed = performance.now() - started;
  assert.ok(jobs.every((j) => j.status === "completed"));
  assert.ok(elapsed < 0.75 * 12 * 100, `took ${Math.round(elapsed)} ms`);
  assert.ok(h.fake.maxActive <= 4, `${h.fake.maxActive} model calls at once`);
  assert.ok(h.fake.maxActive >= 2, `${h.fake.maxActive} model calls at once`);
  for (const s of [JOB_STREAMS.followup, JOB_STREAMS.email_extract]) {
    await waitFor(`acks on ${s}`, async () => await h.pendingCount(s) === 0 || undefined);
  }
});

Deno.test(
  "with one model slot, the next job is marked processing while one is at the model, and asks it right after",
  async () => {
    await using h = await startHarness({ worker: false, env: { WORKER_CONCURRENCY: "1" } });
    h.fake.setDefault({ content: "One at a time?", delayMs: 300 });
    const first = await h.createJob("followup", { message: "first" });
    const second = await h.createJob("followup", { message: "second" });
    await h.startWorker();
    // Both marked processing and the first one's request at the model (the request and the mark
    // go out together); the first holds the one slot for 300 ms.
    await waitFor("both jobs taken, the first at the model", async () => {
      const statuses = [(await h.getJob(first)).status, (await h.getJob(second)).status];
      return (statuses.every((s) => s === "processing") && h.fake.requests.length > 0) ||
        undefined;
    });
    assert.equal(h.fake.requests.length, 1, "the second job waits for the slot, not the model");
    const jobs = [await h.waitJob(first), await h.waitJob(second)];
    assert.ok(jobs.every((j) => j.status === "completed"));
    assert.equal(h.fake.requests.length, 2);
    assert.equal(h.fake.maxActive, 1, "never two model calls at once");
  },
);

/** The signals composed from `signal` that Deno still holds on to (its `[[dependentSignals]]`). */
function dependents(signal: AbortSignal): number {
  const key = Object.getOwnPropertySymbols(signal)
    .find((k) => k.description === "[[dependentSignals]]");
  const set = key ? (signal as unknown as Record<symbol, { size: number }>)[key] : undefined;
  return set?.size ?? 0;
}

Deno.test(
  "core client requests leave nothing on the caller's signal, and time out on their own",
  async () => {
    const h = await startHarness({ worker: false });
    const hung = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of hung) held.push(conn); // accepts, never answers
    })();
    try {
      const id = await h.createJob("followup", { message: "look me up" });
      const worker = new AbortController();
      let added = 0;
      let removed = 0;
      const add = worker.signal.addEventListener.bind(worker.signal);
      const remove = worker.signal.removeEventListener.bind(worker.signal);
      worker.signal.addEventListener = (...args: Parameters<typeof add>) => (added++, add(...args));
      worker.signal.removeEventListener = (...args: Parameters<typeof remove>) => (
        removed++, remove(...args)
      );
      const core = createCoreClient(h.server.url);
      for (let i = 0; i < 50; i++) {
        assert.equal((await core.getJob(id, { signal: worker.signal })).id, id);
      }
      // Composed with AbortSignal.any(), each request left an entry on the worker's signal.
      assert.equal(dependents(worker.signal), 0);
      assert.equal(added, 50);
      assert.equal(removed, 50);

      const port = (hung.addr as Deno.NetAddr).port;
      const slow = createCoreClient(`http://127.0.0.1:${port}`, { timeoutMs: 100 });
      await assert.rejects(
        slow.getJob(id, { signal: worker.signal }),
        (err: Error) => err instanceof TransientError && /timed out after 100 ms/.test(err.message),
      );
      assert.equal(removed, 51);
    } finally {
      hung.close();
      for (const c of held) c.close();
      await accepting.catch(() => {});
      await h.close();
    }
  },
);

Deno.test(
  "each job runs with its own signal, detached from the worker's once the job ends",
  async () => {
    await using h = await startHarness({ worker: false });
    h.fake.setDefault({ content: "Which one?" });
    const real = createLlmClient(h.config);
    const seen: AbortSignal[] = [];
    const llm: LlmClient = {
      text: (prompt, o = {}) => (o.signal && seen.push(o.signal), real.text(prompt, o)),
      json: (
        schema,
        prompt,
        o = {},
      ) => (o.signal && seen.push(o.signal), real.json(schema, prompt, o)),
      visionJson: (schema, prompt, o = {}) => (
        o.signal && seen.push(o.signal), real.visionJson(schema, prompt, o)
      ),
    };
    const w = await h.startWorker({ llm });
    const ids = [
      await h.createJob("followup", { message: "first" }),
      await h.createJob("followup", { message: "second" }),
    ];
    for (const id of ids) assert.equal((await h.waitJob(id)).status, "completed");
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0], seen[1]);
    // The model client composes its request signals from this one (AbortSignal.any); had it been
    // the worker's own signal, every model call would have left an entry there for good.
    await w.stop();
    assert.ok(seen.every((s) => !s.aborted), "finished jobs were detached from the worker");
  },
);

Deno.test("childSignal follows its parent until released", () => {
  const parent = new AbortController();
  const a = childSignal(parent.signal);
  const b = childSignal(parent.signal);
  b.release();
  parent.abort(new Error("stop"));
  assert.equal(a.signal.aborted, true);
  assert.equal((a.signal.reason as Error).message, "stop");
  assert.equal(b.signal.aborted, false);
  assert.equal(childSignal(parent.signal).signal.aborted, true);
});

Deno.test("a child of two signals aborts with either, and release detaches it from both", () => {
  const first = new AbortController();
  const second = new AbortController();
  const a = childSignal(first.signal, second.signal);
  const b = childSignal(first.signal, second.signal);
  b.release();
  second.abort(new Error("second"));
  assert.equal(a.signal.aborted, true);
  assert.equal((a.signal.reason as Error).message, "second");
  first.abort(new Error("first"));
  assert.equal((a.signal.reason as Error).message, "second", "the first abort wins");
  assert.equal(b.signal.aborted, false);
});

Deno.test("a core outage in mid-job does not use up the model's retries", async () => {
  // LLM_MAX_RETRIES is 3 in the harness. The core fails the memory write three times, then the
  // model fails once: with one counter for both, that fourth failure failed the job as "model
  // unreachable after 4 attempts" although the model had failed only once.
  await using h = await startHarness({ worker: false });
  const real = createCoreClient(h.server.url);
  let coreFailures = 0;
  await h.startWorker({
    core: {
      ...real,
      createMemory(body, o) {
        if (coreFailures < 3) {
          coreFailures++;
          return Promise.reject(new TransientError("core", "core POST /memories answered 503"));
        }
        return real.createMemory(body, o);
      },
    },
  });
  const note = jsonReply({ intent: "general_note" });
  h.fake.enqueue(note, note, note, { status: 503, message: "busy" }, note);
  const id = await h.createJob("intent_classify", { message: "buy stamps" });
  const job = await h.waitJob(id);
  assert.equal(job.status, "completed", job.error_message ?? "");
  assert.equal(coreFailures, 3);
  assert.equal(h.fake.requests.length, 5);
  assert.equal(typeof job.result.memory_id, "string");
});

Deno.test(
  "a poisoned model answer (300 KB of braces) is unusable output and stalls no other job",
  async () => {
    await using h = await startHarness();
    h.fake.when((r) => promptText(r).includes("Subject: Poison"), {
      content: "{".repeat(300_000),
    });
    h.fake.when(
      (r) => promptText(r).includes("Subject: Think"),
      { content: "<think>".repeat(5_000) + "{".repeat(5_000) },
    );
    h.fake.setDefault(jsonReply({ events: [] }));
    const poison = await h.createJob("email_extract", { subject: "Poison", body: "x" });
    const think = await h.createJob("email_extract", { subject: "Think", body: "x" });
    const fine = await h.createJob("email_extract", { subject: "Fine", body: "x" });
    assert.equal((await h.waitJob(fine)).status, "completed");
    const failed = await h.waitJob(poison);
    assert.equal(failed.status, "failed");
    assert.match(failed.error_message!, /300000 characters long \(LLM_MAX_ANSWER_CHARS/);
    // Under the size limit, the hostile shape still ends as unusable output.
    const thought = await h.waitJob(think);
    assert.equal(thought.status, "failed");
    assert.match(thought.error_message!, /no JSON object/);
  },
);

Deno.test("an HTTP 200 answer that is not JSON is unusable output, not an outage", async () => {
  await using h = await startHarness();
  h.fake.setDefault({ rawBody: "{<html>proxy says hi", rawType: "application/json" });
  const id = await h.createJob("followup", { message: "anything" });
  const job = await h.waitJob(id);
  assert.equal(job.status, "failed");
  assert.match(job.error_message!, /unusable after 3 attempts: .*not JSON/);
  assert.equal(h.fake.requests.length, 3);
  assert.deepEqual((await h.notifications()).map((n) => n.message_type), ["llm_failure"]);
});

Deno.test(
  "an entry delivered more than WORKER_MAX_DELIVERIES times fails its job instead of running again",
  async () => {
    await using h = await startHarness({
      worker: false,
      env: { WORKER_CLAIM_IDLE_SECONDS: "1", WORKER_MAX_DELIVERIES: "2" },
    });
    await ensureGroup(h.redis, Object.values(JOB_STREAMS));
    h.fake.setDefault({ content: "Never asked?" });
    const id = await h.createJob("followup", { message: "crashes its workers" });
    // Two consumers took it and died with it (the third delivery is the worker's claim).
    const [taken] = await readGroup(h.redis, "dead-1", { streams: [JOB_STREAMS.followup] });
    await h.redis.xclaim(JOB_STREAMS.followup, "llm-worker-group", "dead-2", 0, taken.id);
    await h.startWorker();
    const job = await h.waitJob(id);
    assert.equal(job.status, "failed");
    assert.match(job.error_message!, /delivered 3 times without finishing/);
    assert.equal(h.fake.requests.length, 0, "the model was never asked");
    const dead = await h.deadLetters();
    assert.deepEqual(dead.map((d) => d.reason), ["too_many_deliveries"]);
    const notes = await h.notifications();
    assert.deepEqual(notes.map((n) => n.message_type), ["llm_failure"]);
  },
);

Deno.test(
  "a huge malformed entry is parked with a bounded copy, acked, and logged briefly",
  async () => {
    await using h = await startHarness();
    const hugeId = "x".repeat(1_000_000);
    await publish(h.redis, JOB_STREAMS.followup, {
      job_id: hugeId,
      job_type: "followup",
      payload: {},
    });
    const dead = await waitFor("dead letter", async () => {
      const d = await h.deadLetters();
      return d.length === 1 ? d : undefined;
    });
    assert.equal(dead[0].reason, "malformed_entry");
    assert.match(dead[0].error, /job_id: must be a UUID/);
    assert.equal(dead[0].message.truncated, true);
    await waitFor(
      "ack",
      async () => await h.pendingCount(JOB_STREAMS.followup) === 0 || undefined,
    );
    assert.ok(
      h.logs.every((l) => l.length < 20_000),
      "no log line carries the whole entry",
    );
  },
);
