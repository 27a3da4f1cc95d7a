/**
 * A small OpenAI-compatible HTTP server for worker tests: the real `openai` client talks to it.
 * It answers `POST /v1/chat/completions` with scripted replies (content, delays, HTTP errors,
 * dropped or hung connections) and `GET /v1/models`, and records every request it received so
 * tests can assert on prompts and on the image data URLs.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** One message of a chat request, as the client sent it. */
export interface ChatMessage {
  /** system, user or assistant. */
  role: string;
  /** Text, or content parts (`text` and `image_url`). */
  content:
    | string
    | { type: string; text?: string; image_url?: { url: string } }[]
    | null;
}

/** A chat completion request body as received. */
export interface ChatRequest {
  /** Model name. */
  model: string;
  /** The conversation. */
  messages: ChatMessage[];
  /** Set when the client asked for JSON mode. */
  response_format?: { type: string };
  /** Anything else the client sent. */
  [key: string]: unknown;
}

/** What the fake answers to one request. */
export interface FakeReply {
  /** Assistant message content of a successful completion. */
  content?: string;
  /** HTTP error status to answer instead (e.g. 503, 400). */
  status?: number;
  /** Error message for `status` replies. */
  message?: string;
  /** `param` of the error body (e.g. `response_format`). */
  param?: string;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Close the connection without answering. */
  drop?: boolean;
  /** Never answer (the client's timeout fires). */
  hang?: boolean;
  /** Answer 200 with this body as it is (e.g. an HTML page from a proxy, not JSON). */
  rawBody?: string;
  /** Content-Type of `rawBody` (default text/html). */
  rawType?: string;
}

/** A reply, or a function of the request that makes one. */
export type ReplySource = FakeReply | ((request: ChatRequest) => FakeReply);

/** One request the fake received. */
export interface RecordedRequest {
  /** URL path. */
  path: string;
  /** Lower-cased request headers. */
  headers: Record<string, string>;
  /** Parsed JSON body (chat requests). */
  body: ChatRequest;
  /** `performance.now()` once its body had been read. */
  receivedAt: number;
  /** `performance.now()` once its answer was handed to the connection; unset until then, or for none. */
  answeredAt?: number;
  /** `performance.now()` when the client closed the connection before the answer was handed to it. */
  cutAt?: number;
}

/** Options for {@linkcode FakeLlm.when}. */
export interface WhenOptions {
  /** Use the rule this many times, then drop it; forever when omitted. */
  times?: number;
}

interface Rule {
  match: (request: ChatRequest) => boolean;
  reply: ReplySource;
  left: number;
}

/** The running fake; see {@linkcode startFakeLlm}. */
export interface FakeLlm extends AsyncDisposable {
  /** Base URL for `LLM_BASE_URL`, ending in `/v1`. */
  readonly url: string;
  /** Port it listens on (kept across {@linkcode FakeLlm.restart}). */
  readonly port: number;
  /** Every chat request received, oldest first. */
  readonly requests: RecordedRequest[];
  /** Most chat requests that were being answered at the same time. */
  readonly maxActive: number;
  /** Add a rule: requests matching `match` get `reply` (rules are tried in the order added). */
  when(match: (request: ChatRequest) => boolean, reply: ReplySource, options?: WhenOptions): void;
  /** Queue replies used in order by requests no rule matched. */
  enqueue(...replies: ReplySource[]): void;
  /** Reply to requests no rule or queued reply answered (by default a 500 naming the gap). */
  setDefault(reply: ReplySource): void;
  /** Stop listening and cut open connections (an outage). */
  stop(): Promise<void>;
  /** Listen again on the same port. */
  restart(): Promise<void>;
  /** Stop for good. */
  close(): Promise<void>;
}

/** All the text of a request's messages, joined by newlines (image parts left out). */
export function promptText(request: ChatRequest): string {
  const parts: string[] = [];
  for (const m of request.messages) {
    if (typeof m.content === "string") parts.push(m.content);
    else if (Array.isArray(m.content)) {
      for (const p of m.content) if (p.type === "text" && p.text) parts.push(p.text);
    }
  }
  return parts.join("\n");
}

/** The image data URLs of a request. */
export function imageUrls(request: ChatRequest): string[] {
  const urls: string[] = [];
  for (const m of request.messages) {
    if (!Array.isArray(m.content)) continue;
    for (const p of m.content) {
      if (p.type === "image_url" && p.image_url) urls.push(p.image_url.url);
    }
  }
  return urls;
}

/** A successful reply whose content is `value` as JSON. */
export function jsonReply(value: unknown, options: { delayMs?: number } = {}): FakeReply {
  return { content: JSON.stringify(value), delayMs: options.delayMs };
}

