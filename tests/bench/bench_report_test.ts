/**
 * The bench's pure parts: the statistics, the soak's growth verdict, the corpus' rare and common
 * words, the Lua literals handed to wrk, the README section replacement, the HTTP table's share
 * of the bare server and its CPU check column, the store floor's figures and note; the bare
 * server itself, which must answer what the core's /health does, and the CPU check, pinned to
 * each CPU.
 * The load (wrk, the services) runs only in `deno task bench`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { linearFit, median, spread } from "../../bench/stats.ts";
import { summarizeSeries } from "../../bench/soak.ts";
import {
  luaList,
  luaString,
  MAX_DROPPED_RUNS,
  measureRuns,
  type WrkResult,
} from "../../bench/wrk.ts";
import { markdownTables, replaceSection, slowCpuNote } from "../../bench/report.ts";
import type { BenchResults } from "../../bench/results.ts";
import { checkTargets, floorNote } from "../../bench/targets.ts";
import {
  checkCpus,
  type CpuCheck,
  cpuGuard,
  settledCheck,
  worstCheck,
} from "../../bench/cpu_probe.ts";
import type { WrkCase } from "../../bench/wrk.ts";
import { startReferenceServer } from "../../bench/reference.ts";
import { healthRouter } from "../../core/routes/health.ts";
import { seedMemories, vocabularySizeFor } from "../../bench/seed.ts";
import { corpusLua, HEALTH_CASE, REFERENCE_CASE } from "../../bench/http.ts";

Deno.test("median, spread and the least-squares slope", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.deepEqual(spread([5, 1, 3]), { median: 3, min: 1, max: 5 });
  const fit = linearFit([0, 1, 2, 3].map((x) => ({ x, y: 2 * x + 1 })));
  assert.ok(Math.abs(fit.slope - 2) < 1e-9 && Math.abs(fit.intercept - 1) < 1e-9);
});

Deno.test("soak: steady growth over the second half fails, a sawtooth or warm-up does not", () => {
  const times = Array.from({ length: 13 }, (_, i) => i * 5);
  // Warm-up then flat with GC sawtooth.
  const flat = times.map((t) => (t < 30 ? 80 + t * 3 : 170 + (t % 10 === 0 ? 5 : -5)));
  assert.equal(summarizeSeries("core", times, flat).met, true);
  // 12 MB/min all along: 6 MB over the 30 s second half.
  const leak = times.map((t) => 80 + (t / 60) * 12);
  const s = summarizeSeries("core", times, leak);
  assert.ok(Math.abs(s.slopeMbPerMin - 12) < 1e-9);
  assert.equal(s.met, false);
  // The same slope in a 10 s soak grows under 5 MB: not judged a leak.
  assert.equal(summarizeSeries("core", [0, 5, 10], [80, 81, 82]).met, true);
});

Deno.test("Lua literals: ASCII strings escaped, anything else refused", () => {
  assert.equal(luaString('say "hi"\\'), '"say \\"hi\\"\\\\"');
  assert.equal(luaList("xs", ["a", "b"]), 'local xs = {\n"a",\n"b"\n}\n');
  assert.throws(() => luaString("café"));
});

Deno.test("README: only the Performance section is replaced", () => {
  const readme = "# X\n\n## A\n\na\n\n## Performance\n\nold\n\n## B\n\nb\n";
  assert.equal(
    replaceSection(readme, "## Performance\n\nnew\n"),
    "# X\n\n## A\n\na\n\n## Performance\n\nnew\n\n## B\n\nb\n",
  );
  assert.throws(() => replaceSection("# X\n", "## Performance\n"));
});

Deno.test("seeding: rare and common words counted from the index, requests for them", async () => {
  assert.equal(vocabularySizeFor(100_000), 20_000);
  assert.equal(vocabularySizeFor(1_000_000), 200_000);
  const dir = await Deno.makeTempDir({ prefix: "memori_seed_test_" });
  try {
    const seed = seedMemories(join(dir, "memori.db"), { count: 5000 });
    assert.equal(seed.rare.length, 50);
    assert.ok(seed.rare.every((w) => Math.abs(w.memories - 10) <= 2), JSON.stringify(seed.rare));
    assert.equal(seed.common.length, 5);
    // 2.5% of 5,000.
    assert.ok(seed.common.every((w) => Math.abs(w.memories - 125) <= 25));
    const lua = corpusLua(seed);
    for (const fn of ["req_get_memory", "req_search_rare", "req_post_memory", "req_llm_job"]) {
      assert.ok(lua.includes(`function ${fn}()`), fn);
    }
    assert.ok(lua.includes(JSON.stringify(seed.rare[0].word)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A WrkCase whose every run measured `rps` requests/s. */
