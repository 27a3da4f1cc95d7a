/**
 * A helper `deno run` process of the bench that prints "ready" once it is set up: the idle
 * processes of the memory breakdown (memory.ts), the bare server and the store floor
 * (reference.ts).
 */

/** A started process that said it was ready. */
export interface ReadyProcess {
  /** Its pid. */
  readonly pid: number;
  /** Kill it with `signal` (SIGTERM by default), wait for the exit, release its output. */
  stop(signal?: Deno.Signal): Promise<void>;
}

/**
 * Run `deno <args>` in `cwd` and wait until it prints "ready"; if it exits first, the error says
 * `what` and has its stderr.
 */
export async function startReadyProcess(
  args: string[],
  options: { cwd: string; what: string },
): Promise<ReadyProcess> {
  const child = new Deno.Command("deno", {
    args,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
  };
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) {
      const err = await new Response(child.stderr).text();
      await stop();
      throw new Error(`${options.what} exited before it was ready:\n${err}`);
    }
    seen += value;
  }
  reader.releaseLock();
  return { pid: child.pid, stop };
}
