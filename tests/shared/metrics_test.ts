/**
 * shared/metrics.ts: the text exposition format, read back with a small parser that refuses
 * any line Prometheus would refuse.
 */
import assert from "node:assert/strict";
import { formatValue, METRICS_CONTENT_TYPE, MetricsRegistry } from "../../shared/metrics.ts";
import { parseExposition, sampleValue } from "../helpers/metrics_text.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("metrics: counters, gauges and histograms render in the text exposition format", async () => {
  const r = new MetricsRegistry();
  const requests = r.counter("app_requests_total", {
    help: "Requests.",
    labels: ["route", "status"],
  });
  const plain = r.counter("app_starts_total", { help: "Starts." });
  const depth = r.gauge("app_queue_depth", { help: "Depth.", labels: ["queue"] });
  const latency = r.histogram("app_latency_seconds", {
    help: "Latency.",
    labels: ["route"],
    buckets: [0.1, 1],
  });
  requests.inc({ route: "/a/:id", status: "200" });
  requests.inc({ status: "200", route: "/a/:id" }, 2);
  requests.inc({ route: "/b", status: "404" });
  depth.set({ queue: "q1" }, 5);
  depth.dec({ queue: "q1" });
  depth.inc({ queue: "q2" }, 2.5);
  latency.observe({ route: "/a/:id" }, 0.05);
  latency.observe({ route: "/a/:id" }, 0.5);
  latency.observe({ route: "/a/:id" }, 7);

  const text = await r.render();
  const { samples, types } = parseExposition(text);
  assert.deepEqual(Object.fromEntries(types), {
    app_requests_total: "counter",
    app_starts_total: "counter",
    app_queue_depth: "gauge",
    app_latency_seconds: "histogram",
  });
  assert.equal(sampleValue(samples, "app_requests_total", { route: "/a/:id", status: "200" }), 3);
  assert.equal(sampleValue(samples, "app_requests_total", { route: "/b", status: "404" }), 1);
  // A counter without labels is shown from the start.
  assert.equal(sampleValue(samples, "app_starts_total"), 0);
  plain.inc();
  assert.equal(plain.get(), 1);
  assert.equal(sampleValue(samples, "app_queue_depth", { queue: "q1" }), 4);
  assert.equal(sampleValue(samples, "app_queue_depth", { queue: "q2" }), 2.5);
  // Buckets are cumulative and end with +Inf, which equals the count.
  const bucket = (le: string) =>
    sampleValue(samples, "app_latency_seconds_bucket", { route: "/a/:id", le });
  assert.deepEqual([bucket("0.1"), bucket("1"), bucket("+Inf")], [1, 2, 3]);
  assert.equal(sampleValue(samples, "app_latency_seconds_count", { route: "/a/:id" }), 3);
  assert.equal(sampleValue(samples, "app_latency_seconds_sum", { route: "/a/:id" }), 7.55);
  assert.deepEqual(latency.get({ route: "/a/:id" }), { count: 3, sum: 7.55 });
  // HELP and TYPE come before the samples of their metric.
  const lines = text.split("\n");
  assert.ok(
    lines.indexOf("# TYPE app_latency_seconds histogram") <
      lines.findIndex((l) => l.startsWith("app_latency_seconds_bucket")),
  );
  assert.equal(METRICS_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
});

Deno.test("metrics: label values and help text are escaped", async () => {
  const r = new MetricsRegistry();
  const c = r.counter("odd_total", { help: 'back\\slash and\nnewline "quoted"', labels: ["v"] });
  const weird = 'a"b\\c\nd';
  c.inc({ v: weird });
  const text = await r.render();
  assert.ok(text.includes('# HELP odd_total back\\\\slash and\\nnewline "quoted"\n'), text);
  assert.ok(text.includes('odd_total{v="a\\"b\\\\c\\nd"} 1\n'), text);
  const { samples } = parseExposition(text);
  assert.equal(sampleValue(samples, "odd_total", { v: weird }), 1);
});

Deno.test("metrics: collectors run at render time; a reset gauge shows nothing", async () => {
  const r = new MetricsRegistry();
  const g = r.gauge("rows", { help: "Rows.", labels: ["table"] });
  const up = r.gauge("source_up", { help: "Up." });
  let rows: Record<string, number> | null = { a: 1, b: 2 };
  r.onCollect(() => {
    g.reset();
    up.reset();
    if (rows === null) return;
    up.set({}, 1);
    for (const [table, n] of Object.entries(rows)) g.set({ table }, n);
  });
  let { samples } = parseExposition(await r.render());
  assert.equal(sampleValue(samples, "rows", { table: "b" }), 2);
  assert.equal(sampleValue(samples, "source_up"), 1);
  rows = { a: 5 };
  ({ samples } = parseExposition(await r.render()));
  assert.equal(sampleValue(samples, "rows", { table: "a" }), 5);
  assert.equal(sampleValue(samples, "rows", { table: "b" }), undefined);
  rows = null;
  ({ samples } = parseExposition(await r.render()));
  // Absent rather than a made-up 0.
  assert.equal(samples.length, 0);
});

Deno.test("metrics: bad names, labels, buckets and values are refused", () => {
  const r = new MetricsRegistry();
  assert.throws(() => r.counter("9starts", { help: "x" }), RangeError);
  assert.throws(() => r.counter("has-dash", { help: "x" }), RangeError);
  assert.throws(() => r.counter("ok_total", { help: "x", labels: ["__reserved"] }), RangeError);
  assert.throws(() => r.counter("ok2_total", { help: "x", labels: ["a", "a"] }), RangeError);
  assert.throws(() => r.histogram("h1", { help: "x", buckets: [1, 1] }), RangeError);
  assert.throws(() => r.histogram("h2", { help: "x", labels: ["le"] }), RangeError);
  const c = r.counter("fine_total", { help: "x", labels: ["a"] });
  assert.throws(() => r.counter("fine_total", { help: "x" }), RangeError, "registered twice");
  assert.throws(() => c.inc({}), RangeError, "a missing label");
  assert.throws(() => c.inc({ a: "1", b: "2" }), RangeError, "an extra label");
  assert.throws(() => c.inc({ a: "1" }, -1), RangeError, "a counter going down");
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(0.25), "0.25");
});
