/**
 * `deno task bench`: the core's HTTP figures through wrk, search at 10,000 / 100,000 /
 * 1,000,000 memories, the worker pipeline, memory (idle, after load, and the idle core's
 * breakdown) and a short soak, against the real services on loopback. Checks every figure
 * against its target and exits 1 while one is missed. Prints the tables, writes
 * bench/results/latest.json (not committed), bench/RESULTS.md and README's "Performance"
 * section (committed).
 *
 * Options: `--seconds=N` per HTTP run (5), `--runs=N` per figure (3), `--jobs=N` per pipeline
 * saturation run (1000), `--soak=N` soak seconds (60 in the full run; given alone, only the soak
 * runs: `deno task bench --soak=600`), `--soak-rate=N` its requests/s (1000), `--only=` a
 * comma-separated list of http, scaling, pipeline, soak, memory; `--no-write` (print only).
 * Only a full run writes RESULTS.md and the README. `--from=FILE` measures nothing: it checks and
 * writes the report of a saved run (bench/results/latest.json), e.g. after a change of report.ts
 * or targets.ts.
 */
import { join } from "node:path";
import {
  benchHttp,
  benchPipeline,
  benchSearchAt,
  benchSoak,
  Cleanups,
  type PhaseContext,
} from "./phases.ts";
import {
  markdownTables,
  othersText,
  performanceSection,
  replaceSection,
  resultsMarkdown,
} from "./report.ts";
import type { BenchResults, MemoryFigures, PipelineCase, ScalingRow } from "./results.ts";
import { checkTargets } from "./targets.ts";
import { CONNECTIONS, SEARCH_OWNER } from "./http.ts";
import { measureBreakdown } from "./memory.ts";
import type { SoakResult } from "./soak.ts";
import type { WrkCase } from "./wrk.ts";
import { cpuMark, cpuShare, machineInfo } from "./machine.ts";
import { type CpuCheck, cpuGuard, fastestCheck } from "./cpu_probe.ts";

const HERE = decodeURIComponent(new URL(".", import.meta.url).pathname);
const ROOT = join(HERE, "..");
const PHASES = ["http", "scaling", "pipeline", "soak", "memory"] as const;
type Phase = typeof PHASES[number];

function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
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

function phasesOf(args: Record<string, string | undefined>): Set<Phase> {
  if (args.only === undefined) {
    return new Set(args.soak !== undefined ? ["soak"] : PHASES);
  }
  const list = args.only.split(",");
  for (const p of list) {
    if (!(PHASES as readonly string[]).includes(p)) throw new Error(`unknown phase ${p}`);
  }
  return new Set(list as Phase[]);
}

