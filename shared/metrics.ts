/**
 * A small Prometheus metrics registry: counters, gauges and histograms with labels, rendered in
 * the text exposition format (version 0.0.4) that every Prometheus-compatible scraper reads.
 * Written here rather than taken from a package because the services need only this much, and
 * the text format is short and stable.
 *
 * Values that live elsewhere (job counts in SQLite, stream lengths in Redis) are read at scrape
 * time by collectors registered with {@linkcode MetricsRegistry.onCollect}.
 */

/** Label values of one series, by label name. */
export type Labels = Record<string, string>;

/** The Content-Type of {@linkcode MetricsRegistry.render}'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Default histogram buckets, in seconds: 5 ms to 60 s (HTTP requests, model calls). */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** Options of a metric. */
export interface MetricOptions {
  /** The `# HELP` text. */
  help: string;
  /** Label names every series of the metric has, in this order. */
  labels?: readonly string[];
}

/** Options of a histogram. */
export interface HistogramOptions extends MetricOptions {
  /** Upper bounds of the buckets, ascending; `+Inf` is added. {@linkcode DEFAULT_BUCKETS} by default. */
  buckets?: readonly number[];
}

/** A value that only goes up (resets when the process restarts). */
export interface Counter {
  /** Add `value` (default 1, never negative) to the series `labels`. */
  inc(labels?: Labels, value?: number): void;
  /** The current value of a series (0 when never touched). */
  get(labels?: Labels): number;
}

/** A value that goes up and down. */
export interface Gauge {
  /** Set the series `labels` to `value`. */
  set(labels: Labels, value: number): void;
  /** Add `value` (default 1) to the series. */
  inc(labels?: Labels, value?: number): void;
  /** Subtract `value` (default 1) from the series. */
  dec(labels?: Labels, value?: number): void;
  /** The current value of a series (0 when never set). */
  get(labels?: Labels): number;
  /** Forget every series (a collector about to set the current ones). */
  reset(): void;
}

/** Observations counted into buckets, with their sum and count. */
export interface Histogram {
  /** Record one observation in the series `labels`. */
  observe(labels: Labels, value: number): void;
  /** Count and sum of a series (zeros when never observed). */
  get(labels?: Labels): { count: number; sum: number };
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type Kind = "counter" | "gauge" | "histogram";

interface HistogramSeries {
  buckets: number[];
  sum: number;
  count: number;
}

interface Family {
  name: string;
  help: string;
  kind: Kind;
  labels: readonly string[];
  values: Map<string, number | HistogramSeries>;
  bounds?: readonly number[];
}

/** Format a sample value as the text format spells numbers. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** `{a="x",b="y"}` (empty string when there are no labels). */
function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i])}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** A set of metrics and the collectors that refresh some of them at scrape time. */
export class MetricsRegistry {
  #families = new Map<string, Family>();
  #collectors: (() => Promise<void> | void)[] = [];

