/**
 * The services as real processes, started the way the images start them: `deno task core` and
 * `deno task worker` (which run scripts/serve.sh, which computes the permission flags), in the
 * repository root, with only the environment the test gives plus what Deno itself needs.
 */

/** The repository root (where deno.json is). */
export const REPO_ROOT: string = decodeURIComponent(new URL("../../", import.meta.url).pathname)
  .replace(/\/$/, "");

/** A service started with {@linkcode startService}. */
export interface ServiceProcess extends AsyncDisposable {
  /** `core` or `worker`. */
  readonly service: "core" | "worker";
  /** Pid of `deno task`. */
  readonly pid: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Whether it has exited. */
  exited(): boolean;
  /**
   * The command line of the `deno run` process serve.sh exec'd (a child of `deno task`), once
   * it exists: the permission flags the service really runs with.
   */
  denoRunArgs(timeoutMs?: number): Promise<string[]>;
  /** Wait until `check` is true; fails early, with the output, if the process exits. */
  waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs?: number): Promise<void>;
  /** SIGTERM `deno task` (which passes it on) and wait for the exit. */
  stop(): Promise<Deno.CommandStatus>;
}

// Deno itself needs these to find its cache; nothing else of the test's environment leaks in,
// as in a container that sees only its env_file.
const PASS_THROUGH = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "DENO_CERT", "TMPDIR"];

/** Options for {@linkcode spawnTask}. */
export interface SpawnTaskOptions {
  /** The checkout to run it in; the repository root by default. */
  cwd?: string;
  /**
   * Append stdout and stderr to this file instead of piping them: `sh` redirects them and
   * `exec`s `deno task`, so the child's pid is still `deno task`'s.
   */
  outputFile?: string;
}

/**
 * Spawn `deno task <service>` with only `env` plus PATH, HOME and Deno's cache location (the
 * service must see nothing else), stdout and stderr piped for the caller to drain (or written
 * to `options.outputFile`).
 */
