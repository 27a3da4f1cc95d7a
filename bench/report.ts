/** The benchmark results as JSON and as the markdown tables printed and kept in RESULTS.md. */
import type { HttpCase } from "./http.ts";
import type { PipelineRun } from "./pipeline.ts";

/** One pipeline configuration: its runs and their medians. */
export interface PipelineCase {
  /** Worker processes. */
  workers: number;
  /** WORKER_CONCURRENCY of each. */
  concurrency: number;
  /** The model's answer time (ms). */
  modelMs: number;
  /** Jobs per saturation run. */
  jobs: number;
  /** Jobs per latency run. */
  latencyJobs: number;
  /** Every run. */
  runs: PipelineRun[];
  /** Medians. */
  median: PipelineRun;
}

/** A target and whether it was met. */
export interface TargetCheck {
  /** What is measured. */
  name: string;
  /** The target, as text. */
  target: string;
  /** The measured figure, as text. */
  value: string;
  /** Met or not. */
  met: boolean;
}

/** Everything one `deno task bench` measured. */
export interface BenchResults {
  /** ISO time of the run. */
  generatedAt: string;
  /** Machine and versions. */
  machine: { cpus: number; deno: string; redis: string; os: string };
  /** How it was measured. */
  settings: Record<string, unknown>;
  /** The search corpus. */
  corpus: { memories: number; seedSeconds: number; headShares: { word: string; share: number }[] };
  /** HTTP cases. */
  http: HttpCase[];
  /** Pipeline cases. */
  pipeline: PipelineCase[];
  /** Peak RSS (VmHWM) in MB. */
  memory: { coreMb: number; workerMb: number };
  /** Targets. */
  targets: TargetCheck[];
  /** Wall time of the whole bench, seconds. */
  seconds: number;
}

const f1 = (x: number) => Number.isFinite(x) ? x.toFixed(1) : "-";
const f0 = (x: number) => Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "-";
const f2 = (x: number) => Number.isFinite(x) ? x.toFixed(2) : "-";

/** Check the figures against the targets. */
export function checkTargets(r: Omit<BenchResults, "targets">): TargetCheck[] {
  const out: TargetCheck[] = [];
  const http = (name: string, c: number) =>
    r.http.find((h) => h.name === name && h.connections === c);
  const jobs16 = http("POST /llm_jobs", 16);
  if (jobs16) {
    out.push({
      name: "POST /llm_jobs, 16 connections: requests/s",
      target: "≥ 5,000",
      value: f0(jobs16.rps),
      met: jobs16.rps >= 5000,
    });
    out.push({
      name: "POST /llm_jobs, 16 connections: p99",
      target: "< 10 ms",
      value: `${f2(jobs16.p99)} ms`,
      met: jobs16.p99 < 10,
    });
  }
  for (const c of [1, 16]) {
    const s = http("GET /search", c);
    if (!s) continue;
    out.push({
      name: `GET /search, 100,000 memories, ${c} connection${c > 1 ? "s" : ""}: p99`,
      target: "< 20 ms",
      value: `${f2(s.p99)} ms`,
      met: s.p99 < 20,
    });
  }
  const one = r.pipeline.find((p) => p.workers === 1);
  const two = r.pipeline.find((p) => p.workers === 2);
  for (const p of [one, two]) {
    if (!p) continue;
    const ideal = (p.workers * p.concurrency) / (p.modelMs / 1000);
    out.push({
      name: `pipeline, ${p.workers} worker${
        p.workers > 1 ? "s" : ""
      } × ${p.concurrency}: throughput`,
      target: `≥ 90% of ${f0(ideal)} jobs/s`,
      value: `${f1(p.median.throughput)} jobs/s (${f1(100 * p.median.throughput / ideal)}%)`,
      met: p.median.throughput >= 0.9 * ideal,
    });
  }
  if (one) {
    out.push({
      name: "pipeline: POST -> first LLM call, p50",
      target: "< 10 ms",
      value: `${f2(one.median.firstCallP50)} ms`,
      met: one.median.firstCallP50 < 10,
    });
    out.push({
      name: "pipeline: worker overhead per job (end to end - model time), p50",
      target: "< 5 ms",
      value: `${f2(one.median.overheadP50)} ms`,
      met: one.median.overheadP50 < 5,
    });
  }
  if (one && two) {
    const speedup = two.median.throughput / one.median.throughput;
    out.push({
      name: "pipeline: 2 workers / 1 worker throughput",
      target: "close to 2× (≥ 1.8×)",
      value: `${f2(speedup)}×`,
      met: speedup >= 1.8,
    });
  }
  out.push({
    name: "core peak RSS (VmHWM)",
    target: "< 150 MB",
    value: `${f1(r.memory.coreMb)} MB`,
    met: r.memory.coreMb < 150,
  });
  out.push({
    name: "worker peak RSS (VmHWM)",
    target: "< 100 MB",
    value: `${f1(r.memory.workerMb)} MB`,
    met: r.memory.workerMb < 100,
  });
  return out;
}

