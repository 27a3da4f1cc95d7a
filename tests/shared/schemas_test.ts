import assert from "node:assert/strict";
import {
  isoDateTime,
  jobMessage,
  llmJobCreate,
  llmJobListQuery,
  llmJobUpdate,
  notification,
  toUtcIso,
  uuid,
} from "../../shared/schemas.ts";
import { JOB_TYPE_INFO } from "../../shared/job_types.ts";

const PAYLOADS = Object.fromEntries(
  Object.entries(JOB_TYPE_INFO).map(([t, info]) => [t, info.payload]),
) as { [T in keyof typeof JOB_TYPE_INFO]: (typeof JOB_TYPE_INFO)[T]["payload"] };
import { JOB_TYPES, MESSAGE_TYPES } from "../../shared/enums.ts";
import { JOB_STREAMS } from "../../shared/streams.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("toUtcIso normalizes offsets to UTC with Z", () => {
  const cases: [string, string][] = [
    ["2026-01-31T09:00:00Z", "2026-01-31T09:00:00.000Z"],
    ["2026-01-31T09:00:00z", "2026-01-31T09:00:00.000Z"],
    ["2026-01-31T09:00:00+08:00", "2026-01-31T01:00:00.000Z"],
    ["2026-01-31T09:00:00+0800", "2026-01-31T01:00:00.000Z"],
    ["2026-01-31T09:00:00-05:30", "2026-01-31T14:30:00.000Z"],
    ["2026-01-31T23:30:00-05:00", "2026-02-01T04:30:00.000Z"],
    ["2026-03-01T00:30:00+08:00", "2026-02-28T16:30:00.000Z"],
    // No offset: UTC, as the first version assumed.
    ["2026-01-31T09:00:00", "2026-01-31T09:00:00.000Z"],
    ["2026-01-31 09:00", "2026-01-31T09:00:00.000Z"],
    ["2026-01-31T09:00", "2026-01-31T09:00:00.000Z"],
    // Python's microseconds are cut to milliseconds.
    ["2026-01-31T09:00:00.123456", "2026-01-31T09:00:00.123Z"],
    ["2026-01-31T09:00:00.123456789+05:30", "2026-01-31T03:30:00.123Z"],
    ["2024-02-29T12:00:00Z", "2024-02-29T12:00:00.000Z"],
  ];
  for (const [input, want] of cases) assert.equal(toUtcIso(input), want, input);
  // Idempotent on its own output.
  for (const [, want] of cases) assert.equal(toUtcIso(want), want);
});

Deno.test("toUtcIso rejects junk", () => {
  const junk = [
    "",
    "tomorrow",
    "2026-01-31",
    "31/01/2026 09:00",
    "2026-13-01T00:00:00Z",
    "2026-01-32T00:00:00Z",
    "2026-01-31T25:00:00Z",
    "2026-01-31T09:60:00Z",
    "2026-01-31T09:00:61Z",
    "2026-01-31T09:00:00+25:00",
    "2026-01-31T09:00:00 UTC",
    "2026-01-31T09:00:00Z trailing",
    " 2026-01-31T09:00:00Z",
    "1706691600",
    "2026-01-31T09:00:00.Z",
  ];
  for (const value of junk) assert.equal(toUtcIso(value), null, JSON.stringify(value));
});

Deno.test("toUtcIso rejects calendar days that do not exist instead of rolling them over", () => {
  // Date.parse turns 2026-02-30 into 2026-03-02; a reminder must not silently move.
  for (const value of ["2026-02-30T09:00:00Z", "2026-02-29T09:00:00Z", "2026-04-31T09:00:00Z"]) {
    assert.equal(toUtcIso(value), null, value);
  }
});

Deno.test("isoDateTime parses to the normalized string and explains a failure", () => {
  assert.equal(isoDateTime.parse("2026-01-31T09:00:00+01:00"), "2026-01-31T08:00:00.000Z");
  const bad = isoDateTime.safeParse("soon");
  assert.equal(bad.success, false);
  assert.match(bad.error!.issues[0].message, /ISO 8601/);
  assert.equal(isoDateTime.safeParse(12).success, false);
});

Deno.test("uuid accepts any-case UUIDs only", () => {
  assert.ok(uuid.safeParse(crypto.randomUUID()).success);
  assert.ok(uuid.safeParse(crypto.randomUUID().toUpperCase()).success);
  for (const v of ["", "nope", "1234", `${crypto.randomUUID()}x`, `{${crypto.randomUUID()}}`]) {
    assert.equal(uuid.safeParse(v).success, false, v);
  }
});