async function write(results: BenchResults, full: boolean): Promise<void> {
  await Deno.mkdir(join(HERE, "results"), { recursive: true });
  await Deno.writeTextFile(
    join(HERE, "results", "latest.json"),
    JSON.stringify(results, null, 2) + "\n",
  );
  if (!full) return log("wrote bench/results/latest.json");
  const resultsFile = join(HERE, "RESULTS.md");
  await Deno.writeTextFile(resultsFile, resultsMarkdown(results));
  const readmeFile = join(ROOT, "README.md");
  const readme = await Deno.readTextFile(readmeFile);
  await Deno.writeTextFile(readmeFile, replaceSection(readme, performanceSection(results)));
  // In the repository's own layout (tables aligned, prose wrapped), so `deno task check`
  // passes on the files as written.
  const fmt = await new Deno.Command("deno", {
    args: ["fmt", "--quiet", resultsFile, readmeFile],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!fmt.success) log(`deno fmt: ${new TextDecoder().decode(fmt.stderr)}`);
  log("wrote bench/results/latest.json, bench/RESULTS.md and README.md's Performance section");
}

/** Check, print and (unless `--no-write`) write `results`; the exit code. */
async function finish(
  partial: Omit<BenchResults, "targets">,
  args: Record<string, string | undefined>,
  full: boolean,
): Promise<number> {
  const results: BenchResults = { ...partial, targets: checkTargets(partial) };
  console.log(markdownTables(results));
  if (!args["no-write"]) await write(results, full);
  const missed = results.targets.filter((t) => !t.met);
  log(
    `${results.targets.length - missed.length} of ${results.targets.length} targets met` +
      ` in ${Math.round(results.seconds)} s; ${othersText(results)}`,
  );
  return missed.length === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  const args = flags(Deno.args);
  if (args.from !== undefined) {
    const saved = JSON.parse(await Deno.readTextFile(args.from)) as BenchResults;
    const full = saved.http.length > 0 && saved.scaling.length > 0 && saved.pipeline.length > 0;
    return await finish(saved, args, full);
  }
  const phases = phasesOf(args);
  const full = phases.size === PHASES.length;
  const runs = Number(args.runs ?? 3);
  // Long enough for V8's memory reducer, which hands back the start's garbage ~8 s after start
  // with serve.sh's flags: read earlier, "idle" is a moment of start-up (~9 MB more for the core).
  const settleSeconds = 15;
  const searchWorkers = Deno.env.get("SEARCH_WORKERS");
  const cpuChecks: (CpuCheck | null)[] = [];
  const ctx: PhaseContext = {
    cleanups: new Cleanups(),
    log,
    runs,
    seconds: Number(args.seconds ?? 5),
    settleSeconds,
    coreEnv: searchWorkers === undefined ? {} : { SEARCH_WORKERS: searchWorkers },
    cpus: cpuGuard({ history: cpuChecks, log }),
  };
  const pipelineSettings = {
    modelMs: 100,
    concurrency: 16,
    jobs: Number(args.jobs ?? 1000),
    latencyJobs: 300,
  };
  const started = performance.now();
  const onSignal = () => {
    log("interrupted; stopping what the bench started");
    ctx.cleanups.run().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const host = await machineInfo();
  const cpuStart = await cpuMark();

  let http: WrkCase[] = [];
  let floor: WrkCase[] = [];
  const scaling: ScalingRow[] = [];
  let pipeline: PipelineCase[] = [];
  let memory: MemoryFigures = {};
  let soak: SoakResult | undefined;
  try {
    if (phases.has("memory")) {
      log("memory breakdown: bare deno run, the core's module graph");
      memory.breakdown = await measureBreakdown(settleSeconds * 1000);
    }
    if (phases.has("http")) {
      const h = await benchHttp(ctx);
      http = h.http;
      floor = h.floor;
      scaling.push(h.row);
      memory = { ...memory, ...h.memory };
    }
    if (phases.has("scaling")) {
      scaling.unshift(await benchSearchAt(ctx, 10_000));
      if (!phases.has("http")) scaling.push(await benchSearchAt(ctx, 100_000));
      scaling.push(await benchSearchAt(ctx, 1_000_000));
    }
    if (phases.has("pipeline")) {
      const p = await benchPipeline(ctx, pipelineSettings);
      pipeline = p.cases;
      memory = { ...memory, ...p.memory };
    }
    if (phases.has("soak")) {
      soak = await benchSoak(ctx, {
        seconds: Number(args.soak ?? 60),
        rate: Number(args["soak-rate"] ?? 1000),
        sampleSeconds: 5,
        modelMs: pipelineSettings.modelMs,
        concurrency: pipelineSettings.concurrency,
      });
    }
  } finally {
    await ctx.cleanups.run();
  }
  // After the cleanups: every process the bench started has exited and been waited for.
  const cpu = cpuShare(cpuStart, await cpuMark(), host.cpus);

  const partial: Omit<BenchResults, "targets"> = {
    generatedAt: new Date().toISOString(),
    machine: host,
    settings: {
      runs,
      httpSeconds: ctx.seconds,
      connections: CONNECTIONS,
      wrkThreads: 2,
      modelMs: pipelineSettings.modelMs,
      concurrency: pipelineSettings.concurrency,
      pipelineJobs: pipelineSettings.jobs,
      latencyJobs: pipelineSettings.latencyJobs,
      outstanding: pipelineSettings.concurrency / 2,
      settleSeconds,
      searchOwner: SEARCH_OWNER,
      searchWorkers,
    },
    http,
    floor,
    scaling,
    pipeline,
    memory,
    soak,
    cpu,
    seconds: (performance.now() - started) / 1000,
    cpuFastestMs: fastestCheck(cpuChecks),
  };
  return await finish(partial, args, full);
}

if (import.meta.main) Deno.exit(await main());
