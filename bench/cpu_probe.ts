/**
 * The CPU check: before each wrk case, how fast each CPU runs a fixed piece of the core's kind of
 * work (bench/cpu_probe_task.ts, pinned to the CPU with `taskset`). On a VM a CPU can run at
 * half speed for minutes while the host is busy, which the machine's own counters do not show
 * (steal time stays 0 here); a case measured then is low for a reason outside the code.
 */
import { join } from "node:path";
import { REPO_ROOT } from "../tests/helpers/processes.ts";

const TASK = join(REPO_ROOT, "bench/cpu_probe_task.ts");

/** One check: the workload's milliseconds on each CPU, in CPU order. */
export type CpuCheck = number[];

/** A CPU running below this share of the run's fastest check counts as slowed. */
export const SLOW_CPU = 0.75;

/** Checks in all before a case is measured anyway, by default ({@linkcode settledCheck}). */
export const CHECK_TRIES = 4;

/** Pause before checking a slowed CPU again, ms, by default ({@linkcode settledCheck}). */
export const RECHECK_PAUSE_MS = 15_000;

async function runPinned(cpu: number): Promise<number> {
  const out = await new Deno.Command("taskset", {
    args: ["-c", String(cpu), "deno", "run", "--no-prompt", TASK],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = Number(new TextDecoder().decode(out.stdout).trim());
  if (!out.success || !(ms > 0)) {
    throw new Error(
      `the CPU check on CPU ${cpu} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return ms;
}

/**
 * Run the check on each of the machine's CPUs in turn; null when `taskset` (util-linux) is not
 * there, so a bench without it still runs.
 */
export async function checkCpus(
  cpus: number = navigator.hardwareConcurrency,
): Promise<CpuCheck | null> {
  const out: number[] = [];
  try {
    for (let cpu = 0; cpu < cpus; cpu++) out.push(await runPinned(cpu));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  return out;
}

/**
 * Each CPU's speed in a check as a share of `fastest` (the quickest time any CPU took in any
 * check of the run): 1 is as fast as the machine got, 0.5 half as fast.
 */
export function cpuSpeeds(check: CpuCheck, fastest: number): number[] {
  return check.map((ms) => fastest / ms);
}

/**
 * The first CPU of a check that ran slowed, below {@linkcode SLOW_CPU} of `fastest` (the run's
 * quickest check), with its speed; undefined when none did.
 */
export function slowedCpu(
  check: CpuCheck,
  fastest: number,
): { cpu: number; speed: number } | undefined {
  const speeds = cpuSpeeds(check, fastest);
  const cpu = speeds.findIndex((x) => x < SLOW_CPU);
  return cpu < 0 ? undefined : { cpu, speed: speeds[cpu] };
}

/** The quickest time of any CPU in any of `checks`, or undefined when there is none. */
export function fastestCheck(checks: readonly (CpuCheck | null | undefined)[]): number | undefined {
  const all = checks.flatMap((c) => c ?? []);
  return all.length > 0 ? Math.min(...all) : undefined;
}

/** Options for {@linkcode settledCheck}. */
export interface SettledCheckOptions {
  /** The run's checks so far, the yardstick of "slowed"; each new check is added to it. */
  history: (CpuCheck | null)[];
  /** Runs one check ({@linkcode checkCpus} by default). */
  check?: () => Promise<CpuCheck | null>;
  /** Checks in all before measuring anyway ({@linkcode CHECK_TRIES} by default). */
  tries?: number;
  /** Pause before checking again, ms ({@linkcode RECHECK_PAUSE_MS} by default). */
  pauseMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/**
 * Check the CPUs; while one runs below {@linkcode SLOW_CPU} of the run's fastest check, wait and
 * check again, up to `tries` checks, so a case is measured on the machine as it usually is rather
 * than in a few minutes of the host's other load. Resolves to the last check (null without
 * taskset), which the report shows: a case measured after the last try is still marked.
 */
export async function settledCheck(options: SettledCheckOptions): Promise<CpuCheck | null> {
  const { history, log = () => {} } = options;
  const tries = options.tries ?? CHECK_TRIES;
  for (let i = 1;; i++) {
    const { check, slowed } = await checkInto(history, options.check);
    if (slowed === undefined || i >= tries) return check;
    const pauseMs = options.pauseMs ?? RECHECK_PAUSE_MS;
    log(`${slowed}: checking again in ${pauseMs / 1000} s (${i} of ${tries})`);
    await new Promise((r) => setTimeout(r, pauseMs));
  }
}

/**
 * Run one check (`check`, {@linkcode checkCpus} by default) and add it to `history`; `slowed`
 * says which CPU ran below {@linkcode SLOW_CPU} of the run's fastest check and how far ("CPU 1
 * at 55% of the run's fastest check"), undefined when none did.
 */
async function checkInto(
  history: (CpuCheck | null)[],
  check: (() => Promise<CpuCheck | null>) | undefined,
): Promise<{ check: CpuCheck | null; slowed?: string }> {
  const last = await (check ?? checkCpus)();
  history.push(last);
  const fastest = fastestCheck(history);
  if (last === null || fastest === undefined) return { check: last };
  const slowed = slowedCpu(last, fastest);
  if (slowed === undefined) return { check: last };
  const share = Math.round(100 * slowed.speed);
  return { check: last, slowed: `CPU ${slowed.cpu} at ${share}% of the run's fastest check` };
}

/**
 * How a wrk case keeps its runs off a slowed CPU (bench/wrk.ts): it waits for steady CPUs before
 * it starts, and checks them again after each run.
 */
export interface CpuGuard {
  /** Check, waiting while a CPU is slowed ({@linkcode settledCheck}); the check it ended on. */
  settle(): Promise<CpuCheck | null>;
  /**
   * One check now, without waiting, and whether it found a CPU slowed. Absent where a check
   * would time the load rather than the machine (load of the case's own still running).
   */
  recheck?(): Promise<{ check: CpuCheck | null; slowed: boolean }>;
}

/** A {@linkcode CpuGuard} keeping every check in `options.history`, the run's yardstick. */
export function cpuGuard(options: SettledCheckOptions): CpuGuard {
  const { history, log = () => {} } = options;
  return {
    async settle() {
      const last = await settledCheck(options);
      log(
        last === null
          ? "CPU check skipped: no taskset"
          : `CPU check: ${last.map((ms, cpu) => `CPU ${cpu} ${ms.toFixed(1)} ms`).join(", ")}`,
      );
      return last;
    },
    async recheck() {
      const { check, slowed } = await checkInto(history, options.check);
      if (slowed !== undefined) log(`${slowed} after the run`);
      return { check, slowed: slowed !== undefined };
    },
  };
}

/**
 * Of `checks`, the one whose slowest CPU was slowest: the check a case is marked with. Null when
 * one could not run (no taskset), undefined when there is none.
 */
export function worstCheck(checks: readonly (CpuCheck | null)[]): CpuCheck | null | undefined {
  if (checks.includes(null)) return null;
  let worst: CpuCheck | undefined;
  for (const c of checks as CpuCheck[]) {
    if (worst === undefined || Math.max(...c) > Math.max(...worst)) worst = c;
  }
  return worst;
}
