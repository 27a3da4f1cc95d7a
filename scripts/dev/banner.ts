/** What `deno task dev` prints once everything answers, and the LLM check that goes in it. */

/** Where things are, for the banner. */
export interface BannerInfo {
  /** The core's base URL. */
  api: string;
  /** The worker's /metrics URL, or null when its listener is off. */
  workerMetrics: string | null;
  /** The SQLite file. */
  database: string;
  /** The image directory. */
  images: string;
  /** The private Redis' directory, or null when an existing Redis is used. */
  redisDir: string | null;
  /** REDIS_URL. */
  redisUrl: string;
  /** LLM_BASE_URL. */
  llm: string;
  /** Whether the LLM server answered. */
  llmAnswers: boolean;
}

/**
 * Whether anything answers HTTP at `baseUrl`/models within `timeoutMs`. Any status counts (a 401
 * still means the server is there); only no answer at all is a warning.
 */
export async function llmAnswers(baseUrl: string, timeoutMs = 3000): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl.replace(/\/$/, "")}/models`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** The warning shown when the LLM server does not answer. */
export function llmWarning(llm: string): string {
  return `the LLM server at ${llm} does not answer: jobs will wait until it does ` +
    "(set LLM_BASE_URL to an OpenAI-compatible server)";
}

/** The banner for a terminal: a few aligned lines. */
export function bannerText(info: BannerInfo): string {
  const redis = info.redisDir
    ? `${info.redisUrl} (private redis-server, data in ${info.redisDir})`
    : `${info.redisUrl} (already running)`;
  const rows: [string, string][] = [
    ["API", info.api],
    ["docs", `${info.api}/docs`],
    ["worker metrics", info.workerMetrics ?? "off (WORKER_METRICS_PORT=0)"],
    ["database", info.database],
    ["images", info.images],
    ["redis", redis],
    ["LLM server", info.llm],
  ];
  const lines = rows.map(([k, v]) => `  ${k.padEnd(15)}${v}`);
  if (!info.llmAnswers) lines.push(`  WARNING: ${llmWarning(info.llm)}`);
  return ["", "Memori is running (Ctrl-C stops it)", ...lines, ""].join("\n");
}

/** The banner's fields as one JSON log line, for output that is not a terminal. */
export function bannerFields(info: BannerInfo): Record<string, unknown> {
  return {
    api: info.api,
    docs: `${info.api}/docs`,
    worker_metrics: info.workerMetrics,
    database: info.database,
    images: info.images,
    redis_url: info.redisUrl,
    redis_dir: info.redisDir,
    llm_base_url: info.llm,
    llm_answers: info.llmAnswers,
  };
}
