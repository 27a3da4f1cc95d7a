/**
 * The core's HTTP API, as the worker uses it. Every request says `X-Actor: system:llm_worker` so
 * the audit trail names the worker, carries the bearer token when CORE_API_TOKEN is set, and,
 * while a job runs, `X-Request-Id: <job_id>`. Errors come out classified: unreachable, timeouts,
 * 408/429 and 5xx are {@linkcode TransientError}; 409 on a job update is
 * {@linkcode JobFinalError}; other 4xx are {@linkcode PermanentError}.
 */
import { JobFinalError, PermanentError, ShutdownError, TransientError } from "./errors.ts";
import type { z } from "zod";
import type {
  eventResponse,
  jobResponse,
  memoryResponse,
  searchHitResponse,
  settingsResponse,
  tagResponse,
  taskResponse,
} from "../shared/response_schemas.ts";
import type { eventCreate, llmJobUpdate, memoryCreate, tagsAdd } from "../shared/schemas.ts";
import { currentJobId } from "./job_scope.ts";
import { WORKER_ACTOR } from "../shared/actors.ts";

type JobResponse = z.output<typeof jobResponse>;
type MemoryResponse = z.output<typeof memoryResponse>;

// The answers below are the core's response schemas, narrowed to the fields the worker reads.

/** A job as GET /llm_jobs/{id} answers it. */
export type JobRecord = Pick<
  JobResponse,
  "id" | "job_type" | "payload" | "user_id" | "status" | "result" | "error_message"
>;

/** A memory tag (the worker reads only its text). */
export type MemoryTag = Pick<z.output<typeof tagResponse>, "tag">;

/** A memory as the core answers it, with its tags. */
export type Memory =
  & Pick<MemoryResponse, "id" | "owner_user_id" | "content" | "media_type">
  & { tags: MemoryTag[] };

/** An open task. */
export type Task = Pick<z.output<typeof taskResponse>, "id" | "description" | "due_at" | "state">;

/** An event. */
export type CoreEvent = Pick<
  z.output<typeof eventResponse>,
  "id" | "description" | "event_time" | "status"
>;

/** One search hit: the memory with its tags, and its relevance. */
export type SearchHit = Omit<z.output<typeof searchHitResponse>, "memory"> & { memory: Memory };

/** A user's settings (the worker reads only the language). */
export type UserSettings = Pick<z.output<typeof settingsResponse>, "language">;

/** Body of POST /memories. */
export type MemoryCreate = z.input<typeof memoryCreate>;

/** Body of POST /events. */
export type EventCreate = z.input<typeof eventCreate>;

/** Body of POST /memories/{id}/tags. */
export type TagsAdd = z.input<typeof tagsAdd>;

/** Body of PATCH /llm_jobs/{id}. */
export type JobUpdate = z.input<typeof llmJobUpdate>;

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
    body: TagsAdd,
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
