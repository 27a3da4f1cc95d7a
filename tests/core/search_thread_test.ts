/**
 * core/store/search_thread.ts: a search worker's handler answers every search, in order, and
 * holds quick answers back only while more searches are already on their way.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { newMemory, tempDir } from "../helpers/fixtures.ts";
import { insertMemory } from "../../core/store/memory_repo.ts";
import { searchMemoriesJson } from "../../core/store/search_query.ts";
import { openDatabase } from "../../core/db/open.ts";
import {
  PROGRESS_SLOTS,
  RUNNING,
  type SearchCommand,
  type SearchHandlerOptions,
  searchMessageHandler,
  type SearchReply,
  SENT,
} from "../../core/store/search_thread.ts";
import { DEFAULT_SEARCH_TUNING } from "../../core/store/search_pool.ts";

/** A handler on a database with owner 1 and no memories, and what it posted. */
function handlerOn(dir: string, options: SearchHandlerOptions = {}) {
  const path = join(dir, "memori.db");
  {
    using db = openDatabase(path);
    db.prepare(
      "INSERT INTO users (telegram_user_id, display_name, is_allowed, created_at) VALUES (1, 'U', 1, ?)",
    ).run(new Date().toISOString());
  }
  const posted: SearchReply[] = [];
  // Every search counts as quick unless told, whatever this machine's speed.
  const handle = searchMessageHandler((r) => posted.push(r), { holdAfterMs: Infinity, ...options });
  const progress = new Int32Array(new SharedArrayBuffer(PROGRESS_SLOTS * 4));
  const send = (data: SearchCommand) => handle({ data } as MessageEvent<SearchCommand>);
  send({
    kind: "open",
    path,
    mmapBytes: 0,
    cacheBytes: 1 << 20,
    tuning: DEFAULT_SEARCH_TUNING,
    progress,
  });
  // As the pool does: each search counted as sent before it is posted.
  const search = (id: number, owner = 1) => {
    send({ kind: "search", searches: [{ id, params: { owner, q: "pelican" } }] });
  };
  const sent = (n: number) => Atomics.add(progress, SENT, n);
  return { posted, send, search, sent, progress };
}

Deno.test("a lone search is answered at once", async () => {
  await using tmp = await tempDir("memori_search_thread_");
  const w = handlerOn(tmp.path);
  assert.deepEqual(w.posted, [{ kind: "ready" }]);
  w.sent(1);
  w.search(1);
  assert.deepEqual(w.posted.slice(1), [{ kind: "answers", answers: [{ id: 1, json: "[]" }] }]);
  assert.equal(Atomics.load(w.progress, RUNNING), 0);
  w.send({ kind: "close" });
});

Deno.test("answers are held while more searches wait, then posted together in order", async () => {
  await using tmp = await tempDir("memori_search_thread_");
  const w = handlerOn(tmp.path);
  w.sent(4);
  w.search(1);
  // 3 more sent, 1 answer held: the worker keeps it for the next.
  assert.equal(w.posted.length, 1);
  w.search(2);
  // 2 waiting, 2 held: half of what is in flight goes back to the main thread.
  assert.deepEqual(w.posted.slice(1), [{
    kind: "answers",
    answers: [{ id: 1, json: "[]" }, { id: 2, json: "[]" }],
  }]);
  // 1 waiting, 1 held: posted; then none waiting.
  w.search(3, 2); // an unknown owner: null
  w.search(4);
  assert.deepEqual(w.posted.slice(2), [
    { kind: "answers", answers: [{ id: 3, json: null }] },
    { kind: "answers", answers: [{ id: 4, json: "[]" }] },
  ]);
  // Closing posts whatever is held first.
  w.sent(3);
  w.search(5);
  assert.equal(w.posted.length, 4);
  w.send({ kind: "close" });
  assert.deepEqual(w.posted.slice(4), [
    { kind: "answers", answers: [{ id: 5, json: "[]" }] },
    { kind: "closed" },
  ]);
});