/** The results as markdown tables. */
export function markdownTables(r: BenchResults): string {
  const lines: string[] = [];
  lines.push("| target | goal | measured | met |", "|---|---|---|---|");
  for (const t of r.targets) {
    lines.push(`| ${t.name} | ${t.target} | ${t.value} | ${t.met ? "yes" : "**no**"} |`);
  }
  lines.push("");
  lines.push(
    "| endpoint | connections | requests/s | p50 ms | p99 ms | errors |",
    "|---|---:|---:|---:|---:|---:|",
  );
  for (const h of r.http) {
    lines.push(
      `| ${h.name} | ${h.connections} | ${f0(h.rps)} | ${f2(h.p50)} | ${f2(h.p99)} | ${h.errors} |`,
    );
  }
  lines.push("");
  lines.push(
    "| workers × concurrency | model ms | throughput jobs/s | % of ideal | POST→first LLM call p50 / p99 ms | overhead p50 / p99 ms |",
    "|---|---:|---:|---:|---:|---:|",
  );
  for (const p of r.pipeline) {
    const ideal = (p.workers * p.concurrency) / (p.modelMs / 1000);
    const m = p.median;
    lines.push(
      `| ${p.workers} × ${p.concurrency} | ${p.modelMs} | ${f1(m.throughput)} | ` +
        `${f1(100 * m.throughput / ideal)}% | ${f2(m.firstCallP50)} / ${f2(m.firstCallP99)} | ` +
        `${f2(m.overheadP50)} / ${f2(m.overheadP99)} |`,
    );
  }
  lines.push("");
  lines.push(
    `Peak RSS (VmHWM of the \`deno\` process): core ${f1(r.memory.coreMb)} MB, ` +
      `worker ${f1(r.memory.workerMb)} MB.`,
  );
  return lines.join("\n");
}

