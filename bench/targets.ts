/**
 * The targets: each figure of a run against its goal, with the store floor's figure where
 * there is one (bench/floor_server.ts).
 */
import { SOAK_GROWTH_MB, SOAK_SLOPE_MB_PER_MIN } from "./soak.ts";
import type { RssFigure } from "./memory.ts";
import { type BenchResults, f0, f1, f2, sp, type TargetCheck } from "./results.ts";

/** The 1M / 10k ratio of rare-word p50 most allowed: rare-word search must not grow with size. */
export const RARE_RATIO_TARGET = 1.5;

/** The targets for the HTTP figures (16 connections). */
export const HTTP_TARGETS: { name: string; rps?: number; p99?: number }[] = [
  { name: "POST /llm_jobs", rps: 15_000, p99: 5 },
  { name: "POST /memories", rps: 10_000 },
  { name: "GET /memories/{id}", rps: 40_000 },
  { name: "GET /search (rare word)", rps: 10_000 },
  { name: "GET /search (common word)", p99: 20 },
];

function httpTargets(r: Omit<BenchResults, "targets">, out: TargetCheck[]): void {
  for (const t of HTTP_TARGETS) {
    const c = r.http.find((h) => h.name === t.name);
    if (!c) continue;
    const floor = r.floor?.find((h) => h.name === t.name);
    if (t.rps !== undefined) {
      out.push({
        name: `${t.name}: requests/s`,
        target: `≥ ${f0(t.rps)}`,
        value: sp(c.rps, f0),
        floor: floor && f0(floor.rps.median),
        floorMet: floor && floor.rps.median >= t.rps,
        met: c.rps.median >= t.rps && c.errors === 0,
      });
    }
    if (t.p99 !== undefined) {
      out.push({
        name: `${t.name}: p99`,
        target: `≤ ${t.p99} ms`,
        value: `${sp(c.p99, f2)} ms`,
        floor: floor && `${f2(floor.p99.median)} ms`,
        floorMet: floor && floor.p99.median <= t.p99,
        met: c.p99.median <= t.p99 && c.errors === 0,
      });
    }
  }
  const small = r.scaling.find((s) => s.memories === 10_000);
  const big = r.scaling.find((s) => s.memories === 1_000_000);
  if (small && big) {
    const ratio = big.rare.p50.median / small.rare.p50.median;
    out.push({
      name: "rare-word search p50, 1,000,000 / 10,000 memories",
      target: `≤ ${RARE_RATIO_TARGET}×`,
      value: `${f2(ratio)}× (${f2(big.rare.p50.median)} / ${f2(small.rare.p50.median)} ms)`,
      met: ratio <= RARE_RATIO_TARGET,
    });
  }
}

function pipelineTargets(r: Omit<BenchResults, "targets">, out: TargetCheck[]): void {
  const one = r.pipeline.find((p) => p.workers === 1);
  const two = r.pipeline.find((p) => p.workers === 2);
  for (const p of [one, two]) {
    if (!p) continue;
    const ideal = (p.workers * p.concurrency) / (p.modelMs / 1000);
    out.push({
      name: `pipeline, ${p.workers} worker${p.workers > 1 ? "s" : ""} × ${p.concurrency}: ` +
        "throughput",
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
}

function memoryTargets(r: Omit<BenchResults, "targets">, out: TargetCheck[]): void {
  const m = r.memory;
  const rows: [string, RssFigure | undefined, number, RssFigure?][] = [
    ["core RSS, idle", m.coreIdle, 70],
    ["core RSS, after the HTTP bench", m.coreAfter, 110, m.floorAfter],
    ["worker RSS, idle", m.workerIdle, 70],
    ["worker RSS, after the pipeline bench", m.workerAfter, 100],
  ];
  for (const [name, fig, limit, floor] of rows) {
    if (!fig) continue;
    out.push({
      name,
      target: `≤ ${limit} MB`,
      value: `${f1(fig.rss)} MB (peak ${f1(fig.peak)})`,
      floor: floor && `${f1(floor.rss)} MB`,
      floorMet: floor && floor.rss <= limit,
      met: fig.rss <= limit,
    });
  }
  for (const s of r.soak?.series ?? []) {
    out.push({
      name: `soak ${f0(r.soak!.seconds)} s: ${s.name} RSS less mapped files, growth (second half)`,
      target: `not > ${SOAK_SLOPE_MB_PER_MIN} MB/min and > ${SOAK_GROWTH_MB} MB`,
      value: `${f2(s.slopeMbPerMin)} MB/min, ${f1(s.growthMb)} MB`,
      met: s.met,
    });
  }
}

/** Check the figures against the targets. */
export function checkTargets(r: Omit<BenchResults, "targets">): TargetCheck[] {
  const out: TargetCheck[] = [];
  httpTargets(r, out);
  pipelineTargets(r, out);
  memoryTargets(r, out);
  return out;
}

/**
 * Which targets lie beyond the store floor of the run: a throughput the floor did not reach, or a
 * p99 or an RSS it did not get under. No HTTP layer gets those on this machine; only less store
 * work would. Empty for a run without the floor or with no such target.
 */
export function floorNote(r: Pick<BenchResults, "targets">): string {
  const withFloor = r.targets.filter((t) => t.floorMet !== undefined);
  const beyond = withFloor.filter((t) => !t.floorMet);
  if (beyond.length === 0) return "";
  return `**${beyond.length} of the ${withFloor.length} targets measured on the store floor ` +
    "are beyond it in this run** (each endpoint's store work behind a bare `Deno.serve`, with " +
    "none of the HTTP layer): " +
    beyond.map((t) => `${t.name} ${t.target} against the floor's ${t.floor}`).join("; ") +
    ". On this machine no HTTP layer reaches those; only less work in the store would.";
}
