/**
 * core/store/search_pool.ts: searches on worker threads with their own read-only connections
 * answer exactly what the inline search answers, see every committed write, and a pool that is
 * full, crashed, stuck or closed answers rather than hangs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { call, createUser, makeCore, sanitizeTests } from "../helpers/core_app.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { openDatabase } from "../../core/db/open.ts";
import { ApiError } from "../../core/http/errors.ts";
import {
  createSearchPool,
  DEFAULT_SEARCH_TUNING,
  inlineSearch,
  openSearch,
  type SearchPoolOptions,
} from "../../core/store/search_pool.ts";
import { searchMemories, type SearchParams } from "../../core/store/search_query.ts";
import { openReadOnly } from "../../core/store/search_thread.ts";
import {
  DEFAULT_SEARCH_CACHE_MB,
  DEFAULT_SEARCH_MMAP_MB,
  loadCoreConfig,
} from "../../shared/config.ts";
import { SEED_OWNERS, seedMemories, zipf } from "../../bench/seed.ts";
import { prng } from "../../bench/prng.ts";
import { silentLogger } from "../../shared/log.ts";
import { within } from "../../shared/timeout.ts";

await sanitizeTests();

// Deno prints a worker's uncaught error to stderr even when the pool handles it: the
// "simulated search worker crash" lines in the output are expected.
const FAULTY_WORKER = new URL("../helpers/faulty_search_worker.ts", import.meta.url);

/** `count` searches of 1 to 3 of `words`, the first words most often, for the seeded owners. */
function searchQueries(words: string[], count: number): SearchParams[] {
  const rnd = prng(99);
  const word = zipf(words.length, 1.0, rnd);
  return Array.from({ length: count }, () => ({
    q: Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => words[word()]).join(" "),
    owner: SEED_OWNERS[Math.floor(rnd() * SEED_OWNERS.length)].id,
  }));
}

/** A file database with the schema (and `seed` memories when asked). */
function databaseFile(dir: string, seed = 0): string {
  const path = join(dir, "memori.db");
  if (seed > 0) seedMemories(path, { count: seed, vocabularySize: 2000 });
  else {
    // Owner 1 exists and has no memories: its searches answer "[]".
    using db = openDatabase(path);
    db.prepare(
      "INSERT INTO users (telegram_user_id, display_name, is_allowed, created_at) VALUES (1, 'U', 1, ?)",
    ).run(new Date().toISOString());
  }
  return path;
}

function pool(databasePath: string, options: Partial<SearchPoolOptions> = {}) {
  return createSearchPool({
    databasePath,
    size: 2,
    maxQueue: 8,
    timeoutMs: 10_000,
    log: silentLogger,
    ...options,
  });
}

/** The ApiError `promise` rejects with. */
async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApiError, `not an ApiError: ${err}`);
    return err;
  }
  assert.fail("it did not fail");
}

Deno.test("the pool answers exactly what the inline search answers on a seeded database", async (t) => {
  await using tmp = await tempDir("memori_search_pool_");
  const path = databaseFile(tmp.path, 3000);
  // Through SQLite's page cache (the default) and through a memory map (SEARCH_MMAP_MB=1024).
  for (const mmapBytes of [undefined, 1 << 30]) {
    await t.step(`mmapBytes ${mmapBytes ?? "default"}`, () => sameAnswers(path, mmapBytes));
  }
});

async function sameAnswers(path: string, mmapBytes: number | undefined): Promise<void> {
  const db = openDatabase(path);
  try {
    await using searches = pool(path, { maxQueue: 1000, mmapBytes });
    const words = db.prepare("SELECT content FROM memories LIMIT 200").all()
      .flatMap((r) => String(r.content).split(" "));
    const params: SearchParams[] = [
      ...searchQueries([...new Set(words)], 60),
      // The most common words, a word in no memory, punctuation only.
      ...SEED_OWNERS.map((o) => ({ owner: o.id, q: words.slice(0, 3).join(" ") })),
      { owner: SEED_OWNERS[0].id, q: "zzzznotaword" },
      { owner: SEED_OWNERS[0].id, q: "!!! ***" },
      ...SEED_OWNERS.map((o) => ({ owner: o.id, q: "", pinnedOnly: true })),
      ...SEED_OWNERS.map((o) => ({ owner: o.id, q: words[0], pinnedOnly: true })),
    ];
    // All at once: both workers busy and the rest queued.
    const pooled = await Promise.all(params.map((p) => searches.search(p)));
    let nonEmpty = 0;
    for (const [i, p] of params.entries()) {
      // The same JSON text as the hits of a search on this thread.
      assert.equal(
        pooled[i],
        JSON.stringify(searchMemories(db, p, DEFAULT_SEARCH_TUNING)),
        JSON.stringify(p),
      );
      if (JSON.parse(pooled[i]).length > 0) nonEmpty++;
    }
    assert.ok(nonEmpty > params.length / 2, `only ${nonEmpty} searches found anything`);
    assert.deepEqual(searches.stats(), { workers: 2, running: 0, queued: 0, replaced: 0 });
  } finally {
    db.close();
  }
}

