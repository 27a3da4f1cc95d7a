/** The optional access token (CORE_API_TOKEN) on the core. */
import assert from "node:assert/strict";
import { constantTimeEqual } from "../../core/http/auth.ts";
import { call, makeCore, sanitizeTests } from "../helpers/core_app.ts";

await sanitizeTests();

const TOKEN = "core-test-token-abcdef0123456789";

Deno.test("auth: without CORE_API_TOKEN the API stays open, as in the first version", async () => {
  await using core = await makeCore();
  const res = await call(core.app, "POST", "/users", {
    telegram_user_id: 1,
    display_name: "Open",
  });
  assert.equal(res.status, 200);
  assert.equal((await call(core.app, "GET", "/llm_jobs")).status, 200);
  // A token sent anyway is ignored.
  const withHeader = await call(core.app, "GET", "/audit", undefined, {
    authorization: "Bearer whatever",
  });
  assert.equal(withHeader.status, 200);
});

Deno.test("auth: with CORE_API_TOKEN every endpoint but /health wants the bearer token", async () => {
  await using core = await makeCore({ env: { CORE_API_TOKEN: TOKEN } });
  assert.deepEqual(await call(core.app, "GET", "/health"), {
    status: 200,
    body: { status: "ok" },
  });

  const missing = await core.app.request("/llm_jobs");
  assert.equal(missing.status, 401);
  assert.equal(missing.headers.get("www-authenticate"), 'Bearer realm="memori"');
  assert.match((await missing.json()).detail, /Missing bearer token/);

  for (
    const header of [
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Basic ${btoa(`user:${TOKEN}`)}`,
      TOKEN,
      `Bearer ${TOKEN} extra`,
      "Bearer",
      "",
    ]
  ) {
    const res = await call(core.app, "GET", "/llm_jobs", undefined, { authorization: header });
    assert.equal(res.status, 401, `accepted ${JSON.stringify(header)}`);
    assert.equal(typeof res.body.detail, "string");
  }
  // Unknown paths and bad bodies learn nothing before the token is checked.
  assert.equal((await call(core.app, "GET", "/no/such/path")).status, 401);
  assert.equal((await call(core.app, "POST", "/users", "{not json")).status, 401);
  // The metrics, the reference and the admin endpoints are behind it too.
  for (const path of ["/metrics", "/openapi.json", "/docs", "/admin/queue-stats"]) {
    assert.equal((await core.app.request(path)).status, 401, path);
  }

  const auth = { authorization: `Bearer ${TOKEN}` };
  const created = await call(core.app, "POST", "/users", {
    telegram_user_id: 2,
    display_name: "Authorized",
  }, auth);
  assert.equal(created.status, 200);
  // The scheme is case-insensitive, as RFC 7235 has it.
  const lower = await call(core.app, "GET", "/llm_jobs", undefined, {
    authorization: `bearer ${TOKEN}`,
  });
  assert.equal(lower.status, 200);
  assert.equal((await core.app.request("/metrics", { headers: auth })).status, 200);
});

Deno.test("auth: the token check answers only in the API's own 401s", async () => {
  await using core = await makeCore({ env: { CORE_API_TOKEN: TOKEN } });
  // Malformed headers that still name a token are a wrong token, not bearerAuth's 400.
  for (
    const header of [`Bearer ${TOKEN}\u00e9`, "Bearer a=b", "Bearer ====", `Bearer\t${TOKEN}`]
  ) {
    const res = await core.app.request("/llm_jobs", { headers: { authorization: header } });
    assert.equal(res.status, 401, JSON.stringify(header));
    assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="memori"');
    assert.deepEqual(await res.json(), { detail: "Invalid bearer token" });
  }
  const basic = await core.app.request("/llm_jobs", { headers: { authorization: "Basic eDp5" } });
  assert.equal(basic.status, 401);
  assert.equal(basic.headers.get("www-authenticate"), 'Bearer realm="memori"');
  assert.match((await basic.json()).detail, /Missing bearer token/);
  // Only the exact open path is open; the admin page checks its own session.
  assert.equal((await core.app.request("/health/")).status, 401);
  assert.equal((await core.app.request("/admin/login")).status, 200);
  // Every refusal is counted like any other answer.
  const metrics = await core.app.request("/metrics", {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.match(await metrics.text(), /status="401"/);
});

Deno.test("auth: constantTimeEqual compares bytes, whatever they are", () => {
  const a = new Uint8Array([1, 2, 3, 4]);
  assert.equal(constantTimeEqual(a, new Uint8Array([1, 2, 3, 4])), true);
  assert.equal(constantTimeEqual(a, new Uint8Array([1, 2, 3, 5])), false);
  assert.equal(constantTimeEqual(a, new Uint8Array([0, 2, 3, 4])), false);
  assert.equal(constantTimeEqual(a, new Uint8Array([1, 2, 3])), false);
  assert.equal(constantTimeEqual(new Uint8Array(), new Uint8Array()), true);
});
