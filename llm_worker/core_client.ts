/**
 * The core's HTTP API, as the worker uses it. Every request says `X-Actor: system:llm_worker` so
 * the audit trail names the worker, carries the bearer token when CORE_API_TOKEN is set, and,
 * while a job runs, `X-Request-Id: <job_id>`. Errors come out classified: unreachable, timeouts,
 * 408/429 and 5xx are {@linkcode TransientError}; 409 on a job update is
 * {@linkcode JobFinalError}; other 4xx are {@linkcode PermanentError}.
 */
import { JobFinalError, PermanentError, ShutdownError, TransientError } from "./errors.ts";
import type { JobStatus, JobType, TagStatus } from "../shared/enums.ts";
import { currentJobId } from "./job_scope.ts";
import { WORKER_ACTOR } from "../shared/actors.ts";

/** A job as GET /llm_jobs/{id} answers it. */
export interface JobRecord {
  /** UUID. */
  id: string;
  /** Job type. */
  job_type: JobType;
  /** Payload object. */
  payload: Record<string, unknown>;
  /** User the job is for, if any. */
  user_id: number | null;
  /** Status. */
  status: JobStatus;
  /** Result, once completed. */
  result: Record<string, unknown> | null;
  /** Why it failed, once failed. */
  error_message: string | null;
}

/** A memory tag. */
export interface MemoryTag {
  /** Tag text. */
  tag: string;
  /** confirmed or suggested. */
  status: string;
}

/** A memory as the core answers it (fields the worker reads). */
export interface Memory {
  /** UUID. */
  id: string;
  /** Owner. */
  owner_user_id: number;
  /** Text, if any. */
  content: string | null;
  /** "image" or null. */
  media_type: string | null;
  /** Tags (GET /memories/{id}, POST tags, search results). */
  tags?: MemoryTag[];
  /** Anything else the core sends. */
  [key: string]: unknown;
}

/** An open task (fields the worker reads). */
export interface Task {
  /** UUID. */
  id: string;
  /** What to do. */
  description: string;
  /** Due time, if any. */
  due_at?: string | null;
  /** NOT_DONE or DONE. */
  state?: string;
}

/** An event (fields the worker reads). */
export interface CoreEvent {
  /** UUID. */
  id: string;
  /** What happens. */
  description: string;
  /** When, ISO UTC. */
  event_time: string;
  /** pending, confirmed or rejected. */
  status?: string;
}

/** One search hit. */
export interface SearchHit {
  /** The memory, with tags. */
  memory: Memory;
  /** Relevance. */
  score: number;
}

/** Body of POST /memories. */
export interface MemoryCreate {
  /** Owner. */
  owner_user_id: number;
  /** Text. */
  content?: string | null;
}

/** Body of POST /events. */
export interface EventCreate {
  /** Owner. */
  owner_user_id: number;
  /** When, ISO UTC. */
  event_time: string;
  /** What. */
  description: string;
  /** email or manual. */
  source_type: "email" | "manual";
  /** e.g. the email subject. */
  source_detail?: string | null;
  /** Memory it belongs to, if any. */
  memory_id?: string | null;
}

/** Body of PATCH /llm_jobs/{id}. */
export interface JobUpdate {
  /** New status. */
  status?: JobStatus;
  /** Result object. */
  result?: Record<string, unknown> | null;
  /** Why it failed. */
  error_message?: string | null;
}

/** Per-call options. */
export interface CoreCallOptions {
  /** Aborts the request (worker shutdown). */
  signal?: AbortSignal;
}

/** What the worker calls on the core. */
export interface CoreClient {
  /** GET /llm_jobs/{id}. */
  getJob(id: string, options?: CoreCallOptions): Promise<JobRecord>;
  /** PATCH /llm_jobs/{id}; {@linkcode JobFinalError} when the job is already terminal. */
  updateJob(id: string, update: JobUpdate, options?: CoreCallOptions): Promise<JobRecord>;
  /** GET /memories/{id}. */
  getMemory(id: string, options?: CoreCallOptions): Promise<Memory>;
  /** POST /memories with an Idempotency-Key, so a re-run gets the memory the first run made. */
  createMemory(
    body: MemoryCreate,
    options: CoreCallOptions & { idempotencyKey: string },
  ): Promise<Memory>;
  /** POST /memories/{id}/tags (an upsert: repeating it adds nothing). */
  addTags(
    memoryId: string,
    body: { tags: string[]; status: TagStatus },
    options?: CoreCallOptions,
  ): Promise<Memory>;
  /** POST /events with an Idempotency-Key. */
  createEvent(
    body: EventCreate,
    options: CoreCallOptions & { idempotencyKey: string },
  ): Promise<CoreEvent>;
  /** GET /tasks?owner_user_id=&state=NOT_DONE. */
  openTasks(ownerUserId: number, options?: CoreCallOptions): Promise<Task[]>;
  /** GET /search?q=&owner=. */
  search(q: string, owner: number, options?: CoreCallOptions): Promise<SearchHit[]>;
  /** GET /settings/{user_id}. */
  getSettings(userId: number, options?: CoreCallOptions): Promise<UserSettings>;
}