Deno.test("a worker without its database answers each search with the reason", async () => {
  await using tmp = await tempDir("memori_search_thread_");
  const posted: SearchReply[] = [];
  const handle = searchMessageHandler((r) => posted.push(r));
  const progress = new Int32Array(new SharedArrayBuffer(PROGRESS_SLOTS * 4));
  const send = (data: SearchCommand) => handle({ data } as MessageEvent<SearchCommand>);
  send({
    kind: "open",
    path: join(tmp.path, "missing", "memori.db"),
    mmapBytes: 0,
    cacheBytes: 1 << 20,
    tuning: DEFAULT_SEARCH_TUNING,
    progress,
  });
  Atomics.add(progress, SENT, 1);
  send({ kind: "search", searches: [{ id: 7, params: { owner: 1, q: "pelican" } }] });
  const reply = posted[1];
  assert.ok(reply.kind === "answers" && "error" in reply.answers[0]);
  assert.match(reply.answers[0].error, /cannot open the database read-only/);
});

Deno.test("searches posted in one message run in order, answers held as for separate ones", async () => {
  await using tmp = await tempDir("memori_search_thread_");
  const w = handlerOn(tmp.path);
  w.sent(3);
  w.send({
    kind: "search",
    searches: [1, 2, 3].map((id) => ({ id, params: { owner: id === 2 ? 2 : 1, q: "pelican" } })),
  });
  assert.deepEqual(w.posted.slice(1), [
    { kind: "answers", answers: [{ id: 1, json: "[]" }, { id: 2, json: null }] },
    { kind: "answers", answers: [{ id: 3, json: "[]" }] },
  ]);
  w.send({ kind: "close" });
});

Deno.test("one message's searches share a snapshot; the next message sees what was written since", async () => {
  await using tmp = await tempDir("memori_search_thread_");
  const w = handlerOn(tmp.path);
  const both = (ids: number[]) => {
    w.sent(ids.length);
    w.send({
      kind: "search",
      searches: ids.map((id) => ({ id, params: { owner: 1, q: "pelican" } })),
    });
  };
  both([1, 2]);
  {
    using db = openDatabase(join(tmp.path, "memori.db"));
    insertMemory(db, newMemory(1, "a pelican on the pier"));
  }
  both([3, 4]);
  const hits = w.posted.slice(1).flatMap((r) => r.kind === "answers" ? r.answers : [])
    .map((a) => "json" in a ? JSON.parse(a.json!).length : a.error);
  assert.deepEqual(hits, [0, 0, 1, 1]);
  w.send({ kind: "close" });
});

Deno.test("quick searches of one message share a snapshot; a slow one ends it", async () => {
  for (
    const [holdAfterMs, seen] of [[Infinity, [0, 0]], [0, [0, 1]]] as [number, number[]][]
  ) {
    await using tmp = await tempDir("memori_search_thread_");
    const path = join(tmp.path, "memori.db");
    // The first search commits a memory that matches before it returns, as a write can land
    // while a search runs.
    let writes = 1;
    const w = handlerOn(tmp.path, {
      holdAfterMs,
      search: (db, params, tuning) => {
        const json = searchMemoriesJson(db, params, tuning);
        if (writes-- > 0) {
          using writer = openDatabase(path);
          insertMemory(writer, newMemory(1, "a pelican on the pier"));
        }
        return json;
      },
    });
    w.sent(2);
    w.send({
      kind: "search",
      searches: [1, 2].map((id) => ({ id, params: { owner: 1, q: "pelican" } })),
    });
    const hits = w.posted.slice(1).flatMap((r) => r.kind === "answers" ? r.answers : [])
      .map((a) => "json" in a ? JSON.parse(a.json!).length : a.error);
    assert.deepEqual(hits, seen, `holdAfterMs ${holdAfterMs}`);
    w.send({ kind: "close" });
  }
});
