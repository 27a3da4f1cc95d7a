/**
 * Values the core keeps on a request's Hono context. Declared once here so `c.get`/`c.set` are
 * typed everywhere without threading an Env type through every router.
 */
// An import keeps this file a module, so the declaration below augments Hono's rather than
// replacing it.
import type {} from "hono";

declare module "hono" {
  interface ContextVariableMap {
    /** The request id (X-Request-Id), set by the request-observing middleware. */
    requestId: string;
    /** MAX_JSON_DEPTH, for the body parser (set by the app). */
    maxJsonDepth: number;
  }
}
