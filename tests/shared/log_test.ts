import assert from "node:assert/strict";
import { createLogger, MAX_LOG_FIELD_CHARS, prettyLogLine } from "../../shared/log.ts";
import { bannerText } from "../../scripts/dev/banner.ts";
import { devOutput, logFormat } from "../../scripts/dev/output.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

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

Deno.test("the banner names every place, and warns when the LLM server does not answer", () => {
  const info = {
    api: "http://127.0.0.1:8000",
    workerMetrics: "http://127.0.0.1:9100/metrics",
    database: "/srv/memori/data/db/life_organiser.db",
    images: "/srv/memori/data/images",
    redisDir: "/srv/memori/data/redis",
    redisUrl: "redis://127.0.0.1:6379",
    llm: "http://localhost:8080/v1",
    llmAnswers: true,
  };
  const up = bannerText(info);
  for (const text of [...Object.values(info).filter((v) => typeof v === "string"), "/docs"]) {
    assert.ok(up.includes(text as string), `${text} missing from:\n${up}`);
  }
  assert.doesNotMatch(up, /WARNING/);
  const down = bannerText({ ...info, llmAnswers: false });
  assert.match(down, /WARNING: the LLM server at http:\/\/localhost:8080\/v1 does not answer/);
  assert.match(down, /jobs will wait until it does/);
});

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

Deno.test("the default sink writes every line, in order, even when the process exits at once", async () => {
  const log = new URL("../../shared/log.ts", import.meta.url).href;
  for (const end of ["Deno.exit(3)", "throw new Error('boom')", ""]) {
    const code = `import { createLogger } from "${log}";
      const log = createLogger("t");
      for (let i = 0; i < 500; i++) log.info("line " + i, { pad: "x".repeat(200) });
      ${end}`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stderr: "piped",
      stdout: "null",
    }).output();
    const lines = new TextDecoder().decode(out.stderr).split("\n")
      .filter((l) => l.startsWith("{")).map((l) => JSON.parse(l).message);
    assert.deepEqual(lines, Array.from({ length: 500 }, (_, i) => `line ${i}`), end);
  }
});
