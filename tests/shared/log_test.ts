import assert from "node:assert/strict";
import { createLogger, prettyLogLine } from "../../shared/log.ts";
import { devOutput, logFormat } from "../../scripts/dev/output.ts";

Deno.test("prettyLogLine shows a logger's JSON line as time, level, message and fields", () => {
  const lines: string[] = [];
  createLogger("core", { sink: (l) => lines.push(l) }).warn("slow request", {
    route: "/search",
    duration_ms: 12.5,
    detail: "two words",
  });
  const time = JSON.parse(lines[0]).time.slice(11, 23);
  assert.equal(
    prettyLogLine(lines[0]),
    `${time} WARN  slow request route=/search duration_ms=12.5 detail="two words"`,
  );
  // Anything else (a Deno error, redis-server's own lines) passes unchanged.
  assert.equal(prettyLogLine("error: Uncaught Error"), "error: Uncaught Error");
  assert.equal(prettyLogLine("[1, 2]"), "[1, 2]");
});

Deno.test("LOG_FORMAT: pretty only on a terminal unless set; json lines pass through", () => {
  assert.equal(logFormat(undefined, true), "pretty");
  assert.equal(logFormat(undefined, false), "json");
  assert.equal(logFormat("json", true), "json");
  assert.equal(logFormat("pretty", false), "pretty");
  assert.throws(() => logFormat("yaml", true), /LOG_FORMAT/);

  const json: string[] = [];
  const line = '{"time":"2026-01-01T00:00:00.000Z","level":"info","service":"core","message":"hi"}';
  devOutput("json", (t) => json.push(t)).childLine("core", line);
  devOutput("json", (t) => json.push(t)).childLine("redis", "Ready to accept connections");
  assert.equal(json[0], line);
  assert.equal(JSON.parse(json[1]).service, "redis");

  const pretty: string[] = [];
  devOutput("pretty", (t) => pretty.push(t)).childLine("core", line);
  assert.equal(pretty[0], "core   | 00:00:00.000 INFO  hi");
});
