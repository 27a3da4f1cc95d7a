import assert from "node:assert/strict";
import { sanitizeTests } from "../helpers/core_app.ts";
import { testRedis } from "../helpers/redis_server.ts";
import {
  ack,
  ALL_JOB_STREAMS,
  autoClaim,
  DEAD_LETTER_STREAM,
  ensureGroup,
  NOTIFY_STREAM,
  parseEntry,
  publish,
  readGroup,
  WORKER_GROUP,
} from "../../shared/streams.ts";

await sanitizeTests();

Deno.test("stream names and group match DESIGN.md section 4", () => {
  assert.deepEqual([...ALL_JOB_STREAMS], [
    "llm:image_tag",
    "llm:intent",
    "llm:followup",
    "llm:task_match",
    "llm:email_extract",
  ]);
  assert.equal(WORKER_GROUP, "llm-worker-group");
  assert.equal(NOTIFY_STREAM, "notify:telegram");
  assert.ok(!ALL_JOB_STREAMS.includes(DEAD_LETTER_STREAM));
});

Deno.test("parseEntry reads data and reports malformed entries instead of throwing", () => {
  assert.deepEqual(parseEntry("s", ["1-0", ["data", '{"a":1}']]), {
    stream: "s",
    id: "1-0",
    data: { a: 1 },
  });
  // `data` need not be the first field.
  assert.deepEqual(parseEntry("s", ["1-1", ["x", "y", "data", "[1]"]]).data, [1]);
  const cases: [string, string[] | null, RegExp][] = [
    ["no data field", ["payload", "{}"], /no `data` field/],
    ["no fields", [], /no `data` field/],
    ["null fields", null, /no `data` field/],
    ["data only as a value", ["other", "data"], /no `data` field/],
    ["data without a value", ["data"], /no `data` field/],
    ["not JSON", ["data", "{oops"], /not JSON/],
    ["empty", ["data", ""], /not JSON/],
  ];
  for (const [what, fields, error] of cases) {
    const e = parseEntry("llm:intent", ["5-0", fields as string[]]);
    assert.equal(e.stream, "llm:intent", what);
    assert.equal(e.id, "5-0", what);
    assert.equal(e.data, undefined, what);
    assert.match(e.error ?? "", error, what);
  }
});

Deno.test("publish writes one `data` field holding JSON and returns the entry id", async () => {
  await using r = await testRedis();
  const message = {
    job_id: "j1",
    job_type: "followup",
    payload: { message: 'é ✓ "q"' },
    user_id: 3,
  };
  const id = await publish(r.client, "llm:followup", message);
  assert.match(id, /^\d+-\d+$/);
  const entries = await r.client.xrange("llm:followup", "-", "+");
  assert.equal(entries.length, 1);
  assert.equal(entries[0][0], id);
  assert.deepEqual(entries[0][1], ["data", JSON.stringify(message)]);
  // MAXLEN ~ trims, approximately.
  for (let i = 0; i < 300; i++) await publish(r.client, "trimmed", { i }, { maxLen: 10 });
  assert.ok(await r.client.xlen("trimmed") < 300);
});

Deno.test("ensureGroup is idempotent, creates missing streams, and rethrows other errors", async () => {
  await using r = await testRedis();
  await ensureGroup(r.client, ALL_JOB_STREAMS);
  await ensureGroup(r.client, ALL_JOB_STREAMS);
  for (const stream of ALL_JOB_STREAMS) {
    assert.equal(await r.client.exists(stream), 1, stream);
    const groups = await r.client.xinfo("GROUPS", stream) as unknown[][];
    assert.equal(groups.length, 1);
    assert.equal(groups[0][groups[0].indexOf("name") + 1], WORKER_GROUP);
  }
  await r.client.set("not-a-stream", "x");
  await assert.rejects(ensureGroup(r.client, ["not-a-stream"]), /WRONGTYPE|key/i);
  // A group made after entries were added still delivers them (created at 0).
  await publish(r.client, "early", { n: 1 });
  await ensureGroup(r.client, ["early"], "g");
  const got = await readGroup(r.client, "c", { streams: ["early"], group: "g" });
  assert.deepEqual(got.map((e) => e.data), [{ n: 1 }]);
});

Deno.test(
  "readGroup reads new entries over several streams; ack clears them from the pending list",
  async () => {
    await using r = await testRedis();
    const streams = ["llm:intent", "llm:followup"];
    await ensureGroup(r.client, streams);
    assert.deepEqual(await readGroup(r.client, "c1", { streams, blockMs: 10 }), []);
    await publish(r.client, "llm:intent", { n: 1 });
    await publish(r.client, "llm:followup", { n: 2 });
    await r.client.xadd("llm:intent", "*", "junk", "x");
    const got = await readGroup(r.client, "c1", { streams, count: 10 });
    assert.equal(got.length, 3);
    assert.deepEqual(got.map((e) => [e.stream, e.data]), [
      ["llm:intent", { n: 1 }],
      ["llm:intent", undefined],
      ["llm:followup", { n: 2 }],
    ]);
    assert.match(got[1].error ?? "", /no `data`/);
    // Read once: a second consumer gets nothing new.
    assert.deepEqual(await readGroup(r.client, "c2", { streams }), []);
    const pending = async () =>
      (await r.client.xpending("llm:intent", WORKER_GROUP) as [number])[0] +
      (await r.client.xpending("llm:followup", WORKER_GROUP) as [number])[0];
    assert.equal(await pending(), 3);
    // The malformed entry is acked like any other, so it cannot block its stream.
    for (const e of got) await ack(r.client, e);
    assert.equal(await pending(), 0);
    // count bounds the read.
    for (let i = 0; i < 5; i++) await publish(r.client, "llm:intent", { i });
    assert.equal((await readGroup(r.client, "c1", { streams, count: 2 })).length, 2);
  },
);

Deno.test(
  "autoClaim takes over entries another consumer left pending, skipping deleted ones",
  async () => {
    await using r = await testRedis();
    const streams = ["llm:task_match", "llm:email_extract"];
    await ensureGroup(r.client, streams);
    await publish(r.client, "llm:task_match", { n: 1 });
    const gone = await publish(r.client, "llm:task_match", { n: 2 });
    await publish(r.client, "llm:email_extract", { n: 3 });
    const taken = await readGroup(r.client, "crashed", { streams, count: 10 });
    assert.equal(taken.length, 3);
    // Not idle long enough yet.
    assert.deepEqual(await autoClaim(r.client, "rescuer", { streams, minIdleMs: 60_000 }), []);
    await r.client.xdel("llm:task_match", gone);
    const claimed = await autoClaim(r.client, "rescuer", { streams, minIdleMs: 0 });
    assert.deepEqual(
      claimed.map((e) => e.data).sort((a, b) => (a as { n: number }).n - (b as { n: number }).n),
      [
        { n: 1 },
        { n: 3 },
      ],
    );
    assert.ok(claimed.every((e) => e.redelivered === true), "taken-over entries say so");
    assert.ok(taken.every((e) => e.redelivered === undefined), "first deliveries do not");
    const owners = await r.client.xpending("llm:task_match", WORKER_GROUP, "-", "+", 10) as [
      string,
      string,
    ][];
    assert.ok(owners.every(([, consumer]) => consumer === "rescuer"), JSON.stringify(owners));
    for (const e of claimed) await ack(r.client, e);
    assert.deepEqual(await autoClaim(r.client, "rescuer", { streams, minIdleMs: 0 }), []);
  },
);
