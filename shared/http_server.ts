/**
 * Serving a fetch handler (Hono's `app.fetch`, the worker's metrics handler) over `node:http`
 * rather than `Deno.serve`. Deno.serve has no header-read or idle timeout and no connection cap,
 * and an accept error ("Too many open files") rejects inside it where no caller can catch it, so
 * ~1,100 idle connections under `ulimit -n 1024` made the process exit. node:http gives the
 * timeouts (headersTimeout, requestTimeout, keepAliveTimeout) and reports accept errors as
 * events; the cap is kept here.
 *
 * The cap favours new clients over idle ones: at the cap, a new connection closes the oldest
 * connection with no request in progress (idle keep-alive, or headers never finished), so a flood
 * of idle sockets cannot lock out a health check. Only when every connection is busy is the new
 * one refused, with a 503 saying so.
 */
import http from "node:http";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import type { Logger } from "./log.ts";

/** Connection limits of a listener. */
export interface HttpLimits {
  /** Most open connections; beyond it the oldest idle one is closed, or the new one refused. */
  maxConnections: number;
  /** Time a connection has to send a request's complete headers, in ms. */
  headersTimeoutMs: number;
  /** Time a connection has to send a whole request (headers and body), in ms. */
  requestTimeoutMs: number;
  /** Time an idle keep-alive connection stays open after its last answer, in ms. */
  idleTimeoutMs: number;
}

/** The limits set by the HTTP_* settings (shared/config.ts), in the units of {@linkcode HttpLimits}. */
export function httpLimits(config: {
  HTTP_MAX_CONNECTIONS: number;
  HTTP_HEADERS_TIMEOUT_SECONDS: number;
  HTTP_REQUEST_TIMEOUT_SECONDS: number;
  HTTP_IDLE_TIMEOUT_SECONDS: number;
}): HttpLimits {
  return {
    maxConnections: config.HTTP_MAX_CONNECTIONS,
    headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
    requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
    idleTimeoutMs: config.HTTP_IDLE_TIMEOUT_SECONDS * 1000,
  };
}

/** Options of {@linkcode serveFetch}. */
export interface ServeFetchOptions extends HttpLimits {
  /** Address to listen on. */
  hostname: string;
  /** Port (0: any free port). */
  port: number;
  /** Where accept errors and handler crashes are reported. */
  log: Logger;
}

/** A running listener. */
export interface FetchServer {
  /** The port it listens on. */
  port: number;
  /** Open connections right now. */
  connections(): number;
  /** Stop accepting, close idle connections, and resolve once the rest have finished. */
  shutdown(): Promise<void>;
}

/** The answer to a connection refused because every connection is busy. */
const BUSY_BODY = JSON.stringify({
  detail: "too many open connections, all busy; retry shortly",
});
const BUSY_RESPONSE = [
  "HTTP/1.1 503 Service Unavailable",
  "Content-Type: application/json",
  "Retry-After: 1",
  "Connection: close",
  `Content-Length: ${new TextEncoder().encode(BUSY_BODY).length}`,
  "",
  BUSY_BODY,
].join("\r\n");

type Handler = (request: Request) => Response | Promise<Response>;

