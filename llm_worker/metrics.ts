/**
 * The worker's own small HTTP listener on WORKER_METRICS_PORT: `/metrics` (Prometheus: jobs
 * handled, failed and retried by type, model latency by model, jobs and model calls in flight)
 * and `/health` (200 only when Redis and the core answer; 503 naming the one that does not),
 * which the container healthcheck calls.
 */
import type { Redis } from "ioredis";
import type { JobType } from "../shared/enums.ts";
import type { Logger } from "../shared/log.ts";
import { METRICS_CONTENT_TYPE, MetricsRegistry } from "../shared/metrics.ts";
import type { LlmCall } from "./llm_client.ts";
import { type HttpLimits, httpLimits, serveFetch } from "../shared/http_server.ts";
import { loadWorkerConfig } from "../shared/config.ts";
import { within } from "../shared/timeout.ts";

/** How a job run ended, as counted by `memori_worker_jobs_handled_total`. */
export type JobOutcome = "completed" | "failed" | "skipped";

/** Why a job was run again, as counted by `memori_worker_jobs_retried_total`. */
export type RetryCause = "llm_unavailable" | "core_unavailable" | "bad_output";

/** What the consumer reports as it runs jobs. */
export interface WorkerMetricsHooks {
  /** A job run ended (`skipped`: it was already completed or failed). */
  jobFinished(jobType: JobType, outcome: JobOutcome, reason?: string): void;
  /** A job's handler is about to run again after a failure. */
  jobRetried(jobType: JobType, cause: RetryCause): void;
}

/** A worker's counts of what it has in hand, read at each scrape. */
export interface InFlightSource {
  /** Jobs it holds (at the model, waiting for a model slot, or finishing). */
  jobs(): number;
  /** Model calls out (at most WORKER_CONCURRENCY). */
  modelCalls(): number;
}

/** The worker's registry and the hooks that feed it. */
export interface WorkerMetrics extends WorkerMetricsHooks {
  /** Everything /metrics renders. */
  registry: MetricsRegistry;
  /** For the model client's `onCall`. */
  llmCall(call: LlmCall): void;
  /** Read the in-flight counts from `source` at each scrape (summed over every source). */
  trackInFlight(source: InFlightSource): void;
}

/** Build the worker's metrics. */
export function createWorkerMetrics(): WorkerMetrics {
  const registry = new MetricsRegistry();
  const handled = registry.counter("memori_worker_jobs_handled_total", {
    help: "Job runs that ended, by job type and outcome (completed, failed, or skipped because " +
      "the job was already finished).",
    labels: ["job_type", "outcome"],
  });
  const failed = registry.counter("memori_worker_jobs_failed_total", {
    help: "Jobs this worker failed, by job type and reason (as on the dead-letter stream).",
    labels: ["job_type", "reason"],
  });
  const retried = registry.counter("memori_worker_jobs_retried_total", {
    help: "Job handler re-runs after a failure, by job type and cause.",
    labels: ["job_type", "cause"],
  });
  const llmDuration = registry.histogram("memori_worker_llm_request_duration_seconds", {
    help: "Time of each model request, by model and outcome: ok when the model answered text " +
      "(whether or not it was usable), error when the request failed or the answer was empty.",
    labels: ["model", "outcome"],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300],
  });
  const inFlight = registry.gauge("memori_worker_jobs_in_flight", {
    help: "Jobs this worker holds right now: at the model, waiting for a model slot, or finishing.",
  });
  const modelCalls = registry.gauge("memori_worker_model_calls_in_flight", {
    help: "Model calls this worker has out right now (at most WORKER_CONCURRENCY).",
  });
  const sources: InFlightSource[] = [];
  registry.onCollect(() => {
    inFlight.set({}, sources.reduce((n, source) => n + source.jobs(), 0));
    modelCalls.set({}, sources.reduce((n, source) => n + source.modelCalls(), 0));
  });
  return {
    registry,
    jobFinished(jobType, outcome, reason) {
      handled.inc({ job_type: jobType, outcome });
      if (outcome === "failed") failed.inc({ job_type: jobType, reason: reason ?? "unknown" });
    },
    jobRetried(jobType, cause) {
      retried.inc({ job_type: jobType, cause });
    },
    llmCall(call) {
      llmDuration.observe({ model: call.model, outcome: call.outcome }, call.seconds);
    },
    trackInFlight(source) {
      sources.push(source);
    },
  };
}

