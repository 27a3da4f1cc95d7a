/**
 * Processes for the benchmarks and the fault run: a private redis-server that can be killed and
 * restarted on the same port and append-only file, the services started through `deno task`
 * (tests/helpers/processes.ts), the real `deno run` pid under `deno task` (to SIGKILL it or read
 * its memory), and peak RSS from /proc. Everything listens on 127.0.0.1.
 */
import { Redis } from "ioredis";
import { join } from "node:path";
import { httpOk, spawnTask } from "../tests/helpers/processes.ts";
import { freePort } from "../tests/helpers/redis_server.ts";
import { ALL_JOB_STREAMS, WORKER_GROUP } from "../shared/streams.ts";

export { freePort };

/** A redis-server this module started. */
export interface BenchRedis {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its port (kept across restarts). */
  readonly port: number;
  /** Pid of the running server. */
  readonly pid: number;
  /** Kill it with `signal` (SIGKILL: a crash) and wait for the exit. */
  kill(signal?: Deno.Signal): Promise<void>;
  /** Start it again on the same port and directory (reloading the append-only file). */
  restart(): Promise<void>;
  /** Stop it for good (SIGTERM). */
  stop(): Promise<void>;
}

/** Options for {@linkcode startBenchRedis}. */
export interface BenchRedisOptions {
  /** Directory for the append-only file; persistence is off without one. */
  appendOnlyDir?: string;
  /**
   * `appendfsync always`: every write is on disk before Redis answers, so an acknowledged XADD
   * survives a SIGKILL. Otherwise `everysec`, Redis' default.
   */
  fsyncAlways?: boolean;
}

