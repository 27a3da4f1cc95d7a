/** Reading Prometheus text exposition format back, strictly, for the metrics tests. */
import assert from "node:assert/strict";

/** One sample line. */
export interface Sample {
  /** Metric name (with `_bucket`, `_sum`, `_count` for histograms). */
  name: string;
  /** Labels. */
  labels: Record<string, string>;
  /** Value. */
  value: number;
}

/**
 * Parse the text exposition format strictly: HELP and TYPE come once per metric, before its
 * samples; every sample line is `name{labels} value`; label values use only the three escapes.
 */
export function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  assert.ok(text.endsWith("\n"), "ends with a newline");
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  const sampleLine =
    /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+)$/;
  for (const line of text.slice(0, -1).split("\n")) {
    let m = line.match(/^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/);
    if (m) {
      assert.ok(!helps.has(m[1]), `HELP ${m[1]} twice`);
      helps.add(m[1]);
      continue;
    }
    m = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/);
    if (m) {
      assert.ok(!types.has(m[1]), `TYPE ${m[1]} twice`);
      types.set(m[1], m[2]);
      continue;
    }
    m = line.match(sampleLine);
    assert.ok(m, `malformed line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = m;
    const family = [...types.keys()].find((t) =>
      name === t ||
      (types.get(t) === "histogram" && /^(_bucket|_sum|_count)$/.test(name.slice(t.length)) &&
        name.startsWith(t))
    );
    assert.ok(family, `sample ${name} before its TYPE`);
    const labels: Record<string, string> = {};
    for (const lm of (labelText ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c);
    }
    const value = valueText === "+Inf"
      ? Infinity
      : valueText === "-Inf"
      ? -Infinity
      : valueText === "NaN"
      ? NaN
      : Number(valueText);
    assert.ok(valueText === "NaN" || !Number.isNaN(value), `bad value in ${line}`);
    samples.push({ name, labels, value });
  }
  return { samples, types };
}

/** The value of the one sample named `name` with exactly `labels`. */
export function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const hit = samples.filter((s) =>
    s.name === name && JSON.stringify(Object.entries(s.labels).sort()) ===
      JSON.stringify(Object.entries(labels).sort())
  );
  assert.ok(hit.length <= 1, `${name} ${JSON.stringify(labels)} appears ${hit.length} times`);
  return hit[0]?.value;
}
