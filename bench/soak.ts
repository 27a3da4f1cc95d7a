/**
 * The soak: a steady mixed load (bench/http.ts mixedLua, held at a fixed rate) on the core,
 * whose jobs keep a worker busy, for a given time, sampling both services' RSS less its mapped
 * files every few seconds. Mapped files (RssFile) are the kernel's page cache of the `deno`
 * binary, the WAL index and, with SEARCH_MMAP_MB set, of the database pages the search threads
 * read through a memory map (those come and go with the searches: 56-76 MB within one soak with
 * the map on). None of it is memory the process holds on to. Steady growth of the rest fails it:
 * the least-squares slope of RSS over the second half of the samples (the first half is warm-up:
 * caches filling, the heap reaching its working size) above {@linkcode SOAK_SLOPE_MB_PER_MIN}
 * while RSS also grew by more than {@linkcode SOAK_GROWTH_MB} over that half; the second condition
 * keeps the garbage collector's sawtooth from reading as a trend in a short soak.
 */
import { DatabaseSync } from "node:sqlite";
import { queryOne } from "../core/db/query.ts";
import { runWrk, type WrkResult } from "./wrk.ts";
import { mixedLua } from "./http.ts";
import type { SeedResult } from "./seed.ts";
import { linearFit } from "./stats.ts";
import { ownMemory, type RssFigure, rssOf, sleep } from "./memory.ts";

/** Most RSS growth over the second half, MB per minute (with {@linkcode SOAK_GROWTH_MB}). */
export const SOAK_SLOPE_MB_PER_MIN = 1;
/** Most RSS growth over the second half along the fitted line, MB. */
export const SOAK_GROWTH_MB = 5;

/** One process's samples, summarized. */
export interface SoakSeries {
  /** `core` or `worker`. */
  name: string;
  /** RSS (MB) at each sample. */
  rss: number[];
  /** First, smallest, largest and last sample, MB. */
  first: number;
  /** See first. */
  min: number;
  /** See first. */
  max: number;
  /** See first. */
  last: number;
  /** Slope of the line fitted to the second half, MB/min. */
  slopeMbPerMin: number;
  /** Growth along that line over the second half, MB. */
  growthMb: number;
  /** No steady growth. */
  met: boolean;
}

/** What a soak measured. */
export interface SoakResult {
  /** Length, seconds. */
  seconds: number;
  /** Target request rate, req/s. */
  rate: number;
  /** Seconds between samples. */
  sampleSeconds: number;
  /** Sample times, seconds from the start. */
  times: number[];
  /** Per process. */
  series: SoakSeries[];
  /** The load as wrk measured it. */
  load: WrkResult;
  /**
   * Memories in the store before and after the load. The load writes memories (and jobs), so the
   * store grows during the soak, and what the core holds can grow with it.
   */
  memories: { first: number; last: number };
}

/** Options for {@linkcode runSoak}. */
export interface SoakOptions {
  /** The core. */
  coreUrl: string;
  /** Processes to sample (the services' `deno` pids). */
  processes: { name: string; pid: number }[];
  /** The seeded corpus the load reads. */
  seed: SeedResult;
  /** The core's database file (its memories are counted before and after the load). */
  databasePath: string;
  /** Length, seconds. */
  seconds: number;
  /** Requests per second to hold. */
  rate: number;
  /** Seconds between samples. */
  sampleSeconds: number;
  /** Called at each sample (progress). */
  onSample?: (t: number, figures: RssFigure[]) => void;
}

/** Summarize one process's samples taken at `times`. */
export function summarizeSeries(name: string, times: number[], rss: number[]): SoakSeries {
  const half = Math.floor(rss.length / 2);
  const points = rss.slice(half).map((y, i) => ({ x: times[half + i] / 60, y }));
  const { slope } = linearFit(points);
  const span = points.length > 1 ? points[points.length - 1].x - points[0].x : 0;
  const growthMb = slope * span;
  return {
    name,
    rss,
    first: rss[0],
    min: Math.min(...rss),
    max: Math.max(...rss),
    last: rss[rss.length - 1],
    slopeMbPerMin: slope,
    growthMb,
    met: !(slope > SOAK_SLOPE_MB_PER_MIN && growthMb > SOAK_GROWTH_MB),
  };
}

/** Hold the mixed load for `seconds`, sampling RSS less mapped files, and judge the growth. */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const memoriesFirst = countMemories(o.databasePath);
  const started = performance.now();
  const load = runWrk(o.coreUrl, mixedLua(o.seed, o.rate), {
    connections: 16,
    seconds: o.seconds,
  });
  let finished = false;
  load.finally(() => finished = true).catch(() => {});
  const times: number[] = [];
  const samples: number[][] = o.processes.map(() => []);
  while (!finished) {
    const t = (performance.now() - started) / 1000;
    const figures = await Promise.all(o.processes.map((p) => rssOf(p.pid)));
    times.push(t);
    figures.forEach((f, i) => samples[i].push(ownMemory(f)));
    o.onSample?.(t, figures);
    const next = started + (times.length * o.sampleSeconds) * 1000;
    while (!finished && performance.now() < next) await sleep(100);
  }
  return {
    seconds: o.seconds,
    rate: o.rate,
    sampleSeconds: o.sampleSeconds,
    times,
    series: o.processes.map((p, i) => summarizeSeries(p.name, times, samples[i])),
    load: await load,
    memories: { first: memoriesFirst, last: countMemories(o.databasePath) },
  };
}

/** Memories in the database (read through its own read-only connection; WAL included). */
function countMemories(databasePath: string): number {
  using db = new DatabaseSync(databasePath, { readOnly: true });
  return queryOne<{ n: number }>(db, "SELECT count(*) AS n FROM memories")!.n;
}
