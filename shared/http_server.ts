/**
 * Serving a fetch handler (Hono's `app.fetch`, the worker's metrics handler) with connection
 * limits, on Deno's own HTTP engine.
 *
 * `Deno.serve` has no header-read or idle timeout and no connection cap, and when accept fails
 * ("Too many open files") its whole server ends, so ~1,100 idle connections under
 * `ulimit -n 1024` stopped the core for good. `node:http` has the timeouts but costs 3-5x per
 * request in Deno (its HTTP parsing runs in JavaScript: /health 15k vs 62k req/s, 16 connections,
 * 2 CPUs). So the accept loop is ours (errors are caught, the cap and the timeouts are kept here)
 * and each accepted connection is served by the engine behind Deno.serve, hyper, through
 * `serveHttpOnConnection`. That function is internal to Deno (the one its node:http used); the
 * Deno version is pinned (.ci/run, Dockerfiles) and tests/shared/http_server_test.ts fails when
 * it disappears. Without it, serving falls back to plain Deno.serve, without limits, and says so.
 *
 * The cap favours new clients over idle ones: at the cap, a new connection closes the oldest
 * connection with no request in progress (idle keep-alive, or headers never finished), so a flood
 * of idle sockets cannot lock out a health check. Only when every connection is busy is the new
 * one refused, with a 503 saying so.
 */
import type { Logger } from "./log.ts";
import { ConnectionTable } from "./http_connections.ts";

/** Connection limits of a listener. */
export interface HttpLimits {
  /** Most open connections; beyond it the oldest idle one is closed, or the new one refused. */
  maxConnections: number;
  /** Time a new connection has to send its first request's headers, in ms. */
  headersTimeoutMs: number;
  /** Time a request may take from its headers until its handler answers, in ms. */
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

type Handler = (request: Request) => Response | Promise<Response>;

/** Deno's engine for one accepted connection (see the module comment). */
export type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>,
  onError: (error: unknown) => Response,
  onListen: () => void,
) => { finished: Promise<void> };

/** Deno's internal `serveHttpOnConnection`, when this Deno has it. */
export function serveOnConnection(): ServeOnConnection | undefined {
  const key = Reflect.get(Deno, "internal");
  const internal = typeof key === "symbol" ? Reflect.get(Deno, key) : undefined;
  const fn = internal?.serveHttpOnConnection;
  return typeof fn === "function" ? fn as ServeOnConnection : undefined;
}

/** How long a shutdown waits for answers in progress before closing their connections, in ms. */
const SHUTDOWN_GRACE_MS = 3000;

/** Serve `handler` with the limits of `options`; resolves once listening. */
export function serveFetch(handler: Handler, options: ServeFetchOptions): Promise<FetchServer> {
  const onError = (error: unknown) => {
    options.log.error("HTTP handler failed", { error: error as Error });
    return Response.json({ detail: "Internal Server Error" }, { status: 500 });
  };
  const serveOn = serveOnConnection();
  if (!serveOn) return serveUnlimited(handler, onError, options);
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const table = new ConnectionTable(options, { handler, onError, serveOn, log: options.log });
  const accepting = table.acceptFrom(listener);
  return Promise.resolve({
    port: listener.addr.port,
    connections: () => table.size,
    shutdown: async () => {
      listener.close();
      await accepting;
      await table.drain(SHUTDOWN_GRACE_MS);
    },
  });
}

/** Plain Deno.serve, for a Deno without `serveHttpOnConnection`. */
function serveUnlimited(
  handler: Handler,
  onError: (error: unknown) => Response,
  options: ServeFetchOptions,
): Promise<FetchServer> {
  options.log.warn("this Deno has no serveHttpOnConnection: serving without the HTTP_* limits");
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen: () => {},
    onError,
  }, handler);
  return Promise.resolve({
    port: server.addr.port,
    connections: () => -1,
    shutdown: () => server.shutdown(),
  });
}
