/**
 * The machine the bench runs on: versions, CPUs, load, and how much of its CPU time went to
 * other work during the run. The figures need an idle machine; the last says whether it was.
 */

// Deno reads /proc only under --allow-all; a shell reads it for us (as stack.ts does).
async function output(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const d = new TextDecoder();
    return d.decode(out.stdout) + d.decode(out.stderr);
  } catch {
    return "";
  }
}

/** Versions and size of the machine. */
export interface MachineInfo {
  /** CPUs. */
  cpus: number;
  /** Deno's version. */
  deno: string;
  /** redis-server's version. */
  redis: string;
  /** wrk's version. */
  wrk: string;
  /** OS and architecture. */
  os: string;
  /** /proc/loadavg's 1, 5 and 15 minute averages before the run. */
  loadAverage: string;
}

/** Versions, CPUs and the load average now. */
export async function machineInfo(): Promise<MachineInfo> {
  return {
    cpus: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    redis: (await output("redis-server", ["--version"])).match(/v=(\S+)/)?.[1] ?? "?",
    wrk: (await output("wrk", ["--version"])).match(/wrk (\S+)/)?.[1] ?? "?",
    os: `${Deno.build.os} ${Deno.build.arch}`,
    loadAverage: (await output("sh", ["-c", "cat /proc/loadavg"])).split(" ").slice(0, 3)
      .join(" "),
  };
}

/** CPU seconds so far: the whole machine's busy time, and this process's with its children. */
export interface CpuMark {
  /** Busy CPU seconds of the machine (all CPUs). */
  machine: number;
  /** This process and its waited-for children (wrk, `deno task`s and their services, Redis). */
  ours: number;
  /** Wall clock, seconds. */
  at: number;
}

/** Read the CPU counters (clock ticks of 1/100 s). */
export async function cpuMark(): Promise<CpuMark> {
  const text = await output("sh", ["-c", `head -n 1 /proc/stat; cat /proc/${Deno.pid}/stat`]);
  const [cpuLine, self] = text.split("\n");
  // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
  const f = cpuLine.trim().split(/\s+/).slice(1).map(Number);
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
  // utime stime cutime cstime: fields 14-17 of stat, counted from after the command name.
  const rest = self.slice(self.lastIndexOf(")") + 2).split(" ").map(Number);
  const ours = rest[11] + rest[12] + rest[13] + rest[14];
  return { machine: busy / 100, ours: ours / 100, at: performance.now() / 1000 };
}

/** CPU use over a run, from two marks. */
export interface CpuShare {
  /** CPU seconds the machine had (wall time × CPUs). */
  available: number;
  /** CPU seconds the bench and everything it started used. */
  ours: number;
  /** CPU seconds other work used. */
  others: number;
}

/**
 * CPU use between `start` and `end`. Only children already waited for count as ours, so `end`
 * must be taken after everything the bench started has exited.
 */
export function cpuShare(start: CpuMark, end: CpuMark, cpus: number): CpuShare {
  const ours = end.ours - start.ours;
  const machine = end.machine - start.machine;
  return {
    available: (end.at - start.at) * cpus,
    ours,
    others: Math.max(0, machine - ours),
  };
}
