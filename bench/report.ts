/**
 * The benchmark's reports: the markdown tables of a run, printed and kept in bench/RESULTS.md,
 * and the README's "Performance" section (the targets are bench/targets.ts).
 */
import { MAX_DROPPED_RUNS, type WrkCase } from "./wrk.ts";
import type { WordCount } from "./seed.ts";
import type { RssFigure } from "./memory.ts";
import { SOAK_GROWTH_MB, SOAK_SLOPE_MB_PER_MIN } from "./soak.ts";
import { floorLabel, HEALTH_CASE, REFERENCE_CASE } from "./http.ts";
import {
  CHECK_TRIES,
  cpuSpeeds,
  fastestCheck,
  RECHECK_PAUSE_MS,
  SLOW_CPU,
  slowedCpu,
} from "./cpu_probe.ts";
import { type BenchResults, f0, f1, f2, percentOf, sp } from "./results.ts";
import { floorNote, HTTP_TARGETS } from "./targets.ts";

/** The bare server's requests/s of the run (bench/reference.ts), or undefined for an older run. */
const bareServerRps = (r: Pick<BenchResults, "http">) =>
  r.http.find((h) => h.name === REFERENCE_CASE)?.rps.median;
/** The quickest CPU check of the run: the speed every check is compared with. */
const runFastest = (r: Pick<BenchResults, "http" | "floor" | "scaling" | "cpuFastestMs">) =>
  r.cpuFastestMs ?? fastestCheck([
    ...r.http.map((h) => h.cpus),
    ...(r.floor ?? []).map((h) => h.cpus),
    ...r.scaling.flatMap((x) => [x.rare.cpus, x.common.cpus]),
  ]);

/**
 * A case's CPU check as each CPU's speed against the run's fastest ("100 / 52%"), in bold when a
 * CPU was slowed; "-" for a run from before the check, "n/a" when it could not run.
 */
function cpuText(c: WrkCase, fastest: number | undefined): string {
  if (c.cpus === null) return "n/a";
  if (c.cpus === undefined || fastest === undefined) return "-";
  const speeds = cpuSpeeds(c.cpus, fastest);
  const text = `${speeds.map((x) => Math.round(100 * x)).join(" / ")}%`;
  return slowedCpu(c.cpus, fastest) ? `**${text}**` : text;
}

const wordList = (ws: WordCount[], max = ws.length) =>
  ws.slice(0, max).map((w) => `"${w.word}" ${f0(w.memories)}`).join(", ");

const range = (ws: WordCount[]) => {
  const n = ws.map((w) => w.memories);
  return `${Math.min(...n)}–${Math.max(...n)}`;
};