  /** Register a counter. */
  counter(name: string, options: MetricOptions): Counter {
    const family = this.#add(name, "counter", options);
    return {
      inc: (labels = {}, value = 1) => {
        if (!(value >= 0)) throw new RangeError(`${name}: a counter cannot go down (${value})`);
        const key = this.#key(family, labels);
        family.values.set(key, (family.values.get(key) as number ?? 0) + value);
      },
      get: (labels = {}) => family.values.get(this.#key(family, labels)) as number ?? 0,
    };
  }

  /** Register a gauge. */
  gauge(name: string, options: MetricOptions): Gauge {
    const family = this.#add(name, "gauge", options);
    const add = (labels: Labels, value: number) => {
      const key = this.#key(family, labels);
      family.values.set(key, (family.values.get(key) as number ?? 0) + value);
    };
    return {
      set: (labels, value) => family.values.set(this.#key(family, labels), value),
      inc: (labels = {}, value = 1) => add(labels, value),
      dec: (labels = {}, value = 1) => add(labels, -value),
      get: (labels = {}) => family.values.get(this.#key(family, labels)) as number ?? 0,
      reset: () => family.values.clear(),
    };
  }

  /** Register a histogram. */
  histogram(name: string, options: HistogramOptions): Histogram {
    const bounds = [...(options.buckets ?? DEFAULT_BUCKETS)];
    if (bounds.length === 0 || bounds.some((b, i) => i > 0 && !(b > bounds[i - 1]))) {
      throw new RangeError(`${name}: buckets must be a non-empty ascending list`);
    }
    if ((options.labels ?? []).includes("le")) {
      throw new RangeError(`${name}: "le" is reserved for histogram buckets`);
    }
    const family = this.#add(name, "histogram", options);
    family.bounds = bounds;
    return {
      observe: (labels, value) => {
        const key = this.#key(family, labels);
        let series = family.values.get(key) as HistogramSeries | undefined;
        if (!series) {
          series = { buckets: bounds.map(() => 0), sum: 0, count: 0 };
          family.values.set(key, series);
        }
        // Buckets are stored non-cumulative and summed when rendered.
        const i = bounds.findIndex((b) => value <= b);
        if (i >= 0) series.buckets[i]++;
        series.sum += value;
        series.count++;
      },
      get: (labels = {}) => {
        const series = family.values.get(this.#key(family, labels)) as HistogramSeries | undefined;
        return { count: series?.count ?? 0, sum: series?.sum ?? 0 };
      },
    };
  }

  /**
   * Run `collect` before every {@linkcode render}, to set gauges from state that lives elsewhere.
   * A collector that throws is reported by {@linkcode render}'s caller, not swallowed.
   */
  onCollect(collect: () => Promise<void> | void): void {
    this.#collectors.push(collect);
  }

  /** Run the collectors, then render every metric in the text exposition format. */
  async render(): Promise<string> {
    for (const collect of this.#collectors) await collect();
    const lines: string[] = [];
    for (const f of this.#families.values()) {
      lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
      lines.push(`# TYPE ${f.name} ${f.kind}`);
      // A counter without labels has one series, which starts at 0. A gauge that was never set
      // (or was reset) has no value to show: absent is more honest than a made-up 0.
      if (f.labels.length === 0 && f.values.size === 0 && f.kind === "counter") {
        lines.push(`${f.name} 0`);
      }
      for (const [key, value] of [...f.values.entries()].sort(([a], [b]) => a < b ? -1 : 1)) {
        const labelValues: string[] = JSON.parse(key);
        if (typeof value === "number") {
          lines.push(`${f.name}${labelText(f.labels, labelValues)} ${formatValue(value)}`);
          continue;
        }
        let cumulative = 0;
        f.bounds!.forEach((bound, i) => {
          cumulative += value.buckets[i];
          const le = `le="${formatValue(bound)}"`;
          lines.push(`${f.name}_bucket${labelText(f.labels, labelValues, le)} ${cumulative}`);
        });
        lines.push(
          `${f.name}_bucket${labelText(f.labels, labelValues, 'le="+Inf"')} ${value.count}`,
        );
        lines.push(`${f.name}_sum${labelText(f.labels, labelValues)} ${formatValue(value.sum)}`);
        lines.push(`${f.name}_count${labelText(f.labels, labelValues)} ${value.count}`);
      }
    }
    return lines.join("\n") + "\n";
  }

  #add(name: string, kind: Kind, options: MetricOptions): Family {
    if (!METRIC_NAME.test(name)) {
      throw new RangeError(`invalid metric name ${JSON.stringify(name)}`);
    }
    if (this.#families.has(name)) throw new RangeError(`metric ${name} is registered twice`);
    const labels = [...(options.labels ?? [])];
    for (const label of labels) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) {
        throw new RangeError(`${name}: invalid label name ${JSON.stringify(label)}`);
      }
    }
    if (new Set(labels).size !== labels.length) {
      throw new RangeError(`${name}: a label name is repeated`);
    }
    const family: Family = { name, help: options.help, kind, labels, values: new Map() };
    this.#families.set(name, family);
    return family;
  }

  /** The series key: label values in the family's order; exactly its labels, no others. */
  #key(family: Family, labels: Labels): string {
    const given = Object.keys(labels);
    if (
      given.length !== family.labels.length ||
      !family.labels.every((l) => typeof labels[l] === "string")
    ) {
      throw new RangeError(
        `${family.name}: labels must be exactly [${family.labels.join(", ")}], got [${
          given.join(", ")
        }]`,
      );
    }
    return JSON.stringify(family.labels.map((l) => labels[l]));
  }
}
