/**
 * The operator page at /admin: server-rendered HTML over the same functions as the /admin and
 * /llm_jobs endpoints. With CORE_API_TOKEN set, a browser signs in once (the token for a session
 * cookie); every button is a POST form carrying a per-session CSRF token, and Hono's csrf
 * middleware also refuses cross-origin form posts. The JSON API keeps its bearer check.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import { deleteCookie, setCookie } from "hono/cookie";
import type { CoreDeps } from "../deps.ts";
import { listAudit } from "../store/audit.ts";
import { deleteDeadLetter, replayDeadLetter } from "../jobs/dead_letters.ts";
import { ApiError } from "../http/errors.ts";
import { getJob } from "../store/job_repo.ts";
import { retryFailedJobs, retryJob } from "../jobs/job_requeue.ts";
import { ADMIN_CSS, ADMIN_JS, REFRESH_SECONDS } from "../admin_web/assets.ts";
import { JobPage, MessagePage } from "../admin_web/job_page.tsx";
import type { PageContext } from "../admin_web/layout.tsx";
import { LoginPage } from "../admin_web/login_page.tsx";
import { loadOverview } from "../admin_web/overview_data.ts";
import { OverviewPage } from "../admin_web/overview_page.tsx";
import { adminAccess } from "../admin_web/access.ts";
import { SESSION_COOKIE, SESSION_TTL_MS } from "../admin_web/session.ts";
import { JOB_TYPES } from "../../shared/enums.ts";
import { streamEntryId, uuid } from "../../shared/schemas.ts";

/** The audit actor of everything done from the page. */
export const ADMIN_WEB_ACTOR = "admin:web";

/** Largest batch "Retry all failed of this type" re-queues at once (as POST /retry-failed). */
const RETRY_ALL_LIMIT = 1000;

const NOTICES: Record<string, (job: string, n: string) => string> = {
  retried: (job) => `Job ${job} is queued again.`,
  retried_all: (_job, n) => `${n} failed job(s) queued again.`,
  replayed: (job) => `Dead letter replayed: job ${job} is queued again.`,
  deleted: () => "Dead letter deleted.",
};

async function render(c: Context, node: Child, status = 200): Promise<Response> {
  const body = await (node as { toString(): string | Promise<string> }).toString();
  return c.html(`<!DOCTYPE html>${body}`, status as 200);
}

function formString(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  return typeof value === "string" ? value : "";
}

