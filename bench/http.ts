/**
 * Core HTTP benchmark: POST /llm_jobs, POST /memories, GET /memories/{id} and GET /search at 1
 * and 16 connections against `deno task core` on a database seeded with 100,000 memories.
 * No worker runs, so the jobs posted here only go to their stream.
 */
import { type LoadRequest, type LoadResult, median, runLoad } from "./load.ts";
import { prng, searchQueries, SEED_OWNERS, type SeedResult, sentence, zipf } from "./seed.ts";

/** One endpoint at one concurrency: every run, and the medians. */
export interface HttpCase {
  /** e.g. `POST /llm_jobs`. */
  name: string;
  /** Concurrent connections. */
  connections: number;
  /** Each run's figures. */
  runs: LoadResult[];
  /** Median requests/s. */
  rps: number;
  /** Median of the runs' p50 (ms). */
  p50: number;
  /** Median of the runs' p99 (ms). */
  p99: number;
  /** Errors over all runs. */
  errors: number;
  /** First error seen, if any. */
  firstError?: string;
}

/** Options for {@linkcode runHttpBench}. */
export interface HttpBenchOptions {
  /** The seeded corpus (ids, vocabulary). */
  seed: SeedResult;
  /** Measured seconds per run. */
  seconds: number;
  /** Runs per case (the figure is the median). */
  runs: number;
  /** Connection counts. */
  connections: number[];
  /** Called after each run (progress). */
  onRun?: (name: string, connections: number, result: LoadResult) => void;
}

interface Endpoint {
  name: string;
  expect: number;
  request: (n: number) => LoadRequest;
}

function endpoints(seed: SeedResult): Endpoint[] {
  const rnd = prng(5);
  const draw = zipf(seed.words.length, 1.0, rnd);
  const queries = searchQueries(seed.words, { count: 5000 });
  const owner = (n: number) => SEED_OWNERS[n % SEED_OWNERS.length].id;
  const tag = crypto.randomUUID().slice(0, 8);
  // Reads first, so the search runs over exactly the seeded corpus; then the writes.
  return [
    {
      name: "GET /search",
      expect: 200,
      request: (n) => {
        const { q, owner } = queries[n % queries.length];
        return { path: `/search?${new URLSearchParams({ q, owner: String(owner) })}` };
      },
    },
    {
      name: "GET /memories/{id}",
      expect: 200,
      request: (n) => ({
        path: `/memories/${seed.sampleIds[(n * 7919) % seed.sampleIds.length]}`,
      }),
    },
    {
      name: "POST /llm_jobs",
      expect: 201,
      request: (n) => ({
        path: "/llm_jobs",
        method: "POST",
        body: JSON.stringify({
          job_type: "followup",
          payload: { message: `what did I plan for ${tag}-${n}?`, context: "bench" },
          user_id: owner(n),
        }),
      }),
    },
    {
      name: "POST /memories",
      expect: 201,
      request: (n) => ({
        path: "/memories",
        method: "POST",
        body: JSON.stringify({
          owner_user_id: owner(n),
          content: sentence(seed.words, rnd, draw),
        }),
      }),
    },
  ];
}

/** Run every endpoint at every connection count, `runs` times each. */
export async function runHttpBench(
  baseUrl: string,
  options: HttpBenchOptions,
): Promise<HttpCase[]> {
  const out: HttpCase[] = [];
  for (const ep of endpoints(options.seed)) {
    for (const connections of options.connections) {
      const runs: LoadResult[] = [];
      for (let r = 0; r < options.runs; r++) {
        const result = await runLoad(baseUrl, (_loop, n) => ep.request(n), {
          connections,
          durationMs: options.seconds * 1000,
          warmupMs: 1000,
          expectStatus: ep.expect,
        });
        runs.push(result);
        options.onRun?.(ep.name, connections, result);
      }
      out.push({
        name: ep.name,
        connections,
        runs,
        rps: median(runs.map((r) => r.rps)),
        p50: median(runs.map((r) => r.p50)),
        p99: median(runs.map((r) => r.p99)),
        errors: runs.reduce((n, r) => n + r.errors, 0),
        firstError: runs.find((r) => r.firstError)?.firstError,
      });
    }
  }
  return out;
}
