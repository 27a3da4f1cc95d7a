/**
 * The operator page at /admin: server-rendered HTML over the same functions as the /admin and
 * /llm_jobs endpoints. With CORE_API_TOKEN set, a browser signs in once (the token for a session
 * cookie); every button is a POST form carrying a per-session CSRF token, and Hono's csrf
 * middleware also refuses cross-origin form posts. The JSON API keeps its bearer check.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { csrf } from "hono/csrf";
import type { CoreDeps } from "../deps.ts";
import { listAudit } from "../audit.ts";
import { deleteDeadLetter, replayDeadLetter } from "../dead_letters.ts";
import { tokenChecker } from "../http/auth.ts";
import { ApiError } from "../http/errors.ts";
import { getJob } from "../job_repo.ts";
import { retryFailedJobs, retryJob } from "../job_requeue.ts";
import { ADMIN_CSS, ADMIN_JS, REFRESH_SECONDS } from "../admin_web/assets.ts";
import { JobPage, MessagePage } from "../admin_web/job_page.tsx";
import type { PageContext } from "../admin_web/layout.tsx";
import { LoginPage } from "../admin_web/login_page.tsx";
import { loadOverview } from "../admin_web/overview_data.ts";
import { OverviewPage } from "../admin_web/overview_page.tsx";
import {
  type AdminSession,
  createAdminSessions,
  randomToken,
  sameString,
  SESSION_COOKIE,
  SESSION_TTL_MS,
} from "../admin_web/session.ts";
import { JOB_TYPES } from "../../shared/enums.ts";
import { streamEntryId, uuid } from "../../shared/schemas.ts";

/** The audit actor of everything done from the page. */
export const ADMIN_WEB_ACTOR = "admin:web";

/** Largest batch "Retry all failed of this type" re-queues at once (as POST /retry-failed). */
const RETRY_ALL_LIMIT = 1000;

const WEB_PATH = /^\/admin(\/(jobs|login|logout|assets|actions)(\/.*)?)?$/;

/** Whether `path` belongs to the page (which checks its own session) rather than the JSON API. */
export function isAdminWebPath(path: string): boolean {
  return WEB_PATH.test(path);
}

// Defence in depth behind the escaping: no inline script or style can run on these pages.
const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; " +
    "base-uri 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "same-origin",
  "Cache-Control": "no-store",
};

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
  const token = deps.config.CORE_API_TOKEN;
  const open = token === undefined;
  const checkToken = token === undefined ? null : tokenChecker(token);
  const sessions = createAdminSessions();
  // Without a token there is no session; forms still carry a secret another site cannot read.
  const openCsrf = randomToken();
  const sessionOf = new WeakMap<Request, AdminSession>();
  const app = new Hono();

  function pageContext(c: Context, refresh = 0): PageContext {
    return { open, csrf: sessionOf.get(c.req.raw)?.csrf ?? openCsrf, refresh };
  }

  function problem(c: Context, status: number, title: string, message: string) {
    return render(
      c,
      <MessagePage ctx={pageContext(c)} title={title} message={message} signedIn={!open} />,
      status,
    );
  }

  // Sub-router middleware is mounted on /admin/*, which includes the JSON API: skip its paths.
  app.use("*", async (c, next) => {
    if (!isAdminWebPath(c.req.path)) return await next();
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
  });
  const originCheck = csrf();
  app.use("*", async (c, next) => {
    if (!isAdminWebPath(c.req.path) || c.req.method === "GET" || c.req.method === "HEAD") {
      return await next();
    }
    // Only the page's own forms post here: refuse other bodies (hono/csrf checks form posts only).
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
      return await problem(c, 403, "Refused", "Only the page's own forms may post here.");
    }
    return await originCheck(c, next);
  });
  app.use("*", async (c, next) => {
    const path = c.req.path;
    if (!isAdminWebPath(path) || open) return await next();
    if (path === "/admin/login" || path.startsWith("/admin/assets/")) return await next();
    const session = sessions.get(getCookie(c, SESSION_COOKIE), deps.clock().getTime());
    if (!session) {
      if (c.req.method === "GET") return c.redirect("/admin/login", 303);
      return await problem(c, 401, "Signed out", "Sign in again, then repeat the action.");
    }
    sessionOf.set(c.req.raw, session);
    return await next();
  });
  app.use("*", async (c, next) => {
    const path = c.req.path;
    if (!isAdminWebPath(path) || c.req.method !== "POST" || path === "/admin/login") {
      return await next();
    }
    const given = formString(await c.req.parseBody(), "_csrf");
    if (!sameString(given, pageContext(c).csrf)) {
      return await problem(c, 403, "Refused", "The form's CSRF token is missing or stale.");
    }
    return await next();
  });

  app.get("/assets/admin.css", (c) => {
    c.header("Content-Type", "text/css; charset=utf-8");
    return c.body(ADMIN_CSS);
  });
  app.get("/assets/admin.js", (c) => {
    c.header("Content-Type", "text/javascript; charset=utf-8");
    return c.body(ADMIN_JS);
  });

  app.get("/login", (c) => {
    if (open || sessions.get(getCookie(c, SESSION_COOKIE), deps.clock().getTime())) {
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
    const session = sessionOf.get(c.req.raw);
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
    const notice = NOTICES[c.req.query("done") ?? ""]?.(
      c.req.query("job") ?? "",
      c.req.query("n") ?? "",
    );
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
