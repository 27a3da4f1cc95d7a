/**
 * Resident memory as seen from outside: VmRSS (now) and VmHWM (peak) of a process from /proc,
 * and the idle breakdown of the core: a bare `deno run`, a process that only imports the core's
 * module graph, and the core itself idle, so the share of each layer shows.
 */
import { join } from "node:path";
import { memoryOf } from "./stack.ts";
import { startReadyProcess } from "./ready_process.ts";
import { REPO_ROOT } from "../tests/helpers/processes.ts";

const MB = 1024 * 1024;

/** RSS now and peak RSS of one process, MB. */
export interface RssFigure {
  /** VmRSS, MB. */
  rss: number;
  /** VmHWM, MB. */
  peak: number;
  /** RssFile, MB: the part of `rss` that is mapped files (see memoryOf). */
  file?: number;
}

/** VmRSS and VmHWM of `pid` in MB (NaN once it is gone). */
export async function rssOf(pid: number): Promise<RssFigure> {
  const m = await memoryOf(pid);
  return m
    ? { rss: m.rss / MB, peak: m.peak / MB, file: m.file / MB }
    : { rss: NaN, peak: NaN, file: NaN };
}

/** RSS less mapped files, MB: what the process itself holds (see RssFigure.file). */
export function ownMemory(f: RssFigure): number {
  return f.rss - (Number.isFinite(f.file) ? f.file! : 0);
}

/** Wait `ms` (services settle: the start's garbage collected, timers armed). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The idle layers of the core's memory, MB (VmRSS). */
export interface MemoryBreakdown {
  /** `deno run` of a file that prints and waits. */
  bareDeno: number;
  /** `deno run` of a file importing core/main.ts (not started: it runs only as the main module). */
  coreModuleGraph: number;
}

// Prints "ready" once its imports are evaluated, then waits for SIGTERM.
const WAIT = 'console.log("ready");\nsetInterval(() => {}, 1 << 30);\n';

/**
 * The flags of `deno run` that shape the core's memory and speed (code cache, V8 heap) as
 * scripts/serve.sh gives them, so each layer of the breakdown, and the bare server of
 * bench/reference.ts, runs as the core does.
 */
export async function runtimeFlags(): Promise<string[]> {
  const out = await new Deno.Command("sh", {
    args: [join(REPO_ROOT, "scripts/serve.sh"), "core"],
    env: { SERVE_PRINT: "1" },
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((a) => a === "--no-code-cache" || a.startsWith("--v8-flags="));
}

/**
 * Start `deno run` of `source` with `flags`, wait for its "ready", let it settle, read its RSS,
 * stop it.
 */
async function idleRss(
  source: string,
  options: { settleMs: number; flags: string[] },
): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "memori_rss_" });
  const file = join(dir, "idle.ts");
  await Deno.writeTextFile(file, source);
  // The repository's deno.json, for the import map the core's modules use; the environment as
  // the services see it (serve.sh): a library that lists it at import sees an empty one.
  try {
    const child = await startReadyProcess([
      "run",
      "--no-prompt",
      ...options.flags,
      "--allow-env=LOG_LEVEL",
      "--ignore-env",
      "--config",
      join(REPO_ROOT, "deno.json"),
      file,
    ], { cwd: REPO_ROOT, what: "idle process" });
    try {
      await sleep(options.settleMs);
      return (await rssOf(child.pid)).rss;
    } finally {
      await child.stop("SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Measure the bare runtime and the core's module graph, each idle after `settleMs`. */
export async function measureBreakdown(settleMs: number): Promise<MemoryBreakdown> {
  const main = new URL("../core/main.ts", import.meta.url).href;
  const options = { settleMs, flags: await runtimeFlags() };
  return {
    bareDeno: await idleRss(WAIT, options),
    coreModuleGraph: await idleRss(`import ${JSON.stringify(main)};\n${WAIT}`, options),
  };
}
