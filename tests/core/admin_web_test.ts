/**
 * The admin page over app.request (the browser test is tests/e2e/admin_page_test.ts): access
 * with and without CORE_API_TOKEN, CSRF refusals, escaping, and that its buttons run the admin
 * code with actor admin:web. Real SQLite, real Redis.
 */
import assert from "node:assert/strict";
import { getJob } from "../../core/store/job_repo.ts";
import { isAdminWebPath } from "../../core/admin_web/access.ts";
import {
  DEAD_LETTER_STREAM,
  ensureGroup,
  JOB_STREAMS,
  MODEL_STATUS_KEY,
  WORKER_GROUP,
} from "../../shared/streams.ts";
import { makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";

await sanitizeTests();

const ORIGIN = "http://localhost";
const TOKEN = "web-test-token-0123456789abcdef";

function failedJob(core: TestCore, error = "the model's answer was unusable"): string {
  const id = crypto.randomUUID();
  const at = new Date().toISOString();
  core.db.prepare(
    `INSERT INTO llm_jobs (id, job_type, payload, user_id, status, error_message,
       stream_message_id, created_at, updated_at)
     VALUES (?, 'followup', '{"message":"<img src=x onerror=alert(1)>"}', 7, 'failed', ?, '1-1',
       ?, ?)`,
  ).run(id, error, at, at);
  return id;
}

async function page(core: TestCore, path: string, headers: Record<string, string> = {}) {
  const res = await core.app.request(path, { headers });
  return { res, text: await res.text() };
}

function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(m, "the page's forms carry a CSRF token");
  return m[1];
}

async function post(
  core: TestCore,
  path: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return await core.app.request(path, {
    method: "POST",
    body: new URLSearchParams(form).toString(),
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      origin: ORIGIN,
      ...headers,
    },
    redirect: "manual",
  });
}

function actors(core: TestCore, id: string): string[] {
  return (core.db.prepare("SELECT actor FROM audit_log WHERE entity_id = ? ORDER BY id").all(
    id,
  ) as { actor: string }[]).map((r) => r.actor);
}

Deno.test("isAdminWebPath: the page's paths, not the JSON admin API's", () => {
  for (const p of ["/admin", "/admin/login", "/admin/jobs/x", "/admin/actions/retry-failed"]) {
    assert.ok(isAdminWebPath(p), p);
  }
  for (const p of ["/admin/queue-stats", "/admin/dead-letters", "/admins", "/llm_jobs"]) {
    assert.ok(!isAdminWebPath(p), p);
  }
  return Promise.resolve();
});

Deno.test("open core: the page says so, escapes what users and the model wrote", async () => {
  await using core = await makeCore();
  const id = failedJob(core, '<script>alert("x")</script> & more');
  const { res, text } = await page(core, "/admin");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/html/);
  assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  assert.match(text, /CORE_API_TOKEN is not set/);
  assert.ok(!text.includes("<script>alert"), "no raw script from the error message");
  assert.match(text, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; more/);
  assert.match(text, /Model: <span class="state-unknown">unknown/);
  assert.match(text, /no worker has reported yet/);

  const job = await page(core, `/admin/jobs/${id}`);
  assert.equal(job.res.status, 200);
  assert.ok(!job.text.includes("<img src=x"), "the payload is text");
  assert.match(job.text, /&lt;img src=x onerror=alert\(1\)&gt;/);

  const search = await core.app.request(`/admin/jobs?id=${id.toUpperCase()}`, {
    redirect: "manual",
  });
  assert.equal(search.headers.get("location"), `/admin/jobs/${id}`);
  assert.equal((await page(core, `/admin/jobs/${crypto.randomUUID()}`)).res.status, 404);
  assert.equal((await page(core, "/admin/assets/admin.js")).res.status, 200);
});

Deno.test("the model's state comes from llm:model_status", async () => {
  await using core = await makeCore();
  await core.redis.hset(MODEL_STATUS_KEY, {
    state: "outage",
    outage_since: new Date(Date.now() - 600_000).toISOString(),
    last_error: "connect ECONNREFUSED <host>",
    updated_at: new Date().toISOString(),
  });
  const { text } = await page(core, "/admin");
  assert.match(text, /Model: <span class="state-outage">outage/);
  assert.match(text, /connect ECONNREFUSED &lt;host&gt;/);
  assert.match(text, /10m 0s ago|10m 1s ago/);
});