/** What `/health` checks. */
export interface HealthDeps {
  /** The worker's command connection. */
  redis: Redis;
  /** CORE_API_URL. */
  coreUrl: string;
  /** fetch (tests may pass their own); the global one by default. */
  fetch?: typeof fetch;
}

/** The answer of `/health`. */
export interface WorkerHealth {
  /** `ok`, or `unavailable` when a dependency is not reachable. */
  status: "ok" | "unavailable";
  /** `ok` or why Redis is not reachable. */
  redis: string;
  /** `ok` or why the core is not reachable. */
  core: string;
}

/** Check Redis (PING) and the core (GET /health), each within `timeoutMs`. */
export async function checkHealth(
  deps: HealthDeps,
  options: { timeoutMs?: number } = {},
): Promise<WorkerHealth> {
  const ms = options.timeoutMs ?? 2000;
  const doFetch = deps.fetch ?? fetch;
  const [redis, core] = await Promise.all([
    (async () => {
      try {
        const pong = await within(deps.redis.ping(), ms, "redis");
        return pong === "PONG" ? "ok" : `unexpected answer to PING: ${pong}`;
      } catch (err) {
        return `unreachable: ${(err as Error).message}`;
      }
    })(),
    (async () => {
      const url = `${deps.coreUrl.replace(/\/+$/, "")}/health`;
      try {
        const res = await doFetch(url, { signal: AbortSignal.timeout(ms) });
        await res.body?.cancel();
        return res.ok ? "ok" : `GET /health answered ${res.status}`;
      } catch (err) {
        return `unreachable: ${(err as Error).message}`;
      }
    })(),
  ]);
  return { status: redis === "ok" && core === "ok" ? "ok" : "unavailable", redis, core };
}

/** The `/metrics` and `/health` handler. */
export function metricsHandler(
  metrics: WorkerMetrics,
  health: HealthDeps,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const path = new URL(request.url).pathname;
    if (request.method !== "GET") {
      return Response.json({ detail: "Method Not Allowed" }, { status: 405 });
    }
    if (path === "/metrics") {
      return new Response(await metrics.registry.render(), {
        headers: { "content-type": METRICS_CONTENT_TYPE },
      });
    }
    if (path === "/health") {
      const result = await checkHealth(health);
      return Response.json(result, { status: result.status === "ok" ? 200 : 503 });
    }
    return Response.json({ detail: "Not Found" }, { status: 404 });
  };
}

/** Options for {@linkcode startMetricsServer}. */
export interface MetricsServerOptions extends Partial<HttpLimits> {
  /** Address to listen on (default 0.0.0.0: the healthcheck and Prometheus reach it there). */
  hostname?: string;
  /** Port (0: any free port, for tests). */
  port: number;
  /** Logger. */
  log: Logger;
}

/** A running listener. */
export interface MetricsServer {
  /** The port it listens on. */
  port: number;
  /** Stop listening. */
  stop(): Promise<void>;
}

/**
 * Serve `/metrics` and `/health`, with the HTTP_* limits (shared/http_server.ts): the port is on
 * 0.0.0.0, so idle or half-sent connections must not exhaust the worker's descriptors. Answers
 * null, after logging why, when the port cannot be opened: the worker goes on processing jobs,
 * and the failing healthcheck shows the problem.
 */
export async function startMetricsServer(
  handler: (request: Request) => Promise<Response>,
  options: MetricsServerOptions,
): Promise<MetricsServer | null> {
  const hostname = options.hostname ?? "0.0.0.0";
  try {
    const server = await serveFetch(handler, {
      ...httpLimits(loadWorkerConfig({})),
      ...options,
      hostname,
    });
    options.log.info("worker metrics listening", { hostname, port: server.port });
    return { port: server.port, stop: () => server.shutdown() };
  } catch (err) {
    options.log.error("cannot serve /metrics and /health", {
      hostname,
      port: options.port,
      error: err as Error,
    });
    return null;
  }
}