/** A user's settings (fields the worker reads). */
export interface UserSettings {
  /** Language code, e.g. `en`, `de`, `pt-BR`. */
  language?: string | null;
  /** IANA time zone. */
  timezone?: string | null;
}

/** Options for {@linkcode createCoreClient}. */
export interface CoreClientOptions {
  /** fetch implementation; the global one by default. */
  fetch?: typeof fetch;
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number;
  /** CORE_API_TOKEN, sent as `Authorization: Bearer <token>` when set. */
  token?: string;
}

/** A client for the core at `baseUrl` (e.g. `http://core:8000`). */
export function createCoreClient(baseUrl: string, options: CoreClientOptions = {}): CoreClient {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const base = baseUrl.replace(/\/+$/, "");

  async function request<T>(
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal; job?: string },
  ): Promise<T> {
    const headers: Record<string, string> = {
      "x-actor": WORKER_ACTOR,
      accept: "application/json",
      ...opts.headers,
    };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    // The core logs it as the request id, so its log lines for a job can be found by job id.
    const jobId = currentJobId();
    if (jobId !== undefined) headers["x-request-id"] = jobId;
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    // One controller per request, released when the answer is read. Not AbortSignal.any() or
    // AbortSignal.timeout(): Deno keeps an entry on the caller's signal (the worker's, alive for
    // the whole process) for every signal composed from it, and a timeout signal lives until it
    // fires; at hundreds of requests a second both added up to tens of megabytes.
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new DOMException(`timed out after ${timeoutMs} ms`, "TimeoutError")),
      timeoutMs,
    );
    const onCallerAbort = () => abort.abort(opts.signal?.reason);
    if (opts.signal?.aborted) onCallerAbort();
    else opts.signal?.addEventListener("abort", onCallerAbort, { once: true });
    let res: Response;
    let text: string;
    try {
      try {
        res = await doFetch(`${base}${path}`, {
          method,
          headers,
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
          signal: abort.signal,
        });
      } catch (err) {
        if (opts.signal?.aborted) throw new ShutdownError();
        const what = (err as Error).name === "TimeoutError"
          ? `timed out after ${timeoutMs} ms`
          : `unreachable (${(err as Error).message})`;
        throw new TransientError("core", `core ${method} ${path}: ${what}`, { cause: err });
      }
      text = await res.text().catch(() => "");
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onCallerAbort);
    }
    if (res.ok) {
      try {
        return (text ? JSON.parse(text) : null) as T;
      } catch {
        throw new TransientError("core", `core ${method} ${path}: answer is not JSON`);
      }
    }
    const detail = errorDetail(text);
    const message = `core ${method} ${path} answered ${res.status}: ${detail}`;
    if (res.status >= 500 || res.status === 408 || res.status === 429) {
      throw new TransientError("core", message);
    }
    if (res.status === 409 && opts.job) throw new JobFinalError(opts.job);
    throw new PermanentError(res.status === 404 ? "not_found" : "rejected", message);
  }

  const enc = encodeURIComponent;
  return {
    getJob: (id, o = {}) => request("GET", `/llm_jobs/${enc(id)}`, o),
    updateJob: (id, update, o = {}) =>
      request("PATCH", `/llm_jobs/${enc(id)}`, { ...o, body: update, job: id }),
    getMemory: (id, o = {}) => request("GET", `/memories/${enc(id)}`, o),
    createMemory: (body, o) =>
      request("POST", "/memories", {
        signal: o.signal,
        body,
        headers: { "idempotency-key": o.idempotencyKey },
      }),
    addTags: (memoryId, body, o = {}) =>
      request("POST", `/memories/${enc(memoryId)}/tags`, { ...o, body }),
    createEvent: (body, o) =>
      request("POST", "/events", {
        signal: o.signal,
        body,
        headers: { "idempotency-key": o.idempotencyKey },
      }),
    async openTasks(ownerUserId, o = {}) {
      const q = new URLSearchParams({
        owner_user_id: String(ownerUserId),
        state: "NOT_DONE",
        limit: "200",
      });
      return listOf<Task>(await request("GET", `/tasks?${q}`, o));
    },
    getSettings: (userId, o = {}) => request("GET", `/settings/${enc(String(userId))}`, o),
    async search(q, owner, o = {}) {
      const query = new URLSearchParams({ q, owner: String(owner) });
      return listOf<SearchHit>(await request("GET", `/search?${query}`, o));
    },
  };
}

// Lists are bare arrays in the contract; tolerate a wrapper object as well.
function listOf<T>(body: unknown): T[] {
  if (Array.isArray(body)) return body as T[];
  if (body && typeof body === "object") {
    for (const key of ["items", "results", "data"]) {
      const v = (body as Record<string, unknown>)[key];
      if (Array.isArray(v)) return v as T[];
    }
  }
  return [];
}

function errorDetail(text: string): string {
  try {
    const body = JSON.parse(text);
    const detail = body?.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => `${(d.loc ?? []).join(".")}: ${d.msg}`).join("; ");
    }
  } catch { /* not JSON */ }
  return text.slice(0, 200) || "(no body)";
}