/** The results as markdown tables. */
export function markdownTables(r: BenchResults): string {
  const lines: string[] = [];
  const fastest = runFastest(r);
  lines.push(
    "| target | goal | measured: median (min–max of runs) | store floor | met |",
    "|---|---|---|---|---|",
  );
  for (const t of r.targets) {
    lines.push(
      `| ${t.name} | ${t.target} | ${t.value} | ${t.floor ?? "-"} | ${t.met ? "yes" : "**no**"} |`,
    );
  }
  if (r.http.length > 0) {
    lines.push("", "### HTTP (100,000 memories, 16 connections)", "");
    const bare = bareServerRps(r);
    lines.push(
      "| endpoint | requests/s | of the bare server | p50 ms | p99 ms | errors | CPUs around it |",
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const h of r.http) {
      lines.push(
        `| ${h.name} | ${sp(h.rps, f0)} | ${percentOf(h.rps.median, bare)} | ` +
          `${sp(h.p50, f2)} | ${sp(h.p99, f2)} | ${h.errors} | ${cpuText(h, fastest)} |`,
      );
    }
  }
  lines.push(...floorTable(r, fastest));
  if (r.scaling.length > 0) {
    lines.push("", "### Search scaling (16 connections)", "");
    lines.push(
      "| memories | seeding s | rare: words' memories | rare req/s | rare p50 / p99 ms | " +
        "common: words' memories | common req/s | common p50 / p99 ms | CPUs around rare; common |",
      "|---:|---:|---|---:|---:|---|---:|---:|---:|",
    );
    for (const s of r.scaling) {
      lines.push(
        `| ${f0(s.memories)} | ${f1(s.seedSeconds)} | ${range(s.rareWords)} | ` +
          `${sp(s.rare.rps, f0)} | ${f2(s.rare.p50.median)} / ${f2(s.rare.p99.median)} | ` +
          `${range(s.commonWords)} | ${sp(s.common.rps, f0)} | ` +
          `${f2(s.common.p50.median)} / ${f2(s.common.p99.median)} | ` +
          `${cpuText(s.rare, fastest)}; ${cpuText(s.common, fastest)} |`,
      );
    }
  }
  if (r.pipeline.length > 0) {
    lines.push("", "### Pipeline", "");
    lines.push(
      "| workers × concurrency | model ms | throughput jobs/s | % of ideal | POST→first LLM call p50 / p99 ms | overhead p50 / p99 ms |",
      "|---|---:|---:|---:|---:|---:|",
    );
    for (const p of r.pipeline) {
      const ideal = (p.workers * p.concurrency) / (p.modelMs / 1000);
      const m = p.median;
      const tp = p.runs.map((x) => x.throughput);
      lines.push(
        `| ${p.workers} × ${p.concurrency} | ${p.modelMs}` +
          (m.modelP50 === undefined ? "" : ` (measured ${f1(m.modelP50)})`) +
          ` | ${f1(m.throughput)} ` +
          `(${f1(Math.min(...tp))}–${f1(Math.max(...tp))}) | ` +
          `${f1(100 * m.throughput / ideal)}% | ${f2(m.firstCallP50)} / ${f2(m.firstCallP99)} | ` +
          `${f2(m.overheadP50)} / ${f2(m.overheadP99)} |`,
      );
    }
  }
  lines.push(...memoryTables(r));
  return lines.join("\n");
}

/**
 * The store floor's figures (bench/floor_server.ts) and the core's share of each: how much of an
 * endpoint's cost is the HTTP layer rather than the store work. None for a run without them.
 */
function floorTable(r: BenchResults, fastest: number | undefined): string[] {
  if (!r.floor?.length) return [];
  const lines = [
    "",
    "### Store floor (each endpoint's store work behind a bare `Deno.serve`, same store, 16 connections)",
    "",
    "| endpoint | requests/s | the core's share | p50 ms | p99 ms | errors | CPUs around it |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const f of r.floor) {
    const core = r.http.find((h) => h.name === f.name);
    lines.push(
      `| ${f.name} | ${sp(f.rps, f0)} | ${core ? percentOf(core.rps.median, f.rps.median) : "-"} ` +
        `| ${sp(f.p50, f2)} | ${sp(f.p99, f2)} | ${f.errors} | ${cpuText(f, fastest)} |`,
    );
  }
  return lines;
}

/** " (N MB S s later)" for a figure read idle after a bench, or nothing without one. */
function laterText(settleSeconds: number): (f?: RssFigure) => string {
  return (f) => f ? ` (${f0(f.rss)} MB ${settleSeconds} s later)` : "";
}

