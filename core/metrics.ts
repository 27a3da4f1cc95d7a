/**
 * The core's Prometheus metrics: HTTP requests (counted by route pattern, never the raw path, so
 * ids do not make a series each), and, read at scrape time, jobs by type and status from SQLite
 * and the job streams from Redis.
 */
import type { DatabaseSync } from "node:sqlite";
import type { Redis } from "ioredis";
import { type Counter, type Histogram, MetricsRegistry } from "../shared/metrics.ts";
import { JOB_STATUSES, JOB_TYPES } from "../shared/enums.ts";
import { queueStats } from "./jobs/queue_stats.ts";

/** The core's registry and the instruments the request middleware feeds. */
export interface CoreMetrics {
  /** Everything /metrics renders. */
  registry: MetricsRegistry;
  /** `memori_http_requests_total{method,route,status}`. */
  httpRequests: Counter;
  /** `memori_http_request_duration_seconds{method,route}`. */
  httpDuration: Histogram;
}

/** Options for {@linkcode createCoreMetrics}. */
export interface CoreMetricsOptions {
  /** Bound on the Redis part of a scrape, in ms (default 1000). */
  redisTimeoutMs?: number;
}

/** Build the core's metrics on `deps` (read at scrape time). */
export function createCoreMetrics(
  deps: { db: DatabaseSync; redis: Redis },
  options: CoreMetricsOptions = {},
): CoreMetrics {
  const registry = new MetricsRegistry();
  const httpRequests = registry.counter("memori_http_requests_total", {
    help: "HTTP requests answered, by method, route pattern and status code.",
    labels: ["method", "route", "status"],
  });
  const httpDuration = registry.histogram("memori_http_request_duration_seconds", {
    help: "Time to answer an HTTP request, by method and route pattern.",
    labels: ["method", "route"],
  });
  const jobs = registry.gauge("memori_llm_jobs", {
    help: "LLM jobs in the database, by job type and status.",
    labels: ["job_type", "status"],
  });
  const redisUp = registry.gauge("memori_redis_up", {
    help: "1 when Redis answered the last scrape, else 0 (the stream metrics are then absent).",
  });
  const streamLength = registry.gauge("memori_stream_length", {
    help: "Entries on each job stream (XLEN).",
    labels: ["stream"],
  });
  const streamPending = registry.gauge("memori_stream_pending", {
    help: "Entries of each job stream delivered to a worker and not yet acknowledged (XPENDING).",
    labels: ["stream"],
  });
  const consumerPending = registry.gauge("memori_stream_consumer_pending", {
    help: "Unacknowledged entries per worker consumer and job stream.",
    labels: ["stream", "consumer"],
  });
  const deadLetters = registry.gauge("memori_dead_letter_length", {
    help: "Entries on the dead-letter stream llm:dead_letter, waiting for an operator.",
  });

  registry.onCollect(async () => {
    const stats = await queueStats(deps, { timeoutMs: options.redisTimeoutMs });
    jobs.reset();
    for (const type of JOB_TYPES) {
      for (const status of JOB_STATUSES) {
        jobs.set({ job_type: type, status }, stats.jobs.by_type[type][status]);
      }
    }
    // Stale Redis numbers would look current; when Redis is down the series go away instead.
    streamLength.reset();
    streamPending.reset();
    consumerPending.reset();
    deadLetters.reset();
    redisUp.set({}, stats.redis.ok ? 1 : 0);
    if (!stats.redis.ok) return;
    for (const s of stats.streams) {
      streamLength.set({ stream: s.stream }, s.length ?? 0);
      streamPending.set({ stream: s.stream }, s.pending ?? 0);
      for (const c of s.consumers) {
        consumerPending.set({ stream: s.stream, consumer: c.name }, c.pending);
      }
    }
    deadLetters.set({}, stats.dead_letter.length ?? 0);
  });
  return { registry, httpRequests, httpDuration };
}
