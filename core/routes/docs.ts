/**
 * GET /openapi.json (the OpenAPI 3.1 document of core/openapi.ts) and GET /docs (Swagger UI over
 * it, from @hono/swagger-ui).
 */
import { Hono } from "hono";
import { swaggerUI } from "@hono/swagger-ui";
import { type JsonSchema, openApiDocument } from "../openapi.ts";

/**
 * The swagger-ui-dist release the page loads from the CDN: pinned, so the reference does not
 * change under us with every upstream release.
 */
export const SWAGGER_UI_VERSION = "5.35.0";

/** Router for /openapi.json and /docs (mounted at the root). */
export function docsRouter(): Hono {
  const app = new Hono();
  // Built on first use and kept: it depends only on the code.
  let document: JsonSchema | undefined;
  app.get("/openapi.json", (c) => {
    document ??= openApiDocument();
    return c.json(document);
  });
  app.get(
    "/docs",
    swaggerUI({
      url: "/openapi.json",
      title: "Memori API",
      version: SWAGGER_UI_VERSION,
      persistAuthorization: true,
    }),
  );
  return app;
}
