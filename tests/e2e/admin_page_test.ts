/**
 * The admin page in a real browser: Debian's chromium (headless, through playwright-core)
 * against a served core with real Redis, a worker and the fake model. A job the model answers
 * badly fails and is dead-lettered; the page shows it, and its buttons bring jobs back.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { getJob } from "../../core/store/job_repo.ts";
import { DEAD_LETTER_STREAM, MODEL_STATUS_KEY } from "../../shared/streams.ts";
import { launchChromium } from "../helpers/browser.ts";
import { sanitizeTests } from "../helpers/core_app.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { startHarness } from "../llm_worker/harness.ts";

await sanitizeTests();

const TOKEN = "admin-page-test-token-0123456789";

/** Console errors and uncaught exceptions of `page`, collected as they happen. */
function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

Deno.test("admin page in chromium: sign-in, failed job retry, dead-letter replay, CSRF", async () => {
  await using h = await startHarness({
    coreEnv: { CORE_API_TOKEN: TOKEN },
    env: { CORE_API_TOKEN: TOKEN },
    worker: false,
  });
  await using browser = await launchChromium();
  await using shotsTmp = await tempDir("memori_admin_page_");
  const shots = shotsTmp.path;
  // Two jobs the model answers with no JSON: each fails and is parked on the dead letters.
  const worker = await h.startWorker();
  h.fake.setDefault({ content: "<think>no json here</think>" });
  const a = await h.createJob("email_extract", { subject: "<b>Hi</b>", body: "Monday" });
  const b = await h.createJob("email_extract", { subject: "Other", body: "Tuesday" });
  assert.equal((await h.waitJob(a)).status, "failed");
  assert.equal((await h.waitJob(b)).status, "failed");
  // No worker from here on, so a re-queued job stays queued for the checks below.
  await worker.stop();
  // What the worker reports about the model (written here: the worker above has stopped).
  const lastSuccess = new Date(Date.now() - 42_000).toISOString();
  await h.redis.hset(MODEL_STATUS_KEY, {
    state: "ok",
    last_success_at: lastSuccess,
    updated_at: lastSuccess,
  });
  const entries = await h.redis.xrange(DEAD_LETTER_STREAM, "-", "+");
  const entryOf = (job: string) => entries.find(([, f]) => JSON.parse(f[1]).job_id === job)![0];

  const page = await browser.context.newPage();
  const errors = collectErrors(page);
  const base = h.server.url;

  // Signed out, the page sends the browser to the sign-in form; a wrong token is refused.
  await page.goto(`${base}/admin`);
  assert.equal(new URL(page.url()).pathname, "/admin/login");
  await page.fill("input[name=token]", "wrong-token");
  const refused = await Promise.all([
    page.waitForResponse((r) =>
      r.url().endsWith("/admin/login") && r.request().method() === "POST"
    ),
    page.click("button[type=submit].primary"),
  ]);
  assert.equal(refused[0].status(), 401);
  assert.match(await page.textContent("[role=alert]") ?? "", /Wrong token/);
  // Chromium logs the refused sign-in's 401 itself; that one is expected, nothing else.
  assert.ok(errors.every((e) => /status of 401/.test(e)), errors.join("\n"));
  errors.length = 0;
  await page.fill("input[name=token]", TOKEN);
  await Promise.all([
    page.waitForURL(`${base}/admin`),
    page.click("button[type=submit].primary"),
  ]);
  const cookie = (await browser.context.cookies()).find((c) => c.name === "memori_admin_session");
  assert.ok(cookie, "a session cookie");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");

  // The overview: both failed jobs, their dead letters, the escaped subject nowhere as HTML.
  assert.match(await page.textContent("h1") ?? "", /Queue overview/);
  await page.locator(`#failed tr[data-job-id="${a}"]`).waitFor();
  await page.locator(`#dead-letters tr[data-entry-id="${entryOf(b)}"]`).waitFor();
  assert.match(await page.textContent("#model h2") ?? "", /Model: ok/);
  await page.screenshot({ path: join(shots, "admin.png"), fullPage: true });
  const readme = Deno.env.get("ADMIN_PAGE_SCREENSHOT");
  if (readme) await page.screenshot({ path: readme, fullPage: true });

  // A POST without the page's CSRF token is refused, even with the session cookie.
  const forged = await page.request.post(`${base}/admin/actions/jobs/${a}/retry`, {
    form: { nothing: "here" },
  });
  assert.equal(forged.status(), 403);
  assert.equal(getJob(h.core.db, a)!.status, "failed");
  // The JSON API still wants the bearer token; the cookie is not enough.
  const api = await page.request.get(`${base}/admin/queue-stats`);
  assert.equal(api.status(), 401);

  // Retry on the failed job brings it back to queued, as admin:web.
  await Promise.all([
    page.waitForURL(/done=retried/),
    page.locator(`#failed tr[data-job-id="${a}"] button`).click(),
  ]);
  assert.equal(getJob(h.core.db, a)!.status, "queued");
  assert.match(await page.textContent("[role=status].notice") ?? "", /queued again/);

  // Replay on a dead letter re-queues its job and drops the entry.
  await Promise.all([
    page.waitForURL(/done=replayed/),
    page.locator(`#dead-letters tr[data-entry-id="${entryOf(b)}"] button.primary`).click(),
  ]);
  assert.equal(getJob(h.core.db, b)!.status, "queued");
  const left = await h.redis.xrange(DEAD_LETTER_STREAM, "-", "+");
  assert.ok(!left.some(([id]) => id === entryOf(b)), "the replayed entry is gone");

  // The job page, found by id: payload (escaped), and the audit trail with admin:web.
  await page.fill("header input[name=id]", a);
  await Promise.all([
    page.waitForURL(`${base}/admin/jobs/${a}`),
    page.press("header input[name=id]", "Enter"),
  ]);
  assert.equal(await page.textContent("#job-status"), "queued");
  assert.match(await page.textContent("pre:nth-of-type(2)") ?? "", /<b>Hi<\/b>/);
  assert.equal(await page.locator("pre b").count(), 0, "the payload's HTML is text");
  const trail = await page.textContent("#audit") ?? "";
  assert.match(trail, /requeued\s*admin:web/);

  // The overview refreshes itself in place (no reload): a job failing meanwhile shows up.
  await page.goto(`${base}/admin`);
  await page.evaluate(() => Object.assign(globalThis, { loadedOnce: true }));
  assert.equal(await page.locator(`#failed tr[data-job-id="${a}"]`).count(), 0);
  h.core.db.prepare("UPDATE llm_jobs SET status = 'failed', error_message = 'again' WHERE id = ?")
    .run(a);
  await page.locator(`#failed tr[data-job-id="${a}"]`).waitFor({ timeout: 10_000 });
  assert.equal(await page.evaluate(() => "loadedOnce" in globalThis), true, "not reloaded");
  // Nothing the page did logged an error.
  assert.deepEqual(errors, []);
});
