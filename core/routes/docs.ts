/**
 * GET /openapi.json (the OpenAPI 3.1 document of core/openapi.ts) and GET /docs (Swagger UI over
 * it, with its files served by the core: docs_assets.ts).
 */
import { Hono } from "hono";
import { type JsonSchema, openApiDocument } from "../openapi.ts";
import { DOCS_ASSETS, DOCS_PAGE } from "./docs_assets.ts";

/** Router for /openapi.json, /docs and its files (mounted at the root). */
export function docsRouter(): Hono {
  const app = new Hono();
  // Built on first use and kept: it depends only on the code.
  let document: JsonSchema | undefined;
  app.get("/openapi.json", (c) => {
    document ??= openApiDocument();
    return c.json(document);
  });
  app.get("/docs", (c) => c.html(DOCS_PAGE));
  for (const asset of DOCS_ASSETS) {
    // Prepared once, on the first request for it.
    let body: Promise<string> | undefined;
    app.get(asset.path, async (c) =>
      c.body(await (body ??= asset.body()), 200, {
        "content-type": asset.contentType,
        // They change only with the code; a day saves reloading 1.7 MB on every visit.
        "cache-control": "public, max-age=86400",
      }));
  }
  return app;
}
