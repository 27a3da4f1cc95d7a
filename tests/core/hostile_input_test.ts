/**
 * Hostile request input: text the storage would silently cut or change (NUL, unpaired
 * surrogates, invalid UTF-8), loosely written query integers, repeated query keys, deeply nested
 * JSON. Each is a 422 before anything is written.
 */
import assert from "node:assert/strict";
import { call, createUser, makeCore, sanitizeTests } from "../helpers/core_app.ts";
import { count, insertMemory } from "../helpers/fixtures.ts";

await sanitizeTests();

const OWNER = 701;
const WRITTEN_TABLES = ["users", "memories", "memory_tags", "tasks", "reminders", "events"];

function rows(core: Awaited<ReturnType<typeof makeCore>>): Record<string, number> {
  return Object.fromEntries(
    WRITTEN_TABLES.map((t) => [t, count(core, `SELECT count(*) AS n FROM ${t}`)]),
  );
}

Deno.test("text with NUL or an unpaired surrogate is 422 in every text field, never cut", async () => {
  await using core = await makeCore();
  await createUser(core.app, OWNER, "Owner");
  const memory = insertMemory(core, OWNER);
  const at = "2026-05-01T09:00:00Z";
  const requests: [string, string, (bad: string) => unknown][] = [
    ["POST", "/users", (t) => ({ telegram_user_id: 9, display_name: t })],
    ["POST", "/memories", (t) => ({ owner_user_id: OWNER, content: t })],
    ["PATCH", `/memories/${memory}`, (t) => ({ content: t })],
    ["POST", `/memories/${memory}/tags`, (t) => ({ tags: [t] })],
    ["POST", "/tasks", (t) => ({ memory_id: memory, owner_user_id: OWNER, description: t })],
    [
      "POST",
      "/reminders",
      (t) => ({ memory_id: memory, owner_user_id: OWNER, text: t, fire_at: at }),
    ],
    [
      "POST",
      "/events",
      (t) => ({ owner_user_id: OWNER, event_time: at, description: t, source_type: "manual" }),
    ],
    ["POST", "/llm_jobs", (t) => ({ job_type: "followup", payload: { message: t } })],
    ["PUT", `/settings/${OWNER}`, (t) => ({ language: `en${t}` })],
  ];
  const before = rows(core);
  for (const bad of ["a\u0000b secretword", "lone \ud800 high", "lone \udc00 low"]) {
    for (const [method, path, body] of requests) {
      const res = await call(core.app, method, path, body(bad));
      assert.equal(res.status, 422, `${method} ${path} with ${JSON.stringify(bad)}`);
      assert.match(res.body.detail[0].msg, /NUL|surrogate/);
    }
  }
  assert.deepEqual(rows(core), before);
  assert.equal(count(core, "SELECT count(*) AS n FROM llm_jobs"), 0);
  // The same in a query string (%00 decodes to NUL).
  const search = await call(core.app, "GET", `/search?owner=${OWNER}&q=a%00b`);
  assert.equal(search.status, 422);
  // Well-formed text outside the BMP is fine.
  const ok = await call(core.app, "POST", "/memories", {
    owner_user_id: OWNER,
    content: "ok 😀",
  });
  assert.equal(ok.status, 201);
  assert.equal(ok.body.content, "ok 😀");
});

Deno.test("a body that is not valid UTF-8 is 422, not stored with replacement characters", async () => {
  await using core = await makeCore();
  await createUser(core.app, OWNER, "Owner");
  const head = new TextEncoder().encode(`{"owner_user_id": ${OWNER}, "content": "bad `);
  const tail = new TextEncoder().encode(` byte"}`);
  const body = new Uint8Array([...head, 0xff, 0xfe, ...tail]);
  const res = await core.app.request("/memories", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  assert.equal(res.status, 422);
  const detail = (await res.json()).detail;
  assert.deepEqual(detail[0].loc, ["body"]);
  assert.match(detail[0].msg, /UTF-8/);
  assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 0);
});

Deno.test("query integers are plain decimal only, and a repeated query key is 422", async () => {
  await using core = await makeCore();
  await createUser(core.app, 1001, "Hex");
  await call(core.app, "POST", "/memories", { owner_user_id: 1001, content: "hex secret" });
  for (const owner of ["0x3e9", "1e3", "1001.0", "", " 1001", "+1001", "0b1111101001", "1_001"]) {
    const res = await call(
      core.app,
      "GET",
      `/search?q=secret&owner=${encodeURIComponent(owner)}`,
    );
    assert.equal(res.status, 422, `owner=${owner}: ${JSON.stringify(res.body)}`);
    assert.deepEqual(res.body.detail[0].loc, ["query", "owner"]);
  }
  for (const query of ["limit=0x10", "limit=", "offset=1e2", "owner_user_id=0x3e9"]) {
    const res = await call(core.app, "GET", `/tasks?${query}`);
    assert.equal(res.status, 422, query);
  }
  const ok = await call(core.app, "GET", "/search?q=secret&owner=1001");
  assert.equal(ok.status, 200);
  assert.equal(ok.body.length, 1);
  assert.equal((await call(core.app, "GET", "/tasks?limit=10&offset=0")).status, 200);

  const twice = await call(core.app, "GET", "/search?q=secret&owner=1002&owner=1001");
  assert.equal(twice.status, 422);
  assert.deepEqual(twice.body.detail, [{
    loc: ["query", "owner"],
    msg: "must be given at most once",
    type: "repeated_key",
  }]);
  assert.equal((await call(core.app, "GET", "/tasks?limit=1&limit=2")).status, 422);
});

Deno.test("JSON nested deeper than MAX_JSON_DEPTH is 422 before anything is written", async () => {
  const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels);
  const job = (payload: string) =>
    `{"job_type": "followup", "payload": {"message": "hi", "extra": ${payload}}}`;
  // The adversarial body: ~20 KB of 10,000 nested arrays, at the default limit.
  {
    await using core = await makeCore();
    const res = await call(core.app, "POST", "/llm_jobs", job(deep(10_000)));
    assert.equal(res.status, 422);
    assert.equal(res.body.detail[0].type, "json_too_deep");
    assert.equal(count(core, "SELECT count(*) AS n FROM llm_jobs"), 0);
    assert.equal(await core.redis.xlen("llm:followup"), 0);
    // Brackets inside strings are text, not nesting.
    const text = await call(core.app, "POST", "/llm_jobs", job(JSON.stringify("[".repeat(100))));
    assert.equal(text.status, 201);
  }
  // A small configured limit: the body's own object and payload count as two levels.
  await using strict = await makeCore({ env: { MAX_JSON_DEPTH: "4" } });
  assert.equal((await call(strict.app, "POST", "/llm_jobs", job(deep(2)))).status, 201);
  const res = await call(strict.app, "POST", "/llm_jobs", job(deep(3)));
  assert.equal(res.status, 422);
  assert.match(res.body.detail[0].msg, /deeper than 4/);
  assert.equal(count(strict, "SELECT count(*) AS n FROM llm_jobs"), 1);
});