/** Options for {@linkcode startFakeLlm}. */
export interface StartFakeLlmOptions {
  /** Port to listen on; a free one by default. */
  port?: number;
  /** What `GET /v1/models` lists (default `["fake-model"]`). */
  models?: readonly string[];
}

/** Start the fake on 127.0.0.1. */
export async function startFakeLlm(options: StartFakeLlmOptions = {}): Promise<FakeLlm> {
  const rules: Rule[] = [];
  const queue: ReplySource[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const pendingTimers = new Set<ReturnType<typeof setTimeout>>();
  let fallback: ReplySource = {
    status: 500,
    message: "fake LLM: no scripted reply for this request",
  };
  let server: Server | undefined;
  let port = options.port ?? 0;
  let completions = 0;
  let active = 0;
  let maxActive = 0;

  function pick(body: ChatRequest): FakeReply {
    for (const rule of rules) {
      if (rule.left <= 0 || !rule.match(body)) continue;
      rule.left--;
      return resolve(rule.reply, body);
    }
    const queued = queue.shift();
    return resolve(queued ?? fallback, body);
  }

  function resolve(source: ReplySource, body: ChatRequest): FakeReply {
    return typeof source === "function" ? source(body) : source;
  }

  function send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": String(new TextEncoder().encode(text).length),
    });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of req) chunks.push(chunk as Uint8Array);
    const raw = new TextDecoder().decode(concat(chunks));
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path.endsWith("/models")) {
      const models = options.models ?? ["fake-model"];
      send(res, 200, {
        object: "list",
        data: models.map((id) => ({ id, object: "model", owned_by: "fake" })),
      });
      return;
    }
    if (req.method !== "POST" || !path.endsWith("/chat/completions")) {
      send(res, 404, { error: { message: `no route ${req.method} ${path}` } });
      return;
    }
    let body: ChatRequest;
    try {
      body = JSON.parse(raw);
    } catch {
      send(res, 400, { error: { message: "body is not JSON" } });
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = String(v);
    const record: RecordedRequest = { path, headers, body, receivedAt: performance.now() };
    requests.push(record);
    res.on("close", () => {
      if (!res.writableEnded) record.cutAt ??= performance.now();
    });
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      if (await answer(req, res, body)) record.answeredAt = performance.now();
    } finally {
      active--;
    }
  }

  /** Answer as scripted; false when no answer was sent (a hang or a dropped connection). */
  async function answer(
    req: IncomingMessage,
    res: ServerResponse,
    body: ChatRequest,
  ): Promise<boolean> {
    const reply = pick(body);
    if (reply.delayMs) {
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          pendingTimers.delete(t);
          r();
        }, reply.delayMs);
        pendingTimers.add(t);
      });
    }
    if (reply.hang) return false;
    if (reply.drop) {
      req.socket.destroy();
      return false;
    }
    if (reply.status && reply.status !== 200) {
      send(res, reply.status, {
        error: {
          message: reply.message ?? `fake LLM error ${reply.status}`,
          type: reply.status >= 500 ? "server_error" : "invalid_request_error",
          param: reply.param ?? null,
          code: null,
        },
      });
      return true;
    }
    if (reply.rawBody !== undefined) {
      res.writeHead(200, { "content-type": reply.rawType ?? "text/html" });
      res.end(reply.rawBody);
      return true;
    }
    completions++;
    send(res, 200, {
      id: `chatcmpl-fake-${completions}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{
        index: 0,
        message: { role: "assistant", content: reply.content ?? "" },
        finish_reason: "stop",
      }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    });
    return true;
  }

  async function listen(): Promise<void> {
    const s = createServer((req, res) => {
      handle(req, res).catch(() => {
        try {
          req.socket.destroy();
        } catch { /* already gone */ }
      });
    });
    s.on("connection", (socket: Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolveListen, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolveListen());
    });
    const addr = s.address();
    if (addr && typeof addr === "object") port = addr.port;
    server = s;
  }

  async function stop(): Promise<void> {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await new Promise<void>((r) => s.close(() => r()));
  }

  async function close(): Promise<void> {
    for (const t of pendingTimers) clearTimeout(t);
    pendingTimers.clear();
    await stop();
  }

  await listen();
  return {
    get url() {
      return `http://127.0.0.1:${port}/v1`;
    },
    get port() {
      return port;
    },
    get maxActive() {
      return maxActive;
    },
    requests,
    when(match, reply, whenOptions = {}) {
      rules.push({ match, reply, left: whenOptions.times ?? Number.POSITIVE_INFINITY });
    },
    enqueue(...replies) {
      queue.push(...replies);
    },
    setDefault(reply) {
      fallback = reply;
    },
    stop,
    async restart() {
      if (!server) await listen();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
