/**
 * Routes defined once: {@linkcode defineRoute} registers a Hono handler and keeps, with it, what
 * the route takes and answers, so the OpenAPI document (core/openapi.ts) is built from the routes
 * Hono really has rather than from a list kept in step by hand.
 *
 * Requests are still validated by the handlers (http/validate.ts), not by a framework before
 * them: the contract's answers depend on the order of the checks (e.g. an unknown memory is 404
 * before its body is looked at), and malformed JSON is the contract's 422. The handler reads the
 * body and query through the definition, so the schema the document shows is the one it parses.
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import type { z } from "zod";
import type { ResponseSchemaName } from "../../shared/response_schemas.ts";
import { parseBody, parseOptionalBody, parseQuery } from "./validate.ts";

/** HTTP methods the core uses. */
export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** One documented answer. */
export interface ResponseDoc {
  /** What it means. */
  description: string;
  /** The named JSON schema of the body (components.schemas). */
  schema?: ResponseSchemaName;
  /** The body is a JSON array of `schema`. */
  list?: boolean;
  /** A body that is not JSON: its media type and a JSON Schema of it. */
  raw?: { contentType: string; schema: Record<string, unknown> };
}

/** A request header a route reads. */
export interface HeaderDoc {
  /** Header name. */
  name: string;
  /** What it does. */
  description: string;
}

/** What a route takes and answers (its method and path are Hono's). */
export interface RouteDoc<B extends z.ZodType = z.ZodType, Q extends z.ZodObject = z.ZodObject> {
  /** Tag (group) in the reference. */
  tag: string;
  /** One line. */
  summary: string;
  /** More, when needed. */
  description?: string;
  /** Query string schema (an object of the parameters), parsed by `input.query()`. */
  query?: Q;
  /** JSON body schema, parsed by `input.body()`. */
  body?: B;
  /** The JSON body may be left out (empty counts as `{}`). */
  bodyOptional?: boolean;
  /** multipart/form-data body schema (documentation: uploads are streamed, not parsed whole). */
  multipart?: z.ZodType;
  /** Request headers. */
  headers?: readonly HeaderDoc[];
  /** Answers by status code (401 and 413 are added where they apply). */
  responses: Record<number, ResponseDoc>;
}

/** A route: where Hono serves it, what runs before it, and its documentation. */
export interface RouteDef<B extends z.ZodType = z.ZodType, Q extends z.ZodObject = z.ZodObject>
  extends RouteDoc<B, Q> {
  /** HTTP method. */
  method: Method;
  /** The Hono route pattern, relative to the router, e.g. `/:id`. */
  path: string;
  /** Middleware that runs before the handler on this route only. */
  middleware?: MiddlewareHandler[];
}

/** The request, parsed with the route's own schemas when the handler asks (so it picks when). */
export interface RouteInput<B extends z.ZodType, Q extends z.ZodObject> {
  /** The JSON body parsed with `body` (422 when it does not validate). */
  body(): Promise<z.output<B>>;
  /** The query string parsed with `query` (422 when it does not validate). */
  query(): z.output<Q>;
}

/** A route's handler. */
export type RouteHandler<B extends z.ZodType, Q extends z.ZodObject> = (
  c: Context,
  input: RouteInput<B, Q>,
) => Response | Promise<Response>;

/** A route as Hono serves it: the full path pattern (e.g. `/memories/:id`) and its doc. */
export interface DocumentedRoute extends RouteDoc {
  /** HTTP method. */
  method: Method;
  /** The full Hono route pattern. */
  path: string;
}

// Keyed by the registered handler: Hono keeps the same function when a router is mounted in
// another, so the composed app's routes still find their documentation.
const DOCS = new WeakMap<object, RouteDoc>();

/** Register `handler` on `app` at `def.method def.path`, documented by `def`. */
export function defineRoute<
  B extends z.ZodType = z.ZodType,
  Q extends z.ZodObject = z.ZodObject,
>(app: Hono, def: RouteDef<B, Q>, handler: RouteHandler<B, Q>): void {
  const { method, path, middleware = [], ...doc } = def;
  const registered = (c: Context) => handler(c, inputOf(c, doc));
  DOCS.set(registered, doc as RouteDoc);
  // Hono's typed overloads of on() want literal paths; the handlers are plain Context ones.
  const on = app.on as (method: string, path: string, ...handlers: MiddlewareHandler[]) => Hono;
  on(method, path, ...middleware, registered as MiddlewareHandler);
}

function inputOf<B extends z.ZodType, Q extends z.ZodObject>(
  c: Context,
  doc: RouteDoc<B, Q>,
): RouteInput<B, Q> {
  return {
    body() {
      if (doc.body === undefined) throw new Error(`${c.req.routePath} documents no JSON body`);
      return doc.bodyOptional ? parseOptionalBody(c, doc.body) : parseBody(c, doc.body);
    },
    query() {
      if (doc.query === undefined) throw new Error(`${c.req.routePath} documents no query`);
      return parseQuery(c, doc.query);
    },
  };
}

/** What {@linkcode documentedRoutes} finds. */
export interface RouteListing {
  /** The documented routes, in the order Hono registered them. */
  routes: DocumentedRoute[];
  /** `METHOD path` of handlers registered without {@linkcode defineRoute}. */
  undocumented: string[];
}

/** The routes `app` serves, with their documentation (middleware, method ALL, is left out). */
export function documentedRoutes(app: Hono): RouteListing {
  const routes: DocumentedRoute[] = [];
  const seen = new Set<string>();
  const bare: string[] = [];
  for (const r of app.routes) {
    // App-wide middleware: for every method, or for some on every path (the body limit).
    if (r.method === "ALL" || r.path === "/*" || r.path === "*") continue;
    const key = `${r.method} ${r.path}`;
    const doc = DOCS.get(r.handler);
    if (doc === undefined) bare.push(key);
    else if (!seen.has(key)) {
      seen.add(key);
      routes.push({ ...doc, method: r.method as Method, path: r.path });
    }
  }
  // A route's own middleware is registered as a handler of the same method and path.
  return { routes, undocumented: [...new Set(bare)].filter((key) => !seen.has(key)) };
}
