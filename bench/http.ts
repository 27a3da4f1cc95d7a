/**
 * The core's HTTP figures through wrk (bench/wrk.ts): the Lua request functions for each
 * endpoint over a seeded corpus, and the cases the bench measures. Every case runs at 16
 * connections on loopback with wrk's 2 threads, the setting.
 */
import {
  luaList,
  luaString,
  runWrk,
  runWrkCase,
  type WrkCase,
  type WrkCaseOptions,
  type WrkResult,
} from "./wrk.ts";
import type { CpuGuard } from "./cpu_probe.ts";
import { SEED_OWNERS, type SeedResult, sentence, zipf } from "./seed.ts";
import { prng } from "./prng.ts";

/** The owner every search is made for: the heaviest (40% of the memories). */
export const SEARCH_OWNER = SEED_OWNERS[0].id;

/** Connections of every HTTP figure. */
export const CONNECTIONS = 16;

/**
 * Lua for a corpus: the data lists and one function per endpoint (`req_llm_job`,
 * `req_post_memory`, `req_get_memory`, `req_search_rare`, `req_search_common`), each returning
 * the next request. Bodies and paths vary per request; `n` (a per-thread counter) and `tid`
 * (the thread) cycle through the lists, `next_n()` keeps job messages unique.
 */
export function corpusLua(seed: SeedResult): string {
  const rnd = prng(5);
  const draw = zipf(seed.words.length, 1.0, rnd);
  // Bodies as ready JSON string literals: Lua only pastes them in.
  const sentences = Array.from(
    { length: 1000 },
    () => JSON.stringify(sentence(seed.words, rnd, draw)),
  );
  const step = Math.max(1, Math.floor(seed.sampleIds.length / 2000));
  const ids = seed.sampleIds.filter((_, i) => i % step === 0).slice(0, 2000);
  const tag = crypto.randomUUID().slice(0, 8);
  return [
    `local owners = { ${SEED_OWNERS.map((o) => o.id).join(", ")} }`,
    luaList("ids", ids),
    luaList("sentences", sentences),
    luaList("rare", seed.rare.map((w) => w.word)),
    luaList("common", seed.common.map((w) => w.word)),
    `local tag = ${luaString(tag)}`,
    `local json = { ["Content-Type"] = "application/json" }`,
    `local function pick(list, k) return list[(k + (tid or 0) * 7) % #list + 1] end`,
    `function req_llm_job()
  local k = next_n()
  return wrk.format("POST", "/llm_jobs", json, string.format(
    '{"job_type":"followup","payload":{"message":"what did I plan for %s-%d?",' ..
    '"context":"bench"},"user_id":%d}', tag, k, pick(owners, k)))
end`,
    `function req_post_memory()
  local k = next_n()
  return wrk.format("POST", "/memories", json, string.format(
    '{"owner_user_id":%d,"content":%s}', pick(owners, k), pick(sentences, k)))
end`,
    `function req_get_memory()
  local k = next_n()
  return wrk.format("GET", "/memories/" .. pick(ids, k * 7919))
end`,
    `function req_search_rare()
  local k = next_n()
  return wrk.format("GET", "/search?owner=${SEARCH_OWNER}&q=" .. pick(rare, k))
end`,
    `function req_search_common()
  local k = next_n()
  return wrk.format("GET", "/search?owner=${SEARCH_OWNER}&q=" .. pick(common, k))
end`,
  ].join("\n");
}

/** One HTTP figure's endpoint. */
export interface Endpoint {
  /** As reported, e.g. `GET /search (rare word)`. */
  name: string;
  /** The Lua function of {@linkcode corpusLua} making its requests. */
  fn: string;
}

/**
 * The endpoints, reads first: the searches and reads run over exactly the seeded corpus, then
 * the writes add to it.
 */
export const ENDPOINTS: readonly Endpoint[] = [
  { name: "GET /memories/{id}", fn: "req_get_memory" },
  { name: "GET /search (rare word)", fn: "req_search_rare" },
  { name: "GET /search (common word)", fn: "req_search_common" },
  { name: "POST /memories", fn: "req_post_memory" },
  { name: "POST /llm_jobs", fn: "req_llm_job" },
];

/** Options for {@linkcode runHttpCases}. */
export interface HttpCasesOptions {
  /** The seeded corpus (ids, words). */
  seed: SeedResult;
  /** The endpoints to measure (all by default). */
  endpoints?: readonly Endpoint[];
  /** Measured seconds per run. */
  seconds: number;
  /** Runs per figure (the figure is their median). */
  runs: number;
  /** Called after each measured run (progress). */
  onRun?: (name: string, result: WrkResult) => void;
  /** Keeps each case's runs off a slowed CPU (bench/cpu_probe.ts). */
  cpus?: CpuGuard;
}

