/**
 * `deno task doctor`: checks a deployment from where the worker runs and prints one `PASS` or
 * `FAIL` line per check, with the reason. Exit code 0 only when every check passes.
 *
 * Checks: both services' variables parse; Redis answers PING and the worker group exists on
 * every job stream; the core answers /health and lets us in (with CORE_API_TOKEN when set); the
 * LLM server lists its models, the configured text and vision models are among them, and one
 * tiny completion answers. It runs with the worker's narrow permissions (serve.sh `doctor`).
 */
import { Redis } from "ioredis";
import {
  CORE_ENV_VARS,
  loadCoreConfig,
  loadWorkerConfig,
  readEnv,
  WORKER_ENV_VARS,
  type WorkerConfig,
} from "../shared/config.ts";
import { ALL_JOB_STREAMS, WORKER_GROUP } from "../shared/streams.ts";
import { createLlmClient } from "./llm_client.ts";

/** The outcome of one check. */
export interface CheckResult {
  /** What was checked, e.g. `redis ping`. */
  name: string;
  /** Whether it passed. */
  ok: boolean;
  /** Why (what was found, or what is wrong and what to do). */
  detail: string;
}

/** Options for {@linkcode runDoctor}. */
export interface DoctorOptions {
  /** Bound on each network check but the completion, in ms (default 5000). */
  timeoutMs?: number;
  /** fetch implementation; the global one by default. */
  fetch?: typeof fetch;
}

/** `PASS name: detail` or `FAIL name: detail`. */
export function formatResult(result: CheckResult): string {
  return `${result.ok ? "PASS" : "FAIL"} ${result.name}: ${result.detail}`;
}

function pass(name: string, detail: string): CheckResult {
  return { name, ok: true, detail };
}

function fail(name: string, detail: string): CheckResult {
  return { name, ok: false, detail };
}

function message(err: unknown): string {
  const e = err as Error & { cause?: Error };
  const text = e?.message ?? String(err);
  return e?.cause?.message && !text.includes(e.cause.message)
    ? `${text} (${e.cause.message})`
    : text;
}

