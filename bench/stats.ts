/**
 * A closed-loop HTTP load generator: `connections` loops, each sending its next request as soon
 * as the previous answer is read, for a fixed time. Bounded in time (and each request by a
 * timeout); latencies are recorded per request, answers that are not the expected status count
 * as errors.
 */

/** One request to send. */
export interface LoadRequest {
  /** Path and query, e.g. `/search?q=milk&owner=1`. */
  path: string;
  /** GET by default. */
  method?: string;
  /** JSON body, already serialized. */
  body?: string;
}

/** Options for {@linkcode runLoad}. */
export interface LoadOptions {
  /** Concurrent connections (one request in flight on each). */
  connections: number;
  /** Measured time in ms. */
  durationMs: number;
  /** Unmeasured time before it, in ms (JIT, connection set-up, caches). */
  warmupMs?: number;
  /** Status every answer must have (200 by default). */
  expectStatus?: number;
  /** Most time one request may take (10 s by default); longer ones count as errors. */
  requestTimeoutMs?: number;
}

/** What one load run measured. */
export interface LoadResult {
  /** Requests answered with the expected status in the measured window. */
  requests: number;
  /** Other answers and failures in the measured window. */
  errors: number;
  /** First unexpected answer, for the report. */
  firstError?: string;
  /** Requests per second. */
  rps: number;
  /** Median latency in ms. */
  p50: number;
  /** 99th percentile latency in ms. */
  p99: number;
  /** Worst latency in ms. */
  max: number;
}

/** The `q` quantile (0..1) of sorted `values` (nearest rank). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** The median of `values` (any order). */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Drive `baseUrl` with requests from `next` (called once per request, with the loop number and
 * a running counter) and measure throughput and latency.
 */
export async function runLoad(
  baseUrl: string,
  next: (loop: number, n: number) => LoadRequest,
  options: LoadOptions,
): Promise<LoadResult> {
  const expect = options.expectStatus ?? 200;
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const warmupEnd = performance.now() + (options.warmupMs ?? 0);
  const end = warmupEnd + options.durationMs;
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let errors = 0;
  let firstError: string | undefined;
  let counter = 0;
  const headers = { "content-type": "application/json" };

  function record(ms: number): void {
    if (count === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2);
      bigger.set(latencies);
      latencies = bigger;
    }
    latencies[count++] = ms;
  }

  async function loop(id: number): Promise<void> {
    while (true) {
      const start = performance.now();
      if (start >= end) return;
      const req = next(id, counter++);
      let ok = false;
      let problem = "";
      try {
        const res = await fetch(`${baseUrl}${req.path}`, {
          method: req.method ?? "GET",
          headers: req.body === undefined ? undefined : headers,
          body: req.body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await res.text();
        ok = res.status === expect;
        if (!ok) {
          problem = `${req.method ?? "GET"} ${req.path}: ${res.status} ${text.slice(0, 200)}`;
        }
      } catch (err) {
        problem = `${req.method ?? "GET"} ${req.path}: ${(err as Error).message}`;
      }
      const done = performance.now();
      // Only requests that started inside the measured window count.
      if (start < warmupEnd) continue;
      if (ok) record(done - start);
      else {
        errors++;
        firstError ??= problem;
      }
    }
  }

  await Promise.all(Array.from({ length: options.connections }, (_, i) => loop(i)));
  const sorted = latencies.subarray(0, count).sort();
  return {
    requests: count,
    errors,
    firstError,
    rps: count / (options.durationMs / 1000),
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: count ? sorted[count - 1] : NaN,
  };
}
