/**
 * Shared setup of the worker tests: real Redis, a real core app served over HTTP on a free port,
 * the fake OpenAI-compatible server, and the real consumer running in-process.
 */
import type { Redis } from "ioredis";
import { loadWorkerConfig, type WorkerConfig } from "../../shared/config.ts";
import type { Logger } from "../../shared/log.ts";
import { createWorkerLogger } from "../../llm_worker/job_scope.ts";
import type { JobType } from "../../shared/enums.ts";
import {
  ALL_JOB_STREAMS,
  DEAD_LETTER_STREAM,
  NOTIFY_STREAM,
  WORKER_GROUP,
} from "../../shared/streams.ts";
import { startWorker, type Worker, type WorkerOptions } from "../../llm_worker/consumer.ts";
import { call, createUser, type TestCore } from "../helpers/core_app.ts";
import { type CoreServer, startCoreServer } from "../helpers/core_server.ts";
import { type FakeLlm, startFakeLlm } from "../helpers/fake_llm.ts";

/** A 1x1 PNG. */
export const PNG_BYTES: Uint8Array = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

/** The API key the tests configure; it must never show up in a log line. */
export const TEST_API_KEY = "sk-test-secret-0123456789";

/** A job as GET /llm_jobs/{id} answers it. */
export interface JobJson {
  /** Id. */
  id: string;
  /** Type. */
  job_type: string;
  /** Status. */
  status: string;
  /** Payload. */
  payload: Record<string, unknown>;
  /** User. */
  user_id: number | null;
  // deno-lint-ignore no-explicit-any
  result: any;
  /** Error. */
  error_message: string | null;
}

/** Everything a worker test needs. */
export interface Harness extends AsyncDisposable {
  /** The served core. */
  server: CoreServer;
  /** Its parts (app, db, image dir). */
  core: TestCore;
  /** The fake model server. */
  fake: FakeLlm;
  /** A Redis client on the test's database. */
  redis: Redis;
  /** Worker settings pointing at all of the above. */
  config: WorkerConfig;
  /** A user that exists in the core. */
  userId: number;
  /** Every log line the workers wrote. */
  logs: string[];
  /** Start a worker (in-process) on this harness. */
  startWorker(options?: WorkerOptions): Promise<Worker>;
  /** POST /llm_jobs (for the harness user unless `userId` says otherwise); returns the id. */
  createJob(
    jobType: JobType,
    payload: Record<string, unknown>,
    options?: { userId?: number | null },
  ): Promise<string>;
  /** GET /llm_jobs/{id}. */
  getJob(id: string): Promise<JobJson>;
  /** Poll until the job is completed or failed (or the timeout). */
  waitJob(id: string, timeoutMs?: number): Promise<JobJson>;
  /** Parsed entries of notify:telegram. */
  // deno-lint-ignore no-explicit-any
  notifications(): Promise<any[]>;
  /** Parsed entries of llm:dead_letter. */
  // deno-lint-ignore no-explicit-any
  deadLetters(): Promise<any[]>;
  /** Pending entry count of the worker group on `stream`. */
  pendingCount(stream: string): Promise<number>;
  /** Stop the workers, the fake and the core. */
  close(): Promise<void>;
}

/** Options for {@linkcode startHarness}. */
export interface HarnessOptions {
  /** Worker variables to override. */
  env?: Record<string, string>;
  /** Start one worker right away (default true). */
  worker?: boolean;
  /** Options of that worker. */
  workerOptions?: WorkerOptions;
  /** Core variables (e.g. CORE_API_TOKEN). */
  coreEnv?: Record<string, string>;
  /** The core's logger (silent by default). */
  coreLog?: Logger;
}

