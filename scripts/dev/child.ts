/**
 * One process `deno task dev` started: spawned in its own session, its output split into lines
 * for the caller, stopped by signal. Its own session, because Ctrl-C on a terminal signals the
 * whole foreground process group at once: Redis would stop while the worker still hands its jobs
 * back. In a session of its own a child hears only what the dev runner sends, in order.
 */

/** A process started with {@linkcode spawnChild}. */
export interface Child {
  /** Name shown in front of its lines (`core`, `worker`, `redis`). */
  readonly name: string;
  /** Its pid (the program itself: setsid and serve.sh exec it). */
  readonly pid: number;
  /** Resolves when it exits. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Whether it has exited. */
  exited(): boolean;
  /** Send `signal` (no-op once it has exited). */
  signal(signal: Deno.Signal): void;
}

/** Options for {@linkcode spawnChild}. */
export interface SpawnOptions {
  /** Arguments after the program. */
  args: string[];
  /** Variables added to the inherited environment. */
  env?: Record<string, string>;
  /** Called with each line it writes on stdout or stderr. */
  onLine: (line: string) => void;
}

let setsidMissing = false;

function command(program: string, options: SpawnOptions, viaSetsid: boolean): Deno.Command {
  return new Deno.Command(viaSetsid ? "setsid" : program, {
    args: viaSetsid ? [program, ...options.args] : options.args,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * Start `program` in a new session (through `setsid`; without it, where util-linux is missing,
 * in the runner's own process group). Throws `Deno.errors.NotFound` when neither can run it.
 */
export function spawnChild(name: string, program: string, options: SpawnOptions): Child {
  let process: Deno.ChildProcess;
  try {
    process = command(program, options, !setsidMissing).spawn();
  } catch (err) {
    if (setsidMissing || !(err instanceof Deno.errors.NotFound)) throw err;
    setsidMissing = true;
    process = command(program, options, false).spawn();
  }
  const drained = Promise.all([
    forEachLine(process.stdout, options.onLine),
    forEachLine(process.stderr, options.onLine),
  ]);
  let done = false;
  const status = process.status.then(async (s) => {
    done = true;
    await drained;
    return s;
  });
  return {
    name,
    pid: process.pid,
    status,
    exited: () => done,
    signal(signal: Deno.Signal): void {
      if (done) return;
      try {
        process.kill(signal);
      } catch { /* exited meanwhile */ }
    },
  };
}

/** Call `fn` with each line of `stream` (a last line without a newline included). */
async function forEachLine(
  stream: ReadableStream<Uint8Array>,
  fn: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + text).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) fn(line);
  }
  if (rest) fn(rest);
}
