/**
 * A real redis-server for the test run: `REDIS_URL` when set, else one started on a free port.
 * Fails loudly when neither is possible. Each caller gets its own database number, flushed.
 */
import { Redis } from "ioredis";
import { closeRedis } from "../../shared/redis.ts";

/** A running redis-server this helper started. */
export interface RedisServer extends AsyncDisposable {
  /** Base URL without a database number. */
  url: string;
  /** Port it listens on. */
  port: number;
  /** Stop it (SIGTERM, then wait). No-op for an external server. */
  stop(): Promise<void>;
}

/** A free TCP port on loopback (closed again before return). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Options for {@linkcode startRedisServer}. */
export interface StartRedisOptions {
  /** Port to use (restarting a server on the same port); a free one by default. */
  port?: number;
  /** Directory for the append-only file; off when omitted. */
  appendOnlyDir?: string;
}

/** Start a private redis-server and wait until it answers PING. */
export async function startRedisServer(options: StartRedisOptions = {}): Promise<RedisServer> {
  const port = options.port ?? freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", ""];
  if (options.appendOnlyDir) {
    args.push("--appendonly", "yes", "--dir", options.appendOnlyDir);
  } else {
    args.push("--appendonly", "no");
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("redis-server", { args, stdout: "null", stderr: "piped" }).spawn();
  } catch (err) {
    throw new Error(
      `cannot start redis-server (${(err as Error).message}); install it ` +
        "(apt-get install redis-server) or set REDIS_URL to a running server",
    );
  }
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        const err = new TextDecoder().decode((await child.output()).stderr);
        throw new Error(`redis-server did not start on port ${port}: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.output();
  };
  return { url, port, stop, [Symbol.asyncDispose]: stop };
}

let shared: Promise<RedisServer> | undefined;

/** One test's Redis database; see {@linkcode testRedis}. */
export interface TestRedis extends AsyncDisposable {
  /** URL including the database number. */
  url: string;
  /** A client on it. */
  client: Redis;
  /** Quit the client (also what `await using` calls). */
  close(): Promise<void>;
}
let nextDb = 0;

/**
 * Base URL (no database number) of the run's Redis: `REDIS_URL` when set, else the shared
 * redis-server, started on the first call. A test module whose tests run with the resource
 * sanitizer awaits this at top level, so the server (which outlives every test) is not counted
 * as a leak of the first test that uses Redis.
 */
export async function sharedRedisUrl(): Promise<string> {
  const external = Deno.env.get("REDIS_URL");
  if (external) return external.replace(/\/\d+$/, "");
  shared ??= startRedisServer();
  return (await shared).url;
}

/**
 * A Redis database for one test: `{url, client, close}`. Uses `REDIS_URL` when set, else one
 * redis-server shared by the test file (stopped by `close` of the last user).
 */
export async function testRedis(): Promise<TestRedis> {
  const base = await sharedRedisUrl();
  const db = nextDb++ % 16;
  const url = `${base}/${db}`;
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  await client.flushdb();
  const close = async () => {
    await client.quit().catch(() => {});
    await closeRedis(client);
  };
  return { url, client, close, [Symbol.asyncDispose]: close };
}

/** Stop the shared server, if this process started one. Call from a last test or unload. */
export async function stopSharedRedis(): Promise<void> {
  if (!shared) return;
  const s = await shared;
  shared = undefined;
  await s.stop();
}

globalThis.addEventListener("unload", () => {
  // Best effort: a shared server left running would outlive the test process.
  void stopSharedRedis();
});