/** Start a private redis-server on a free loopback port and wait until it answers. */
export async function startBenchRedis(options: BenchRedisOptions = {}): Promise<BenchRedis> {
  const port = freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", ""];
  if (options.appendOnlyDir) {
    args.push("--appendonly", "yes", "--dir", options.appendOnlyDir);
    args.push("--appendfsync", options.fsyncAlways ? "always" : "everysec");
  } else {
    args.push("--appendonly", "no");
  }
  let child: Deno.ChildProcess | undefined;

  async function spawn(): Promise<void> {
    const proc = new Deno.Command("redis-server", { args, stdout: "null", stderr: "null" })
      .spawn();
    child = proc;
    const deadline = Date.now() + 15_000;
    // Loading a large append-only file takes a moment; PING answers LOADING until it is done.
    const probe = new Redis(`redis://127.0.0.1:${port}`, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on("error", () => {}); // refused until the server listens; that is what we wait for
    try {
      while (true) {
        try {
          if (probe.status !== "ready") await probe.connect();
          if (await probe.ping() === "PONG") return;
        } catch {
          probe.disconnect();
        }
        if (Date.now() > deadline) {
          proc.kill("SIGKILL");
          await proc.status;
          throw new Error(`redis-server did not start on port ${port}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      probe.disconnect();
    }
  }

  async function kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const proc = child;
    if (!proc) return;
    child = undefined;
    try {
      proc.kill(signal);
    } catch { /* already gone */ }
    await proc.status;
  }

  await spawn();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid ?? -1;
    },
    kill,
    restart: spawn,
    stop: () => kill("SIGTERM"),
  };
}

// Deno reads /proc only under --allow-all; a shell reads it for us (as processes.ts does).
async function sh(script: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", script, "sh", ...args],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

/**
 * The pid of the `deno` process running a service started by `deno task` (serve.sh execs deno,
 * so it is a direct child of `deno task`), or null while there is none.
 */
export async function serviceDenoPid(taskPid: number): Promise<number | null> {
  const table = await sh(
    'for d in /proc/[0-9]*; do read -r s < "$d/stat" 2>/dev/null || continue; ' +
      'c=${s#*(}; c=${c%%)*}; r=${s##*) }; set -- $r; echo "${d#/proc/} $2 $c"; done',
  );
  for (const line of table.split("\n")) {
    const [pid, ppid, comm] = line.split(" ");
    if (Number(ppid) === taskPid && comm === "deno") return Number(pid);
  }
  return null;
}

/** Peak (VmHWM) and current (VmRSS) resident memory of `pid` in bytes; null once it is gone. */
export async function memoryOf(
  pid: number,
): Promise<{ peak: number; rss: number; file: number } | null> {
  const status = await sh('cat "/proc/$1/status" 2>/dev/null', String(pid));
  const kb = (name: string) => {
    const m = status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) * 1024 : null;
  };
  const peak = kb("VmHWM");
  const rss = kb("VmRSS");
  // Pages of files mapped in: the deno binary's code, the WAL index, and the database file when the
  // search threads read it through a memory map (SEARCH_MMAP_MB, off by default). The kernel's
  // page cache, shared and reclaimable.
  const file = kb("RssFile");
  return peak === null || rss === null ? null : { peak, rss, file: file ?? NaN };
}

/** Total CPU time (user + system) of `pid` so far, in seconds; null once it is gone. */
export async function cpuSecondsOf(pid: number): Promise<number | null> {
  const stat = await sh('cat "/proc/$1/stat" 2>/dev/null', String(pid));
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of stat (utime, stime), counted from after the name; clock ticks of 1/100 s.
  const ticks = Number(rest[11]) + Number(rest[12]);
  return Number.isFinite(ticks) ? ticks / 100 : null;
}

/** A `deno task core|worker` process (see {@linkcode startTask}). */
export interface TaskProcess {
  /** Pid of `deno task`. */
  readonly pid: number;
  /** The last {@linkcode OUTPUT_TAIL} bytes it wrote (stdout and stderr). */
  output(): string;
  /**
   * How many lines so far contained `text`; once it has exited, only for the texts registered
   * with {@linkcode startTask} (its output file is gone then).
   */
  count(text: string): number;
  /** Wait until `check` is true; fails early, with the output, if the process exits. */
  waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs?: number): Promise<void>;
  /** SIGTERM `deno task` (which passes it on) and wait for the exit. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Bytes of output {@linkcode TaskProcess.output} answers. */
export const OUTPUT_TAIL = 64 * 1024;

/**
 * Start `deno task <service>` in the repository root with `env` only (as
 * tests/helpers/processes.ts does), its output appended to a temporary file, read only when
 * asked for and removed once the process has exited. At the default log level a service writes a
 * line per request: draining a pipe of it took a wakeup of the bench process per write, ~115 µs
 * of its CPU each, a third of a CPU during rare-word searches (about one write per request),
 * taken from the services it measures (their rare-word figure 3,500-4,200 against 5,100-5,700
 * req/s with `cat` reading the pipe).
 */
export function startTask(
  service: "core" | "worker",
  env: Record<string, string>,
  options: { count?: string[] } = {},
): TaskProcess {
  const file = Deno.makeTempFileSync({ prefix: `memori_${service}_`, suffix: ".log" });
  const child = spawnTask(service, env, { outputFile: file });
  // What the process left, read when it exited (the file is gone then).
  let ended: { tail: string; counts: Map<string, number> } | undefined;
  const status = child.status.then((s) => {
    ended = { tail: fileTail(file, OUTPUT_TAIL), counts: countLines(file, options.count ?? []) };
    Deno.removeSync(file);
    return s;
  });
  const output = () => ended?.tail ?? fileTail(file, OUTPUT_TAIL);
  return {
    pid: child.pid,
    output,
    count: (t) => (ended?.counts ?? countLines(file, [t])).get(t) ?? 0,
    async waitFor(what, check, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: Error | undefined;
      while (true) {
        if (ended !== undefined) {
          const s = await status;
          throw new Error(
            `${service} exited (code ${s.code}) while waiting for ${what}:\n${output()}`,
          );
        }
        try {
          if (await check()) return;
          last = undefined;
        } catch (err) {
          last = err as Error;
        }
        if (Date.now() > deadline) {
          const why = last ? ` (last check: ${last.message})` : "";
          throw new Error(`${service}: timed out waiting for ${what}${why}:\n${output()}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (ended === undefined) {
        try {
          child.kill("SIGTERM");
        } catch { /* exited meanwhile */ }
      }
      return await status;
    },
  };
}

/** A service started through `deno task`, with the pid of its real `deno` process. */
export interface BenchService {
  /** The `deno task` process. */
  readonly proc: TaskProcess;
  /** The `deno run` process serving it. */
  readonly pid: number;
  /** SIGKILL the real process (a crash: no handing back, no cleanup) and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM and wait (a clean stop). */
  stop(): Promise<Deno.CommandStatus>;
}

async function withPid(proc: TaskProcess): Promise<BenchService> {
  let pid: number | null = null;
  await proc.waitFor(
    "the deno run child",
    async () => (pid = await serviceDenoPid(proc.pid)) !== null,
  );
  const real = pid!;
  return {
    proc,
    pid: real,
    async kill() {
      try {
        Deno.kill(real, "SIGKILL");
      } catch { /* already gone */ }
      await proc.stop().catch(() => {});
    },
    stop: () => proc.stop(),
  };
}

/** Where a core keeps its files. */
export interface CoreFiles {
  /** The SQLite file. */
  databasePath: string;
  /** IMAGE_STORAGE_PATH. */
  imageDir: string;
}

/** Options for {@linkcode startCore}. */
export interface StartCoreOptions extends CoreFiles {
  /** Redis URL. */
  redisUrl: string;
  /** Port (a free one by default; pass the old one to restart on the same address). */
  port?: number;
  /** Extra environment. */
  env?: Record<string, string>;
}

/** A core started with `deno task core`, answering /health. */
export interface BenchCore extends BenchService {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its port. */
  readonly port: number;
}

/** Start `deno task core` and wait for GET /health. */
export async function startCore(options: StartCoreOptions): Promise<BenchCore> {
  const port = options.port ?? freePort();
  const proc = startTask("core", {
    CORE_HOST: "127.0.0.1",
    CORE_PORT: String(port),
    DATABASE_PATH: options.databasePath,
    IMAGE_STORAGE_PATH: options.imageDir,
    REDIS_URL: options.redisUrl,
    ...options.env,
  });
  const url = `http://127.0.0.1:${port}`;
  await proc.waitFor("GET /health", () => httpOk(`${url}/health`), 60_000);
  return { ...await withPid(proc), url, port };
}

/** Options for {@linkcode startWorkerProcess}. */
export interface StartWorkerOptions {
  /** Redis URL. */
  redisUrl: string;
  /** The core. */
  coreUrl: string;
  /** The (fake) model server, ending in /v1. */
  llmUrl: string;
  /** IMAGE_STORAGE_PATH. */
  imageDir: string;
  /** Extra environment (WORKER_CONCURRENCY, retry settings, ...). */
  env?: Record<string, string>;
  /** Count output lines containing these texts (see {@linkcode TaskProcess.count}). */
  count?: string[];
}

/** Start `deno task worker` and wait until its consumer group exists on every job stream. */
export async function startWorkerProcess(options: StartWorkerOptions): Promise<BenchService> {
  const proc = startTask("worker", {
    LLM_BASE_URL: options.llmUrl,
    LLM_TEXT_MODEL: "bench-text",
    LLM_VISION_MODEL: "bench-vision",
    REDIS_URL: options.redisUrl,
    CORE_API_URL: options.coreUrl,
    IMAGE_STORAGE_PATH: options.imageDir,
    ...options.env,
  }, { count: options.count });
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on("error", () => {}); // a failed check is retried by waitFor
  try {
    await proc.waitFor("the worker's consumer group", async () => {
      if (redis.status !== "ready") await redis.connect().catch(() => {});
      for (const stream of ALL_JOB_STREAMS) {
        const groups = await redis.xinfo("GROUPS", stream) as unknown[][];
        if (!groups.some((g) => g.includes(WORKER_GROUP))) return false;
      }
      return true;
    }, 60_000);
  } finally {
    redis.disconnect();
  }
  return await withPid(proc);
}

/** A fresh temporary directory with `db/` and `images/` for one core. */
export async function coreDirs(prefix: string): Promise<CoreFiles & { root: string }> {
  const root = await Deno.makeTempDir({ prefix });
  const imageDir = join(root, "images");
  await Deno.mkdir(join(root, "db"));
  await Deno.mkdir(imageDir);
  return { root, databasePath: join(root, "db", "memori.db"), imageDir };
}

/** The last `limit` bytes of the file at `path`, as text. */
function fileTail(path: string, limit: number): string {
  using file = Deno.openSync(path);
  const size = file.statSync().size;
  const start = Math.max(0, size - limit);
  file.seekSync(start, Deno.SeekMode.Start);
  const bytes = new Uint8Array(size - start);
  let read = 0;
  while (read < bytes.length) {
    const n = file.readSync(bytes.subarray(read));
    if (n === null) break;
    read += n;
  }
  return new TextDecoder().decode(bytes.subarray(0, read));
}

/** For each of `texts`, how many lines of the file at `path` contain it. */
function countLines(path: string, texts: readonly string[]): Map<string, number> {
  const counts = new Map(texts.map((t) => [t, 0]));
  if (texts.length === 0) return counts;
  for (const line of Deno.readTextFileSync(path).split("\n")) {
    for (const t of texts) if (line.includes(t)) counts.set(t, counts.get(t)! + 1);
  }
  return counts;
}