function memoryTables(r: BenchResults): string[] {
  const m = r.memory;
  const lines = ["", "### Memory (VmRSS of the service's `deno` process; VmHWM as peak)", ""];
  lines.push(
    "| process | when | RSS MB | of which mapped files MB | peak MB |",
    "|---|---|---:|---:|---:|",
  );
  const row = (who: string, when: string, f?: RssFigure) => {
    if (f) lines.push(`| ${who} | ${when} | ${f1(f.rss)} | ${f1(f.file ?? NaN)} | ${f1(f.peak)} |`);
  };
  row("core", `idle, ${r.settings.settleSeconds} s after start`, m.coreIdle);
  row("core", "after the HTTP bench", m.coreAfter);
  row("core", `idle again, ${r.settings.settleSeconds} s after the HTTP bench`, m.coreRested);
  row("store floor", "after its HTTP cases (all the core's but GET /health)", m.floorAfter);
  row("worker", `idle, ${r.settings.settleSeconds} s after start`, m.workerIdle);
  row("worker", "after the pipeline bench (larger of the two)", m.workerAfter);
  row("worker", `idle again, ${r.settings.settleSeconds} s after it`, m.workerRested);
  lines.push(
    "",
    "Mapped files are the `deno` binary's code (shared by every `deno` process), the WAL index, " +
      "and, with `SEARCH_MMAP_MB` set (off by default), the pages of the database file the search " +
      "threads read through their memory map: the kernel's page cache of those files, counted in RSS.",
  );
  if (m.breakdown) {
    const b = m.breakdown;
    const idle = m.coreIdle?.rss ?? NaN;
    lines.push("", "Breakdown of the idle core:", "");
    lines.push("| layer | RSS MB | share of the idle core |", "|---|---:|---:|");
    const pct = (x: number) => Number.isFinite(idle) ? `${f0(100 * x / idle)}%` : "-";
    lines.push(`| bare \`deno run\` (prints, waits) | ${f1(b.bareDeno)} | ${pct(b.bareDeno)} |`);
    const graph = b.coreModuleGraph - b.bareDeno;
    lines.push(
      `| + the core's module graph (import core/main.ts, not started) | ` +
        `${f1(graph)} | ${pct(graph)} |`,
    );
    const serving = idle - b.coreModuleGraph;
    lines.push(
      `| + started: database open, Redis client, listener, timers | ` +
        `${f1(serving)} | ${pct(serving)} |`,
    );
    lines.push(`| = the core idle | ${f1(idle)} | 100% |`);
  }
  if (r.soak) {
    const s = r.soak;
    lines.push(
      "",
      `### Soak: ${f0(s.seconds)} s of mixed load at ${f0(s.load.rps)} req/s ` +
        `(target ${f0(s.rate)}), ${s.times.length} samples every ${s.sampleSeconds} s, ` +
        `${s.load.errors} errors; RSS less mapped files (see bench/soak.ts)`,
      "",
      `The load's writes took the store from ${f0(s.memories.first)} to ` +
        `${f0(s.memories.last)} memories.`,
      "",
    );
    lines.push(
      "| process | first MB | min MB | max MB | last MB | slope, 2nd half MB/min | growth, 2nd half MB | steady |",
      "|---|---:|---:|---:|---:|---:|---:|---|",
    );
    for (const x of s.series) {
      lines.push(
        `| ${x.name} | ${f1(x.first)} | ${f1(x.min)} | ${f1(x.max)} | ${f1(x.last)} | ` +
          `${f2(x.slopeMbPerMin)} | ${f1(x.growthMb)} | ${x.met ? "yes" : "**no**"} |`,
      );
    }
  }
  return lines;
}

/** Share of the machine's CPU time other work took during the run (0..1; NaN if unknown). */
export function othersShare(r: BenchResults): number {
  return r.cpu ? r.cpu.others / r.cpu.available : NaN;
}

/** Other work's CPU time over the run, as text. */
export function othersText(r: BenchResults): string {
  const c = r.cpu;
  return c
    ? `other processes used ${f0(c.others)} of the ${f0(c.available)} CPU-seconds the machine ` +
      `had during the run, ${f0(100 * othersShare(r))}% (the bench and what it started: ` +
      `${f0(c.ours)})`
    : `load average ${r.machine.loadAverage.split(" ")[0]} before the run`;
}

/**
 * A warning when the machine was not idle: other processes took a tenth of its CPU time or more
 * during the run (or, without that figure, the load average before it was half the CPUs or
 * more), so the figures are low.
 */
export function busyNote(r: BenchResults): string {
  const busy = r.cpu
    ? othersShare(r) >= 0.1
    : Number(r.machine.loadAverage.split(" ")[0]) >= r.machine.cpus / 2;
  return busy
    ? `**The machine was busy during this run**: ${othersText(r)}. That work took CPU from ` +
      "the services and from wrk, so the figures are lower, and spread wider, than on an idle " +
      "machine."
    : "";
}

/**
 * A warning when a CPU check found a CPU slowed (below {@linkcode SLOW_CPU} of the run's fastest
 * check) around some case: those figures were taken on a slower machine than the rest. It also
 * lists the runs dropped and measured again because a CPU ran slowed after them.
 */
