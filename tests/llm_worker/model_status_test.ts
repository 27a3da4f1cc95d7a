import assert from "node:assert/strict";
import { modelStatusWriter } from "../../llm_worker/model_status.ts";
import { createLogger, type LogFields } from "../../shared/log.ts";
import { MODEL_STATUS_KEY } from "../../shared/streams.ts";
import { sanitizeTests } from "../helpers/core_app.ts";
import { until } from "../helpers/fixtures.ts";
import { testRedis } from "../helpers/redis_server.ts";

await sanitizeTests();

function manualClock(start = Date.parse("2026-01-01T00:00:00Z")) {
  let t = start;
  return {
    clock: () => new Date(t),
    advance: (ms: number) => t += ms,
    iso: () => new Date(t).toISOString(),
  };
}

Deno.test(
  "modelStatusWriter writes state changes at once, throttles repeats, drops outage_since",
  async () => {
    await using r = await testRedis();
    const c = manualClock();
    const warnings: LogFields[] = [];
    const log = createLogger("test", {
      sink: (line) => warnings.push(JSON.parse(line)),
    });
    const write = modelStatusWriter(r.client, { log, clock: c.clock, minIntervalMs: 5000 });
    const read = () => r.client.hgetall(MODEL_STATUS_KEY);
    // A write is fire and forget; a marker write after it on the same connection orders them.
    const written = async () => {
      await r.client.set("sync", "1");
      return await read();
    };

    const t0 = c.iso();
    write({ state: "ok", last_success_at: t0 });
    assert.deepEqual(await written(), { state: "ok", last_success_at: t0, updated_at: t0 });

    // The same state within the interval: not written.
    c.advance(1000);
    write({ state: "ok", last_success_at: c.iso() });
    assert.equal((await written()).last_success_at, t0);

    // A change of state: written at once, however soon.
    c.advance(1);
    const t1 = c.iso();
    write({
      state: "outage",
      outage_since: t1,
      last_success_at: t0,
      last_failure_at: t1,
      last_error: "ECONNREFUSED",
    });
    assert.deepEqual(await written(), {
      state: "outage",
      outage_since: t1,
      last_success_at: t0,
      last_failure_at: t1,
      last_error: "ECONNREFUSED",
      updated_at: t1,
    });

    // Repeats of the outage: throttled, then written once the interval has passed.
    c.advance(4999);
    write({ state: "outage", outage_since: t1, last_failure_at: c.iso(), last_error: "timeout" });
    assert.equal((await written()).last_error, "ECONNREFUSED");
    c.advance(1);
    const t2 = c.iso();
    write({ state: "outage", outage_since: t1, last_failure_at: t2, last_error: "timeout" });
    const repeated = await written();
    assert.equal(repeated.last_error, "timeout");
    assert.equal(repeated.updated_at, t2);

    // Back to ok: outage_since is removed, the rest kept.
    c.advance(10);
    const t3 = c.iso();
    write({ state: "ok", last_success_at: t3, last_failure_at: t2, last_error: "timeout" });
    assert.deepEqual(await written(), {
      state: "ok",
      last_success_at: t3,
      last_failure_at: t2,
      last_error: "timeout",
      updated_at: t3,
    });
    assert.equal(warnings.length, 0);
  },
);

Deno.test("modelStatusWriter logs a failed write and never throws", async () => {
  const r = await testRedis();
  const lines: string[] = [];
  const log = createLogger("test", { sink: (line) => lines.push(line) });
  await r.close();
  const write = modelStatusWriter(r.client, { log });
  write({ state: "outage", outage_since: new Date().toISOString() });
  await until(
    () => Promise.resolve(lines.some((l) => l.includes("could not report"))),
    "a warning",
  );
});
