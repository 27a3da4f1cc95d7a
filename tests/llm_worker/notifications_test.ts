import assert from "node:assert/strict";
import {
  deadLetterOnce,
  type FailingJob,
  failureNotices,
  notificationProblems,
  notifyOnce,
  outageNotice,
  publishOnce,
  resultNotifications,
} from "../../llm_worker/notifications.ts";
import type { JobType } from "../../shared/enums.ts";
import { DEAD_LETTER_STREAM, NOTIFY_STREAM } from "../../shared/streams.ts";
import { sanitizeTests } from "../helpers/core_app.ts";
import { testRedis } from "../helpers/redis_server.ts";

await sanitizeTests();

Deno.test("publishOnce appends once per marker, with the marker expiring in 7 days", async () => {
  await using r = await testRedis();
  const first = await publishOnce(r.client, "m:1", { stream: "s", data: { a: 1 } });
  const second = await publishOnce(r.client, "m:1", { stream: "s", data: { a: 2 } });
  assert.ok(first);
  assert.equal(second, null);
  const entries = await r.client.xrange("s", "-", "+");
  assert.equal(entries.length, 1);
  assert.deepEqual(entries[0][1], ["data", '{"a":1}']);
  const ttl = await r.client.ttl("m:1");
  assert.ok(ttl > 604000 && ttl <= 604800, String(ttl));
});

Deno.test("notifyOnce and deadLetterOnce dedupe per job", async () => {
  await using r = await testRedis();
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

const failing = (
  job_type: JobType,
  payload: Record<string, unknown> | null,
  user_id: number | null = 5,
): FailingJob => ({ id: "job-9", job_type, user_id, payload });

Deno.test("outageNotice: one llm_failure, marker `outage`, saying it will retry", () => {
  const notices = outageNotice(failing("followup", { memory_id: "m1", message: "hi" }));
  assert.equal(notices.length, 1);
  const [n] = notices;
  assert.equal(n.jobId, "job-9");
  assert.equal(n.n, "outage");
  assert.equal(n.notification.user_id, 5);
  assert.equal(n.notification.message_type, "llm_failure");
  const content = n.notification.content;
  assert.deepEqual(Object.keys(content).sort(), [
    "job_id",
    "job_type",
    "memory_id",
    "message",
    "will_retry",
  ]);
  assert.equal(content.will_retry, true);
  assert.equal(content.job_type, "followup");
  assert.equal(content.memory_id, "m1");
  assert.equal(content.job_id, "job-9");
  assert.match(content.message as string, /prepare a follow-up question/);
  assert.match(content.message as string, /retry automatically/);
  assert.deepEqual(notificationProblems(notices), []);
  assert.deepEqual(outageNotice(failing("followup", {}, null)), []);
  // No memory in the payload: memory_id is null, still a valid notification.
  const bare = outageNotice(failing("intent_classify", null));
  assert.equal(bare[0].notification.content.memory_id, null);
  assert.deepEqual(notificationProblems(bare), []);
});

Deno.test("failureNotices: llm_failure with the detail, marker `failure`, no expiry", () => {
  const notices = failureNotices(failing("image_tag", { memory_id: "m2" }), {
    detail: "the image is no longer there",
  });
  assert.deepEqual(notices.map((n) => [n.n, n.notification.message_type]), [
    ["failure", "llm_failure"],
  ]);
  assert.deepEqual(notices[0].notification.content, {
    job_type: "image_tag",
    memory_id: "m2",
    message: "Sorry, I could not tag your image: the image is no longer there",
    job_id: "job-9",
  });
  const plain = failureNotices(failing("task_match", { memory_id: "m3" }), {});
  assert.equal(
    plain[0].notification.content.message,
    "Sorry, I could not check your note against your tasks.",
  );
  assert.deepEqual(notificationProblems([...notices, ...plain]), []);
  assert.deepEqual(failureNotices(failing("image_tag", { memory_id: "m2" }, null), {}), []);
});

Deno.test("failureNotices after an outage: llm_failure and llm_expiry (marker `expiry`)", () => {
  const notices = failureNotices(
    failing("intent_classify", { memory_id: "m4", message: "what did I note on Monday?" }),
    { outage: { duration: "24 hours" } },
  );
  assert.deepEqual(notices.map((n) => [n.jobId, n.n, n.notification.message_type]), [
    ["job-9", "failure", "llm_failure"],
    ["job-9", "expiry", "llm_expiry"],
  ]);
  assert.match(notices[0].notification.content.message as string, /24 hours/);
  assert.equal(notices[1].notification.user_id, 5);
  assert.deepEqual(notices[1].notification.content, {
    job_type: "intent_classify",
    memory_id: "m4",
    original_message: "what did I note on Monday?",
    failure_type: "llm_unavailable",
    job_id: "job-9",
  });
  assert.deepEqual(notificationProblems(notices), []);
  // The original message comes from whichever text the payload carries, or is null.
  const original = (payload: Record<string, unknown> | null) =>
    failureNotices(failing("email_extract", payload), { outage: { duration: "2 hours" } })[1]
      .notification.content.original_message;
  assert.equal(original({ query: "q" }), "q");
  assert.equal(original({ memory_content: "note" }), "note");
  assert.equal(original({ subject: "Dinner" }), "Dinner");
  assert.equal(original({ message: 5 }), null);
  assert.equal(original(null), null);
  assert.deepEqual(
    failureNotices(failing("email_extract", {}, null), { outage: { duration: "2 hours" } }),
    [],
  );
});

Deno.test("notificationProblems flags an empty followup question and passes a good one", () => {
  const job = { id: "j", job_type: "followup" as const, user_id: 5 };
  assert.deepEqual(notificationProblems(resultNotifications(job, { question: "Which?" })), []);
  for (const question of ["", "   "]) {
    const problems = notificationProblems(resultNotifications(job, { question }));
    assert.equal(problems.length, 1);
    assert.match(problems[0], /^llm_followup_result: .*question/);
  }
  const missing = notificationProblems(resultNotifications(job, {}));
  assert.equal(missing.length, 1);
  assert.match(missing[0], /^llm_followup_result: /);
});

Deno.test("event_confirmation content carries event_date (= event_time when missing)", () => {
  const job = { id: "j", job_type: "email_extract" as const, user_id: 5 };
  const notices = resultNotifications(job, {
    events: [
      { event_id: "e1", description: "Dentist", event_time: "2026-03-01T09:00:00Z" },
      {
        event_id: "e2",
        description: "Dinner",
        event_time: "2026-03-02T19:00:00Z",
        event_date: "2 March, 19:00",
      },
    ],
  });
  assert.deepEqual(notices[0].notification.content, {
    event_id: "e1",
    description: "Dentist",
    event_time: "2026-03-01T09:00:00Z",
    event_date: "2026-03-01T09:00:00Z",
    job_id: "j",
  });
  assert.equal(notices[1].notification.content.event_date, "2 March, 19:00");
  assert.deepEqual(notificationProblems(notices), []);
  // Without either, the gateway would show an empty date: flagged.
  const undated = resultNotifications(job, { events: [{ event_id: "e3", description: "?" }] });
  assert.equal(notificationProblems(undated).length, 1);
  assert.match(notificationProblems(undated)[0], /^event_confirmation: .*event_date/);
});
