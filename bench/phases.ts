/**
 * The bench's phases, each on its own stack (a private redis-server, `deno task core`, and for
 * the pipeline and the soak `deno task worker` and the fake model): the HTTP figures at 100,000
 * memories, search at other corpus sizes, the worker pipeline, and the soak. Each phase stops
 * what it started through the shared {@linkcode Cleanups}, also when it fails.
 */
import { CONNECTIONS, ENDPOINTS, runHttpCases, runStoreCases } from "./http.ts";
import { type PipelineRun, runPipeline, scriptFake, summarize } from "./pipeline.ts";
import type { MemoryFigures, PipelineCase, ScalingRow } from "./results.ts";
import { seedMemories, type SeedResult } from "./seed.ts";
import { runSoak, type SoakResult } from "./soak.ts";
import {
  type BenchCore,
  type BenchService,
  coreDirs,
  startBenchRedis,
  startCore,
  startWorkerProcess,
} from "./stack.ts";
import type { WrkCase, WrkResult } from "./wrk.ts";
import { ownMemory, type RssFigure, rssOf, sleep } from "./memory.ts";
import { startFakeLlm } from "../tests/helpers/fake_llm.ts";
import { runFloorCases, runReferenceCases } from "./reference.ts";
import { join } from "node:path";
import type { CpuGuard } from "./cpu_probe.ts";

/** Things to stop, newest first. */
export class Cleanups {
  #items: (() => Promise<unknown>)[] = [];
  /** Register `fn` to run at the next {@linkcode run}. */
  add(fn: () => Promise<unknown>): void {
    this.#items.push(fn);
  }
  /** Run every registered cleanup, newest first; failures are logged, not thrown. */
  async run(): Promise<void> {
    while (this.#items.length > 0) {
      await this.#items.pop()!().catch((err) =>
        console.error(`cleanup: ${(err as Error).message}`)
      );
    }
  }
}

/** What every phase is given. */
export interface PhaseContext {
  /** Stops what the phase starts. */
  cleanups: Cleanups;
  /** Progress lines. */
  log: (message: string) => void;
  /** Runs per figure. */
  runs: number;
  /** Seconds per HTTP run. */
  seconds: number;
  /** Seconds a service is left idle after it answers before its idle RSS is read. */
  settleSeconds: number;
  /** Extra environment for the core (SEARCH_WORKERS when set). */
  coreEnv: Record<string, string>;
  /** Keeps each wrk case's runs off a slowed CPU (bench/cpu_probe.ts); no checks when absent. */
  cpus?: CpuGuard;
}

const fmtRun = (name: string, r: WrkResult) =>
  `${name}: ${Math.round(r.rps)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms` +
  (r.errors ? `, ${r.errors} errors` : "");

/** A seeded database and a core (and its Redis) serving it. */
async function seededCore(
  ctx: PhaseContext,
  count: number,
  options: { floorCopy?: boolean } = {},
): Promise<{
  seed: SeedResult;
  core: BenchCore;
  redisUrl: string;
  imageDir: string;
  databasePath: string;
  floorPath?: string;
}> {
  const dirs = await coreDirs(`memori_bench_${count}_`);
  ctx.cleanups.add(() => Deno.remove(dirs.root, { recursive: true }));
  ctx.log(`seeding ${count.toLocaleString("en-US")} memories`);
  const seed = seedMemories(dirs.databasePath, { count });
  ctx.log(
    `seeded in ${seed.seconds.toFixed(1)} s; rare words held by ` +
      `${seed.rare[0].memories}-${seed.rare.at(-1)!.memories} memories, common by ` +
      seed.common.map((w) => `${w.word} ${w.memories}`).join(", "),
  );
  // Copied before the core opens the store: the same file, in a directory of its own.
  const floorPath = options.floorCopy ? await copyForFloor(dirs) : undefined;
  const redis = await startBenchRedis();
  ctx.cleanups.add(() => redis.stop());
  const core = await startCore({ ...dirs, redisUrl: redis.url, env: ctx.coreEnv });
  ctx.cleanups.add(() => core.stop());
  return {
    seed,
    core,
    redisUrl: redis.url,
    imageDir: dirs.imageDir,
    databasePath: dirs.databasePath,
    floorPath,
  };
}

/** A copy of the seeded store for the store floor (bench/floor_server.ts). */
async function copyForFloor(dirs: { root: string; databasePath: string }): Promise<string> {
  const dir = join(dirs.root, "floor");
  await Deno.mkdir(dir);
  const path = join(dir, "memori.db");
  await Deno.copyFile(dirs.databasePath, path);
  return path;
}