/** Serve `handler` with the limits of `options`; resolves once listening. */
export function serveFetch(handler: Handler, options: ServeFetchOptions): Promise<FetchServer> {
  const server = http.createServer({
    // How often the header and request timeouts are checked (Node's default is every 30 s).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, options.headersTimeoutMs / 2)),
  }, (req, res) => void answer(handler, req, res, options));
  server.headersTimeout = options.headersTimeoutMs;
  server.requestTimeout = options.requestTimeoutMs;
  server.keepAliveTimeout = options.idleTimeoutMs;
  const probes = new Set<number>();
  const open = trackConnections(server, options, probes);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      server.on("error", (err) => options.log.warn("HTTP listener error", { error: err }));
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : options.port;
      const stopWatch = watchAccepts(server, { ...options, port }, probes);
      resolve({
        port,
        connections: () => open.size,
        shutdown: () =>
          new Promise<void>((done) => {
            stopWatch();
            // Answers in progress get a grace period; then whatever is left is cut, so a
            // stuck or hostile client cannot hold up a shutdown.
            const cut = setTimeout(() => {
              for (const socket of open.keys()) socket.destroy();
              server.closeAllConnections();
              done();
            }, SHUTDOWN_GRACE_MS);
            server.close(() => {
              clearTimeout(cut);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}

/** How long a shutdown waits for answers in progress before closing their connections, in ms. */
const SHUTDOWN_GRACE_MS = 3000;

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/** How often the listener proves it still accepts, and how long a proof may take, in ms. */
const PROBE_INTERVAL_MS = 2000;
const PROBE_TIMEOUT_MS = 1000;

/**
 * Connect to our own port now and then, and listen again when the connection is never
 * accepted. Running out of descriptors (a flood past `ulimit -n`) can leave node:http's accept
 * loop stopped for good in Deno, without an error event; listening again restarts it.
 */
function watchAccepts(
  server: http.Server,
  options: ServeFetchOptions,
  seenLocal: Set<number>,
): () => void {
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || !server.listening) return;
    busy = true;
    try {
      let conn: Deno.TcpConn;
      try {
        conn = await Deno.connect({ hostname: options.hostname, port: options.port });
      } catch {
        return; // out of descriptors right now: the next round tells
      }
      const port = conn.localAddr.port;
      const deadline = Date.now() + PROBE_TIMEOUT_MS;
      while (!seenLocal.has(port) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const ok = seenLocal.delete(port);
      conn.close();
      if (ok || !server.listening) return;
      options.log.warn("HTTP listener stopped accepting connections; listening again", {
        port: options.port,
      });
      server.close();
      server.listen(options.port, options.hostname);
    } finally {
      busy = false;
    }
  }, PROBE_INTERVAL_MS);
  return () => clearInterval(timer);
}

interface ConnState {
  /** Requests on this connection not yet answered. */
  busy: number;
}

/**
 * Keep `server` within `options.maxConnections` (answering the map of open connections), and
 * note the ports of local peers for the accept watch.
 */
function trackConnections(
  server: http.Server,
  options: ServeFetchOptions,
  seenLocal: Set<number>,
): Map<Socket, ConnState> {
  // Insertion order is age: the first idle entry is the oldest idle connection.
  const open = new Map<Socket, ConnState>();
  server.on("connection", (socket: Socket) => {
    // Remembered for the accept watch, whose probe may arrive before it learns its own port.
    if (LOOPBACK.test(socket.remoteAddress ?? "")) {
      seenLocal.add(socket.remotePort ?? -1);
      if (seenLocal.size > 4096) seenLocal.delete(seenLocal.values().next().value!);
    }
    if (open.size >= options.maxConnections) {
      const idle = [...open].find(([, state]) => state.busy === 0);
      if (idle) {
        open.delete(idle[0]);
        idle[0].destroy();
      } else {
        socket.end(BUSY_RESPONSE);
        socket.destroySoon?.();
        return;
      }
    }
    open.set(socket, { busy: 0 });
    socket.once("close", () => open.delete(socket));
  });
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const state = open.get(req.socket as Socket);
    if (!state) return;
    state.busy++;
    res.once("close", () => state.busy--);
  });
  return open;
}

/** Turn a node request into a fetch Request, run `handler`, and write its Response back. */
async function answer(
  handler: Handler,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: ServeFetchOptions,
): Promise<void> {
  const aborted = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) aborted.abort();
  });
  try {
    const headers = new Headers();
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    const method = req.method ?? "GET";
    const init: RequestInit & { duplex?: "half" } = { method, headers, signal: aborted.signal };
    if (method !== "GET" && method !== "HEAD") {
      init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
      init.duplex = "half";
    }
    // The path as sent, on a fixed origin: the Host header is the client's to invent.
    const url = `http://${options.hostname}:${options.port}${req.url ?? "/"}`;
    const response = await handler(new Request(url, init));
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of response.headers) {
      const prior = out[name];
      out[name] = prior === undefined ? value : [prior, value].flat();
    }
    if (response.body === null || method === "HEAD") {
      await response.body?.cancel();
      res.writeHead(response.status, out);
      res.end();
      return;
    }
    // Every answer of these services is small and whole: one write with a Content-Length is
    // far cheaper than chunked pieces (a request took ~3x as long at one connection).
    const body = new Uint8Array(await response.arrayBuffer());
    out["content-length"] = String(body.length);
    res.writeHead(response.status, out);
    res.end(body);
  } catch (err) {
    if (aborted.signal.aborted) return; // the client went away
    options.log.error("HTTP handler failed", { error: err as Error, url: req.url });
    if (!res.headersSent) {
      res.writeHead(500, { "content-type": "application/json" });
      res.end('{"detail":"Internal Server Error"}');
    } else {
      res.destroy();
    }
  }
}