export function slowCpuNote(
  r: Pick<BenchResults, "http" | "floor" | "scaling" | "cpuFastestMs">,
): string {
  const fastest = runFastest(r);
  if (fastest === undefined) return "";
  const cases = everyCase(r);
  const slowed = cases.filter((c) => c.cpus && slowedCpu(c.cpus, fastest));
  const notes: string[] = [];
  if (slowed.length > 0) {
    const slowest = Math.min(...slowed.flatMap((c) => cpuSpeeds(c.cpus!, fastest)));
    notes.push(
      `**A CPU ran slow around ${slowed.length} of the ${cases.length} wrk cases** ` +
        `(${slowed.map((c) => c.name).join("; ")}), down to ${Math.round(100 * slowest)}% of ` +
        "the run's fastest CPU check: those figures were taken on a slower machine than the " +
        "others.",
    );
  }
  const redone = cases.filter((c) => (c.dropped?.length ?? 0) > 0);
  if (redone.length > 0) {
    const runs = redone.reduce((n, c) => n + c.dropped!.length, 0);
    notes.push(
      `${runs} run${runs === 1 ? " was" : "s were"} dropped and measured again, a CPU having ` +
        `run slowed after ${runs === 1 ? "it" : "them"} (the dropped figures: ` +
        redone.map((c) => `${c.name} ${c.dropped!.map((d) => f0(d.rps)).join(", ")} req/s`)
          .join("; ") +
        ").",
    );
  }
  return notes.join(" ");
}

/** Every wrk case of a run, named as the notes name it. */
function everyCase(r: Pick<BenchResults, "http" | "floor" | "scaling">): WrkCase[] {
  // The HTTP phase's row of the scaling table reuses its cases: count those once.
  const inHttp = new Set(r.http.map((h) => JSON.stringify(h)));
  return [
    ...r.http,
    ...(r.floor ?? []).map((c) => ({ ...c, name: floorLabel(c.name) })),
    ...r.scaling.flatMap((x) =>
      [x.rare, x.common].filter((c) => !inHttp.has(JSON.stringify(c)))
        .map((c) => ({ ...c, name: `${c.name} at ${f0(x.memories)} memories` }))
    ),
  ];
}