Deno.test("every job type has a payload schema and a stream, as in DESIGN.md section 4", () => {
  assert.deepEqual(Object.keys(PAYLOADS).sort(), [...JOB_TYPES].sort());
  assert.deepEqual(JOB_STREAMS, {
    image_tag: "llm:image_tag",
    intent_classify: "llm:intent",
    followup: "llm:followup",
    task_match: "llm:task_match",
    email_extract: "llm:email_extract",
  });
});

Deno.test("job payload schemas take the documented shapes and keep unknown keys", () => {
  const ok: [keyof typeof PAYLOADS, Record<string, unknown>][] = [
    ["image_tag", { memory_id: "m", image_path: "a.jpg" }],
    ["intent_classify", { message: "hi" }],
    ["intent_classify", { query: "legacy name" }],
    ["intent_classify", {
      message: "hi",
      memory_id: null,
      original_timestamp: "2026-01-31T09:00:00Z",
      followup_context: { followup_question: "when?", user_answer: "friday" },
    }],
    ["followup", { message: "x", context: null }],
    ["task_match", { memory_id: "m", memory_content: "milk" }],
    ["email_extract", { subject: "", body: "" }],
  ];
  for (const [type, payload] of ok) {
    const parsed = PAYLOADS[type].safeParse({ ...payload, extra: 1 });
    assert.ok(parsed.success, `${type} ${JSON.stringify(payload)}`);
    assert.equal((parsed.data as Record<string, unknown>).extra, 1);
  }
  const intent = PAYLOADS.intent_classify.safeParse({});
  assert.equal(intent.success, false);
  assert.deepEqual(intent.error!.issues[0].path, ["message"]);
  assert.equal(PAYLOADS.image_tag.safeParse({ memory_id: "m" }).success, false);
  assert.equal(PAYLOADS.followup.safeParse({ message: "" }).success, false);
});

Deno.test("llm job request schemas", () => {
  assert.ok(llmJobCreate.safeParse({ job_type: "followup", payload: {} }).success);
  assert.ok(llmJobCreate.safeParse({ job_type: "followup", payload: {}, user_id: null }).success);
  for (
    const bad of [
      { job_type: "other", payload: {} },
      { job_type: "followup", payload: [] },
      { job_type: "followup", payload: {}, user_id: 2 ** 60 },
      { job_type: "followup" },
    ]
  ) {
    assert.equal(llmJobCreate.safeParse(bad).success, false, JSON.stringify(bad));
  }
  assert.ok(llmJobUpdate.safeParse({}).success);
  assert.ok(llmJobUpdate.safeParse({ status: "failed", error_message: "x", result: null }).success);
  assert.equal(llmJobUpdate.safeParse({ status: "cancelled" }).success, false);
  assert.deepEqual(llmJobListQuery.parse({}), { limit: 50, offset: 0 });
  assert.deepEqual(llmJobListQuery.parse({ limit: "5", offset: "2", user_id: "7" }), {
    limit: 5,
    offset: 2,
    user_id: 7,
  });
  assert.equal(llmJobListQuery.safeParse({ limit: "1001" }).success, false);
});

const JOB_ID = "6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f";

Deno.test("stream message schemas: job message and notification", () => {
  assert.ok(
    jobMessage.safeParse({ job_id: JOB_ID, job_type: "followup", payload: {}, user_id: null })
      .success,
  );
  assert.ok(jobMessage.safeParse({ job_id: JOB_ID, job_type: "followup", payload: {} }).success);
  assert.equal(jobMessage.safeParse({ job_id: JOB_ID, job_type: "x", payload: {} }).success, false);
  // The id goes into a URL and log lines: anything but a UUID is a malformed message.
  for (const job_id of ["j", "x".repeat(1_000_000), "../../admin"]) {
    assert.equal(
      jobMessage.safeParse({ job_id, job_type: "followup", payload: {} }).success,
      false,
    );
  }
  // Every type has keys the gateway reads, so an empty content is never a valid notification.
  for (const message_type of MESSAGE_TYPES) {
    assert.equal(notification.safeParse({ user_id: 1, message_type, content: {} }).success, false);
  }
  const reminder = {
    reminder_id: "r",
    memory_id: "m",
    memory_content: "Plumber",
    fire_at: "2026-03-10T09:00:00.000Z",
  };
  assert.ok(
    notification.safeParse({ user_id: 1, message_type: "reminder", content: reminder })
      .success,
  );
  assert.equal(
    notification.safeParse({
      user_id: 1,
      message_type: "reminder",
      content: { ...reminder, memory_content: " " },
    }).success,
    false,
  );
  assert.equal(
    notification.safeParse({ user_id: 1, message_type: "shout", content: {} }).success,
    false,
  );
  assert.equal(
    notification.safeParse({ user_id: "1", message_type: "reminder", content: {} }).success,
    false,
  );
});
