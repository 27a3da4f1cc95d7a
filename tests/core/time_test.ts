/** core/store/time.ts: stored times answered as the contract's UTC strings. */
import assert from "node:assert/strict";
import { utcOut } from "../../core/store/time.ts";
import { toUtcIso } from "../../shared/schemas.ts";

Deno.test("utcOut answers what toUtcIso answers, or the value when it cannot parse it", () => {
  const values = [
    "2026-11-30T23:59:59.999Z",
    "2026-01-01T00:00:00.000Z",
    "2026-01-01T24:00:00.000Z", // Date.parse takes 24:00 as the next day
    "2026-02-30T10:00:00.000Z", // no such day: kept as stored
    "2026-13-01T10:00:00.000Z",
    "2026-06-01T10:60:00.000Z",
    "2026-06-01T10:00:60.000Z",
    "2026-06-01 10:00:00", // first-version rows
    "2026-06-01T10:00:00",
    "2026-06-01T12:00:00+02:00",
    "2026-06-01T10:00:00.123456Z",
    "not a time",
  ];
  let t = Date.parse("2020-01-01T00:00:00.000Z");
  for (let i = 0; i < 2000; i++) {
    t += 7_919_993_731; // ~92 days and some ms: every field moves
    values.push(new Date(t).toISOString());
  }
  for (const v of values) assert.equal(utcOut(v), toUtcIso(v) ?? v, v);
  assert.equal(utcOut(null), null);
  assert.equal(utcOut("2026-06-01 10:00:00"), "2026-06-01T10:00:00.000Z");
});
