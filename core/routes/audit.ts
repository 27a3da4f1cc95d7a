/** GET /audit: the audit trail, filtered, newest first. */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";
import { parseQuery } from "../http/validate.ts";
import { listAudit } from "../store/audit.ts";
import { auditQuery } from "../../shared/schemas.ts";

/** Router for /audit. */
export function auditRouter(deps: CoreDeps): Hono {
  const { db } = deps;
  const app = new Hono();

  app.get("/", (c) => {
    const q = parseQuery(c, auditQuery);
    return c.json(listAudit(db, q));
  });

  return app;
}
