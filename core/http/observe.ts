/**
 * The first middleware of the core: gives each request an id (X-Request-Id, kept from the
 * caller when it sends a sane one: the worker sends the job id), counts and times it by route
 * pattern for /metrics, and writes one log line per request.
 */
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Logger } from "../../shared/log.ts";
import type { CoreMetrics } from "../metrics.ts";
import type {} from "./context.ts";

/** The request id header, read from callers and sent back on every answer. */
export const REQUEST_ID_HEADER = "X-Request-Id";

// Anything else (too long, odd characters) could forge log structure; a fresh id replaces it.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The label of requests no route matched (so unknown paths do not each make a series). */
export const UNMATCHED_ROUTE = "unmatched";

/** The methods counted under their own name; any other is {@linkcode OTHER_METHOD}. */
export const KNOWN_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "HEAD",
  "OPTIONS",
]);

/** The method label of requests with an invented method (so each does not make a series). */
export const OTHER_METHOD = "other";

// Frequent and uninteresting at info: container healthchecks and Prometheus scrapes.
const QUIET_ROUTES = new Set(["/health", "/metrics"]);

/** The request id `header` asks for, or a new one. */
export function requestIdFrom(header: string | undefined): string {
  return header !== undefined && SAFE_REQUEST_ID.test(header) ? header : crypto.randomUUID();
}

/**
 * The route pattern that handled the request, e.g. `/memories/:id`. The last matched route is
 * the handler (handlers are registered after the `*` middleware); when only middleware matched,
 * no route did.
 */
export function routeLabel(c: Context): string {
  const path = routePath(c, -1);
  return path === "" || path === "*" || path === "/*" ? UNMATCHED_ROUTE : path;
}

/**
 * The method as a label: one of {@linkcode KNOWN_METHODS}, else {@linkcode OTHER_METHOD}. Anyone
 * can send any token as a method, before authentication, so the raw value would let a stranger
 * grow /metrics without bound.
 */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : OTHER_METHOD;
}

/** Middleware: request id, metrics and the per-request log line. */
export function observeRequests(log: Logger, metrics: CoreMetrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    const requestId = requestIdFrom(c.req.header(REQUEST_ID_HEADER));
    c.set("requestId", requestId);
    await next();
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
    const seconds = (performance.now() - started) / 1000;
    const method = methodLabel(c.req.method);
    // Only the routes of known methods are real; an invented method matches middleware alone.
    const route = method === OTHER_METHOD ? UNMATCHED_ROUTE : routeLabel(c);
    const status = c.res.status;
    metrics.httpRequests.inc({ method, route, status: String(status) });
    metrics.httpDuration.observe({ method, route }, seconds);
    // Method, route and status only: paths and queries can carry user text (tags, search
    // words) and headers carry the token.
    const fields = {
      request_id: requestId,
      method,
      route,
      status,
      duration_ms: Math.round(seconds * 100_000) / 100,
    };
    if (QUIET_ROUTES.has(route)) log.debug("request", fields);
    else log.info("request", fields);
  };
}
