/**
 * The open connections of one listener of shared/http_server.ts: the accept loop, the cap, and
 * the header, request and idle timeouts, none of which Deno.serve has.
 */
import type { HttpLimits, ServeOnConnection } from "./http_server.ts";
import type { Logger } from "./log.ts";

/** What a connection needs besides the limits. */
export interface ConnectionDeps {
  /** The application. */
  handler: (request: Request) => Response | Promise<Response>;
  /** The answer when the handler throws. */
  onError: (error: unknown) => Response;
  /** Deno's engine for one connection. */
  serveOn: ServeOnConnection;
  /** Where accept errors are reported. */
  log: Logger;
}

interface ConnState {
  /** Closes the connection at once, answers in progress or not. */
  abort: AbortController;
  /** Requests whose answer has not been sent completely. */
  busy: number;
  /** Requests whose handler has not answered yet, and since when the first of them runs. */
  handling: number;
  handlingSince: number;
  /** Whether a request ever arrived (the header timeout is for the first one). */
  served: boolean;
  /** When `busy` last went to 0, or when the connection was accepted. */
  idleSince: number;
}

/** The answer to a connection refused because every connection is busy. */
const BUSY_BYTES = new TextEncoder().encode((() => {
  const body = JSON.stringify({ detail: "too many open connections, all busy; retry shortly" });
  return [
    "HTTP/1.1 503 Service Unavailable",
    "Content-Type: application/json",
    "Retry-After: 1",
    "Connection: close",
    `Content-Length: ${new TextEncoder().encode(body).length}`,
    "",
    body,
  ].join("\r\n");
})());

/** How long a refused connection's request is waited for before the 503 goes anyway, in ms. */
const REFUSE_WAIT_MS = 1000;

/**
 * Answer a connection refused at the cap with the 503, after reading the start of its request:
 * a client answered before it has sent anything takes the answer for a broken connection (Deno's
 * fetch: "received unexpected message"), and closing with its request unread resets the
 * connection, which can lose the answer too.
 */
async function refuse(conn: Deno.Conn, waitMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const read = conn.read(new Uint8Array(8192)).catch(() => null);
    await Promise.race([read, new Promise((r) => timer = setTimeout(r, waitMs))]);
    await conn.write(BUSY_BYTES);
  } catch {
    // The peer went first: nothing to answer.
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** How often an accept error is logged at most, in ms (a flood fails thousands of accepts). */
const ACCEPT_ERROR_LOG_MS = 5000;

/** A listener's open connections; see the module comment. */
export class ConnectionTable {
  // Insertion order is idle age: a connection is moved to the end when it goes idle, so the
  // first idle entry is the one idle the longest.
  #open = new Map<Deno.Conn, ConnState>();
  #limits: HttpLimits;
  #deps: ConnectionDeps;
  #sweeper: ReturnType<typeof setInterval>;
  #stopping = false;
  #finished = new Set<Promise<void>>();

  /** Start the timeout sweep; {@linkcode drain} stops it. */
  constructor(limits: HttpLimits, deps: ConnectionDeps) {
    this.#limits = limits;
    this.#deps = deps;
    const shortest = Math.min(limits.headersTimeoutMs, limits.idleTimeoutMs);
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(50, Math.min(1000, shortest / 4)));
  }

  /** Open connections. */
  get size(): number {
    return this.#open.size;
  }

  /** Accept connections until `listener` is closed. */
  async acceptFrom(listener: Deno.Listener): Promise<void> {
    let lastLogged = 0;
    while (true) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (this.#stopping || err instanceof Deno.errors.BadResource) return;
        if (Date.now() - lastLogged > ACCEPT_ERROR_LOG_MS) {
          lastLogged = Date.now();
          this.#deps.log.warn("HTTP accept failed; closing idle connections", { error: err });
        }
        // Out of descriptors, most likely: idle connections are the ones to give back.
        const freed = this.#closeIdle(Math.max(1, Math.ceil(this.#open.size / 10)));
        await new Promise((r) => setTimeout(r, freed > 0 ? 10 : 100));
        continue;
      }
      this.#admit(conn);
    }
  }

  /** Close idle connections now, the rest after `graceMs`; resolve once all have ended. */
  async drain(graceMs: number): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#sweeper);
    this.#closeIdle(Infinity);
    const all = Promise.allSettled([...this.#finished]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise((r) => timer = setTimeout(r, graceMs));
    await Promise.race([all, grace]);
    clearTimeout(timer);
    for (const state of this.#open.values()) state.abort.abort();
    await all;
  }

  #admit(conn: Deno.Conn): void {
    if (this.#open.size >= this.#limits.maxConnections && this.#closeIdle(1) === 0) {
      void refuse(conn, Math.min(this.#limits.headersTimeoutMs, REFUSE_WAIT_MS));
      return;
    }
    const state: ConnState = {
      abort: new AbortController(),
      busy: 0,
      handling: 0,
      handlingSince: 0,
      served: false,
      idleSince: Date.now(),
    };
    this.#open.set(conn, state);
    const served = this.#deps.serveOn(
      conn,
      state.abort.signal,
      (request, info) => this.#handle(conn, state, { request, info }),
      this.#deps.onError,
      () => {},
    );
    const finished = served.finished.catch(() => {}).finally(() => {
      this.#open.delete(conn);
      this.#finished.delete(finished);
    });
    this.#finished.add(finished);
  }

  #handle(
    conn: Deno.Conn,
    state: ConnState,
    { request, info }: { request: Request; info: Deno.ServeHandlerInfo },
  ): Response | Promise<Response> {
    state.served = true;
    state.busy++;
    if (state.handling++ === 0) state.handlingSince = Date.now();
    const sent = () => {
      if (--state.busy > 0 || !this.#open.has(conn)) return;
      state.idleSince = Date.now();
      this.#open.delete(conn);
      this.#open.set(conn, state);
      if (this.#stopping) state.abort.abort();
    };
    info.completed.then(sent, sent);
    const answered = () => void state.handling--;
    try {
      const response = this.#deps.handler(request);
      if (response instanceof Promise) return response.finally(answered);
      answered();
      return response;
    } catch (err) {
      answered();
      throw err;
    }
  }

  /** Close up to `n` idle connections, the longest idle first; answers how many. */
  #closeIdle(n: number): number {
    let closed = 0;
    for (const [conn, state] of this.#open) {
      if (closed >= n) break;
      if (state.busy > 0) continue;
      this.#open.delete(conn);
      state.abort.abort();
      closed++;
    }
    return closed;
  }

  #sweep(): void {
    const now = Date.now();
    const { headersTimeoutMs, idleTimeoutMs, requestTimeoutMs } = this.#limits;
    for (const [conn, state] of this.#open) {
      const late = state.busy === 0
        ? now - state.idleSince > (state.served ? idleTimeoutMs : headersTimeoutMs)
        : state.handling > 0 && now - state.handlingSince > requestTimeoutMs;
      if (!late) continue;
      this.#open.delete(conn);
      state.abort.abort();
    }
  }
}
