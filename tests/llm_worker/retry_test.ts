import assert from "node:assert/strict";
import { backoffDelay, sleep } from "../../llm_worker/retry.ts";
import { ShutdownError } from "../../llm_worker/errors.ts";

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