Deno.test(
  "buttons run the admin code as admin:web; posts without the CSRF token are refused",
  async () => {
    await using core = await makeCore();
    const a = failedJob(core);
    const b = failedJob(core);
    const csrf = csrfOf((await page(core, "/admin")).text);

    // Refused: no token, a wrong one, another origin, a JSON body.
    assert.equal((await post(core, `/admin/actions/jobs/${a}/retry`, {})).status, 403);
    assert.equal(
      (await post(core, `/admin/actions/jobs/${a}/retry`, { _csrf: "x".repeat(csrf.length) }))
        .status,
      403,
    );
    const crossSite = await post(core, `/admin/actions/jobs/${a}/retry`, { _csrf: csrf }, {
      origin: "https://evil.example",
    });
    assert.equal(crossSite.status, 403);
    const json = await core.app.request(`/admin/actions/jobs/${a}/retry`, {
      method: "POST",
      body: JSON.stringify({ _csrf: csrf }),
      headers: { "content-type": "application/json", origin: ORIGIN },
    });
    assert.equal(json.status, 403);
    assert.equal(getJob(core.db, a)!.status, "failed");

    const retried = await post(core, `/admin/actions/jobs/${a}/retry`, { _csrf: csrf });
    assert.equal(retried.status, 303);
    assert.equal(retried.headers.get("location"), `/admin?done=retried&job=${a}`);
    assert.equal(getJob(core.db, a)!.status, "queued");
    assert.deepEqual(actors(core, a), ["admin:web"]);
    assert.equal(await core.redis.xlen(JOB_STREAMS.followup), 1, "published");

    // Retrying it again: it is not failed any more; the page says why.
    const again = await post(core, `/admin/actions/jobs/${a}/retry`, { _csrf: csrf });
    assert.equal(again.status, 409);
    assert.match(await again.text(), /only a failed job can be retried/);

    const all = await post(core, "/admin/actions/retry-failed", {
      _csrf: csrf,
      job_type: "followup",
    });
    assert.equal(all.headers.get("location"), "/admin?done=retried_all&n=1");
    assert.equal(getJob(core.db, b)!.status, "queued");
    assert.deepEqual(actors(core, b), ["admin:web"]);

    const entry = await core.redis.xadd(
      DEAD_LETTER_STREAM,
      "*",
      "data",
      JSON.stringify({ reason: "malformed", error: "not JSON" }),
    ) as string;
    const del = await post(core, `/admin/actions/dead-letters/${entry}/delete`, { _csrf: csrf });
    assert.equal(del.status, 303);
    assert.equal(await core.redis.xlen(DEAD_LETTER_STREAM), 0);
    const audit = core.db.prepare(
      "SELECT entity_type, action, actor FROM audit_log WHERE entity_id = ?",
    ).get(entry) as Record<string, string>;
    assert.deepEqual({ ...audit }, {
      entity_type: "dead_letter",
      action: "deleted",
      actor: "admin:web",
    });
    const gone = await post(core, `/admin/actions/dead-letters/${entry}/replay`, { _csrf: csrf });
    assert.equal(gone.status, 404);
  },
);

Deno.test(
  "with CORE_API_TOKEN: sign in for a session cookie; the API still wants the bearer",
  async () => {
    await using core = await makeCore({ env: { CORE_API_TOKEN: TOKEN } });
    const first = await core.app.request("/admin", { redirect: "manual" });
    assert.equal(first.status, 303);
    assert.equal(first.headers.get("location"), "/admin/login");
    assert.equal((await page(core, "/admin/login")).res.status, 200);
    assert.equal((await page(core, "/admin/queue-stats")).res.status, 401);

    const wrong = await post(core, "/admin/login", { token: "nope" });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get("set-cookie"), null);
    const noOrigin = await post(core, "/admin/login", { token: TOKEN }, { origin: "null" });
    assert.equal(noOrigin.status, 403, "a cross-site sign-in form is refused");

    const ok = await post(core, "/admin/login", { token: TOKEN });
    assert.equal(ok.status, 303);
    const setCookie = ok.headers.get("set-cookie") ?? "";
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.match(setCookie, /Path=\/admin/);
    assert.ok(!setCookie.includes(TOKEN), "the cookie is not the token");
    const cookie = setCookie.split(";")[0];

    const signedIn = await page(core, "/admin", { cookie });
    assert.equal(signedIn.res.status, 200);
    assert.ok(!signedIn.text.includes("CORE_API_TOKEN is not set"));
    // The cookie opens the page only; the JSON API keeps its bearer check.
    assert.equal((await page(core, "/admin/queue-stats", { cookie })).res.status, 401);
    assert.equal(
      (await page(core, "/admin/queue-stats", { authorization: `Bearer ${TOKEN}` })).res.status,
      200,
    );
    // Actions need the session too, and its CSRF token.
    const id = failedJob(core);
    const csrf = csrfOf(signedIn.text);
    assert.equal(
      (await post(core, `/admin/actions/jobs/${id}/retry`, { _csrf: csrf })).status,
      401,
    );
    const done = await post(core, `/admin/actions/jobs/${id}/retry`, { _csrf: csrf }, { cookie });
    assert.equal(done.status, 303);
    assert.equal(getJob(core.db, id)!.status, "queued");

    const out = await post(core, "/admin/logout", { _csrf: csrf }, { cookie });
    assert.equal(out.status, 303);
    const after = await core.app.request("/admin", { headers: { cookie }, redirect: "manual" });
    assert.equal(after.status, 303, "signed out");
  },
);

Deno.test("consumers of the worker group show with pending count and idle time", async () => {
  await using core = await makeCore();
  const stream = JOB_STREAMS.intent_classify;
  await ensureGroup(core.redis, [stream]);
  await core.redis.xadd(stream, "*", "data", "{}");
  await core.redis.xreadgroup(
    "GROUP",
    WORKER_GROUP,
    "dead-replica-1",
    "COUNT",
    1,
    "STREAMS",
    stream,
    ">",
  );
  const { text } = await page(core, "/admin");
  assert.match(text, /dead-replica-1/);
  assert.match(text, /Consumers \(worker replicas\)/);
});