/** The committed RESULTS.md: machine, how it was measured, the tables. */
export function resultsMarkdown(r: BenchResults): string {
  const s = r.settings;
  const words = r.scaling.map((x) =>
    `- ${f0(x.memories)} memories (vocabulary ${f0(x.vocabularySize)} words): rare ` +
    `${wordList(x.rareWords, 5)}, … (${x.rareWords.length} words, ${range(x.rareWords)} ` +
    `memories each); common ${wordList(x.commonWords)}.`
  );
  return [
    "# Benchmark results",
    "",
    `Latest \`deno task bench\` run: ${r.generatedAt}, ${r.machine.cpus} CPUs, ` +
    `${r.machine.os}, deno ${r.machine.deno}, redis ${r.machine.redis}, wrk ${r.machine.wrk}; ` +
    `load average before the run ${r.machine.loadAverage}; ${
      othersText(r)
    }; the whole bench took ` +
    `${f0(r.seconds)} s. Raw figures: \`bench/results/latest.json\` (not committed).`,
    "",
    "The figures need an otherwise idle machine: wrk, the services and Redis share its CPUs, " +
    "and anything else running takes from the services' share. A figure's spread (min–max " +
    "of its runs) shows how steady the machine was.",
    "",
    busyNote(r),
    "",
    slowCpuNote(r),
    "",
    floorNote(r),
    "",
    "How it measures (see `bench/`):",
    "",
    "- Everything on loopback: a private `redis-server`, the core and the worker started with " +
    "`deno task core` / `deno task worker` (the real permission flags, LOG_LEVEL=info, the " +
    "default" + (s.searchWorkers ? `, SEARCH_WORKERS=${s.searchWorkers}` : "") + "; their " +
    "output, a line per request, appended to a file: a pipe the bench process drained took a " +
    "third of a CPU from them during searches), the fake OpenAI-compatible model " +
    "(`tests/helpers/fake_llm.ts`) in the bench process.",
    `- HTTP: \`wrk\` with ${s.wrkThreads} threads and ${s.connections} connections; a Lua ` +
    "script varies bodies, ids and words per request and prints wrk's latency percentiles. " +
    `Each figure is the median of ${s.runs} runs of ${s.httpSeconds} s after a 1 s warm-up; ` +
    "the min–max of the runs is given with it. One more figure splits the connections: reads " +
    "by id on half of them while the other half search for common words (one wrk thread each), " +
    "to show what a slow search costs every other request.",
    "- Yardstick: before the endpoints, the same wrk settings against a bare `Deno.serve` " +
    "answering what GET /health answers (`bench/reference_server.ts`, a `deno run` of its own " +
    "with the services' runtime flags, measured alone) and against the core's GET /health (our " +
    "accept loop, Hono, the middleware and the access log around a handler that does nothing). " +
    "\"Of the bare server\" is each figure's share of the first. This VM's speed for HTTP has " +
    "varied by 2x within a day (the bare server 30,000 to 61,000 req/s). The share of the heavier " +
    "figures varies less than the raw figure, though not by nothing (three runs of one " +
    "afternoon: GET /memories/{id} 6,678-11,365 req/s, 17-22% of the bare server; the searches " +
    "and writes 4-8%); GET /health's share varied most (41-75%). Compare shares between runs, " +
    "and read the bare figure for the phase the machine was in.",
    "- Store floor: the same requests against `bench/floor_server.ts`, a bare `Deno.serve` " +
    "doing only each endpoint's store work with the core's own code (the same database " +
    "settings, search thread, WAL checkpoint thread, group commit, audit entries and Redis " +
    "publish) on a copy of the same seeded store, measured alone after the bare server. It " +
    "leaves out the whole HTTP layer: Hono, the middleware (request id, token, actor, body " +
    "limit), validation, the access log and /metrics' counting. \"The core's share\" is the " +
    "core's figure against the floor's, and the targets table gives the floor's figure (for " +
    "the core's RSS after the HTTP bench, the floor's RSS after the same cases but GET " +
    "/health): a target beyond it is out of reach on this machine for any HTTP layer.",
    "- CPU check: before each wrk case and after each of its runs, a fixed piece of the core's " +
    "kind of work (lookups by key and an FTS5 ranked search in SQLite, JSON; " +
    '`bench/cpu_probe_task.ts`) is timed on each CPU in turn, pinned with `taskset`. "CPUs ' +
    "around it\" is each CPU's speed against the run's quickest check, in the worst of the " +
    `checks just before and after the case's runs, in bold below ${Math.round(100 * SLOW_CPU)}%. ` +
    "When the check before a case finds a CPU below that against the quickest check so far, " +
    `the bench waits ${RECHECK_PAUSE_MS / 1000} s and checks again, up to ${CHECK_TRIES} ` +
    "checks, then measures anyway. When the check after a run finds one, the run is dropped " +
    `(up to ${MAX_DROPPED_RUNS} a case, listed with their figures above) and measured again ` +
    "after the same wait. On this VM one CPU at times " +
    "ran such work at half the other's speed for minutes (a common-word search on the 100,000 " +
    "store: 5.7 against 2.9 ms, pinned, back to back) while a loop of integer arithmetic ran " +
    "as fast on both, and nothing in the guest shows it (steal time stays 0): a figure taken " +
    "then is low for a reason outside the code.",
    `- Corpus: memories written into the database file with direct SQL (one transaction, ` +
    "prepared statements, the search index built once at the end and merged into one segment) " +
    "before the core starts (a store written one memory at a time holds more: after 20,000 " +
    "such writes on this one, 6-9 segments with the core's merger, rare-word searches ~1.5x " +
    "slower in-process; README, Architecture): " +
    "4 to 25 words each from a vocabulary with Zipf-like frequencies, 30% stop words, 10% " +
    "with confirmed tags, 1% pinned, 5 owners holding 40/25/20/10/5%. The vocabulary is " +
    "20,000 words up to 100,000 memories and one word per 5 memories beyond, so words held " +
    `by ~10 memories exist at every size. Searches are for owner ${s.searchOwner} (40% of ` +
    "the memories).",
    "- Rare word: one of the 50 words held by closest to 10 memories; common word: one of " +
    "the 5 held by closest to 2.5% of the memories (2,500 at 100,000), counted in the search " +
    "index after seeding (fts5vocab), each request cycling through them:",
    ...words.map((w) => `  ${w}`),
    `- Pipeline: followup jobs, the model answering in ${s.modelMs} ms, ` +
    `WORKER_CONCURRENCY=${s.concurrency}. Throughput: ${s.pipelineJobs} jobs posted at once, ` +
    `first POST to last result notification. Latency: ${s.latencyJobs} jobs, ` +
    `${s.outstanding} in flight at a time (none waits in the stream): POST → the model's first ` +
    `request for the job, and the overhead = POST → result notification minus the model's own ` +
    "time for the job as the fake model measured it (the request's arrival to its answer; " +
    `Deno's timers fire 1–2 ms late, so it is above ${s.modelMs} ms: "measured" in the table).`,
    `- Memory: VmRSS of each service's \`deno\` process (the child of \`deno task\`), idle ` +
    `${s.settleSeconds} s after it answers (after V8's memory reducer has handed back the ` +
    "start's garbage, ~8 s after start with scripts/serve.sh's flags; the peak shows the RSS " +
    "before it), right after its bench, and idle as long again after that (for information: " +
    "what an operator sees once the load stops); VmHWM (peak) for information. The breakdown runs " +
    "a bare `deno run` and one that only imports core/main.ts, with the services' `deno run` " +
    "flags, each idle as long.",
    "- Soak: the mixed load (half GET /memories/{id}, a quarter searches, a fifth POST " +
    "/memories, 5% POST /llm_jobs processed by one worker) held at a fixed rate by wrk's " +
    "`delay()`, RSS sampled every few seconds; it fails on steady growth: a least-squares " +
    `slope over the second half above ${SOAK_SLOPE_MB_PER_MIN} MB/min with more than ` +
    `${SOAK_GROWTH_MB} MB of growth along it. The full run's 60 s soak is short: on a busy ` +
    "machine the services may still be warming up in its second half. `deno task bench " +
    "--soak=600` runs a 10-minute soak alone.",
    r.scaling.length > 0
      ? "- Seeding (direct SQL, before the core starts) took " +
        r.scaling.map((x) => `${f1(x.seedSeconds)} s for ${f0(x.memories)} memories`).join(", ") +
        "."
      : "",
    "",
    markdownTables(r),
    "",
  ].filter((l, i, a) => !(l === "" && a[i - 1] === "")).join("\n");
}

