/** GET /search: full-text search over an owner's confirmed memories (see search_query.ts). */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";
import { ApiError } from "../http/errors.ts";
import { parseQuery } from "../http/validate.ts";
import { requireUser } from "../store/lookups.ts";
import { searchQuery } from "../../shared/schemas.ts";

/** Router for /search. */
export function searchRouter(deps: CoreDeps): Hono {
  const { db } = deps;
  const app = new Hono();

  app.get("/", async (c) => {
    const query = parseQuery(c, searchQuery);
    const q = (query.q ?? "").trim();
    const pinnedOnly = query.pinned === true;
    if (q === "" && !pinnedOnly) {
      throw new ApiError(400, "Query parameter q must not be empty (unless pinned=true)");
    }
    requireUser(db, query.owner);
    return c.json(await deps.search({ owner: query.owner, q, pinnedOnly }), 200);
  });

  return app;
}
