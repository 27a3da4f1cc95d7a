/**
 * Values the core keeps on a request's Hono context. Declared once here so `c.get`/`c.set` are
 * typed everywhere without threading an Env type through every router.
 */
import type { z } from "zod";

declare module "hono" {
  interface ContextVariableMap {
    /** The request id (X-Request-Id), set by the request-observing middleware. */
    requestId: string;
    /** The schema the route validated its JSON body with (see http/validate.ts). */
    bodySchema: z.ZodType;
    /** The schema the route validated its query string with. */
    querySchema: z.ZodType;
    /** MAX_JSON_DEPTH, for the body parser (set by the app). */
    maxJsonDepth: number;
  }
}
