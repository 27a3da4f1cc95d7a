/**
 * `deno task bench`: core HTTP throughput and latency, the worker pipeline, and peak memory,
 * against the real services on loopback. Prints the tables, writes bench/results/latest.json
 * (not committed) and bench/RESULTS.md (committed).
 *
 * Options: `--seconds=N` per HTTP run (5), `--runs=N` per figure (3), `--jobs=N` per pipeline
 * saturation run (1000), `--only=http` or `--only=pipeline`, `--no-write` (print only).
 */
import { join } from "node:path";
import { type HttpCase, runHttpBench } from "./http.ts";
import { type PipelineRun, runPipeline, scriptFake, summarize } from "./pipeline.ts";
import {
  type BenchResults,
  checkTargets,
  markdownTables,
  performanceSection,
  type PipelineCase,
  resultsMarkdown,
} from "./report.ts";
import { seedMemories } from "./seed.ts";
import {
  type BenchService,
  coreDirs,
  memoryOf,
  startBenchRedis,
  startCore,
  startWorkerProcess,
} from "./stack.ts";
import { startFakeLlm } from "../tests/helpers/fake_llm.ts";

const HERE = decodeURIComponent(new URL(".", import.meta.url).pathname);
const MB = 1024 * 1024;
const CONCURRENCY = 16;
const MODEL_MS = 100;
const VOCABULARY = 20_000;
const MEMORIES = 100_000;

/** Things to stop, newest first, on the way out (also on Ctrl-C). */
const cleanups: (() => Promise<unknown>)[] = [];

async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    await cleanups.pop()!().catch((err) => console.error(`cleanup: ${(err as Error).message}`));
  }
}

function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

async function versionOf(cmd: string, args: string[], pattern: RegExp): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return new TextDecoder().decode(out.stdout).match(pattern)?.[1] ?? "?";
  } catch {
    return "?";
  }
}

async function peakOf(services: BenchService[]): Promise<number> {
  let peak = 0;
  for (const s of services) peak = Math.max(peak, (await memoryOf(s.pid))?.peak ?? 0);
  return peak / MB;
}

async function benchHttp(o: { seconds: number; runs: number }) {
  const dirs = await coreDirs("memori_bench_http_");
  cleanups.push(() => Deno.remove(dirs.root, { recursive: true }));
  log(`seeding ${MEMORIES.toLocaleString("en-US")} memories`);
  const seed = seedMemories(dirs.databasePath, { count: MEMORIES, vocabularySize: VOCABULARY });
  log(`seeded in ${seed.seconds.toFixed(1)} s`);
  const redis = await startBenchRedis();
  cleanups.push(() => redis.stop());
  const core = await startCore({ ...dirs, redisUrl: redis.url });
  cleanups.push(() => core.stop());
  const http = await runHttpBench(core.url, {
    seed,
    seconds: o.seconds,
    runs: o.runs,
    connections: [1, 16],
    onRun: (name, c, r) =>
      log(
        `${name} x${c}: ${Math.round(r.rps)} req/s, p50 ${r.p50.toFixed(2)} ms, ` +
          `p99 ${r.p99.toFixed(2)} ms${r.errors ? `, ${r.errors} errors: ${r.firstError}` : ""}`,
      ),
  });
  const coreMb = await peakOf([core]);
  await cleanUp();
  return { http, seed, coreMb };
}

