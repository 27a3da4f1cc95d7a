/**
 * LLM worker entry point: wiring only (config, logger, Redis connections, model and core clients,
 * the consumer, signals). Everything testable lives in consumer.ts.
 */
import { loadWorkerConfig, readEnv, redisHostPort, WORKER_ENV_VARS } from "../shared/config.ts";
import { createRedis } from "../shared/redis.ts";
import { httpLimits } from "../shared/http_server.ts";
import { consumerName, startWorker } from "./consumer.ts";
import { createCoreClient } from "./core_client.ts";
import { createLlmClient } from "./llm_client.ts";
import { createWorkerLogger } from "./job_scope.ts";
import {
  createWorkerMetrics,
  metricsHandler,
  type MetricsServer,
  startMetricsServer,
} from "./metrics.ts";

function main(): void {
  let config;
  try {
    config = loadWorkerConfig(readEnv(WORKER_ENV_VARS));
  } catch (err) {
    console.error((err as Error).message);
    Deno.exit(2);
  }
  const log = createWorkerLogger({ level: config.LOG_LEVEL });
  const consumer = consumerName();
  // Settings worth seeing at start; never the API key.
  log.info("llm worker starting", {
    consumer,
    llm_base_url: config.LLM_BASE_URL,
    text_model: config.LLM_TEXT_MODEL,
    vision_model: config.LLM_VISION_MODEL,
    redis: redisHostPort(config.REDIS_URL),
    core_api_url: config.CORE_API_URL,
    image_storage_path: config.IMAGE_STORAGE_PATH,
    concurrency: config.WORKER_CONCURRENCY,
    metrics_port: config.WORKER_METRICS_PORT,
    core_api_token: config.CORE_API_TOKEN === undefined ? "unset" : "set",
  });
  const redis = createRedis(config.REDIS_URL, { log, name: `llm-worker:${consumer}` });
  const reader = createRedis(config.REDIS_URL, { log, name: `llm-worker-reader:${consumer}` });
  const metrics = createWorkerMetrics();
  const worker = startWorker(config, {
    log,
    redis,
    reader,
    llm: createLlmClient(config, { log, onCall: metrics.llmCall }),
    core: createCoreClient(config.CORE_API_URL, { token: config.CORE_API_TOKEN }),
    consumerName: consumer,
    metrics,
  });
  metrics.trackInFlight({ jobs: () => worker.inFlight(), modelCalls: () => worker.modelCalls() });
  let metricsServer: MetricsServer | null = null;
  if (config.WORKER_METRICS_PORT !== 0) {
    void startMetricsServer(
      metricsHandler(metrics, { redis, coreUrl: config.CORE_API_URL }),
      { port: config.WORKER_METRICS_PORT, log, ...httpLimits(config) },
    ).then((server) => metricsServer = server);
  }

  let stopping = false;
  const shutdown = async () => {
    // deno task and sh may both pass the signal on; shut down once.
    if (stopping) return;
    stopping = true;
    log.info("llm worker shutting down");
    await worker.stop();
    await metricsServer?.stop();
    redis.disconnect();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", shutdown);
  Deno.addSignalListener("SIGINT", shutdown);
}

if (import.meta.main) main();
