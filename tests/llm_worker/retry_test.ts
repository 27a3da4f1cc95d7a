import assert from "node:assert/strict";
import { backoffDelay, nextStep, retryCore, sleep } from "../../llm_worker/retry.ts";
import {
  BadOutputError,
  PermanentError,
  ShutdownError,
  TransientError,
} from "../../llm_worker/errors.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("backoffDelay doubles from the base, caps at the max, jitters within half", () => {
  const opts = { baseMs: 100, maxMs: 1000 };
  const top = (attempt: number) => backoffDelay(attempt, { ...opts, random: () => 0.999999 });
  const bottom = (attempt: number) => backoffDelay(attempt, { ...opts, random: () => 0 });
  assert.deepEqual([0, 1, 2, 3, 4, 10].map(top), [100, 200, 400, 800, 1000, 1000]);
  assert.deepEqual([0, 1, 2, 3, 4, 10].map(bottom), [50, 100, 200, 400, 500, 500]);
  for (let i = 0; i < 50; i++) {
    const d = backoffDelay(2, opts);
    assert.ok(d >= 200 && d <= 400, String(d));
  }
  assert.ok(backoffDelay(1000, opts) <= 1000);
});

Deno.test("sleep resolves, and rejects with ShutdownError when aborted", async () => {
  await sleep(1);
  const ctl = new AbortController();
  const p = sleep(60_000, ctl.signal);
  ctl.abort();
  await assert.rejects(p, ShutdownError);
  await assert.rejects(sleep(10, ctl.signal), ShutdownError);
});

const policy = {
  baseMs: 100,
  maxMs: 1000,
  random: () => 0.999999,
  coreRetries: 3,
  badOutputRetries: 2,
};
const step = (err: unknown, counts = { core: 0, bad: 0 }, stopping = false) =>
  nextStep(err, counts, { policy, stopping });

Deno.test("nextStep hands a job back on ShutdownError, and on AbortError while stopping", () => {
  assert.deepEqual(step(new ShutdownError()), { action: "hand_back" });
  assert.deepEqual(step(new ShutdownError(), { core: 0, bad: 0 }, true), { action: "hand_back" });
  const abort = new DOMException("aborted", "AbortError");
  assert.deepEqual(step(abort, { core: 0, bad: 0 }, true), { action: "hand_back" });
  // Not stopping: an abort is nobody's plan, so it fails the job as an internal error.
  const notStopping = step(abort);
  assert.equal(notStopping.action, "fail");
  assert.equal(notStopping.action === "fail" && notStopping.reason, "internal_error");
});

Deno.test("nextStep waits for the model on a model outage, however often", () => {
  const counts = { core: 0, bad: 0 };
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(step(new TransientError("llm", "model down"), counts), {
      action: "await_model",
      error: "model down",
    });
  }
  assert.deepEqual(counts, { core: 0, bad: 0 });
});

Deno.test("nextStep retries a core outage with growing delays, then leaves the entry pending", () => {
  const counts = { core: 0, bad: 0 };
  const err = new TransientError("core", "core down");
  const delays: number[] = [];
  for (let i = 0; i < policy.coreRetries; i++) {
    const s = step(err, counts);
    assert.equal(s.action, "retry");
    if (s.action !== "retry") return;
    assert.equal(s.cause, "core_unavailable");
    assert.equal(s.error, "core down");
    delays.push(s.delayMs);
    assert.equal(counts.core, i + 1);
  }
  assert.deepEqual(delays, [100, 200, 400]);
  assert.deepEqual(step(err, counts), { action: "leave_pending", error: "core down" });
  assert.equal(counts.core, policy.coreRetries);
});