/** What every case of the HTTP figures is run with (of {@linkcode HttpCasesOptions}). */
export type CaseSettings = Pick<HttpCasesOptions, "seconds" | "runs" | "onRun" | "cpus">;

/** How a case of the HTTP figures is run: what runWrkCase is given for the case `name`. */
export function caseOptions(name: string, options: CaseSettings): WrkCaseOptions {
  return {
    connections: CONNECTIONS,
    runs: options.runs,
    seconds: options.seconds,
    onRun: (r) => options.onRun?.(name, r),
    cpus: options.cpus,
  };
}

/** Measure each endpoint: a warm-up run, then `runs` runs at 16 connections. */
export async function runHttpCases(
  baseUrl: string,
  options: HttpCasesOptions,
): Promise<WrkCase[]> {
  const lua = corpusLua(options.seed);
  const out: WrkCase[] = [];
  for (const ep of options.endpoints ?? ENDPOINTS) {
    out.push(
      await runWrkCase(
        ep.name,
        baseUrl,
        `${lua}\nrequest = ${ep.fn}\n`,
        caseOptions(ep.name, options),
      ),
    );
  }
  return out;
}

/**
 * Every case both the core and the store floor serve: each endpoint, then the reads under
 * searches. The RSS after the HTTP bench of the two is read after these, so they run the same.
 */
export async function runStoreCases(
  baseUrl: string,
  options: HttpCasesOptions,
): Promise<WrkCase[]> {
  const cases = await runHttpCases(baseUrl, options);
  cases.push(await runReadsUnderSearch(baseUrl, options));
  return cases;
}

/** The bare `Deno.serve` figure of bench/reference.ts: the machine's yardstick for the others. */
export const REFERENCE_CASE = "bare Deno.serve, /health's answer (reference)";

/** How a store floor figure (bench/reference.ts) is named where it stands among the core's. */
export function floorLabel(endpoint: string): string {
  return `store floor, ${endpoint}`;
}

/** The core's GET /health (bench/reference.ts): our HTTP stack with a handler that does nothing. */
export const HEALTH_CASE = "GET /health";

/** The figure of {@linkcode runReadsUnderSearch}. */
export const READS_UNDER_SEARCH = "GET /memories/{id}, 8 conns, common-word searches on 8 more";

/**
 * Reads by id on 8 connections while 8 other connections search for common words: what a slow
 * search costs every other request. With searches on the thread that serves HTTP
 * (SEARCH_WORKERS=0) each read waits behind them; with the search workers it does not.
 */
async function runReadsUnderSearch(
  baseUrl: string,
  options: HttpCasesOptions,
): Promise<WrkCase> {
  const lua = corpusLua(options.seed);
  const half = CONNECTIONS / 2;
  // Checked before the searches start, and not after each run: during them the check would
  // time the searches.
  const cpus = await options.cpus?.settle();
  // Long enough to cover the reads' warm-up and runs, with a second of slack for each start.
  const searchSeconds = 1 + options.runs * (options.seconds + 1) + 2;
  const searches = runWrk(
    baseUrl,
    `${lua}
request = req_search_common
`,
    {
      connections: half,
      threads: 1,
      seconds: searchSeconds,
    },
  );
  await new Promise((r) => setTimeout(r, 500));
  try {
    return await runWrkCase(
      READS_UNDER_SEARCH,
      baseUrl,
      `${lua}
request = req_get_memory
`,
      {
        ...caseOptions(READS_UNDER_SEARCH, options),
        connections: half,
        cpus: cpus === undefined ? undefined : { settle: () => Promise.resolve(cpus) },
      },
    );
  } finally {
    await searches;
  }
}

/**
 * The soak's mixed load, held at about `rate` requests/s whatever the server could take: half
 * reads by id, a quarter searches, a fifth new memories and 5% jobs, so the worker gets a steady
 * stream it can keep up with. Each wrk thread schedules its share of the rate on the monotonic
 * clock (LuaJIT's ffi: wrk's Lua has no finer clock than seconds) and `delay()` waits for the
 * next slot; a server too slow for the rate gets no delay (closed loop).
 */
export function mixedLua(seed: SeedResult, rate: number, threads = 2): string {
  const intervalMs = (threads / rate) * 1000;
  return `${corpusLua(seed)}
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local due = nil
function delay()
  local t = now_ms()
  due = math.max((due or t) + ${intervalMs}, t)
  return math.floor(due - t)
end
function request()
  local r = math.random(100)
  if r <= 50 then return req_get_memory()
  elseif r <= 70 then return req_search_rare()
  elseif r <= 75 then return req_search_common()
  elseif r <= 95 then return req_post_memory()
  else return req_llm_job() end
end
`;
}
