import assert from "node:assert/strict";
import { createLogger, MAX_LOG_FIELD_CHARS } from "../../shared/log.ts";

function capture() {
  const lines: string[] = [];
  return { lines, log: createLogger("test", { sink: (l) => lines.push(l), level: "debug" }) };
}

Deno.test("log fields are cut to a sane length, with the original length noted", () => {
  const { lines, log } = capture();
  log.warn("x".repeat(1_000_000), { job_id: "y".repeat(1_000_000), ok: "short" });
  assert.equal(lines.length, 1);
  assert.ok(lines[0].length < 3 * MAX_LOG_FIELD_CHARS, `${lines[0].length} characters`);
  const line = JSON.parse(lines[0]);
  assert.match(line.job_id, /\.\.\. \(1000000 characters\)$/);
  assert.match(line.message, /\.\.\. \(1000000 characters\)$/);
  assert.equal(line.ok, "short");
});

Deno.test("a field too deep or too large to write whole does not lose the line", () => {
  const { lines, log } = capture();
  // deno-lint-ignore no-explicit-any
  let deep: any = {};
  for (let i = 0; i < 100_000; i++) deep = { d: deep };
  log.error("deep", { deep, bigint: { n: 10n }, big: { list: Array(10_000).fill("item") } });
  const line = JSON.parse(lines[0]);
  assert.equal(line.message, "deep");
  assert.match(line.bigint, /^\(not serializable/);
  for (const key of ["deep", "big"]) {
    assert.equal(typeof line[key], "string");
    assert.ok(line[key].length < MAX_LOG_FIELD_CHARS + 100);
  }
});