/** Router for the admin page, mounted at /admin beside the JSON admin router. */
export function adminWebRouter(deps: CoreDeps): Hono {
  const access = adminAccess(deps.config.CORE_API_TOKEN, {
    clock: deps.clock,
    refuse: (c, status, reason) => problem(c, status, reason.title, reason.message),
  });
  const { open, sessions, checkToken } = access;
  const app = new Hono();

  function pageContext(c: Context, refresh = 0): PageContext {
    return { open, csrf: access.csrfOf(c), signedIn: !!access.sessionOf(c), refresh };
  }

  function problem(c: Context, status: number, title: string, message: string) {
    return render(
      c,
      <MessagePage ctx={pageContext(c)} title={title} message={message} />,
      status,
    );
  }

  for (const m of access.middleware) app.use("*", m);

  app.get("/assets/admin.css", (c) => {
    c.header("Content-Type", "text/css; charset=utf-8");
    return c.body(ADMIN_CSS);
  });
  app.get("/assets/admin.js", (c) => {
    c.header("Content-Type", "text/javascript; charset=utf-8");
    return c.body(ADMIN_JS);
  });

  app.get("/login", (c) => {
    if (open || access.sessionFromCookie(c)) {
      return c.redirect("/admin", 303);
    }
    return render(c, <LoginPage ctx={pageContext(c)} />);
  });
  app.post("/login", async (c) => {
    if (!checkToken) return c.redirect("/admin", 303);
    const given = formString(await c.req.parseBody(), "token");
    if (!await checkToken(given)) {
      return await render(c, <LoginPage ctx={pageContext(c)} refused />, 401);
    }
    const session = sessions.create(deps.clock().getTime());
    setCookie(c, SESSION_COOKIE, session.id, {
      path: "/admin",
      httpOnly: true,
      sameSite: "Strict",
      // Behind a TLS-terminating proxy the core sees http; the proxy's header says https.
      secure: new URL(c.req.url).protocol === "https:" ||
        c.req.header("x-forwarded-proto") === "https",
      maxAge: SESSION_TTL_MS / 1000,
    });
    return c.redirect("/admin", 303);
  });
  app.post("/logout", (c) => {
    const session = access.sessionOf(c);
    if (session) sessions.drop(session.id);
    deleteCookie(c, SESSION_COOKIE, { path: "/admin" });
    return c.redirect(open ? "/admin" : "/admin/login", 303);
  });

  app.get("/", async (c) => {
    const offset = Number(c.req.query("failed_offset") ?? "0");
    const before = c.req.query("dl_before");
    const o = await loadOverview(deps, {
      failedOffset: Number.isSafeInteger(offset) && offset >= 0 ? offset : 0,
      deadBefore: before && streamEntryId.safeParse(before).success ? before : undefined,
    });
    // The notice comes from the URL, so a link could carry any text: only ids and counts.
    const job = c.req.query("job") ?? "";
    const n = c.req.query("n") ?? "";
    const notice = uuid.safeParse(job).success || !job
      ? NOTICES[c.req.query("done") ?? ""]?.(job, /^\d{1,6}$/.test(n) ? n : "some")
      : undefined;
    return await render(
      c,
      <OverviewPage o={o} ctx={pageContext(c, REFRESH_SECONDS)} notice={notice} />,
    );
  });

  app.get("/jobs", (c) => {
    const id = (c.req.query("id") ?? "").trim().toLowerCase();
    return c.redirect(`/admin/jobs/${encodeURIComponent(id)}`, 303);
  });
  app.get("/jobs/:id", (c) => {
    const id = c.req.param("id").toLowerCase();
    const job = uuid.safeParse(id).success ? getJob(deps.db, id) : undefined;
    if (!job) return problem(c, 404, "Not found", `No job has the id ${id}.`);
    const audit = listAudit(deps.db, {
      entity_type: "llm_job",
      entity_id: id,
      limit: 1000,
      offset: 0,
    });
    return render(c, <JobPage ctx={pageContext(c)} job={job} audit={audit} />);
  });

  /** Run an action; an ApiError (404, 409, 503) becomes a page saying why. */
  async function act(c: Context, run: () => Promise<string>): Promise<Response> {
    try {
      return c.redirect(await run(), 303);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const detail = typeof err.detail === "string" ? err.detail : JSON.stringify(err.detail);
      return await problem(c, err.status, "Not done", detail);
    }
  }

  app.post("/actions/jobs/:id/retry", (c) =>
    act(c, async () => {
      const id = c.req.param("id").toLowerCase();
      if (!uuid.safeParse(id).success) throw new ApiError(404, "LLM job not found");
      const row = await retryJob(deps, id, ADMIN_WEB_ACTOR);
      return `/admin?done=retried&job=${encodeURIComponent(row.id)}`;
    }));
  app.post("/actions/retry-failed", (c) =>
    act(c, async () => {
      const type = formString(await c.req.parseBody(), "job_type");
      if (!(JOB_TYPES as readonly string[]).includes(type)) {
        throw new ApiError(422, `Unknown job type ${type}`);
      }
      const rows = await retryFailedJobs(deps, ADMIN_WEB_ACTOR, {
        job_type: type,
        limit: RETRY_ALL_LIMIT,
      });
      return `/admin?done=retried_all&n=${rows.length}`;
    }));
  app.post("/actions/dead-letters/:entry_id/replay", (c) =>
    act(c, async () => {
      const row = await replayDeadLetter(deps, entryIdParam(c), ADMIN_WEB_ACTOR);
      return `/admin?done=replayed&job=${encodeURIComponent(row.id)}`;
    }));
  app.post("/actions/dead-letters/:entry_id/delete", (c) =>
    act(c, async () => {
      await deleteDeadLetter(deps, entryIdParam(c), ADMIN_WEB_ACTOR);
      return "/admin?done=deleted";
    }));

  return app;
}

function entryIdParam(c: Context): string {
  const id = c.req.param("entry_id") ?? "";
  if (!streamEntryId.safeParse(id).success) throw new ApiError(404, "Dead-letter entry not found");
  return id;
}