function scalingRow(seed: SeedResult, count: number, cases: WrkCase[]): ScalingRow {
  return {
    memories: count,
    seedSeconds: seed.seconds,
    vocabularySize: seed.vocabularySize,
    rareWords: seed.rare,
    commonWords: seed.common,
    rare: cases.find((c) => c.name === "GET /search (rare word)")!,
    common: cases.find((c) => c.name === "GET /search (common word)")!,
  };
}

/**
 * The HTTP figures at 100,000 memories, after the two reference figures and the store floor's
 * (bench/reference.ts), and the core's RSS idle and after them.
 */
export async function benchHttp(ctx: PhaseContext): Promise<{
  http: WrkCase[];
  floor: WrkCase[];
  row: ScalingRow;
  memory: MemoryFigures;
}> {
  const count = 100_000;
  const { seed, core, redisUrl, floorPath } = await seededCore(ctx, count, { floorCopy: true });
  await sleep(ctx.settleSeconds * 1000);
  const coreIdle = await rssOf(core.pid);
  ctx.log(`core idle: ${coreIdle.rss.toFixed(1)} MB RSS`);
  const options = {
    seed,
    seconds: ctx.seconds,
    runs: ctx.runs,
    onRun: (name: string, r: WrkResult) => ctx.log(fmtRun(name, r)),
    cpus: ctx.cpus,
  };
  const http = await runReferenceCases(core.url, options);
  const floor = await runFloorCases({ ...options, databasePath: floorPath!, redisUrl });
  ctx.log(`store floor after its cases: ${floor.rssAfter.rss.toFixed(1)} MB RSS`);
  http.push(...await runStoreCases(core.url, options));
  const coreAfter = await rssOf(core.pid);
  ctx.log(`core after: ${coreAfter.rss.toFixed(1)} MB RSS, peak ${coreAfter.peak.toFixed(1)} MB`);
  await sleep(ctx.settleSeconds * 1000);
  const coreRested = await rssOf(core.pid);
  ctx.log(`core ${ctx.settleSeconds} s after: ${coreRested.rss.toFixed(1)} MB RSS`);
  await ctx.cleanups.run();
  return {
    http,
    floor: floor.cases,
    row: scalingRow(seed, count, http),
    memory: { coreIdle, coreAfter, coreRested, floorAfter: floor.rssAfter },
  };
}

/** Rare- and common-word search at `count` memories. */
export async function benchSearchAt(ctx: PhaseContext, count: number): Promise<ScalingRow> {
  const { seed, core } = await seededCore(ctx, count);
  const cases = await runHttpCases(core.url, {
    seed,
    endpoints: ENDPOINTS.filter((e) => e.name.startsWith("GET /search")),
    seconds: ctx.seconds,
    runs: ctx.runs,
    onRun: (name, r) => ctx.log(`${count.toLocaleString("en-US")}: ${fmtRun(name, r)}`),
    cpus: ctx.cpus,
  });
  await ctx.cleanups.run();
  return scalingRow(seed, count, cases);
}

/** Pipeline settings. */
export interface PipelineSettings {
  /** The model's answer time, ms. */
  modelMs: number;
  /** WORKER_CONCURRENCY. */
  concurrency: number;
  /** Jobs per saturation run. */
  jobs: number;
  /** Jobs per latency run. */
  latencyJobs: number;
}