Deno.test("a search connection reads through a memory map of the size asked", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  const path = databaseFile(tmp.path);
  const byDefault = DEFAULT_SEARCH_MMAP_MB * 1024 * 1024;
  for (const [asked, want] of [[byDefault, 0], [1 << 30, 1 << 30], [1 << 20, 1 << 20]]) {
    const db = openReadOnly(path, { mmapBytes: asked });
    try {
      assert.equal((db.prepare("PRAGMA mmap_size").get() as { mmap_size: number }).mmap_size, want);
    } finally {
      db.close();
    }
  }
});

Deno.test("a search connection keeps a page cache of the size asked", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  const path = databaseFile(tmp.path);
  const cacheKib = (db: DatabaseSync) =>
    (db.prepare("PRAGMA cache_size").get() as { cache_size: number }).cache_size;
  // SQLite's default (-2000: 2,000 KiB) without the option; a negative size is in KiB.
  for (const [asked, want] of [[undefined, -2000], [16 << 20, -16384], [1 << 20, -1024]]) {
    using db = openReadOnly(path, { mmapBytes: 0, cacheBytes: asked });
    assert.equal(cacheKib(db), want);
  }
});

Deno.test("the pool hands its workers SEARCH_MMAP_MB, SEARCH_CACHE_MB and the cap", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  const path = databaseFile(tmp.path);
  const opened = async (options: Partial<SearchPoolOptions>) => {
    await using searches = pool(path, { ...options, size: 1, workerUrl: FAULTY_WORKER });
    return JSON.parse((await searches.search({ owner: 1, q: "open settings" }))!);
  };
  assert.deepEqual(await opened({}), {
    mmapBytes: DEFAULT_SEARCH_MMAP_MB << 20,
    cacheBytes: DEFAULT_SEARCH_CACHE_MB << 20,
    tuning: DEFAULT_SEARCH_TUNING,
  });
  const config = loadCoreConfig({
    DATABASE_PATH: path,
    REDIS_URL: "redis://127.0.0.1:1",
    SEARCH_MMAP_MB: "3",
    SEARCH_CACHE_MB: "5",
    SEARCH_CANDIDATE_CAP: "7",
  });
  using db = openDatabase(path);
  const searching = openSearch(db, config, silentLogger, {
    workerUrl: FAULTY_WORKER,
  });
  try {
    assert.deepEqual(JSON.parse((await searching.search({ owner: 1, q: "open settings" }))!), {
      mmapBytes: 3 << 20,
      cacheBytes: 5 << 20,
      tuning: { candidateCap: 7 },
    });
  } finally {
    await searching.close();
  }
});