async function benchPipeline(o: { runs: number; jobs: number; latencyJobs: number }) {
  const dirs = await coreDirs("memori_bench_pipeline_");
  cleanups.push(() => Deno.remove(dirs.root, { recursive: true }));
  const redis = await startBenchRedis();
  cleanups.push(() => redis.stop());
  const core = await startCore({ ...dirs, redisUrl: redis.url });
  cleanups.push(() => core.stop());
  const userId = 2001;
  const res = await fetch(`${core.url}/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ telegram_user_id: userId, display_name: "Bench" }),
  });
  await res.body?.cancel();
  const fake = await startFakeLlm();
  cleanups.push(() => fake.close());
  scriptFake(fake, MODEL_MS);
  const workers: BenchService[] = [];
  const cases: PipelineCase[] = [];
  for (const count of [1, 2]) {
    while (workers.length < count) {
      const w = await startWorkerProcess({
        redisUrl: redis.url,
        coreUrl: core.url,
        llmUrl: fake.url,
        imageDir: dirs.imageDir,
        env: { WORKER_CONCURRENCY: String(CONCURRENCY) },
      });
      workers.push(w);
      cleanups.push(() => w.stop());
    }
    const options = {
      coreUrl: core.url,
      redisUrl: redis.url,
      fake,
      modelMs: MODEL_MS,
      userId,
      outstanding: CONCURRENCY / 2,
      timeoutMs: 120_000,
    };
    // Warm-up (JIT, connections), not counted.
    await runPipeline({ ...options, jobs: 200, latencyJobs: 40 });
    const runs: PipelineRun[] = [];
    for (let r = 0; r < o.runs; r++) {
      const run = await runPipeline({ ...options, jobs: o.jobs, latencyJobs: o.latencyJobs });
      runs.push(run);
      log(
        `${count} worker(s): ${run.throughput.toFixed(1)} jobs/s; POST->LLM p50 ` +
          `${run.firstCallP50.toFixed(2)} ms p99 ${run.firstCallP99.toFixed(2)} ms; overhead ` +
          `p50 ${run.overheadP50.toFixed(2)} ms p99 ${run.overheadP99.toFixed(2)} ms`,
      );
    }
    cases.push({
      workers: count,
      concurrency: CONCURRENCY,
      modelMs: MODEL_MS,
      jobs: o.jobs,
      latencyJobs: o.latencyJobs,
      runs,
      median: summarize(runs),
    });
  }
  const workerMb = await peakOf(workers);
  const coreMb = await peakOf([core]);
  await cleanUp();
  return { cases, workerMb, coreMb };
}

/** `--name=value` and `--flag` arguments. */
function flags(argv: string[]): Record<string, string | undefined> {
  const out: Record<string, string> = {};
  for (const a of argv) {
    const m = a.match(/^--([a-z-]+)(?:=(.*))?$/);
    if (!m) throw new Error(`unknown argument ${a}`);
    out[m[1]] = m[2] ?? "true";
  }
  return out;
}

async function main(): Promise<number> {
  const args = flags(Deno.args);
  const seconds = Number(args.seconds ?? 5);
  const runs = Number(args.runs ?? 3);
  const jobs = Number(args.jobs ?? 1000);
  const only = args.only;
  const started = performance.now();
  const onSignal = () => {
    log("interrupted; stopping what the bench started");
    cleanUp().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  let http: HttpCase[] = [];
  let corpus: BenchResults["corpus"] = { memories: 0, seedSeconds: 0, headShares: [] };
  let coreMb = 0;
  let workerMb = 0;
  let pipeline: PipelineCase[] = [];
  try {
    if (only === undefined || only === "http") {
      const h = await benchHttp({ seconds, runs });
      http = h.http;
      corpus = { memories: MEMORIES, seedSeconds: h.seed.seconds, headShares: h.seed.headShares };
      coreMb = Math.max(coreMb, h.coreMb);
    }
    if (only === undefined || only === "pipeline") {
      const p = await benchPipeline({ runs, jobs, latencyJobs: 300 });
      pipeline = p.cases;
      workerMb = p.workerMb;
      coreMb = Math.max(coreMb, p.coreMb);
    }
  } finally {
    await cleanUp();
  }

  const partial: Omit<BenchResults, "targets"> = {
    generatedAt: new Date().toISOString(),
    machine: {
      cpus: navigator.hardwareConcurrency,
      deno: `deno ${Deno.version.deno}`,
      redis: await versionOf("redis-server", ["--version"], /v=(\S+)/),
      os: `${Deno.build.os} ${Deno.build.arch}`,
    },
    settings: {
      runs,
      httpSeconds: seconds,
      vocabulary: VOCABULARY,
      modelMs: MODEL_MS,
      concurrency: CONCURRENCY,
      pipelineJobs: jobs,
      latencyJobs: 300,
      outstanding: CONCURRENCY / 2,
      logLevel: "info (the default)",
    },
    corpus,
    http,
    pipeline,
    memory: { coreMb, workerMb },
    seconds: (performance.now() - started) / 1000,
  };
  const results: BenchResults = { ...partial, targets: checkTargets(partial) };
  console.log(markdownTables(results));
  if (!args["no-write"]) {
    await Deno.mkdir(join(HERE, "results"), { recursive: true });
    await Deno.writeTextFile(
      join(HERE, "results", "latest.json"),
      JSON.stringify(results, null, 2) + "\n",
    );
    if (only === undefined) {
      const file = join(HERE, "RESULTS.md");
      await Deno.writeTextFile(file, resultsMarkdown(results, performanceSection(results)));
      // In the repository's own layout (tables aligned, prose wrapped), so `deno task check`
      // passes on the file as written.
      const fmt = await new Deno.Command("deno", {
        args: ["fmt", "--quiet", file],
        cwd: join(HERE, ".."),
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!fmt.success) log(`deno fmt RESULTS.md: ${new TextDecoder().decode(fmt.stderr)}`);
    }
    log("wrote bench/results/latest.json" + (only === undefined ? " and bench/RESULTS.md" : ""));
  }
  return results.targets.every((t) => t.met) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