function wrkCase(name: string, rps: number): WrkCase {
  const one = { median: rps, min: rps, max: rps };
  const ms = { median: 1, min: 1, max: 1 };
  return { name, connections: 16, runs: [], rps: one, p50: ms, p99: ms, errors: 0 };
}

function httpRows(http: WrkCase[]): string[] {
  const r = { targets: [], http, scaling: [], pipeline: [], memory: {}, settings: {} };
  return markdownTables(r as unknown as BenchResults).split("\n").filter((l) =>
    l.startsWith("| ") && http.some((h) => l.startsWith(`| ${h.name} |`))
  );
}

Deno.test("HTTP table: each figure's share of the bare server of the same run", () => {
  const rows = httpRows([
    wrkCase(REFERENCE_CASE, 50_000),
    wrkCase(HEALTH_CASE, 37_500),
    wrkCase("GET /memories/{id}", 11_000),
  ]);
  assert.equal(rows.length, 3);
  assert.match(rows[0], /^\| bare Deno\.serve[^|]*\| 50,000 \(50,000–50,000\) \| 100% \|/);
  assert.match(rows[1], /^\| GET \/health \| 37,500 [^|]*\| 75% \|/);
  assert.match(rows[2], /^\| GET \/memories\/\{id\} \| 11,000 [^|]*\| 22% \|/);
  // A saved run from before the yardstick has no share to give.
  assert.match(httpRows([wrkCase("GET /memories/{id}", 11_000)])[0], /\| 11,000 [^|]*\| - \|/);
});

