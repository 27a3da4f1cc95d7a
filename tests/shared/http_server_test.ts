/**
 * shared/http_server.ts in process (the worker's /metrics listener uses it as the core does):
 * half-sent connections are closed after the header timeout, at the cap the oldest idle one
 * makes room, and with every connection busy a new one gets a 503.
 */
import assert from "node:assert/strict";
import { serveFetch, serveOnConnection } from "../../shared/http_server.ts";
import { createLogger } from "../../shared/log.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

const enc = new TextEncoder();
const log = createLogger("test", { sink: () => {} });

async function readAll(conn: Deno.Conn, ms: number): Promise<string | null> {
  const buf = new Uint8Array(4096);
  let text = "";
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf).catch(() => null),
      new Promise<"wait">((r) => timer = setTimeout(() => r("wait"), deadline - Date.now())),
    ]);
    clearTimeout(timer);
    if (n === "wait") return null; // still open
    if (n === null) return text;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return null;
}

Deno.test({
  name: "serveFetch: header timeout, idle eviction at the cap, 503 when all are busy",
  fn: async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => release = r);
    const server = await serveFetch(async (req) => {
      if (new URL(req.url).pathname === "/slow") await held;
      return Response.json({ status: "ok" });
    }, {
      hostname: "127.0.0.1",
      port: 0,
      log,
      maxConnections: 2,
      headersTimeoutMs: 500,
      requestTimeoutMs: 5000,
      idleTimeoutMs: 500,
    });
    const url = `http://127.0.0.1:${server.port}`;
    const conns: Deno.Conn[] = [];
    try {
      // A half-sent request is closed after the header timeout.
      const half = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      conns.push(half);
      await half.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n"));
      assert.notEqual(await readAll(half, 3000), null, "still open after the header timeout");

      // Two idle connections fill the cap; a new request still gets through.
      for (let i = 0; i < 2; i++) {
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      }
      await new Promise((r) => setTimeout(r, 100));
      const res = await fetch(`${url}/health`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: "ok" });

      // Two requests in progress: a third connection is refused, saying why.
      const slow = [fetch(`${url}/slow`), fetch(`${url}/slow`)];
      await new Promise((r) => setTimeout(r, 200));
      const busy = await fetch(`${url}/health`);
      assert.equal(busy.status, 503);
      assert.equal(busy.headers.get("retry-after"), "1");
      assert.match((await busy.json()).detail, /too many open connections/);
      release();
      for (const r of await Promise.all(slow)) assert.equal((await r.json()).status, "ok");
    } finally {
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed by the server */ }
      }
      await server.shutdown();
    }
  },
});

Deno.test("this Deno has serveHttpOnConnection (without it serving has no HTTP_* limits)", () => {
  assert.equal(typeof serveOnConnection(), "function");
});

Deno.test({
  name: "serveFetch: a request whose body never finishes is cut after the request timeout",
  fn: async () => {
    const server = await serveFetch(async (req) => {
      await req.text();
      return Response.json({ status: "ok" });
    }, {
      hostname: "127.0.0.1",
      port: 0,
      log,
      maxConnections: 10,
      headersTimeoutMs: 5000,
      requestTimeoutMs: 400,
      idleTimeoutMs: 5000,
    });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    try {
      await conn.write(enc.encode("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab"));
      const started = Date.now();
      assert.notEqual(await readAll(conn, 3000), null, "still open after the request timeout");
      assert.ok(Date.now() - started < 2000);
      assert.equal(server.connections(), 0);
    } finally {
      conn.close();
      await server.shutdown();
    }
  },
});