export function spawnTask(
  service: string,
  env: Record<string, string>,
  options: SpawnTaskOptions = {},
): Deno.ChildProcess {
  const base: Record<string, string> = { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" };
  for (const name of PASS_THROUGH) {
    const value = Deno.env.get(name);
    if (value !== undefined) base[name] = value;
  }
  const { outputFile } = options;
  const [command, args] = outputFile === undefined
    ? ["deno", ["task", service]]
    : ["sh", ["-c", 'exec deno task "$0" >>"$1" 2>&1', service, outputFile]];
  const output = outputFile === undefined ? "piped" : "null";
  return new Deno.Command(command, {
    args,
    cwd: options.cwd ?? REPO_ROOT,
    clearEnv: true,
    env: { ...base, ...env },
    stdin: "null",
    stdout: output,
    stderr: output,
  }).spawn();
}

/** Start `deno task <service>` with `env` (plus PATH, HOME and Deno's cache location). */
export function startService(
  service: "core" | "worker",
  env: Record<string, string>,
): ServiceProcess {
  const child = spawnTask(service, env);

  let text = "";
  let done = false;
  // Both pipes are drained all the time: a full pipe would block the service.
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const status = child.status.then(async (s) => {
    done = true;
    await drained;
    return s;
  });

  async function waitFor(
    what: string,
    check: () => Promise<boolean> | boolean,
    timeoutMs = 20_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: Error | undefined;
    while (true) {
      if (done) {
        const s = await status;
        throw new Error(
          `${service} exited (code ${s.code}) while waiting for ${what}; output:\n${text}`,
        );
      }
      let ok = false;
      try {
        ok = await check();
        lastError = undefined;
      } catch (err) {
        // Not yet; kept for the timeout message.
        lastError = err as Error;
      }
      if (ok) return;
      if (Date.now() > deadline) {
        const why = lastError ? ` (last check: ${lastError.message})` : "";
        throw new Error(`${service}: timed out waiting for ${what}${why}; output:\n${text}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  return {
    service,
    pid: child.pid,
    output: () => text,
    exited: () => done,
    waitFor,
    async denoRunArgs(timeoutMs = 20_000): Promise<string[]> {
      let args: string[] | undefined;
      await waitFor("the deno run child", async () => {
        const seen: string[] = [];
        for (const pid of await descendantPids(child.pid)) {
          const a = await cmdline(pid);
          if (a[0]?.endsWith("deno") && a[1] === "run") {
            args = a;
            return true;
          }
          seen.push(`${pid}: ${JSON.stringify(a)}`);
        }
        throw new Error(`descendants of ${child.pid}: [${seen.join("; ")}]`);
      }, timeoutMs);
      return args!;
    },
    async stop(): Promise<Deno.CommandStatus> {
      if (!done) {
        try {
          child.kill("SIGTERM");
        } catch { /* exited meanwhile */ }
      }
      return await status;
    },
    async [Symbol.asyncDispose]() {
      await this.stop();
    },
  };
}

// Deno lets a program read /proc only under --allow-all, which the test task does not grant;
// it grants --allow-run, so a shell reads /proc for us.
async function shell(script: string, ...args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command("sh", {
    args: ["-c", script, "sh", ...args],
    stdout: "piped",
    stderr: "null",
  }).output();
  return out.stdout;
}

/**
 * Pids descending from `root` (Linux /proc). serve.sh execs deno, so `deno run` is a child of
 * `deno task`; a grandchild is found too, should a shell ever stay in between.
 */
export async function descendantPids(root: number): Promise<number[]> {
  // "pid ppid" per process; the name in /proc/<pid>/stat is in parentheses and may hold
  // spaces, so the fields are taken after its closing parenthesis.
  const table = new TextDecoder().decode(
    await shell(
      'for d in /proc/[0-9]*; do read -r s < "$d/stat" || continue; r=${s##*) }; ' +
        'set -- $r; echo "${d#/proc/} $2"; done',
    ),
  );
  const parent = new Map<number, number>();
  for (const line of table.split("\n")) {
    const [pid, ppid] = line.split(" ").map(Number);
    if (pid > 0 && ppid >= 0) parent.set(pid, ppid);
  }
  const out: number[] = [];
  for (const pid of parent.keys()) {
    let hops = 0;
    for (
      let p = parent.get(pid);
      p !== undefined && p > 1 && hops < 64;
      p = parent.get(p), hops++
    ) {
      if (p === root) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
}

/** The argv of a process (empty when it is gone). */
async function cmdline(pid: number): Promise<string[]> {
  const raw = new TextDecoder().decode(await shell('cat "/proc/$1/cmdline"', String(pid)));
  return raw.split("\0").filter((s, i, all) => s !== "" || i < all.length - 1);
}

/** The value of `--flag=value` in `args` (undefined when absent). */
export function flagValue(args: string[], flag: string): string | undefined {
  const hit = args.find((a) => a === flag || a.startsWith(`${flag}=`));
  if (hit === undefined) return undefined;
  return hit === flag ? "" : hit.slice(flag.length + 1);
}

/** GET `url` and say whether it answered 2xx (the body is read so the connection is freed). */
export async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url);
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/** What a finished `deno task` printed, and its exit code. */
export interface TaskRun {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Run `deno task <task>` to the end with `env` (plus PATH, HOME and Deno's cache location), the
 * way {@linkcode startService} starts the long-running ones; for short tasks such as `doctor`.
 */
export async function runTask(task: string, env: Record<string, string>): Promise<TaskRun> {
  const base: Record<string, string> = { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" };
  for (const name of PASS_THROUGH) {
    const value = Deno.env.get(name);
    if (value !== undefined) base[name] = value;
  }
  const out = await new Deno.Command("deno", {
    args: ["task", task],
    cwd: REPO_ROOT,
    clearEnv: true,
    env: { ...base, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}
