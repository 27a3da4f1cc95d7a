/**
 * The real core (`deno task core`) under connection floods: idle and half-sent connections past
 * its open-file limit (set with prlimit on the running process) neither stop it nor lock out
 * /health; they are closed after the header timeout; past the connection cap with every
 * connection busy, a new one is refused with a 503 that says so.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { descendantPids, httpOk, type ServiceProcess, startService } from "../helpers/processes.ts";
import { freePort, type RedisServer, startRedisServer } from "../helpers/redis_server.ts";

// No shared Redis here: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

const enc = new TextEncoder();

async function startCore(env: Record<string, string>) {
  const tmp = await Deno.makeTempDir({ prefix: "memori_overload_" });
  const redis = await startRedisServer();
  const port = freePort();
  const core = startService("core", {
    CORE_HOST: "127.0.0.1",
    CORE_PORT: String(port),
    DATABASE_PATH: join(tmp, "db", "x.db"),
    IMAGE_STORAGE_PATH: join(tmp, "images"),
    REDIS_URL: redis.url,
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await core.waitFor("/health", () => httpOk(`${url}/health`));
  return { core, redis, port, url, tmp };
}

async function stopCore(s: { core: ServiceProcess; redis: RedisServer; tmp: string }) {
  await s.core.stop();
  await s.redis.stop();
  await Deno.remove(s.tmp, { recursive: true });
}

/** Limit the open files of the `deno run` process serve.sh exec'd. */
async function limitOpenFiles(core: ServiceProcess, n: number): Promise<void> {
  const pids = await descendantPids(core.pid);
  assert.equal(pids.length, 1, `one deno run under deno task: ${pids}`);
  const out = await new Deno.Command("prlimit", {
    args: ["--pid", String(pids[0]), `--nofile=${n}:${n}`],
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

async function health(url: string): Promise<number> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

/** Whether the server closed `conn` (or answered and closed) within `ms`. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf).catch(() => null),
      new Promise<"wait">((r) => timer = setTimeout(() => r("wait"), deadline - Date.now())),
    ]);
    clearTimeout(timer);
    if (n === null) return true;
    if (n === "wait") return false;
  }
  return false;
}

// With the cap below the open-file limit the cap makes room; above it, accept fails
// ("Too many open files") and the accept loop gives idle connections back.
for (const cap of ["40", "512"]) {
  Deno.test(`a flood of idle connections past the open-file limit (cap ${cap}): the core stays up`, async () => {
    const s = await startCore({
      HTTP_MAX_CONNECTIONS: cap,
      HTTP_HEADERS_TIMEOUT_SECONDS: "1",
      HTTP_IDLE_TIMEOUT_SECONDS: "1",
    });
    const flood: Deno.Conn[] = [];
    try {
      await limitOpenFiles(s.core, 128);
      for (let i = 0; i < 300; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
        // Half send nothing, half stop in the middle of their headers.
        if (i % 2) await conn.write(enc.encode("GET /health HTTP/1.1\r\nHost: x\r\n"));
        flood.push(conn);
      }
      // While the flood's sockets are all still open, /health answers (within a few seconds:
      // the listener may have to be restarted after running out of descriptors).
      let status = 0;
      const deadline = Date.now() + 8000;
      while (status !== 200 && Date.now() < deadline) status = await health(s.url);
      assert.equal(status, 200, `no /health during the flood; output:\n${s.core.output()}`);
      assert.ok(!s.core.exited(), s.core.output());
      // Idle and half-sent connections are closed after the header timeout.
      const sample = flood.slice(-20);
      const closed = await Promise.all(sample.map((c) => closedWithin(c, 4000)));
      assert.deepEqual(closed, sample.map(() => true));
      assert.ok(!s.core.exited(), s.core.output());
      assert.equal(await health(s.url), 200);
      // The second case really ran out of descriptors.
      if (cap === "512") assert.match(s.core.output(), /HTTP accept failed/);
    } finally {
      for (const conn of flood) {
        try {
          conn.close();
        } catch { /* closed by the server */ }
      }
      await stopCore(s);
    }
  });
}

Deno.test("past HTTP_MAX_CONNECTIONS with every connection busy, a new one gets a 503", async () => {
  const s = await startCore({ HTTP_MAX_CONNECTIONS: "3" });
  const slow: Deno.Conn[] = [];
  try {
    const json = { "content-type": "application/json" };
    await fetch(`${s.url}/users`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ telegram_user_id: 5, display_name: "x" }),
    }).then((r) => r.text());
    const memory = await fetch(`${s.url}/memories`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ owner_user_id: 5, media_type: "image" }),
    }).then((r) => r.json());
    // Three uploads in progress: headers sent, the body still coming.
    for (let i = 0; i < 3; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      await conn.write(enc.encode(
        `POST /memories/${memory.id}/image HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n` +
          "Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n",
      ));
      slow.push(conn);
    }
    await new Promise((r) => setTimeout(r, 300));
    const res = await fetch(`${s.url}/health`, { signal: AbortSignal.timeout(2000) });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.match((await res.json()).detail, /too many open connections/);
    // One upload ends: the next request goes through.
    slow.pop()!.close();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await health(s.url), 200);
  } finally {
    for (const conn of slow) conn.close();
    await stopCore(s);
  }
});