/** The README's lines on the bare server and GET /health of the run (none for older runs). */
function yardstickText(r: BenchResults): string[] {
  const bare = bareServerRps(r);
  if (bare === undefined) return [];
  const health = r.http.find((x) => x.name === HEALTH_CASE)?.rps.median;
  const getTarget = HTTP_TARGETS.find((t) => t.name === "GET /memories/{id}")!.rps!;
  return [
    `For scale, in the same run a bare \`Deno.serve\` answering GET /health's JSON did ` +
    `${f0(bare)} req/s on this machine` +
    (health === undefined
      ? ""
      : ` and the core's GET /health ${f0(health)} (${percentOf(health, bare)} of it)`) +
    `; the target of GET /memories/{id}, ${f0(getTarget)} req/s, is ` +
    `${percentOf(getTarget, bare)} of the bare server.`,
    "",
  ];
}

/** The README "Performance" section for these results. */
export function performanceSection(r: BenchResults): string {
  const h = (name: string) => r.http.find((x) => x.name === name);
  const one = r.pipeline.find((p) => p.workers === 1);
  const two = r.pipeline.find((p) => p.workers === 2);
  const missed = r.targets.filter((t) => !t.met);
  const m = r.memory;
  const later = laterText(r.settings.settleSeconds);
  const rows = ["POST /llm_jobs", "POST /memories", "GET /memories/{id}"]
    .concat(["GET /search (rare word)", "GET /search (common word)"])
    .map((n) => {
      const c = h(n);
      return c
        ? `| ${n} | ${f0(c.rps.median)} | ${f2(c.p50.median)} | ${f2(c.p99.median)} |`
        : `| ${n} | - | - | - |`;
    });
  const scale = r.scaling.map((s) =>
    `| ${f0(s.memories)} | ${f2(s.rare.p50.median)} / ${f2(s.rare.p99.median)} | ` +
    `${f2(s.common.p50.median)} / ${f2(s.common.p99.median)} |`
  );
  return [
    "## Performance",
    "",
    "`deno task bench` measures the real services on loopback (a private redis-server, `deno " +
    "task core` and `deno task worker`, the fake model) with `wrk` as the load generator (2 " +
    "threads, 16 connections), checks every figure against its target (it exits non-zero " +
    "while one is missed) and writes `bench/RESULTS.md` and this section. The figures need an " +
    `otherwise idle machine. Latest run: ${r.generatedAt.slice(0, 10)}, ` +
    `${r.machine.cpus} CPUs, load average ${r.machine.loadAverage} before it; ` +
    `medians of ${r.settings.runs} runs, 100,000 memories:`,
    "",
    busyNote(r),
    "",
    slowCpuNote(r),
    "",
    "| endpoint | req/s | p50 ms | p99 ms |",
    "|---|---:|---:|---:|",
    ...rows,
    "",
    ...yardstickText(r),
    floorNote(r),
    "",
    "Search latency, p50 / p99 ms, by corpus size:",
    "",
    "| memories | rare word | common word |",
    "|---:|---:|---:|",
    ...scale,
    "",
    (one
      ? `With the model answering in ${one.modelMs} ms and WORKER_CONCURRENCY=${one.concurrency}, ` +
        `one worker completes ${f0(one.median.throughput)} jobs/s` +
        (two ? ` and two complete ${f0(two.median.throughput)} jobs/s` : "") +
        `; a job reaches the model ${f1(one.median.firstCallP50)} ms (p50) after its POST, and ` +
        `the pipeline adds ${f1(one.median.overheadP50)} ms (p50) to the model's time. `
      : "") +
    `Memory (RSS): core ${f0(m.coreIdle?.rss ?? NaN)} MB idle, ${f0(m.coreAfter?.rss ?? NaN)} ` +
    `MB after the bench${later(m.coreRested)}; worker ${f0(m.workerIdle?.rss ?? NaN)} MB idle, ` +
    `${f0(m.workerAfter?.rss ?? NaN)} MB after the pipeline bench${later(m.workerRested)}` +
    (m.breakdown
      ? `; a bare \`deno run\` is ${f0(m.breakdown.bareDeno)} MB and importing the core's ` +
        `modules brings it to ${f0(m.breakdown.coreModuleGraph)} MB.`
      : ".") +
    (r.soak
      ? ` A ${f0(r.soak.seconds)} s soak of mixed load ended with ` +
        r.soak.series.map((s) => `the ${s.name} at ${f0(s.last)} MB`).join(" and ") +
        " (RSS less mapped files)" +
        (r.soak.series.every((s) => s.met) ? ", without steady growth." : ", growing.")
      : ""),
    "",
    missed.length === 0
      ? "Every target was met in that run."
      : `Targets missed in that run (\`bench/RESULTS.md\` has each figure against its target): ` +
        `${missed.map((t) => t.name).join("; ")}.`,
    "",
    "`deno task faults` runs 1,000 jobs while killing workers (SIGKILL), restarting Redis and " +
    "the core, and making the model fail 30% of calls; it checks that every job ends completed " +
    "(or failed, for the ones given unusable answers), with no duplicate memory, event, tag or " +
    "notification. A 100-job version runs in `deno task test`.",
  ].join("\n");
}

/** `readme` with its "## Performance" section (up to the next `## ` heading) replaced. */
export function replaceSection(readme: string, section: string): string {
  const start = readme.indexOf("\n## Performance\n");
  if (start < 0) throw new Error('README.md has no "## Performance" section');
  const next = readme.indexOf("\n## ", start + 1);
  const end = next < 0 ? readme.length : next;
  return `${readme.slice(0, start + 1)}${section.replace(/\n+$/, "")}\n${readme.slice(end)}`;
}