Deno.test("nextStep retries unusable output badOutputRetries times, then fails bad_output", () => {
  const counts = { core: 0, bad: 0 };
  const err = new BadOutputError("no JSON");
  for (let i = 0; i < policy.badOutputRetries; i++) {
    const s = step(err, counts);
    assert.deepEqual(s, { action: "retry", delayMs: 100, cause: "bad_output", error: "no JSON" });
    assert.equal(counts.bad, i + 1);
  }
  const last = step(err, counts);
  assert.equal(last.action, "fail");
  if (last.action !== "fail") return;
  assert.equal(last.kind, "bad_output");
  assert.equal(last.reason, "bad_output");
  assert.match(last.error, /after 3 attempts: no JSON/);
  assert.equal(last.userDetail, undefined);
});

Deno.test("nextStep fails a PermanentError with its reason and user message", () => {
  const err = new PermanentError("image_missing", "file gone", {
    userMessage: "the image is no longer there",
  });
  assert.deepEqual(step(err), {
    action: "fail",
    kind: "permanent",
    reason: "image_missing",
    error: "file gone",
    userDetail: "the image is no longer there",
  });
  const plain = step(new PermanentError("rejected", "422"));
  assert.equal(plain.action === "fail" && plain.userDetail, undefined);
});

Deno.test("nextStep fails anything else as internal_error", () => {
  for (const err of [new TypeError("x is undefined"), "a string", null, 42]) {
    const s = step(err);
    assert.equal(s.action, "fail");
    if (s.action !== "fail") return;
    assert.equal(s.kind, "internal");
    assert.equal(s.reason, "internal_error");
    assert.match(s.error, /^internal error: /);
  }
  const s = step(new TypeError("x is undefined"));
  assert.equal(s.action === "fail" && s.error, "internal error: x is undefined");
});

const fast = { ...policy, baseMs: 1, maxMs: 2 };

Deno.test("retryCore retries transient errors and returns the answer", async () => {
  let calls = 0;
  const retries: [string, number][] = [];
  const out = await retryCore(
    async () => {
      await Promise.resolve();
      if (++calls < 3) throw new TransientError("core", `down ${calls}`);
      return "ok";
    },
    fast,
    { onRetry: (err, attempt) => retries.push([err.message, attempt]) },
  );
  assert.equal(out, "ok");
  assert.equal(calls, 3);
  assert.deepEqual(retries, [["down 1", 1], ["down 2", 2]]);
});

Deno.test("retryCore rethrows any other error at once", async () => {
  for (
    const err of [new PermanentError("rejected", "no"), new BadOutputError("bad"), new Error("x")]
  ) {
    let calls = 0;
    await assert.rejects(
      retryCore(() => {
        calls++;
        return Promise.reject(err);
      }, fast),
      (e) => e === err,
    );
    assert.equal(calls, 1);
  }
});

Deno.test("retryCore gives up after coreRetries retries with the last error", async () => {
  let calls = 0;
  await assert.rejects(
    retryCore(() => Promise.reject(new TransientError("core", `down ${++calls}`)), fast),
    (e) => e instanceof TransientError && e.message === `down ${fast.coreRetries + 1}`,
  );
  assert.equal(calls, fast.coreRetries + 1);
  calls = 0;
  await assert.rejects(
    retryCore(() => Promise.reject(new TransientError("core", "down")), {
      ...fast,
      coreRetries: 0,
    }),
    TransientError,
  );
});

Deno.test("retryCore's backoff sleep is cut short by the signal", async () => {
  const ctl = new AbortController();
  let calls = 0;
  const slow = { ...policy, baseMs: 3_600_000, maxMs: 3_600_000 };
  const p = retryCore(
    () => {
      calls++;
      return Promise.reject(new TransientError("core", "down"));
    },
    slow,
    { signal: ctl.signal, onRetry: () => queueMicrotask(() => ctl.abort()) },
  );
  await assert.rejects(p, ShutdownError);
  assert.equal(calls, 1);
  // Already aborted: the first failure ends it.
  calls = 0;
  await assert.rejects(
    retryCore(
      () => {
        calls++;
        return Promise.reject(new TransientError("core", "down"));
      },
      slow,
      { signal: ctl.signal },
    ),
    ShutdownError,
  );
  assert.equal(calls, 1);
});