/** Poll `check` until it returns a value other than undefined. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (true) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Build the harness. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const server = await startCoreServer({ env: options.coreEnv, log: options.coreLog });
  const fake = await startFakeLlm();
  const core = server.core;
  const token = options.coreEnv?.CORE_API_TOKEN;
  // The harness's own calls to the core, with the token when the core wants one.
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const userId = token
    ? (await call(core.app, "POST", "/users", {
      telegram_user_id: 4242,
      display_name: "Worker Tester",
    }, auth)).body.telegram_user_id
    : await createUser(core.app, 4242, "Worker Tester");
  const config = loadWorkerConfig({
    LLM_BASE_URL: fake.url,
    LLM_TEXT_MODEL: "text-model",
    LLM_VISION_MODEL: "vision-model",
    LLM_API_KEY: TEST_API_KEY,
    LLM_TIMEOUT_SECONDS: "2",
    LLM_MAX_RETRIES: "3",
    LLM_RETRY_BASE_MS: "20",
    LLM_RETRY_MAX_MS: "100",
    REDIS_URL: core.redisUrl,
    CORE_API_URL: server.url,
    IMAGE_STORAGE_PATH: core.imageDir,
    WORKER_CONCURRENCY: "4",
    WORKER_CLAIM_IDLE_SECONDS: "60",
    LOG_LEVEL: "debug",
    ...options.env,
  });
  const logs: string[] = [];
  const workers: Worker[] = [];

  /** Whether any job stream holds an unacked entry for `jobId`. */
  async function jobPending(jobId: string): Promise<boolean> {
    for (const stream of ALL_JOB_STREAMS) {
      let rows: [string, ...unknown[]][];
      try {
        rows = await core.redis.xpending(stream, WORKER_GROUP, "-", "+", 1000) as [
          string,
          ...unknown[],
        ][];
      } catch {
        continue; // no group yet
      }
      for (const [entryId] of rows) {
        const entries = await core.redis.xrange(stream, entryId, entryId);
        const fields = entries[0]?.[1] ?? [];
        const i = fields.indexOf("data");
        try {
          if (i >= 0 && JSON.parse(fields[i + 1]).job_id === jobId) return true;
        } catch { /* a malformed entry is not this job's */ }
      }
    }
    return false;
  }

  const close = async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await fake.close();
    await server.close();
  };
  const h: Harness = {
    server,
    core,
    fake,
    redis: core.redis,
    config,
    userId,
    logs,
    async startWorker(workerOptions = {}) {
      const w = startWorker(config, {
        // The logger main.ts uses: lines written during a job carry its job_id.
        log: createWorkerLogger({ level: "debug", sink: (l) => logs.push(l) }),
        ...workerOptions,
      });
      workers.push(w);
      await w.ready;
      return w;
    },
    async createJob(jobType, payload, jobOptions = {}) {
      const res = await call(core.app, "POST", "/llm_jobs", {
        job_type: jobType,
        payload,
        user_id: jobOptions.userId === undefined ? userId : jobOptions.userId,
      }, auth);
      if (res.status !== 201) {
        throw new Error(`POST /llm_jobs: ${res.status} ${JSON.stringify(res.body)}`);
      }
      return res.body.id;
    },
    async getJob(id) {
      const res = await call(core.app, "GET", `/llm_jobs/${id}`, undefined, auth);
      if (res.status !== 200) throw new Error(`GET /llm_jobs/${id}: ${res.status}`);
      return res.body;
    },
    async waitJob(id, timeoutMs = 10_000) {
      let last: JobJson | undefined;
      try {
        last = await waitFor(`job ${id}`, async () => {
          last = await h.getJob(id);
          return last.status === "completed" || last.status === "failed" ? last : undefined;
        }, { timeoutMs });
      } catch {
        throw new Error(`job ${id} did not finish: ${JSON.stringify(last)}`);
      }
      // The status is stored before the notifications go out and the entry is acked; wait for
      // those too, so tests see the job's whole outcome.
      await waitFor(`job ${id} acked`, async () => await jobPending(id) ? undefined : true, {
        timeoutMs: 5000,
      });
      return last;
    },
    async notifications() {
      const rows = await core.redis.xrange(NOTIFY_STREAM, "-", "+");
      return rows.map(([, fields]) => JSON.parse(fields[1]));
    },
    async deadLetters() {
      const rows = await core.redis.xrange(DEAD_LETTER_STREAM, "-", "+");
      return rows.map(([, fields]) => JSON.parse(fields[1]));
    },
    async pendingCount(stream) {
      const info = await core.redis.xpending(stream, "llm-worker-group") as [number, ...unknown[]];
      return Number(info[0]);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  if (options.worker ?? true) await h.startWorker(options.workerOptions);
  return h;
}