async function redisChecks(config: WorkerConfig, timeoutMs: number): Promise<CheckResult[]> {
  const redis = new Redis(config.REDIS_URL, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // Errors come back from the commands; without a listener ioredis would print them as well.
  redis.on("error", () => {});
  try {
    try {
      await redis.connect();
      const pong = await redis.ping();
      if (pong !== "PONG") {
        return [
          fail("redis ping", `unexpected answer ${JSON.stringify(pong)}`),
          fail("redis groups", "not checked: Redis did not answer PING"),
        ];
      }
    } catch (err) {
      return [
        fail("redis ping", `${message(err)} (REDIS_URL)`),
        fail("redis groups", "not checked: Redis is not reachable"),
      ];
    }
    const results = [pass("redis ping", "PONG")];
    const missing: string[] = [];
    try {
      for (const stream of ALL_JOB_STREAMS) {
        let groups: unknown[] = [];
        try {
          groups = await redis.xinfo("GROUPS", stream) as unknown[];
        } catch (err) {
          if (!/no such key/i.test(message(err))) throw err;
        }
        const names = groups.map((g) => {
          const fields = g as unknown[];
          return fields[fields.indexOf("name") + 1];
        });
        if (!names.includes(WORKER_GROUP)) missing.push(stream);
      }
    } catch (err) {
      results.push(fail("redis groups", message(err)));
      return results;
    }
    results.push(
      missing.length === 0
        ? pass(
          "redis groups",
          `${WORKER_GROUP} exists on all ${ALL_JOB_STREAMS.length} job streams`,
        )
        : fail(
          "redis groups",
          `no ${WORKER_GROUP} on ${missing.join(", ")}; the worker creates it when it starts ` +
            "(has it run against this Redis?)",
        ),
    );
    return results;
  } finally {
    redis.disconnect();
  }
}

async function coreChecks(
  config: WorkerConfig,
  options: { timeoutMs: number; fetch: typeof fetch },
): Promise<CheckResult[]> {
  const base = config.CORE_API_URL.replace(/\/+$/, "");
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await options.fetch(`${base}${path}`, {
      headers,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await res.text();
    return { status: res.status, text };
  };
  try {
    const health = await get("/health");
    if (health.status !== 200) {
      return [
        fail("core health", `GET /health answered ${health.status} (CORE_API_URL)`),
        fail("core access", "not checked: the core is not healthy"),
      ];
    }
  } catch (err) {
    return [
      fail("core health", `${base} is not reachable: ${message(err)} (CORE_API_URL)`),
      fail("core access", "not checked: the core is not reachable"),
    ];
  }
  const results = [pass("core health", `${base}/health answered 200`)];
  const token = config.CORE_API_TOKEN;
  try {
    const res = await get("/llm_jobs?limit=1", token ? { authorization: `Bearer ${token}` } : {});
    if (res.status === 200) {
      results.push(pass(
        "core access",
        token
          ? "the core accepts CORE_API_TOKEN"
          : "the core is open (no CORE_API_TOKEN); set one on both services when anything but " +
            "them can reach the core's port",
      ));
    } else if (res.status === 401) {
      results.push(fail(
        "core access",
        token
          ? "the core refused CORE_API_TOKEN: give the worker the core's value"
          : "the core wants a token: set CORE_API_TOKEN for the worker to the core's value",
      ));
    } else {
      results.push(fail("core access", `GET /llm_jobs answered ${res.status}`));
    }
  } catch (err) {
    results.push(fail("core access", message(err)));
  }
  return results;
}

async function llmChecks(
  config: WorkerConfig,
  options: { timeoutMs: number; fetch: typeof fetch },
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const base = config.LLM_BASE_URL.replace(/\/+$/, "");
  let models: string[] | null = null;
  try {
    const res = await options.fetch(`${base}/models`, {
      headers: { authorization: `Bearer ${config.LLM_API_KEY}` },
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) {
      results.push(fail("llm models", `GET ${base}/models answered ${res.status} (LLM_BASE_URL)`));
    } else {
      const body = JSON.parse(text);
      const data = Array.isArray(body?.data) ? body.data : null;
      if (data === null) {
        results.push(fail("llm models", `GET ${base}/models did not answer a model list`));
      } else {
        models = data.map((m: { id?: unknown }) => String(m?.id));
        const shown = models!.slice(0, 10).join(", ") + (models!.length > 10 ? ", ..." : "");
        results.push(pass("llm models", `${models!.length} served: ${shown}`));
      }
    }
  } catch (err) {
    results.push(fail("llm models", `${base} is not reachable: ${message(err)} (LLM_BASE_URL)`));
  }
  for (
    const [name, variable] of [["llm text model", "LLM_TEXT_MODEL"], [
      "llm vision model",
      "LLM_VISION_MODEL",
    ]] as const
  ) {
    const model = config[variable];
    if (models === null) results.push(fail(name, "not checked: no model list"));
    else if (models.includes(model)) results.push(pass(name, `${variable}=${model} is served`));
    else {
      results.push(fail(
        name,
        `${variable}=${model} is not among the served models; set it to one of them`,
      ));
    }
  }
  try {
    const llm = createLlmClient(config);
    const answer = await llm.text({
      system: "You are a health check. Answer with one word.",
      user: "Reply with the word OK.",
    });
    results.push(pass(
      "llm completion",
      `${config.LLM_TEXT_MODEL} answered (${answer.trim().slice(0, 40)})`,
    ));
  } catch (err) {
    results.push(fail("llm completion", `${config.LLM_TEXT_MODEL}: ${message(err)}`));
  }
  return results;
}

/** Run every check on the settings in `env`. */
export async function runDoctor(
  env: Record<string, string | undefined>,
  options: DoctorOptions = {},
): Promise<CheckResult[]> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const doFetch = options.fetch ?? fetch;
  const results: CheckResult[] = [];
  // The error lists every bad variable; one line each keeps the PASS/FAIL format.
  const problems = (err: unknown) =>
    message(err).replace(/^invalid configuration:\s*/, "").split(/\n\s*/).join("; ");
  try {
    loadCoreConfig(env);
    results.push(pass("core config", "the core's variables parse"));
  } catch (err) {
    results.push(fail("core config", problems(err)));
  }
  let config: WorkerConfig;
  try {
    config = loadWorkerConfig(env);
    results.push(pass("worker config", "the worker's variables parse"));
  } catch (err) {
    results.push(fail("worker config", problems(err)));
    for (
      const name of [
        "redis ping",
        "redis groups",
        "core health",
        "core access",
        "llm models",
        "llm text model",
        "llm vision model",
        "llm completion",
      ]
    ) {
      results.push(fail(name, "not checked: the worker's variables do not parse"));
    }
    return results;
  }
  const [redis, core, llm] = await Promise.all([
    redisChecks(config, timeoutMs),
    coreChecks(config, { timeoutMs, fetch: doFetch }),
    llmChecks(config, { timeoutMs, fetch: doFetch }),
  ]);
  return [...results, ...redis, ...core, ...llm];
}

async function main(): Promise<void> {
  const results = await runDoctor(readEnv([...new Set([...CORE_ENV_VARS, ...WORKER_ENV_VARS])]));
  for (const result of results) console.log(formatResult(result));
  const failed = results.filter((r) => !r.ok).length;
  console.log(
    failed === 0
      ? `all ${results.length} checks passed`
      : `${failed} of ${results.length} checks failed`,
  );
  Deno.exit(failed === 0 ? 0 : 1);
}

if (import.meta.main) await main();