/** The worker pipeline with 1 and then 2 workers, and the worker's RSS idle and after. */
export async function benchPipeline(ctx: PhaseContext, o: PipelineSettings): Promise<{
  cases: PipelineCase[];
  memory: MemoryFigures;
}> {
  const dirs = await coreDirs("memori_bench_pipeline_");
  ctx.cleanups.add(() => Deno.remove(dirs.root, { recursive: true }));
  const redis = await startBenchRedis();
  ctx.cleanups.add(() => redis.stop());
  const core = await startCore({ ...dirs, redisUrl: redis.url, env: ctx.coreEnv });
  ctx.cleanups.add(() => core.stop());
  const userId = 2001;
  const res = await fetch(`${core.url}/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ telegram_user_id: userId, display_name: "Bench" }),
  });
  await res.body?.cancel();
  const fake = await startFakeLlm();
  ctx.cleanups.add(() => fake.close());
  scriptFake(fake, o.modelMs);
  const workers: BenchService[] = [];
  const cases: PipelineCase[] = [];
  const memory: MemoryFigures = {};
  for (const count of [1, 2]) {
    while (workers.length < count) {
      const w = await startWorkerProcess({
        redisUrl: redis.url,
        coreUrl: core.url,
        llmUrl: fake.url,
        imageDir: dirs.imageDir,
        env: { WORKER_CONCURRENCY: String(o.concurrency) },
      });
      workers.push(w);
      ctx.cleanups.add(() => w.stop());
      if (!memory.workerIdle) {
        await sleep(ctx.settleSeconds * 1000);
        memory.workerIdle = await rssOf(w.pid);
        ctx.log(`worker idle: ${memory.workerIdle.rss.toFixed(1)} MB RSS`);
      }
    }
    const options = {
      coreUrl: core.url,
      redisUrl: redis.url,
      fake,
      modelMs: o.modelMs,
      userId,
      outstanding: o.concurrency / 2,
      timeoutMs: 120_000,
    };
    // Warm-up (JIT, connections), not counted.
    await runPipeline({ ...options, jobs: 200, latencyJobs: 40 });
    const runs: PipelineRun[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      const run = await runPipeline({ ...options, jobs: o.jobs, latencyJobs: o.latencyJobs });
      runs.push(run);
      ctx.log(
        `${count} worker(s): ${run.throughput.toFixed(1)} jobs/s; POST->LLM p50 ` +
          `${run.firstCallP50.toFixed(2)} ms p99 ${run.firstCallP99.toFixed(2)} ms; overhead ` +
          `p50 ${run.overheadP50.toFixed(2)} ms p99 ${run.overheadP99.toFixed(2)} ms`,
      );
    }
    cases.push({
      workers: count,
      concurrency: o.concurrency,
      modelMs: o.modelMs,
      jobs: o.jobs,
      latencyJobs: o.latencyJobs,
      runs,
      median: summarize(runs),
    });
  }
  memory.workerAfter = await largestRss(workers);
  ctx.log(`worker after: ${memory.workerAfter.rss.toFixed(1)} MB RSS`);
  await sleep(ctx.settleSeconds * 1000);
  memory.workerRested = await largestRss(workers);
  ctx.log(`worker ${ctx.settleSeconds} s after: ${memory.workerRested.rss.toFixed(1)} MB RSS`);
  await ctx.cleanups.run();
  return { cases, memory };
}

/** The RSS figure of the process in `services` with the largest RSS now. */
async function largestRss(services: BenchService[]): Promise<RssFigure> {
  const figures = await Promise.all(services.map((s) => rssOf(s.pid)));
  return figures.reduce((a, b) => b.rss > a.rss ? b : a);
}

/** Soak settings. */
export interface SoakSettings {
  /** Length, seconds. */
  seconds: number;
  /** Requests/s to hold. */
  rate: number;
  /** Seconds between RSS samples. */
  sampleSeconds: number;
  /** The model's answer time, ms. */
  modelMs: number;
  /** WORKER_CONCURRENCY. */
  concurrency: number;
}

/** The soak on 100,000 memories with one worker. */
export async function benchSoak(ctx: PhaseContext, o: SoakSettings): Promise<SoakResult> {
  const { seed, core, redisUrl, imageDir, databasePath } = await seededCore(ctx, 100_000);
  const fake = await startFakeLlm();
  ctx.cleanups.add(() => fake.close());
  scriptFake(fake, o.modelMs);
  const worker = await startWorkerProcess({
    redisUrl,
    coreUrl: core.url,
    llmUrl: fake.url,
    imageDir,
    env: { WORKER_CONCURRENCY: String(o.concurrency) },
  });
  ctx.cleanups.add(() => worker.stop());
  await sleep(ctx.settleSeconds * 1000);
  ctx.log(`soak: ${o.seconds} s at ${o.rate} req/s over ${CONNECTIONS} connections`);
  const result = await runSoak({
    coreUrl: core.url,
    processes: [{ name: "core", pid: core.pid }, { name: "worker", pid: worker.pid }],
    seed,
    databasePath,
    seconds: o.seconds,
    rate: o.rate,
    sampleSeconds: o.sampleSeconds,
    onSample: (t, [core, worker]) => {
      const rss = (f: RssFigure) => f.rss.toFixed(1);
      const own = (f: RssFigure) => ownMemory(f).toFixed(1);
      ctx.log(
        `soak ${t.toFixed(0)} s: core ${rss(core)} MB RSS (${own(core)} less mapped files), ` +
          `worker ${rss(worker)} MB (${own(worker)})`,
      );
    },
  });
  await ctx.cleanups.run();
  return result;
}
