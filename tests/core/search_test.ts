import assert from "node:assert/strict";
import { call, createUser, makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import {
  buildMatchQuery,
  SEARCH_LIMIT,
  searchMemories,
  searchWords,
} from "../../core/store/search_query.ts";
import { DEFAULT_SEARCH_TUNING } from "../../core/store/search_pool.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { join } from "node:path";

await sanitizeTests();

const ANN = 701;
const BOB = 702;

async function coreWithUsers(): Promise<TestCore> {
  let t = Date.parse("2026-04-01T08:00:00.000Z");
  const core = await makeCore({ clock: () => new Date(t += 1000) });
  await createUser(core.app, ANN, "Ann");
  await createUser(core.app, BOB, "Bob");
  return core;
}

async function remember(
  core: TestCore,
  content: string | null,
  options: { owner?: number; image?: boolean } = {},
): Promise<string> {
  const res = await call(core.app, "POST", "/memories", {
    owner_user_id: options.owner ?? ANN,
    content,
    media_type: options.image ? "image" : undefined,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id;
}

// deno-lint-ignore no-explicit-any
async function search(core: TestCore, query: Record<string, string>): Promise<any[]> {
  const res = await call(core.app, "GET", `/search?${new URLSearchParams(query)}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.ok(Array.isArray(res.body));
  return res.body;
}

async function ids(core: TestCore, q: string, owner = ANN): Promise<string[]> {
  return (await search(core, { q, owner: String(owner) })).map((h) => h.memory.id);
}

Deno.test("searchWords drops stop words, dedupes, and keeps them when nothing else is left", () => {
  assert.deepEqual(searchWords("Where is THE passport, the passport?"), ["passport"]);
  assert.deepEqual(searchWords("the who"), ["the", "who"]);
  assert.deepEqual(searchWords("  "), []);
  assert.deepEqual(searchWords('!!! "" ** ()'), []);
  assert.deepEqual(searchWords("Café naïve 42"), ["café", "naïve", "42"]);
});

Deno.test("buildMatchQuery quotes every word so user text is never FTS syntax", () => {
  assert.equal(
    buildMatchQuery('milk" OR content:x* NEAR(c b) AND -bread ^tea'),
    '"milk" OR "milks" OR "content" OR "contents" OR "x" OR "near" OR "nears" OR "c" OR "b" OR ' +
      '"bread" OR "breads" OR "tea" OR "teas"',
  );
  assert.equal(buildMatchQuery("the"), '"the" OR "thes"');
  assert.equal(buildMatchQuery("Meetings"), '"meetings" OR "meeting"');
  assert.equal(buildMatchQuery("boxes glass"), '"boxes" OR "box" OR "glass" OR "glasses"');
  assert.equal(buildMatchQuery('"*"'), null);
});

Deno.test(
  "GET /search finds content words, ignores stop words, matches plurals, scores hits",
  async () => {
    await using core = await coreWithUsers();
    const passport = await remember(core, "Passport is in the top drawer of the desk");
    const meeting = await remember(core, "Team meeting moved to Thursday");
    const meetings = await remember(core, "Two meetings on Friday");
    await remember(core, "Water the plants");
    const hits = await search(core, { q: "where is the passport?", owner: String(ANN) });
    assert.deepEqual(hits.map((h) => h.memory.id), [passport]);
    assert.equal(typeof hits[0].score, "number");
    assert.ok(hits[0].score > 0, "score is -bm25, higher is better");
    assert.deepEqual(hits[0].memory.tags, []);
    assert.equal(hits[0].memory.is_pinned, false);
    assert.deepEqual(new Set(await ids(core, "meeting")), new Set([meeting, meetings]));
    assert.deepEqual(new Set(await ids(core, "Meetings")), new Set([meeting, meetings]));
    // Only stop words: searched anyway rather than finding nothing.
    const the = await ids(core, "the");
    assert.equal(the.length, 2);
    assert.deepEqual(await ids(core, "unicorn"), []);
    assert.deepEqual(await ids(core, "!!!"), []);
  },
);

Deno.test("GET /search never fails on quotes or FTS operators in q", async () => {
  await using core = await coreWithUsers();
  const milk = await remember(core, 'buy "oat" milk and bread');
  const nasty = [
    '"',
    '""',
    '"milk',
    'milk"',
    "milk AND",
    "OR milk",
    "AND OR NOT",
    "NEAR(milk bread, 2)",
    "milk*",
    "*",
    "content:milk",
    "tags:milk",
    "{content tags}: milk",
    "(milk",
    "milk)",
    "-milk",
    "^milk",
    "milk + bread",
    "'; DROP TABLE memories; --",
    "\\",
    "🥛 milk",
    "x".repeat(1000),
    'oat"milk',
  ];
  for (const q of nasty) {
    const res = await call(
      core.app,
      "GET",
      `/search?${new URLSearchParams({ q, owner: "701" })}`,
    );
    assert.equal(res.status, 200, `q=${JSON.stringify(q)}: ${JSON.stringify(res.body)}`);
    if (/milk/i.test(q)) {
      assert.ok(res.body.some((h: { memory: { id: string } }) => h.memory.id === milk), q);
    }
  }
  // NUL is refused in every text field, the query included (it would cut the text).
  const nul = await call(core.app, "GET", `/search?owner=701&q=%00milk`);
  assert.equal(nul.status, 422);
  const tooLong = await call(core.app, "GET", `/search?owner=701&q=${"x".repeat(1001)}`);
  assert.equal(tooLong.status, 422);
  assert.equal((await call(core.app, "GET", `/memories/${milk}`)).status, 200);
});

Deno.test("GET /search answers its hits with the content type of every other JSON answer", async () => {
  await using core = await coreWithUsers();
  const id = await remember(core, "dentist appointment on Monday");
  const hits = await core.app.request(`/search?owner=${ANN}&q=dentist`);
  const memory = await core.app.request(`/memories/${id}`);
  assert.equal(hits.headers.get("content-type"), memory.headers.get("content-type"));
  assert.equal(hits.headers.get("content-type"), "application/json");
  assert.deepEqual((await hits.json()).map((h: { memory: { id: string } }) => h.memory.id), [id]);
  await memory.body?.cancel();
});

Deno.test("GET /search only searches the owner's memories", async () => {
  await using core = await coreWithUsers();
  const ann = await remember(core, "dentist appointment on Monday");
  const bob = await remember(core, "dentist bill paid", { owner: BOB });
  assert.deepEqual(await ids(core, "dentist", ANN), [ann]);
  assert.deepEqual(await ids(core, "dentist", BOB), [bob]);
  assert.deepEqual(await ids(core, "bill", ANN), []);
});

Deno.test("GET /search finds a pending memory only once it is confirmed", async () => {
  await using core = await coreWithUsers();
  const id = await remember(core, "sunset over the harbour", { image: true });
  assert.deepEqual(await ids(core, "harbour"), []);
  await call(core.app, "POST", `/memories/${id}/tags`, { tags: ["lighthouse"] });
  assert.deepEqual(await ids(core, "lighthouse"), []);
  const res = await call(core.app, "PATCH", `/memories/${id}`, { status: "confirmed" });
  assert.equal(res.status, 200);
  assert.deepEqual(await ids(core, "harbour"), [id]);
  assert.deepEqual(await ids(core, "lighthouse"), [id]);
});

Deno.test("GET /search follows content edits", async () => {
  await using core = await coreWithUsers();
  const id = await remember(core, "apple pie recipe");
  assert.deepEqual(await ids(core, "apple"), [id]);
  await call(core.app, "PATCH", `/memories/${id}`, { content: "banana bread recipe" });
  assert.deepEqual(await ids(core, "apple"), []);
  assert.deepEqual(await ids(core, "banana"), [id]);
  await call(core.app, "DELETE", `/memories/${id}`);
  assert.deepEqual(await ids(core, "banana"), []);
});

Deno.test("GET /search matches confirmed tags, not suggested ones", async () => {
  await using core = await coreWithUsers();
  const id = await remember(core, "photo from the trip");
  await call(core.app, "POST", `/memories/${id}/tags`, {
    tags: ["Eiffel Tower"],
    status: "suggested",
  });
  assert.deepEqual(await ids(core, "eiffel"), []);
  await call(core.app, "POST", `/memories/${id}/tags`, { tags: ["eiffel tower"] });
  const hits = await search(core, { q: "eiffel", owner: String(ANN) });
  assert.deepEqual(hits.map((h) => h.memory.id), [id]);
  assert.deepEqual(hits[0].memory.tags.map((t: { tag: string }) => t.tag), ["eiffel tower"]);
  await call(core.app, "DELETE", `/memories/${id}/tags/eiffel%20tower`);
  assert.deepEqual(await ids(core, "eiffel"), []);
});

Deno.test("GET /search puts pinned memories first, then the more relevant", async () => {
  await using core = await coreWithUsers();
  const weak = await remember(
    core,
    "long note that mentions coffee once among many other words about the weekend plans",
  );
  const strong = await remember(core, "coffee coffee coffee");
  const medium = await remember(core, "coffee beans and grinder");
  let hits = await search(core, { q: "coffee", owner: String(ANN) });
  assert.deepEqual(hits.map((h) => h.memory.id), [strong, medium, weak]);
  assert.ok(hits[0].score > hits[1].score && hits[1].score > hits[2].score);
  await call(core.app, "PATCH", `/memories/${weak}`, { is_pinned: true });
  hits = await search(core, { q: "coffee", owner: String(ANN) });
  assert.deepEqual(hits.map((h) => h.memory.id), [weak, strong, medium]);
  assert.equal(hits[0].memory.is_pinned, true);
  const pinnedOnly = await search(core, { q: "coffee", owner: String(ANN), pinned: "true" });
  assert.deepEqual(pinnedOnly.map((h) => h.memory.id), [weak]);
});

Deno.test("GET /search answers at most 20 results", async () => {
  await using core = await coreWithUsers();
  for (let i = 0; i < 25; i++) await remember(core, `espresso note ${i}`);
  assert.equal((await ids(core, "espresso")).length, SEARCH_LIMIT);
  assert.equal(SEARCH_LIMIT, 20);
});

Deno.test("GET /search?pinned=true without q lists the owner's pinned confirmed memories", async () => {
  await using core = await coreWithUsers();
  const older = await remember(core, "wifi password is hunter2");
  const newer = await remember(core, "door code 4321");
  await remember(core, "not pinned");
  const pending = await remember(core, "pending image", { image: true });
  const bobs = await remember(core, "bob's pinned", { owner: BOB });
  for (const id of [older, newer, pending, bobs]) {
    await call(core.app, "PATCH", `/memories/${id}`, { is_pinned: true });
  }
  for (const q of [undefined, "", "   "]) {
    const query: Record<string, string> = { owner: String(ANN), pinned: "true" };
    if (q !== undefined) query.q = q;
    const hits = await search(core, query);
    assert.deepEqual(hits.map((h) => h.memory.id), [newer, older]);
    assert.deepEqual(hits.map((h) => h.score), [0, 0]);
  }
});

Deno.test("GET /search refuses empty q, bad owners and unknown owners", async () => {
  await using core = await coreWithUsers();
  for (
    const path of ["/search?owner=701", "/search?owner=701&q=", "/search?owner=701&q=%20%20"]
  ) {
    const res = await call(core.app, "GET", path);
    assert.equal(res.status, 400, path);
    assert.equal(typeof res.body.detail, "string");
    assert.match(res.body.detail, /q/);
  }
  const falsePinned = await call(core.app, "GET", "/search?owner=701&q=&pinned=false");
  assert.equal(falsePinned.status, 400);
  const noOwner = await call(core.app, "GET", "/search?q=milk");
  assert.equal(noOwner.status, 422);
  assert.deepEqual(noOwner.body.detail[0].loc, ["query", "owner"]);
  const badOwner = await call(core.app, "GET", "/search?q=milk&owner=abc");
  assert.equal(badOwner.status, 422);
  const badPinned = await call(core.app, "GET", "/search?q=milk&owner=701&pinned=maybe");
  assert.equal(badPinned.status, 422);
  const unknown = await call(core.app, "GET", "/search?q=milk&owner=999");
  assert.equal(unknown.status, 404);
  assert.deepEqual(unknown.body, { detail: "User not found" });
});

Deno.test(
  "searchMemories keeps pinned-first and owner isolation when it ranks only the newest matches",
  async () => {
    await using core = await coreWithUsers();
    const oldPinned = await remember(core, "tea note oldest pinned");
    const annIds = [oldPinned];
    for (let i = 0; i < 6; i++) annIds.push(await remember(core, `tea note ${i}`));
    const bobIds: string[] = [];
    for (let i = 0; i < 3; i++) bobIds.push(await remember(core, `tea bob ${i}`, { owner: BOB }));
    await call(core.app, "PATCH", `/memories/${oldPinned}`, { is_pinned: true });
    const bobPinned = bobIds[0];
    await call(core.app, "PATCH", `/memories/${bobPinned}`, { is_pinned: true });
    const pending = await remember(core, "tea pending", { image: true });

    const exact = searchMemories(core.db, { owner: ANN, q: "tea" }, DEFAULT_SEARCH_TUNING);
    assert.equal(exact[0].memory.id, oldPinned);
    assert.equal(exact.length, 7);
    // Ann has 7 matches: past a cap of 2 only her 2 newest are ranked, and her pinned match,
    // older than those, still comes first.
    const capped = searchMemories(core.db, { owner: ANN, q: "tea" }, { candidateCap: 2 });
    assert.equal(capped[0].memory.id, oldPinned);
    assert.equal(capped[0].memory.is_pinned, true);
    assert.equal(capped[0].score, exact[0].score, "the same score whichever query ranked it");
    assert.equal(capped.length, 3, "the pinned match plus the 2 newest");
    assert.deepEqual(capped.slice(1).map((h) => h.memory.id).sort(), annIds.slice(-2).sort());
    assert.ok(!capped.some((h) => h.memory.id === pending));

    const bob = searchMemories(core.db, { owner: BOB, q: "tea" }, { candidateCap: 2 });
    assert.equal(bob[0].memory.id, bobPinned);
    for (const h of bob) assert.ok(bobIds.includes(h.memory.id));

    const pinnedOnly = searchMemories(core.db, { owner: ANN, q: "tea", pinnedOnly: true }, {
      candidateCap: 2,
    });
    assert.deepEqual(pinnedOnly.map((h) => h.memory.id), [oldPinned]);
  },
);

Deno.test("SEARCH_CANDIDATE_CAP bounds the ranked matches, inline and on a search thread", async (t) => {
  await using tmp = await tempDir("memori_search_cap_");
  for (const workers of ["0", "1"]) {
    await t.step(`SEARCH_WORKERS=${workers}`, async () => {
      let at = Date.parse("2026-04-01T08:00:00.000Z");
      await using core = await makeCore({
        clock: () => new Date(at += 1000),
        databasePath: join(tmp.path, `cap_${workers}.db`),
        env: { SEARCH_CANDIDATE_CAP: "2", SEARCH_WORKERS: workers },
      });
      await createUser(core.app, ANN, "Ann");
      const made: string[] = [];
      for (let i = 0; i < 5; i++) made.push(await remember(core, `tea number ${i}`));
      // Five matches past a cap of 2: only the two newest are ranked and answered.
      assert.deepEqual((await ids(core, "tea")).sort(), made.slice(-2).sort());
    });
  }
});

Deno.test("GET /search keeps owner and pinned filters in the index through edits", async () => {
  await using core = await coreWithUsers();
  // Owner tokens live in the index (migration 013); user words can never reach them.
  const ann = await remember(core, "lighthouse at dusk");
  await remember(core, "lighthouse keeper", { owner: BOB });
  assert.deepEqual(await ids(core, "lighthouse"), [ann]);
  assert.deepEqual(await ids(core, `o${ANN}`), []);
  assert.deepEqual(await ids(core, `p${ANN} o${BOB} meta`), []);
  // Pinning and unpinning re-index the memory's pinned token.
  const later = await remember(core, "lighthouse tour booked");
  assert.equal((await ids(core, "lighthouse"))[0], later, "newer first on equal relevance");
  await call(core.app, "PATCH", `/memories/${ann}`, { is_pinned: true });
  assert.deepEqual(await ids(core, "lighthouse"), [ann, later]);
  const pinned = await search(core, { q: "lighthouse", owner: String(ANN), pinned: "true" });
  assert.deepEqual(pinned.map((h) => h.memory.id), [ann]);
  await call(core.app, "PATCH", `/memories/${ann}`, { is_pinned: false });
  assert.deepEqual(
    await search(core, { q: "lighthouse", owner: String(ANN), pinned: "true" }),
    [],
  );
  // A confirmed tag edit keeps the owner token.
  await call(core.app, "POST", `/memories/${ann}/tags`, { tags: ["beacon"] });
  assert.deepEqual(await ids(core, "beacon"), [ann]);
  assert.deepEqual(await ids(core, "beacon", BOB), []);
});
