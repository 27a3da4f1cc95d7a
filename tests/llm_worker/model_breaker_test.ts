import assert from "node:assert/strict";
import {
  createModelBreaker,
  guardLlm,
  type ModelBreakerOptions,
  type ModelStatus,
  type Turn,
} from "../../llm_worker/model_breaker.ts";
import type { LlmClient } from "../../llm_worker/llm_client.ts";
import {
  BadOutputError,
  PermanentError,
  ShutdownError,
  TransientError,
} from "../../llm_worker/errors.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

/** A clock the test moves by hand. */
function manualClock(start = Date.parse("2026-01-01T00:00:00Z")) {
  let t = start;
  return {
    clock: () => new Date(t),
    now: () => t,
    advance: (ms: number) => t += ms,
  };
}

/** A promise whose outcome can be read without awaiting it. */
function track<T>(p: Promise<T>) {
  const s: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then((v) => {
    s.value = v;
    s.settled = true;
  }, (e) => {
    s.error = e;
    s.settled = true;
  });
  return s;
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Let pending promise callbacks run. */
const flush = () => new Promise((r) => setTimeout(r, 0));

// Fixed jitter: each delay is exactly base * 2^n, capped.
const delays = { baseMs: 100, maxMs: 1000, random: () => 0.999999 };

function breaker(options: Partial<ModelBreakerOptions> = {}) {
  const statuses: ModelStatus[] = [];
  const b = createModelBreaker({ ...delays, onChange: (s) => statuses.push(s), ...options });
  return { b, statuses };
}

const signal = new AbortController().signal;

Deno.test("turn resolves at once while the model is ok, as no probe", async () => {
  const { b } = breaker();
  const turn = await b.turn({ signal });
  assert.equal(turn.expired, false);
  assert.equal(turn.probe, false);
  turn.done();
  assert.equal(b.status().state, "ok");
  assert.equal(b.allowance(0), Infinity);
  assert.equal(b.allowance(50), Infinity);
  b.close();
});

Deno.test("after failed() callers wait; exactly one waiter (the first) gets the probe", async () => {
  const { b } = breaker({ baseMs: 5, maxMs: 5 });
  b.failed("connection refused");
  assert.equal(b.status().state, "outage");
  const waiting = [b.turn({ signal }), b.turn({ signal }), b.turn({ signal })].map(track);
  await until(() => waiting.some((w) => w.settled), "a probe turn");
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(waiting.map((w) => w.settled), [true, false, false]);
  const probe = waiting[0].value as Turn;
  assert.equal(probe.probe, true);
  assert.equal(probe.expired, false);
  // While the probe is out, no further probe is handed out.
  assert.equal(b.allowance(0), 0);
  // The probe failed: the next one goes to the next waiter, later.
  b.failed("still refused");
  probe.done();
  await until(() => waiting[1].settled, "the second probe");
  assert.equal((waiting[1].value as Turn).probe, true);
  assert.equal(waiting[2].settled, false);
  // The model answered: everyone goes on, as no probe.
  b.succeeded();
  (waiting[1].value as Turn).done();
  await flush();
  assert.equal(waiting[2].settled, true);
  assert.equal((waiting[2].value as Turn).probe, false);
  assert.equal(b.status().state, "ok");
  b.close();
});

Deno.test("probe delays grow with each failed probe, capped at maxMs, reset by success", async () => {
  const c = manualClock();
  const { b } = breaker({ clock: c.clock });
  const dueAfter = (): number => {
    // allowance(0) is 1 once a probe is due and nobody is waiting to be it.
    let waited = 0;
    while (b.allowance(0) === 0) {
      c.advance(10);
      waited += 10;
      assert.ok(waited < 100_000);
    }
    return waited;
  };
  b.failed("down");
  const seen: number[] = [];
  for (let i = 0; i < 6; i++) {
    seen.push(dueAfter());
    // A caller now is handed the probe at once (it is due), and it fails.
    const turn = await b.turn({ signal });
    assert.equal(turn.probe, true);
    b.failed("down");
    turn.done();
  }
  assert.deepEqual(seen, [100, 200, 400, 800, 1000, 1000]);
  // Failures of calls that went out before the outage (not the probe) do not push it back.
  const before = dueAfter();
  assert.equal(before, 1000);
  b.failed("an old call");
  assert.equal(b.allowance(0), 1);
  // Success resets: the next outage starts from the base again.
  b.succeeded();
  b.failed("down again");
  assert.equal(dueAfter(), 100);
  b.close();
});

Deno.test("succeeded() wakes every waiter and resets the breaker", async () => {
  const c = manualClock();
  const { b } = breaker({ clock: c.clock });
  b.failed("down");
  const waiting = Array.from({ length: 4 }, () => track(b.turn({ signal })));
  await flush();
  assert.ok(waiting.every((w) => !w.settled));
  assert.equal(b.allowance(0), 0);
  b.succeeded();
  await flush();
  assert.ok(waiting.every((w) => w.settled && !(w.value as Turn).probe));
  assert.equal(b.allowance(3), Infinity);
  assert.equal((await b.turn({ signal })).probe, false);
  b.close();
});

Deno.test("a wait ends at `until`: the turn is expired and the waiter leaves the queue", async () => {
  const c = manualClock();
  const { b } = breaker({ clock: c.clock, baseMs: 60_000, maxMs: 60_000 });
  b.failed("down");
  const short = track(b.turn({ signal, until: c.now() + 5 }));
  const long = track(b.turn({ signal }));
  await until(() => short.settled, "the expiry");
  const turn = short.value as Turn;
  assert.equal(turn.expired, true);
  assert.equal(turn.probe, false);
  turn.done();
  assert.equal(long.settled, false);
  // The expired waiter is gone: once the probe is due, the remaining one gets it.
  c.advance(60_000);
  const third = track(b.turn({ signal }));
  await flush();
  assert.equal((long.value as Turn | undefined)?.probe, true);
  assert.equal(third.settled, false);
  b.succeeded();
  await flush();
  assert.equal(third.settled, true);
  b.close();
});

Deno.test("an aborted signal rejects turn() with ShutdownError and removes the waiter", async () => {
  const c = manualClock();
  const { b } = breaker({ clock: c.clock });
  const ctl = new AbortController();
  ctl.abort();
  await assert.rejects(b.turn({ signal: ctl.signal }), ShutdownError);
  b.failed("down");
  const later = new AbortController();
  const waiting = b.turn({ signal: later.signal });
  assert.equal(b.allowance(0), 0);
  later.abort();
  await assert.rejects(waiting, ShutdownError);
  // Nobody waits any more: a due probe raises the allowance again.
  c.advance(100);
  assert.equal(b.allowance(0), 1);
  b.close();
});

Deno.test("allowance: Infinity when ok, 0 while waiting or busy, 1 when a probe is due", async () => {
  const c = manualClock();
  const { b } = breaker({ clock: c.clock });
  assert.equal(b.allowance(0), Infinity);
  b.failed("down");
  assert.equal(b.allowance(0), 0, "probe not due yet");
  c.advance(100);
  assert.equal(b.allowance(0), 1, "probe due, nothing in flight");
  assert.equal(b.allowance(1), 0, "a job in flight will be the probe");
  const probe = await b.turn({ signal });
  assert.equal(probe.probe, true);
  assert.equal(b.allowance(0), 0, "a probe is out");
  probe.done();
  // The probe never reached the model: its place is free again at once.
  assert.equal(b.allowance(0), 1);
  c.advance(-50);
  b.failed("down");
  // A waiter (probe not due) holds the allowance at 0.
  const ctl = new AbortController();
  const waiting = b.turn({ signal: ctl.signal }).catch(() => undefined);
  assert.equal(b.allowance(0), 0);
  ctl.abort();
  await waiting;
  b.close();
});

Deno.test("onChange reports state, outage_since, last_error and last_success_at", () => {
  const c = manualClock();
  const { b, statuses } = breaker({ clock: c.clock });
  const t0 = c.clock().toISOString();
  b.succeeded();
  assert.deepEqual(statuses.at(-1), { state: "ok", last_success_at: t0 });
  c.advance(1000);
  const t1 = c.clock().toISOString();
  b.failed("ECONNREFUSED");
  assert.deepEqual(statuses.at(-1), {
    state: "outage",
    outage_since: t1,
    last_success_at: t0,
    last_failure_at: t1,
    last_error: "ECONNREFUSED",
  });
  c.advance(1000);
  const t2 = c.clock().toISOString();
  b.failed("timeout");
  assert.deepEqual(statuses.at(-1), {
    state: "outage",
    outage_since: t1,
    last_success_at: t0,
    last_failure_at: t2,
    last_error: "timeout",
  });
  c.advance(1000);
  const t3 = c.clock().toISOString();
  b.succeeded();
  assert.deepEqual(statuses.at(-1), {
    state: "ok",
    last_success_at: t3,
    last_failure_at: t2,
    last_error: "timeout",
  });
  assert.deepEqual(b.status(), statuses.at(-1));
  assert.equal(statuses.length, 4);
  b.close();
});

Deno.test("changed() resolves on a change, when a probe falls due, and on abort", async () => {
  const { b } = breaker({ baseMs: 50, maxMs: 50 });
  const ctl = new AbortController();
  const first = track(b.changed(ctl.signal));
  await flush();
  assert.equal(first.settled, false);
  b.failed("down");
  // Checked in the same turn: the probe is due 25-50 ms later, however busy the machine is.
  assert.equal(b.allowance(0), 0);
  await flush();
  assert.equal(first.settled, true);
  // Nothing waits for the model: the probe falling due alone must wake the dispatcher.
  const due = track(b.changed(ctl.signal));
  await until(() => due.settled, "the probe falling due");
  assert.equal(b.allowance(0), 1);
  const last = track(b.changed(ctl.signal));
  ctl.abort();
  await flush();
  assert.equal(last.settled, true);
  b.close();
});

function fakeLlm(outcome: () => Promise<unknown>): LlmClient {
  return {
    text: () => outcome() as Promise<string>,
    json: () => outcome() as never,
    visionJson: () => outcome() as never,
  };
}

Deno.test("guardLlm reports model outages as failures and any answer as success", async () => {
  const { b, statuses } = breaker();
  let next: () => Promise<unknown> = () => Promise.resolve("hi");
  const llm = guardLlm(fakeLlm(() => next()), b);
  const prompt = { system: "s", user: "u" };
  const calls = [
    () => llm.text(prompt),
    () => llm.json({} as never, prompt),
    () => llm.visionJson({} as never, { ...prompt, imageDataUrl: "data:," }),
  ];
  for (const call of calls) {
    next = () => Promise.reject(new TransientError("llm", "503"));
    await assert.rejects(call(), TransientError);
    assert.equal(b.status().state, "outage");
    assert.equal(b.status().last_error, "503");
    next = () => Promise.resolve({ ok: true });
    assert.ok(await call());
    assert.equal(b.status().state, "ok");
  }
  // An unusable or refused answer still means the server is up.
  for (const err of [new BadOutputError("no JSON"), new PermanentError("rejected", "400")]) {
    b.failed("down");
    next = () => Promise.reject(err);
    await assert.rejects(llm.text(prompt), (e) => e === err);
    assert.equal(b.status().state, "ok");
  }
  // A shutdown (the request was cut) says nothing about the model.
  b.failed("down");
  const count = statuses.length;
  next = () => Promise.reject(new ShutdownError());
  await assert.rejects(llm.text(prompt), ShutdownError);
  assert.equal(b.status().state, "outage");
  assert.equal(statuses.length, count);
  b.close();
});
