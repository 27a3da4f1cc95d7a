/** GET /search: full-text search over an owner's confirmed memories (see search_query.ts). */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { fail, invalid, list } from "../openapi.ts";
import type { CoreDeps } from "../deps.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { searchQuery } from "../../shared/schemas.ts";
import { jsonText } from "../http/json_text.ts";

/** Router for /search. */
export function searchRouter(deps: CoreDeps): Hono {
  const app = new Hono();

  defineRoute(app, {
    method: "GET",
    path: "/",
    tag: "search",
    summary: "Full-text search over an owner's confirmed memories, pinned first (at most 20)",
    query: searchQuery,
    responses: {
      200: list("SearchHit", "hits, pinned first, then by relevance"),
      400: fail("empty q without pinned=true"),
      404: fail("unknown owner"),
      422: invalid,
    },
  }, async (c, input) => {
    const query = input.query();
    const q = (query.q ?? "").trim();
    const pinnedOnly = query.pinned === true;
    if (q === "" && !pinnedOnly) {
      throw new ApiError(400, "Query parameter q must not be empty (unless pinned=true)");
    }
    // The hits come as JSON text (SearchFn); answered as c.json would answer them. The search
    // checks the owner itself, in its own read transaction (off the main thread on the pool).
    const json = await deps.search({ owner: query.owner, q, pinnedOnly });
    if (json === null) throw notFound("User");
    return jsonText(c, json);
  });

  return app;
}
