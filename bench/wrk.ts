/**
 * HTTP load through `wrk` (the Debian package): a load generator in C, so the figures are the
 * server's and not the generator's. A JavaScript generator in the bench process took a large
 * share of the same two CPUs and hid the server's real cost.
 *
 * Each run writes a Lua script to a temporary file: the caller's `request` (and optionally
 * `delay`) function, a per-thread id and counter so bodies and paths vary without two threads
 * repeating each other, and a `done` callback printing the run's counts and latency percentiles
 * as one JSON line, which this module parses.
 */
import { type Spread, spread } from "./stats.ts";
import type { CpuCheck } from "./cpu_probe.ts";

/** What one wrk run measured. */
export interface WrkResult {
  /** Answers with a 2xx/3xx status. */
  requests: number;
  /** Non-2xx/3xx answers, socket errors and timeouts. */
  errors: number;
  /** Answered requests per second. */
  rps: number;
  /** Median latency, ms. */
  p50: number;
  /** 99th percentile latency, ms. */
  p99: number;
  /** Worst latency, ms. */
  max: number;
}

/** Options for {@linkcode runWrk}. */
export interface WrkOptions {
  /** Open connections (one request in flight on each). */
  connections: number;
  /** wrk threads (2: the setting). */
  threads?: number;
  /** Length of the run, seconds. */
  seconds: number;
  /** A request slower than this counts as an error (10 s by default). */
  timeoutSeconds?: number;
}

const MARKER = "WRK_RESULT ";

// Runs before the caller's code: `setup` runs in wrk's main Lua state once per thread and gives
// each thread its id; `next_n()` is then unique over all threads (ids < 64).
const PRELUDE = `
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end
local n = 0
function next_n()
  n = n + 1
  return n * 64 + (tid or 0)
end
`;

// Percentiles come from wrk's histogram in µs; printed as one line this module looks for.
const DONE = `
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "\\n${MARKER}{\\"requests\\":%d,\\"duration_us\\":%d,\\"connect\\":%d,\\"read\\":%d," ..
    "\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,\\"p50_us\\":%.1f,\\"p99_us\\":%.1f," ..
    "\\"max_us\\":%.1f}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;

/** A Lua string literal for ASCII `text` (JSON's escapes are Lua's for ASCII). */
export function luaString(text: string): string {
  if (/[^\x20-\x7e]/.test(text)) throw new Error(`not printable ASCII: ${text.slice(0, 40)}`);
  return JSON.stringify(text);
}

/** `local <name> = { ... }` of ASCII strings, one per line. */
export function luaList(name: string, values: readonly string[]): string {
  return `local ${name} = {\n${values.map(luaString).join(",\n")}\n}\n`;
}

/**
 * Run wrk against `baseUrl` with `script` (Lua defining at least `request()`; `next_n()` gives
 * a number unique over the run) and return what it measured.
 */
export async function runWrk(
  baseUrl: string,
  script: string,
  options: WrkOptions,
): Promise<WrkResult> {
  const file = await Deno.makeTempFile({ prefix: "memori_wrk_", suffix: ".lua" });
  try {
    await Deno.writeTextFile(file, `${PRELUDE}\n${script}\n${DONE}`);
    const threads = Math.min(options.threads ?? 2, options.connections);
    const out = await new Deno.Command("wrk", {
      args: [
        `-t${threads}`,
        `-c${options.connections}`,
        `-d${options.seconds}s`,
        `--timeout`,
        `${options.timeoutSeconds ?? 10}s`,
        "-s",
        file,
        baseUrl,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const line = text.split("\n").find((l) => l.startsWith(MARKER));
    if (!out.success || !line) {
      const err = new TextDecoder().decode(out.stderr);
      throw new Error(`wrk failed (code ${out.code}):\n${text}\n${err}`);
    }
    const r = JSON.parse(line.slice(MARKER.length));
    const errors = r.connect + r.read + r.write + r.status + r.timeout;
    const ok = r.requests - r.status;
    return {
      requests: ok,
      errors,
      rps: ok / (r.duration_us / 1e6),
      p50: r.p50_us / 1000,
      p99: r.p99_us / 1000,
      max: r.max_us / 1000,
    };
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}

/** One figure: a warm-up run, then `runs` measured runs, their medians and spreads. */
export interface WrkCase {
  /** e.g. `POST /llm_jobs`. */
  name: string;
  /** Open connections. */
  connections: number;
  /** Every measured run. */
  runs: WrkResult[];
  /** Requests/s over the runs. */
  rps: Spread;
  /** p50 over the runs, ms. */
  p50: Spread;
  /** p99 over the runs, ms. */
  p99: Spread;
  /** Errors over all measured runs. */
  errors: number;
  /**
   * Each CPU's time for the CPU check (bench/cpu_probe.ts) just before the case; null when the
   * check could not run (no `taskset`); absent in runs from before the check.
   */
  cpus?: CpuCheck | null;
}

/** Options for {@linkcode runWrkCase}. */
export interface WrkCaseOptions {
  /** Open connections. */
  connections: number;
  /** Measured runs. */
  runs: number;
  /** Seconds per measured run. */
  seconds: number;
  /** Seconds of the unmeasured warm-up run (JIT, connections, caches); 1 by default. */
  warmupSeconds?: number;
  /** Called after each measured run (progress). */
  onRun?: (result: WrkResult) => void;
  /** Checks the CPUs' speed before the warm-up (bench/cpu_probe.ts); none when absent. */
  checkCpus?: () => Promise<CpuCheck | null>;
}

/** Warm up, then measure `script` `runs` times. */
export async function runWrkCase(
  name: string,
  baseUrl: string,
  script: string,
  options: WrkCaseOptions,
): Promise<WrkCase> {
  const { connections } = options;
  const warmup = options.warmupSeconds ?? 1;
  const cpus = await options.checkCpus?.();
  if (warmup > 0) await runWrk(baseUrl, script, { connections, seconds: warmup });
  const runs: WrkResult[] = [];
  for (let i = 0; i < options.runs; i++) {
    const r = await runWrk(baseUrl, script, { connections, seconds: options.seconds });
    runs.push(r);
    options.onRun?.(r);
  }
  return {
    name,
    connections,
    runs,
    rps: spread(runs.map((r) => r.rps)),
    p50: spread(runs.map((r) => r.p50)),
    p99: spread(runs.map((r) => r.p99)),
    errors: runs.reduce((s, r) => s + r.errors, 0),
    ...(cpus === undefined ? {} : { cpus }),
  };
}
