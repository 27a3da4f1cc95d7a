import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { type Dispatcher, startDispatcher, type WorkGate } from "../../llm_worker/dispatcher.ts";
import { Notifier } from "../../llm_worker/notifier.ts";
import { silentLogger } from "../../shared/log.ts";
import {
  ack,
  ALL_JOB_STREAMS,
  ensureGroup,
  JOB_STREAMS,
  publish,
  readGroup,
  type StreamEntry,
  WORKER_GROUP,
} from "../../shared/streams.ts";
import { sanitizeTests } from "../helpers/core_app.ts";
import { until as waitUntil } from "../helpers/fixtures.ts";
import { testRedis } from "../helpers/redis_server.ts";

await sanitizeTests();

/** The shared wait, with the 15 s these Redis-backed loops had. */
const until = (cond: () => boolean | Promise<boolean>, what: string) =>
  waitUntil(cond, what, { timeoutMs: 15_000 });

/** Give the loops time to do what they should not (a read, a start). */
const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

/** Entry ids are per stream: two streams can hold the same id. */
const keyOf = (e: StreamEntry) => `${e.stream} ${e.id}`;

/** A `run` that records entries and finishes each when the test says. */
function stubRun() {
  const started: StreamEntry[] = [];
  const finishers = new Map<string, () => void>();
  let running = 0;
  let maxRunning = 0;
  return {
    started,
    running: () => running,
    maxRunning: () => maxRunning,
    run(entry: StreamEntry): Promise<void> {
      started.push(entry);
      running++;
      maxRunning = Math.max(maxRunning, running);
      return new Promise((resolve) =>
        finishers.set(keyOf(entry), () => {
          running--;
          resolve();
        })
      );
    },
    finish(entry: StreamEntry): void {
      const f = finishers.get(keyOf(entry));
      assert.ok(f, `entry ${keyOf(entry)} is not running`);
      finishers.delete(keyOf(entry));
      f();
    },
    finishAll(): void {
      for (const [id, f] of [...finishers]) {
        finishers.delete(id);
        f();
      }
    },
  };
}

/** A gate whose allowance the test sets. */
function fakeGate(initial = Infinity): WorkGate & { set(n: number): void } {
  let allowance = initial;
  const changes = new Notifier();
  return {
    set(n) {
      allowance = n;
      changes.notify();
    },
    allowance: () => allowance,
    changed: (signal) => changes.wait(signal),
  };
}

interface Setup {
  redis: Redis;
  stub: ReturnType<typeof stubRun>;
  gate: ReturnType<typeof fakeGate>;
  poisoned: [StreamEntry, number][];
  dispatcher: Dispatcher;
  stopping: AbortController;
  consumer: string;
  stop(graceMs?: number): Promise<void>;
}

