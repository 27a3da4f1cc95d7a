/**
 * What one `deno task bench` run measured, as bench/results/latest.json keeps it, and the number
 * formats its reports share (bench/targets.ts, bench/report.ts).
 */
import type { WrkCase } from "./wrk.ts";
import type { PipelineRun } from "./pipeline.ts";
import type { WordCount } from "./seed.ts";
import type { MemoryBreakdown, RssFigure } from "./memory.ts";
import type { SoakResult } from "./soak.ts";
import type { Spread } from "./stats.ts";
import type { CpuShare, MachineInfo } from "./machine.ts";

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

/** Rare- and common-word search at one corpus size. */
export interface ScalingRow {
  /** Memories seeded. */
  memories: number;
  /** Seconds the seeding took (direct SQL, one transaction). */
  seedSeconds: number;
  /** Vocabulary size. */
  vocabularySize: number;
  /** The rare words searched. */
  rareWords: WordCount[];
  /** The common words searched. */
  commonWords: WordCount[];
  /** GET /search with a rare word. */
  rare: WrkCase;
  /** GET /search with a common word. */
  common: WrkCase;
}

/** Memory figures, MB. */
export interface MemoryFigures {
  /** The core, idle after start and settling (100,000 memories). */
  coreIdle?: RssFigure;
  /** The core after the HTTP bench. */
  coreAfter?: RssFigure;
  /** The core idle for as long again after the HTTP bench (for information, no target). */
  coreRested?: RssFigure;
  /**
   * The store floor (bench/floor_server.ts) right after its HTTP cases: the five endpoints and
   * the reads under searches, all the core served but GET /health.
   */
  floorAfter?: RssFigure;
  /** A worker, idle after start and settling. */
  workerIdle?: RssFigure;
  /** The workers after the pipeline bench (the larger). */
  workerAfter?: RssFigure;
  /** The workers idle for as long again after it (the larger; for information, no target). */
  workerRested?: RssFigure;
  /** Bare runtime and module graph. */
  breakdown?: MemoryBreakdown;
}

/** A target and whether it was met. */
export interface TargetCheck {
  /** What is measured. */
  name: string;
  /** The target, as text. */
  target: string;
  /** The measured figure, as text (median and, for run figures, min–max of the runs). */
  value: string;
  /**
   * The store floor's figure of the same kind (bench/floor_server.ts): its median for the HTTP
   * targets, its RSS after its cases for the core's; for a run that measured it.
   */
  floor?: string;
  /** Whether the store floor's figure meets the target (with {@linkcode floor}). */
  floorMet?: boolean;
  /** Met or not. */
  met: boolean;
}

/** Everything one `deno task bench` measured. */
export interface BenchResults {
  /** ISO time of the run. */
  generatedAt: string;
  /** Machine and versions. */
  machine: MachineInfo;
  /** CPU time over the run: the bench's (with everything it started) and other work's. */
  cpu?: CpuShare;
  /** How it was measured. */
  settings: {
    runs: number;
    httpSeconds: number;
    connections: number;
    wrkThreads: number;
    modelMs: number;
    concurrency: number;
    pipelineJobs: number;
    latencyJobs: number;
    outstanding: number;
    settleSeconds: number;
    searchOwner: number;
    searchWorkers?: string;
  };
  /** The HTTP figures (100,000 memories). */
  http: WrkCase[];
  /**
   * The store floor's figures for the same endpoints (bench/floor_server.ts); absent in runs
   * from before it.
   */
  floor?: WrkCase[];
  /** Search at several corpus sizes. */
  scaling: ScalingRow[];
  /** Pipeline cases. */
  pipeline: PipelineCase[];
  /** Memory. */
  memory: MemoryFigures;
  /** The soak, if it ran. */
  soak?: SoakResult;
  /** Targets. */
  targets: TargetCheck[];
  /** Wall time of the whole bench, seconds. */
  seconds: number;
  /**
   * The quickest CPU check of the run, ms (bench/cpu_probe.ts): every check's yardstick. Absent
   * in runs from before the checks after each run, whose cases held every check.
   */
  cpuFastestMs?: number;
}

/** One decimal, or "-" for a figure not measured. */
export const f1 = (x: number): string => Number.isFinite(x) ? x.toFixed(1) : "-";
/** A whole number with thousands separators, or "-". */
export const f0 = (x: number): string =>
  Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "-";
/** Two decimals, or "-". */
export const f2 = (x: number): string => Number.isFinite(x) ? x.toFixed(2) : "-";
/** `part` as a whole percentage of `whole`, or "-" when there is no whole (an older run). */
export const percentOf = (part: number, whole: number | undefined): string =>
  whole ? `${Math.round((100 * part) / whole)}%` : "-";
/** `median (min–max)`. */
export const sp = (s: Spread, f: (x: number) => string): string =>
  `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
