/**
 * Redis for `deno task dev`: the one at REDIS_URL when it answers, else a private redis-server
 * (append-only, its files under the data directory) on that URL's loopback port.
 */
import { type Child, spawnChild } from "./child.ts";

/** Where Redis is: parsed from REDIS_URL. */
export interface RedisTarget {
  /** Host name. */
  hostname: string;
  /** Port. */
  port: number;
  /** Whether the URL carries a user or password (a private server would not have it). */
  auth: boolean;
}

/** Host, port and whether there are credentials, of a redis:// URL. */
export function redisTarget(redisUrl: string): RedisTarget {
  const u = new URL(redisUrl.replace(/^rediss?:/, "http:"));
  return {
    hostname: u.hostname,
    port: Number(u.port || 6379),
    auth: u.username !== "" || u.password !== "",
  };
}

/**
 * Whether a Redis answers at `target`: it replies to PING (with PONG, or an error such as
 * NOAUTH: either way it is a Redis).
 */
export async function redisAnswers(target: RedisTarget, timeoutMs = 1000): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => conn?.close(), timeoutMs);
  try {
    conn = await Deno.connect({ hostname: target.hostname, port: target.port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    const reply = new TextDecoder().decode(buf.subarray(0, n ?? 0));
    return reply.startsWith("+PONG") || reply.startsWith("-");
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed by the timer */ }
  }
}

/** Raised when Redis can be neither found nor started; the message says what to do. */
export class RedisUnavailable extends Error {
  /** Build with the reason. */
  constructor(message: string) {
    super(message);
    this.name = "RedisUnavailable";
  }
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/**
 * Start a private redis-server for `target` with its append-only file in `dir`, and wait until it
 * answers. Throws {@linkcode RedisUnavailable} when the binary is missing, the URL is not a
 * loopback one this machine can serve, or the server does not come up.
 */
export async function startPrivateRedis(
  target: RedisTarget,
  options: {
    dir: string;
    onLine: (line: string) => void;
    /** Called as soon as it runs, so a Ctrl-C while it starts still stops it. */
    onSpawn: (child: Child) => void;
  },
): Promise<Child> {
  const url = `redis://${target.hostname}:${target.port}`;
  if (!LOOPBACK.has(target.hostname) || target.auth) {
    throw new RedisUnavailable(
      `no Redis answers at ${url}, and it is not a local address without credentials that ` +
        "deno task dev could serve itself: start that Redis, or unset REDIS_URL",
    );
  }
  try {
    await new Deno.Command("redis-server", { args: ["--version"], stdout: "null" }).output();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    throw new RedisUnavailable(
      `no Redis answers at ${url} and redis-server is not installed: install it ` +
        "(apt-get install redis-server), or set REDIS_URL to a running Redis",
    );
  }
  await Deno.mkdir(options.dir, { recursive: true });
  const child = spawnChild("redis", "redis-server", {
    args: [
      "--port",
      String(target.port),
      "--bind",
      "127.0.0.1",
      "--dir",
      options.dir,
      "--appendonly",
      "yes",
      // The append-only file is the persistence; no RDB snapshots beside it.
      "--save",
      "",
      "--loglevel",
      "warning",
    ],
    onLine: options.onLine,
  });
  options.onSpawn(child);
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers(target))) {
    if (child.exited() || Date.now() > deadline) {
      child.signal("SIGKILL");
      await child.status;
      throw new RedisUnavailable(`redis-server did not start on ${url} (see its lines above)`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}
