/**
 * GET /openapi.json (the OpenAPI 3.1 document of the app's routes, core/openapi.ts) and GET /docs
 * (Swagger UI over it, with its files served by the core: docs_assets.ts).
 */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import type { JsonSchema } from "../openapi.ts";
import { DOCS_ASSETS, DOCS_PAGE } from "./docs_assets.ts";

/**
 * Router for /openapi.json, /docs and its files (mounted at the root). `buildDocument` makes the
 * document of the whole app; it is called on the first request, when every route is registered.
 */
export function docsRouter(buildDocument: () => JsonSchema): Hono {
  const app = new Hono();
  // Built on first use and kept: it depends only on the code.
  let document: JsonSchema | undefined;
  defineRoute(app, {
    method: "GET",
    path: "/openapi.json",
    tag: "operations",
    summary: "This document",
    responses: {
      200: {
        description: "the OpenAPI 3.1 document",
        raw: { contentType: "application/json", schema: { type: "object" } },
      },
    },
  }, (c) => {
    document ??= buildDocument();
    return c.json(document);
  });
  defineRoute(app, {
    method: "GET",
    path: "/docs",
    tag: "operations",
    summary: "Interactive API reference (Swagger UI) over this document",
    responses: {
      200: {
        description: "HTML page",
        raw: { contentType: "text/html", schema: { type: "string" } },
      },
    },
  }, (c) => c.html(DOCS_PAGE));
  for (const asset of DOCS_ASSETS) {
    // Prepared once, on the first request for it.
    let body: Promise<string> | undefined;
    defineRoute(app, {
      method: "GET",
      path: asset.path,
      tag: "operations",
      summary: asset.summary,
      responses: {
        200: {
          description: "a file of the /docs page",
          raw: { contentType: asset.contentType.split(";")[0], schema: { type: "string" } },
        },
      },
    }, async (c) =>
      c.body(await (body ??= asset.body()), 200, {
        "content-type": asset.contentType,
        // They change only with the code; a day saves reloading 1.7 MB on every visit.
        "cache-control": "public, max-age=86400",
      }));
  }
  return app;
}