Deno.test("GET /search on the pool sees each memory as soon as POST /memories answers", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  await using core = await makeCore({
    databasePath: join(tmp.path, "memori.db"),
    env: { SEARCH_WORKERS: "2" },
  });
  const ann = await createUser(core.app, 801, "Ann");
  const bob = await createUser(core.app, 802, "Bob");
  const find = async (owner: number, q: string, pinned = false) => {
    const query = new URLSearchParams({ owner: String(owner), q });
    if (pinned) query.set("pinned", "true");
    const res = await call(core.app, "GET", `/search?${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // deno-lint-ignore no-explicit-any
    return res.body.map((h: any) => h.memory.id);
  };
  const mine: string[] = [];
  for (let i = 0; i < 20; i++) {
    const res = await call(core.app, "POST", "/memories", {
      owner_user_id: ann,
      content: `pelican number${i} sighting`,
    });
    assert.equal(res.status, 201);
    mine.unshift(res.body.id);
    // At once, on another thread's connection.
    assert.deepEqual(await find(ann, `number${i}`), [res.body.id]);
  }
  assert.equal((await find(ann, "pelican")).length, 20);
  // An unknown owner is a 404, as on the main thread (the worker checks it).
  const unknown = await call(core.app, "GET", "/search?owner=803&q=pelican");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.detail, "User not found");
  // Owner isolation: Bob has no pelicans, and his own memory is his alone.
  assert.deepEqual(await find(bob, "pelican"), []);
  const bobs = await call(core.app, "POST", "/memories", {
    owner_user_id: bob,
    content: "pelican of bob",
  });
  assert.deepEqual(await find(bob, "pelican"), [bobs.body.id]);
  // Pinned: first, and alone with pinned=true.
  await call(core.app, "PATCH", `/memories/${mine[10]}`, { is_pinned: true });
  assert.equal((await find(ann, "pelican"))[0], mine[10]);
  assert.deepEqual(await find(ann, "pelican", true), [mine[10]]);
  assert.deepEqual(await find(ann, "", true), [mine[10]]);
  // An edit is seen too.
  await call(core.app, "PATCH", `/memories/${mine[3]}`, { content: "albatross now" });
  assert.deepEqual(await find(ann, "albatross"), [mine[3]]);
  assert.ok(!(await find(ann, "pelican")).includes(mine[3]));
});

Deno.test("a full queue answers 503 with Retry-After at once", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  await using core = await makeCore({
    databasePath: join(tmp.path, "memori.db"),
    env: { SEARCH_WORKERS: "1", SEARCH_MAX_QUEUE: "1", SEARCH_TIMEOUT_SECONDS: "1" },
    searchWorkerUrl: FAULTY_WORKER,
  });
  const ann = await createUser(core.app, 801, "Ann");
  const get = (q: string) =>
    core.app.request(`/search?${new URLSearchParams({ owner: String(ann), q })}`);
  const stuck = get("hang now");
  const waiting = get("pelican");
  const refused = await get("pelican");
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "1");
  assert.match((await refused.json()).detail, /too many searches at once \(1 running, 1 waiting\)/);
  // The stuck one is stopped at the timeout; the waiting one then runs on a new worker.
  const timedOut = await stuck;
  assert.equal(timedOut.status, 503);
  assert.equal(timedOut.headers.get("retry-after"), "1");
  assert.match((await timedOut.json()).detail, /took longer than 1000 ms/);
  const served = await waiting;
  assert.equal(served.status, 200);
  assert.deepEqual(await served.json(), []);
});

Deno.test("closing the pool answers running and waiting searches 503", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  const path = databaseFile(tmp.path);
  const searches = pool(path, { size: 1, maxQueue: 1, workerUrl: FAULTY_WORKER });
  const stuck = apiError(searches.search({ owner: 1, q: "hang now" }));
  const waiting = apiError(searches.search({ owner: 1, q: "pelican" }));
  await searches.close();
  for (const err of await Promise.all([stuck, waiting])) {
    assert.equal(err.status, 503);
    assert.match(err.message, /shutting down/);
  }
  assert.equal(searches.stats().workers, 0);
});

Deno.test("a crashed worker answers its search 500 and is replaced", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  await using core = await makeCore({
    databasePath: join(tmp.path, "memori.db"),
    env: { SEARCH_WORKERS: "1" },
    searchWorkerUrl: FAULTY_WORKER,
  });
  const ann = await createUser(core.app, 801, "Ann");
  await call(core.app, "POST", "/memories", { owner_user_id: ann, content: "pelican" });
  const get = (q: string) => call(core.app, "GET", `/search?owner=${ann}&q=${encodeURI(q)}`);
  // Queued behind the crash: answered by the replacement.
  const [crashed, after] = await Promise.all([get("crash now"), get("pelican")]);
  assert.equal(crashed.status, 500);
  assert.match(crashed.body.detail, /its worker stopped/);
  assert.equal(after.status, 200);
  assert.equal(after.body.length, 1);
  assert.equal((await get("crash now")).status, 500);
  assert.equal((await get("pelican")).status, 200);
});

Deno.test("the pool replaces a crashed worker, and one running past the timeout", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  const path = databaseFile(tmp.path);
  await using searches = pool(path, { size: 1, timeoutMs: 300, workerUrl: FAULTY_WORKER });
  const crash = await apiError(searches.search({ owner: 1, q: "crash now" }));
  assert.equal(crash.status, 500);
  assert.deepEqual(searches.stats(), { workers: 0, running: 0, queued: 0, replaced: 1 });
  assert.equal(await searches.search({ owner: 1, q: "pelican" }), "[]");
  assert.equal(searches.stats().workers, 1);
  const started = Date.now();
  const stuck = await apiError(searches.search({ owner: 1, q: "hang now" }));
  assert.equal(stuck.status, 503);
  assert.equal(stuck.headers["Retry-After"], "1");
  assert.ok(Date.now() - started >= 250, "answered before the timeout");
  assert.equal(searches.stats().replaced, 2);
  assert.equal(await searches.search({ owner: 1, q: "pelican" }), "[]");
});

Deno.test("searches handed to a hung worker ahead of time run on its replacement", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  const path = databaseFile(tmp.path);
  await using searches = pool(path, {
    size: 1,
    maxQueue: 2,
    timeoutMs: 300,
    workerUrl: FAULTY_WORKER,
  });
  const stuck = apiError(searches.search({ owner: 1, q: "hang now" }));
  // Both are sent to the busy worker at once, to wait in its own queue; both count against
  // SEARCH_MAX_QUEUE.
  const behind = [
    searches.search({ owner: 1, q: "pelican" }),
    searches.search({ owner: 1, q: "x" }),
  ];
  assert.deepEqual(searches.stats(), { workers: 1, running: 1, queued: 2, replaced: 0 });
  assert.equal((await apiError(searches.search({ owner: 1, q: "more" }))).status, 503);
  assert.equal((await stuck).status, 503);
  // Bounded, so a search the pool lost fails the test rather than hanging it.
  assert.deepEqual(await within(Promise.all(behind), 5000, "the searches behind"), ["[]", "[]"]);
  assert.deepEqual(searches.stats(), { workers: 1, running: 0, queued: 0, replaced: 1 });
});

Deno.test("a hung search fails alone, though the worker held the answer before it", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  const path = databaseFile(tmp.path);
  await using searches = pool(path, { size: 1, timeoutMs: 300, workerUrl: FAULTY_WORKER });
  assert.equal(await searches.search({ owner: 1, q: "pelican" }), "[]");
  // Sent together: the worker holds the first answer while two more wait, then hangs on the
  // second search. It says which search it runs, so that one fails and the first runs again.
  const before = searches.search({ owner: 1, q: "pelican" });
  const stuck = apiError(searches.search({ owner: 1, q: "hang now" }));
  const after = searches.search({ owner: 1, q: "x" });
  assert.equal((await stuck).status, 503);
  assert.deepEqual(await within(Promise.all([before, after]), 5000, "the others"), ["[]", "[]"]);
  assert.deepEqual(searches.stats(), { workers: 1, running: 0, queued: 0, replaced: 1 });
});

Deno.test("a search for an unknown owner answers null, inline and on the pool", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  const path = databaseFile(tmp.path);
  await using searches = pool(path, { size: 1 });
  assert.equal(await searches.search({ owner: 2, q: "pelican" }), null);
  assert.equal(await searches.search({ owner: 2, q: "", pinnedOnly: true }), null);
  assert.equal(await searches.search({ owner: 1, q: "pelican" }), "[]");
  using db = openDatabase(path);
  const inline = inlineSearch(db, DEFAULT_SEARCH_TUNING);
  assert.equal(await inline({ owner: 2, q: "pelican" }), null);
  assert.equal(await inline({ owner: 1, q: "pelican" }), "[]");
});

Deno.test("a search the worker cannot run fails with the reason, and the worker stays", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  await using searches = pool(join(tmp.path, "missing.db"), { size: 1 });
  await assert.rejects(
    searches.search({ owner: 1, q: "pelican" }),
    /search failed: cannot open the database read-only/,
  );
  assert.deepEqual(searches.stats(), { workers: 1, running: 0, queued: 0, replaced: 0 });
});

Deno.test("a closed pool ends its workers and refuses new searches", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  const path = databaseFile(tmp.path);
  const searches = pool(path, { size: 2 });
  assert.equal(await searches.search({ owner: 1, q: "pelican" }), "[]");
  await searches.close();
  assert.equal(searches.stats().workers, 0);
  assert.equal((await apiError(searches.search({ owner: 1, q: "pelican" }))).status, 503);
  await searches.close();
});

Deno.test("workers start as searches need them and end after idling", async () => {
  await using tmp = await tempDir("memori_search_pool_");
  const path = databaseFile(tmp.path);
  await using searches = pool(path, { idleWorkerMs: 300 });
  assert.equal(searches.stats().workers, 0, "none before the first search");
  for (let i = 0; i < 3; i++) await searches.search({ owner: 1, q: "milk" });
  assert.equal(searches.stats().workers, 1, "one at a time reuses the running worker");
  await Promise.all([1, 2, 3].map(() => searches.search({ owner: 1, q: "milk" })));
  assert.equal(searches.stats().workers, 2);
  const deadline = Date.now() + 5000;
  while (searches.stats().workers > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(searches.stats().workers, 0, "idle workers were ended");
  assert.equal(await searches.search({ owner: 1, q: "milk" }), "[]");
  assert.equal(searches.stats().workers, 1);
});
