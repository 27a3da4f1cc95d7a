import assert from "node:assert/strict";
import {
  deadLetterOnce,
  notifyOnce,
  publishOnce,
  resultNotifications,
} from "../../llm_worker/notifications.ts";
import { DEAD_LETTER_STREAM, NOTIFY_STREAM } from "../../shared/streams.ts";
import { itest } from "../helpers/core_app.ts";
import { testRedis } from "../helpers/redis_server.ts";

itest("publishOnce appends once per marker, with the marker expiring in 7 days", async () => {
  const r = await testRedis();
  try {
    const first = await publishOnce(r.client, "m:1", { stream: "s", data: { a: 1 } });
    const second = await publishOnce(r.client, "m:1", { stream: "s", data: { a: 2 } });
    assert.ok(first);
    assert.equal(second, null);
    const entries = await r.client.xrange("s", "-", "+");
    assert.equal(entries.length, 1);
    assert.deepEqual(entries[0][1], ["data", '{"a":1}']);
    const ttl = await r.client.ttl("m:1");
    assert.ok(ttl > 604000 && ttl <= 604800, String(ttl));
  } finally {
    await r.close();
  }
});

itest("notifyOnce and deadLetterOnce dedupe per job", async () => {
  const r = await testRedis();
  try {
    const item = (jobId: string) => ({
      jobId,
      n: "0",
      notification: {
        user_id: 7,
        message_type: "llm_followup_result" as const,
        content: { question: "Which one?" },
      },
    });
    assert.equal(await notifyOnce(r.client, item("job-1")), true);
    assert.equal(await notifyOnce(r.client, item("job-1")), false);
    assert.equal(await notifyOnce(r.client, item("job-2")), true);
    assert.equal(await r.client.xlen(NOTIFY_STREAM), 2);
    assert.equal(await r.client.exists("notified:job-1:0"), 1);
    const dl = {
      reason: "bad_output",
      error: "no JSON",
      stream: "llm:intent",
      entry_id: "1-0",
      job_id: "job-1",
      job_type: "intent_classify",
      message: { job_id: "job-1" },
      dead_lettered_at: new Date().toISOString(),
    };
    assert.equal(await deadLetterOnce(r.client, dl), true);
    assert.equal(await deadLetterOnce(r.client, dl), false);
    assert.equal(await deadLetterOnce(r.client, { ...dl, job_id: null, entry_id: "2-0" }), true);
    assert.equal(await r.client.xlen(DEAD_LETTER_STREAM), 2);
  } finally {
    await r.close();
  }
});

Deno.test("resultNotifications derives notifications from the result alone", () => {
  const job = (job_type: string, user_id: number | null = 5) =>
    ({ id: "j", job_type, user_id }) as Parameters<typeof resultNotifications>[0];
  assert.deepEqual(resultNotifications(job("followup"), { question: "Q?" }), [{
    jobId: "j",
    n: "0",
    notification: {
      user_id: 5,
      message_type: "llm_followup_result",
      content: { question: "Q?", job_id: "j" },
    },
  }]);
  assert.deepEqual(resultNotifications(job("followup", null), { question: "Q?" }), []);
  assert.deepEqual(resultNotifications(job("task_match"), { task_id: null, memory_id: "m" }), []);
  assert.equal(
    resultNotifications(job("task_match"), { task_id: "t", memory_id: "m" })[0].notification
      .message_type,
    "llm_task_match_result",
  );
  const email = resultNotifications(job("email_extract"), {
    events: [{ event_id: "e1" }, { event_id: "e2" }],
  });
  assert.deepEqual(email.map((e) => [e.n, e.notification.message_type]), [
    ["0", "event_confirmation"],
    ["1", "event_confirmation"],
  ]);
  assert.equal(
    resultNotifications(job("image_tag"), {})[0].notification.message_type,
    "llm_image_tag_result",
  );
  assert.equal(
    resultNotifications(job("intent_classify"), {})[0].notification.message_type,
    "llm_intent_result",
  );
});