/** The committed RESULTS.md: how it was measured, the tables, and the README section. */
export function resultsMarkdown(r: BenchResults, performanceSection: string): string {
  const s = r.settings;
  const top = r.corpus.headShares.map((h) => `"${h.word}" ${f0(100 * h.share)}%`).join(", ");
  return [
    "# Benchmark results",
    "",
    `Latest \`deno task bench\` run: ${r.generatedAt}, ${r.machine.cpus} CPUs, ` +
    `${r.machine.deno}, redis ${r.machine.redis}, ${r.machine.os}; the whole bench took ` +
    `${
      f0(r.seconds)
    } s. Raw figures of the last run: \`bench/results/latest.json\` (not committed).`,
    "",
    "How it measures (see `bench/`):",
    "",
    "- Everything on loopback: a private `redis-server`, the core and the worker started with " +
    "`deno task core` / `deno task worker` (the real permission flags), the fake " +
    "OpenAI-compatible model (`tests/helpers/fake_llm.ts`) in the bench process.",
    `- Each figure is the median of ${s.runs} runs. HTTP: a closed-loop generator in Deno, ` +
    `${s.httpSeconds} s per run after 1 s of warm-up, at 1 and 16 connections.`,
    `- Search: ${f0(r.corpus.memories)} memories seeded into the database file before the core ` +
    `starts: 4 to 25 words each from a ${f0(Number(s.vocabulary))}-word vocabulary with ` +
    `Zipf-like frequencies (most frequent: ${top} of memories), 30% stop words, 10% with ` +
    `confirmed tags, 1% pinned, 5 owners holding 40/25/20/10/5%. Queries: 1 to 3 words drawn ` +
    `with the same frequencies, so common words are searched often.`,
    `- Pipeline: followup jobs, the model answering in ${s.modelMs} ms, ` +
    `WORKER_CONCURRENCY=${s.concurrency}. Throughput: ${s.pipelineJobs} jobs posted at once, ` +
    `first POST to last result notification. Latency: ${s.latencyJobs} jobs, ` +
    `${s.outstanding} in flight at a time (none waits in the stream): POST → the model's first ` +
    `request for the job, and the overhead = POST → result notification minus the model's ` +
    `${s.modelMs} ms.`,
    "- Memory: VmHWM of each service's `deno` process (the child of `deno task`) at the end.",
    "",
    markdownTables(r),
    "",
    "## README section",
    "",
    'The text below is the README\'s "Performance" section.',
    "",
    performanceSection,
    "",
  ].join("\n");
}

/** The README "Performance" section for these results. */
export function performanceSection(r: BenchResults): string {
  const h = (name: string, c: number) => r.http.find((x) => x.name === name && x.connections === c);
  const one = r.pipeline.find((p) => p.workers === 1);
  const two = r.pipeline.find((p) => p.workers === 2);
  const row = (name: string) => {
    const a = h(name, 1);
    const b = h(name, 16);
    return `| ${name} | ${a ? f0(a.rps) : "-"} | ${a ? f2(a.p99) : "-"} | ${
      b ? f0(b.rps) : "-"
    } | ` +
      `${b ? f2(b.p99) : "-"} |`;
  };
  return [
    "## Performance",
    "",
    "`deno task bench` measures the real services on loopback (a private redis-server, `deno " +
    "task core` and `deno task worker`, the fake model) and writes `bench/RESULTS.md`. On a " +
    `${r.machine.cpus}-CPU machine (medians of ${r.settings.runs} runs):`,
    "",
    "| endpoint | req/s, 1 conn | p99 ms | req/s, 16 conns | p99 ms |",
    "|---|---:|---:|---:|---:|",
    row("POST /llm_jobs"),
    row("POST /memories"),
    row("GET /memories/{id}"),
    row("GET /search"),
    "",
    `GET /search runs over ${f0(r.corpus.memories)} memories with Zipf-distributed words. ` +
    (one
      ? `With the model answering in ${one.modelMs} ms and WORKER_CONCURRENCY=${one.concurrency}, ` +
        `one worker completes ${f0(one.median.throughput)} jobs/s` +
        (two ? ` and two complete ${f0(two.median.throughput)} jobs/s` : "") +
        `; a job reaches the model ${f1(one.median.firstCallP50)} ms (p50) after its POST, and ` +
        `the pipeline adds ${f1(one.median.overheadP50)} ms (p50) to the model's time. `
      : "") +
    `Peak memory: core ${f0(r.memory.coreMb)} MB, worker ${f0(r.memory.workerMb)} MB.`,
    "",
    "`deno task faults` runs 1,000 jobs while killing workers (SIGKILL), restarting Redis and " +
    "the core, and making the model fail 30% of calls; it checks that every job ends completed " +
    "(or failed, for the ones given unusable answers), with no duplicate memory, event, tag or " +
    "notification. A 100-job version runs in `deno task test`.",
  ].join("\n");
}