Deno.test("store floor: its figure beside each target, the core's share, the note", () => {
  const http = [wrkCase("GET /memories/{id}", 10_000), wrkCase("POST /memories", 4_000)];
  const floor = [wrkCase("GET /memories/{id}", 20_000), wrkCase("POST /memories", 12_000)];
  const rss = (mb: number) => ({ rss: mb, peak: mb, file: 40 });
  const memory = { coreAfter: rss(136), floorAfter: rss(112) };
  const run = { http, floor, scaling: [], pipeline: [], memory, settings: {} };
  const targets = checkTargets(run as unknown as Omit<BenchResults, "targets">);
  const tables = markdownTables({ ...run, targets } as unknown as BenchResults).split("\n");
  // The floor's 20,000 is short of GET's 40,000; its 12,000 meets POST /memories' 10,000.
  const expected = [
    "| GET /memories/{id}: requests/s | ≥ 40,000 | 10,000 (10,000–10,000) | 20,000 | **no** |",
    "| POST /memories: requests/s | ≥ 10,000 | 4,000 (4,000–4,000) | 12,000 | **no** |",
    "| core RSS, after the HTTP bench | ≤ 110 MB | 136.0 MB (peak 136.0) | 112.0 MB | **no** |",
    "| store floor | after its HTTP cases (all the core's but GET /health) | 112.0 | 40.0 | 112.0 |",
  ];
  for (const row of expected) assert.ok(tables.includes(row), row);
  const floorRows = tables.slice(tables.findIndex((l) => l.startsWith("### Store floor")));
  const share = (endpoint: string) =>
    floorRows.find((l) => l.startsWith(`| ${endpoint} |`))!.split("|")[3].trim();
  assert.equal(share("GET /memories/{id}"), "50%");
  assert.equal(share("POST /memories"), "33%");
  const note = floorNote({ targets });
  assert.match(note, /^\*\*2 of the 3 targets measured on the store floor are beyond it/);
  assert.match(note, /core RSS, after the HTTP bench ≤ 110 MB against the floor's 112\.0 MB/);
  assert.match(note, /GET \/memories\/\{id\}: requests\/s ≥ 40,000 against the floor's 20,000/);
  // A run from before the floor: a "-" in its column, no table, no note.
  const old = { ...run, floor: undefined, memory: { coreAfter: rss(136) } };
  const oldTargets = checkTargets(old as unknown as Omit<BenchResults, "targets">);
  const oldTables = markdownTables({ ...old, targets: oldTargets } as unknown as BenchResults);
  assert.match(oldTables, /\| 10,000 \(10,000–10,000\) \| - \| \*\*no\*\* \|/);
  assert.doesNotMatch(oldTables, /Store floor/);
  assert.equal(floorNote({ targets: oldTargets }), "");
});

Deno.test("the bare server answers what the core's GET /health answers", async () => {
  const server = await startReferenceServer();
  try {
    const bare = await fetch(`${server.url}/health`);
    const core = await healthRouter().request("/");
    assert.equal(bare.status, core.status);
    assert.equal(bare.headers.get("content-type"), core.headers.get("content-type"));
    assert.equal(await bare.text(), await core.text());
  } finally {
    await server.stop();
  }
});

Deno.test("HTTP table: each CPU's speed around a case, bold and warned about when one was slow", () => {
  const at = (name: string, cpus: number[] | null | undefined) => ({
    ...wrkCase(name, 10_000),
    ...(cpus === undefined ? {} : { cpus }),
  });
  const http = [
    at(REFERENCE_CASE, [60, 62]),
    at(HEALTH_CASE, [66, 60]),
    at("GET /memories/{id}", [61, 120]),
  ];
  const rows = httpRows(http);
  // Against the run's quickest check (60 ms): 100 / 97%, 91 / 100%, 98 / 50%.
  assert.match(rows[0], /\| 100 \/ 97% \|$/);
  assert.match(rows[1], /\| 91 \/ 100% \|$/);
  assert.match(rows[2], /\| \*\*98 \/ 50%\*\* \|$/);
  const note = slowCpuNote({ http, scaling: [] });
  assert.match(note, /around 1 of the 3 wrk cases\*\* \(GET \/memories\/\{id\}\), down to 50%/);
  assert.equal(slowCpuNote({ http: http.slice(0, 2), scaling: [] }), "");
  // Without taskset the check says so; a run from before the check has none.
  assert.match(httpRows([at("GET /health", null)])[0], /\| n\/a \|$/);
  assert.match(httpRows([at("GET /health", undefined)])[0], /\| - \|$/);
});

Deno.test("the CPU check times its workload pinned to each CPU", async () => {
  const check = await checkCpus();
  assert.ok(check !== null, "taskset (util-linux) should be on the machine");
  assert.equal(check.length, navigator.hardwareConcurrency);
  for (const ms of check) assert.ok(ms > 0 && ms < 60_000, `${ms} ms`);
});

Deno.test("a case waits for a slowed CPU, a few checks at most", async () => {
  const checks: CpuCheck[] = [[60, 61], [60, 120], [62, 110], [61, 63], [60, 150], [62, 140]];
  const check = () => Promise.resolve(checks.shift()!);
  const history: (CpuCheck | null)[] = [];
  const lines: string[] = [];
  const options = { history, check, pauseMs: 1, tries: 3, log: (l: string) => lines.push(l) };
  assert.deepEqual(await settledCheck(options), [60, 61]);
  // CPU 1 at 50% and 55% of the fastest: checked again until it is back.
  assert.deepEqual(await settledCheck(options), [61, 63]);
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^CPU 1 at 50% of the run's fastest check: checking again/);
  // Still slow after three checks: measured anyway, with the last check.
  assert.deepEqual(await settledCheck({ ...options, tries: 2 }), [62, 140]);
  assert.equal(history.length, 6);
  // Without taskset there is nothing to wait for.
  assert.equal(await settledCheck({ history, check: () => Promise.resolve(null) }), null);
});

/** A made-up wrk run of `rps` requests/s. */
const run = (rps: number): WrkResult => ({ requests: rps, errors: 0, rps, p50: 1, p99: 2, max: 3 });

Deno.test("a run after which a CPU ran slowed is dropped and measured again, twice a case at most", async () => {
  // The case starts from [60, 61]; after the 1st run CPU 1 is at 50%, and steady again after a wait.
  const checks: CpuCheck[] = [[60, 62], [60, 120], [61, 100], [60, 63], [61, 62], [62, 61]];
  const history: (CpuCheck | null)[] = [[60, 61]];
  const lines: string[] = [];
  const cpus = cpuGuard({
    history,
    check: () => Promise.resolve(checks.shift()!),
    pauseMs: 1,
    log: (l) => lines.push(l),
  });
  let rps = 1000;
  const seen: number[] = [];
  const measured = await measureRuns(() => Promise.resolve(run(rps += 1000)), {
    runs: 3,
    cpus,
    before: [60, 61],
    onRun: (r) => seen.push(r.rps),
  });
  // 2000 kept, 3000 dropped (CPU 1 at 50% after it), the wait's two checks, then 4000 and 5000.
  assert.deepEqual(measured.runs.map((r) => r.rps), [2000, 4000, 5000]);
  assert.deepEqual(measured.dropped.map((r) => r.rps), [3000]);
  assert.deepEqual(seen, [2000, 3000, 4000, 5000]);
  // The worst check just before or after a kept run: the slowed one around the dropped run is not.
  assert.deepEqual(measured.cpus, [60, 63]);
  assert.ok(lines.some((l) => /^CPU 1 at 50% of the run's fastest check after the run/.test(l)));
  assert.equal(checks.length, 0);

  // A machine that stays slow: two runs dropped, then the runs count as they come.
  const slow = cpuGuard({
    history: [[60, 61]],
    check: () => Promise.resolve([60, 150]),
    pauseMs: 1,
    tries: 1,
  });
  const stuck = await measureRuns(() => Promise.resolve(run(900)), {
    runs: 3,
    cpus: slow,
    before: [60, 61],
  });
  assert.equal(stuck.runs.length, 3);
  assert.equal(stuck.dropped.length, MAX_DROPPED_RUNS);
  assert.deepEqual(stuck.cpus, [60, 150]);

  // Without a recheck (a case with load of its own running) every run counts.
  const blind = await measureRuns(() => Promise.resolve(run(800)), {
    runs: 2,
    cpus: { settle: () => Promise.resolve([60, 61]) },
    before: [60, 61],
  });
  assert.equal(blind.runs.length, 2);
  assert.deepEqual(blind.cpus, [60, 61]);
});

Deno.test("a case's CPU column shows the worst check; dropped runs are listed with their figures", () => {
  assert.deepEqual(worstCheck([[60, 61], [90, 62], [61, 80]]), [90, 62]);
  assert.equal(worstCheck([[60, 61], null]), null);
  assert.equal(worstCheck([]), undefined);
  const redone = {
    ...wrkCase("GET /search (rare word)", 10_000),
    cpus: [61, 62],
    dropped: [run(6_724)],
  };
  const note = slowCpuNote({ http: [redone], scaling: [], cpuFastestMs: 60 });
  assert.equal(
    note,
    "1 run was dropped and measured again, a CPU having run slowed after it (the dropped " +
      "figures: GET /search (rare word) 6,724 req/s).",
  );
  // The run's quickest check is the yardstick even when no case kept it.
  const slowNote = slowCpuNote({ http: [redone], scaling: [], cpuFastestMs: 40 });
  assert.match(slowNote, /^\*\*A CPU ran slow around 1 of the 1 wrk cases\*\*.*down to 65%/);
});
