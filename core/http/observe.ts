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

/** Middleware: request id, metrics and the per-request log line. */
export function observeRequests(log: Logger, metrics: CoreMetrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    const requestId = requestIdFrom(c.req.header(REQUEST_ID_HEADER));
    c.set("requestId", requestId);
    await next();
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
    const seconds = (performance.now() - started) / 1000;
    const route = routeLabel(c);
    const method = c.req.method;
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