async function setUp(
  options: {
    concurrency?: number;
    allowance?: number;
    blockMs?: number;
    claimIdleMs?: number;
    maxDeliveries?: number;
    before?: (redis: Redis) => Promise<void>;
  } = {},
): Promise<Setup & AsyncDisposable & { close(): Promise<void> }> {
  const r = await testRedis();
  await options.before?.(r.client);
  const reader = new Redis(r.url, { maxRetriesPerRequest: 1 });
  const stub = stubRun();
  const gate = fakeGate(options.allowance ?? Infinity);
  const poisoned: [StreamEntry, number][] = [];
  const stopping = new AbortController();
  const consumer = "live";
  const dispatcher = startDispatcher({
    redis: r.client,
    reader,
    consumer,
    concurrency: options.concurrency ?? 2,
    blockMs: options.blockMs ?? 100,
    claimIdleMs: options.claimIdleMs ?? 600_000,
    claimIntervalMs: 20,
    maxDeliveries: options.maxDeliveries ?? 5,
    log: silentLogger,
    gate,
    stopping: stopping.signal,
    run: (entry) => stub.run(entry),
    poisoned: async (entry, deliveries) => {
      poisoned.push([entry, deliveries]);
      // As the worker does: park it, then ack it so it is not claimed again.
      await ack(r.client, entry);
    },
  });
  await dispatcher.ready;
  const close = async () => {
    stub.finishAll();
    await stop();
    await dispatcher.settled();
    await r.close();
  };
  let stopped: Promise<void> | undefined;
  const stop = (graceMs = 10_000) =>
    stopped ??= (async () => {
      stopping.abort();
      reader.disconnect();
      await dispatcher.drain(graceMs);
    })();
  return {
    redis: r.client,
    stub,
    gate,
    poisoned,
    dispatcher,
    stopping,
    consumer,
    stop,
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function pendingCount(redis: Redis): Promise<number> {
  let total = 0;
  for (const stream of ALL_JOB_STREAMS) {
    const [count] = await redis.xpending(stream, WORKER_GROUP) as [number, ...unknown[]];
    total += Number(count);
  }
  return total;
}

/** Is a connection blocked in XREADGROUP right now? */
async function readerBlocked(redis: Redis): Promise<boolean> {
  const list = await redis.client("LIST") as string;
  return list.split("\n").some((l) => /cmd=xreadgroup/.test(l) && /flags=\S*b/.test(l));
}

Deno.test("dispatcher never runs more than `concurrency` entries at once", async () => {
  await using s = await setUp({ concurrency: 2 });
  const streams = Object.values(JOB_STREAMS);
  for (let i = 0; i < 7; i++) await publish(s.redis, streams[i % streams.length], { n: i });
  const seen = new Set<string>();
  while (seen.size < 7) {
    await until(() => s.stub.running() === 2 || seen.size + s.stub.running() === 7, "slots");
    assert.ok(s.stub.running() <= 2);
    assert.ok(s.dispatcher.inFlight() <= 2);
    // Finish the oldest running entry; the next one takes its slot.
    const next = s.stub.started.find((e) => !seen.has(keyOf(e)))!;
    seen.add(keyOf(next));
    s.stub.finish(next);
  }
  assert.equal(s.stub.started.length, 7);
  assert.deepEqual(
    s.stub.started.map((e) => (e.data as { n: number }).n).sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6],
  );
  assert.equal(s.stub.maxRunning(), 2);
});

Deno.test("a closed gate stops reads (entries stay unread) and reopening it resumes", async () => {
  await using s = await setUp({ allowance: 0, blockMs: 60_000 });
  await publish(s.redis, JOB_STREAMS.followup, { n: 1 });
  await publish(s.redis, JOB_STREAMS.intent_classify, { n: 2 });
  await settle();
  assert.equal(await pendingCount(s.redis), 0, "nothing delivered");
  assert.equal(s.stub.started.length, 0);
  s.gate.set(Infinity);
  await until(() => s.stub.started.length === 2, "both entries to run");
  assert.equal(await pendingCount(s.redis), 2);
  s.stub.finishAll();
  // Reading again, blocked on the empty streams: closing the gate cuts the blocked read.
  await until(() => readerBlocked(s.redis), "a blocked read");
  s.gate.set(0);
  await until(async () => !(await readerBlocked(s.redis)), "the read to be cut");
  await publish(s.redis, JOB_STREAMS.task_match, { n: 3 });
  await settle();
  assert.equal(await pendingCount(s.redis), 2, "the new entry was not read");
  assert.equal(s.stub.started.length, 2);
  s.gate.set(1);
  await until(() => s.stub.started.length === 3, "the third entry");
  assert.deepEqual(s.stub.started[2].data, { n: 3 });
});

Deno.test(
  "an entry a dead consumer left pending is claimed; one delivered too often is poisoned",
  async () => {
    let left!: string, poison!: string;
    await using s = await setUp({
      claimIdleMs: 50,
      maxDeliveries: 2,
      async before(redis) {
        await ensureGroup(redis, ALL_JOB_STREAMS);
        left = await publish(redis, JOB_STREAMS.followup, { n: "left" });
        poison = await publish(redis, JOB_STREAMS.image_tag, { n: "poison" });
        const read = await readGroup(redis, "dead", { streams: ALL_JOB_STREAMS, count: 10 });
        assert.equal(read.length, 2);
        // The poison entry has been delivered twice already; a claim makes it three.
        await redis.xclaim(JOB_STREAMS.image_tag, WORKER_GROUP, "dead", 0, poison, "RETRYCOUNT", 2);
      },
    });
    await until(() => s.stub.started.length === 1 && s.poisoned.length === 1, "claims");
    assert.equal(s.stub.started[0].id, left);
    assert.deepEqual(s.stub.started[0].data, { n: "left" });
    assert.equal(s.poisoned[0][0].id, poison);
    assert.equal(s.poisoned[0][1], 3);
    // The claimed entry is ours now.
    const rows = await s.redis.xpending(JOB_STREAMS.followup, WORKER_GROUP, "-", "+", 10) as [
      string,
      string,
      number,
      number,
    ][];
    assert.equal(rows.length, 1);
    assert.equal(rows[0][1], s.consumer);
    await settle();
    assert.equal(s.stub.started.length, 1, "a running entry is not claimed twice");
    assert.equal(s.poisoned.length, 1);
  },
);

Deno.test("drain() waits for running jobs, and no longer than the grace", async () => {
  await using s = await setUp({ concurrency: 2 });
  await publish(s.redis, JOB_STREAMS.followup, { n: 1 });
  await publish(s.redis, JOB_STREAMS.followup, { n: 2 });
  await until(() => s.stub.started.length === 2, "two running");
  const [a, b] = s.stub.started;
  let drained = false;
  const drain = s.stop(60_000).then(() => drained = true);
  await publish(s.redis, JOB_STREAMS.followup, { n: 3 });
  s.stub.finish(a);
  await settle();
  assert.equal(drained, false, "one job still runs");
  s.stub.finish(b);
  await drain;
  assert.equal(s.stub.started.length, 2, "nothing new started after the stop");
});

Deno.test(
  "drain() gives up on a job that outlasts the grace; settled() still waits for it",
  async () => {
    await using s = await setUp({ concurrency: 1 });
    await publish(s.redis, JOB_STREAMS.followup, { n: 1 });
    await until(() => s.stub.started.length === 1, "one running");
    await s.stop(20);
    assert.equal(s.dispatcher.inFlight(), 1);
    let settled = false;
    const done = s.dispatcher.settled().then(() => settled = true);
    await settle(30);
    assert.equal(settled, false);
    s.stub.finish(s.stub.started[0]);
    await done;
    assert.equal(s.dispatcher.inFlight(), 0);
  },
);
