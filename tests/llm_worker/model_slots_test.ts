/** The worker's model slots: a bound on model calls at once that a stop empties of waiters. */
import assert from "node:assert/strict";
import { createModelSlots } from "../../llm_worker/model_slots.ts";
import { ShutdownError } from "../../llm_worker/errors.ts";

/** A call that runs until `finish()`. */
function gatedCall(log: string[], name: string) {
  let finish!: () => void;
  const gate = new Promise<void>((r) => finish = r);
  return {
    finish,
    call: async () => {
      log.push(`start ${name}`);
      await gate;
      log.push(`end ${name}`);
      return name;
    },
  };
}

Deno.test("model slots run at most `count` calls at once, the waiting ones in arrival order", async () => {
  const stopping = new AbortController();
  const slots = createModelSlots(2, { stopping: stopping.signal });
  const log: string[] = [];
  const calls = ["a", "b", "c", "d"].map((n) => gatedCall(log, n));
  const results = calls.map((c) => slots.run(c.call));
  await Promise.resolve();
  assert.deepEqual(log, ["start a", "start b"]);
  assert.equal(slots.busy(), 2);
  calls[1].finish();
  assert.equal(await results[1], "b");
  // The freed slot went to the first waiter.
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(log, ["start a", "start b", "end b", "start c"]);
  for (const c of calls) c.finish();
  assert.deepEqual(await Promise.all(results), ["a", "b", "c", "d"]);
  assert.equal(slots.busy(), 0);
});

Deno.test("a failing call frees its slot", async () => {
  const slots = createModelSlots(1, { stopping: new AbortController().signal });
  await assert.rejects(slots.run(() => Promise.reject(new Error("model said no"))), /said no/);
  assert.equal(slots.busy(), 0);
  assert.equal(await slots.run(() => Promise.resolve(1)), 1);
});

Deno.test("at a stop, calls waiting for a slot are refused unstarted; running ones finish", async () => {
  const stopping = new AbortController();
  const slots = createModelSlots(1, { stopping: stopping.signal });
  const log: string[] = [];
  const running = gatedCall(log, "running");
  const waiting = gatedCall(log, "waiting");
  const first = slots.run(running.call);
  const second = slots.run(waiting.call);
  await Promise.resolve();
  stopping.abort();
  await assert.rejects(second, ShutdownError);
  running.finish();
  assert.equal(await first, "running");
  await assert.rejects(slots.run(() => Promise.resolve("late")), ShutdownError);
  assert.deepEqual(log, ["start running", "end running"]);
  assert.equal(slots.busy(), 0);
});
