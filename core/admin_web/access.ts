/**
 * Who may use the admin page, and which posts it accepts. With CORE_API_TOKEN set a browser signs
 * in for a session (see session.ts); without it the page is open, like the API. Every post must be
 * one of the page's own forms: form-encoded, from this origin (hono/csrf) and carrying the
 * session's CSRF token. Security headers go on every page answer.
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { csrf } from "hono/csrf";
import type { Clock } from "../deps.ts";
import { tokenChecker } from "../http/auth.ts";
import {
  type AdminSession,
  type AdminSessions,
  createAdminSessions,
  randomToken,
  sameString,
  SESSION_COOKIE,
} from "./session.ts";

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

/** Answers a refused request with a page saying why. */
export type Refuse = (
  c: Context,
  status: number,
  reason: { title: string; message: string },
) => Promise<Response>;

/** The page's access control for one core. */
export interface AdminAccess {
  /** True without CORE_API_TOKEN: no sign-in. */
  open: boolean;
  /** The signed-in sessions. */
  sessions: AdminSessions;
  /** Checks a typed token in constant time; null when the core has none. */
  checkToken: ((given: string) => Promise<boolean>) | null;
  /** The live session named by the request's cookie. */
  sessionFromCookie(c: Context): AdminSession | undefined;
  /** The request's session, once the middleware accepted it. */
  sessionOf(c: Context): AdminSession | undefined;
  /** The CSRF token the request's forms carry. */
  csrfOf(c: Context): string;
  /** The middleware, in order; each lets paths of the JSON API through untouched. */
  middleware: MiddlewareHandler[];
}

function formString(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  return typeof value === "string" ? value : "";
}

/** Access control for a core with `token` (or none). */
export function adminAccess(
  token: string | undefined,
  options: { clock: Clock; refuse: Refuse },
): AdminAccess {
  const { clock, refuse } = options;
  const sessions = createAdminSessions();
  // Without a token there is no session; forms still carry a secret another site cannot read.
  const openCsrf = randomToken();
  const accepted = new WeakMap<Request, AdminSession>();
  const originCheck = csrf();
  const open = token === undefined;
  const sessionFromCookie = (c: Context) =>
    sessions.get(getCookie(c, SESSION_COOKIE), clock().getTime());
  const csrfOf = (c: Context) => accepted.get(c.req.raw)?.csrf ?? openCsrf;

  // Sub-router middleware is mounted on /admin/*, which includes the JSON API: skip its paths.
  const headers: MiddlewareHandler = async (c, next) => {
    if (!isAdminWebPath(c.req.path)) return await next();
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
  };
  const formsOnly: MiddlewareHandler = async (c, next) => {
    if (!isAdminWebPath(c.req.path) || c.req.method === "GET" || c.req.method === "HEAD") {
      return await next();
    }
    // hono/csrf checks form posts only, so anything else is refused here.
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
      return await refuse(c, 403, {
        title: "Refused",
        message: "Only the page's own forms may post here.",
      });
    }
    return await originCheck(c, next);
  };
  const signedIn: MiddlewareHandler = async (c, next) => {
    const path = c.req.path;
    if (!isAdminWebPath(path) || open) return await next();
    if (path === "/admin/login" || path.startsWith("/admin/assets/")) return await next();
    const session = sessionFromCookie(c);
    if (!session) {
      if (c.req.method === "GET") return c.redirect("/admin/login", 303);
      return await refuse(c, 401, {
        title: "Signed out",
        message: "Sign in again, then repeat the action.",
      });
    }
    accepted.set(c.req.raw, session);
    return await next();
  };
  const csrfToken: MiddlewareHandler = async (c, next) => {
    const path = c.req.path;
    // The sign-in form has no session yet; the origin check above covers it.
    if (!isAdminWebPath(path) || c.req.method !== "POST" || path === "/admin/login") {
      return await next();
    }
    const given = formString(await c.req.parseBody(), "_csrf");
    if (!sameString(given, csrfOf(c))) {
      return await refuse(c, 403, {
        title: "Refused",
        message: "The form's CSRF token is missing or stale.",
      });
    }
    return await next();
  };

  return {
    open,
    sessions,
    checkToken: token === undefined ? null : tokenChecker(token),
    sessionFromCookie,
    sessionOf: (c) => accepted.get(c.req.raw),
    csrfOf,
    middleware: [headers, formsOnly, signedIn, csrfToken],
  };
}
