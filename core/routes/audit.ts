/** GET /audit: the audit trail, filtered, newest first. */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { invalid, list } from "../openapi.ts";
import type { CoreDeps } from "../deps.ts";
import { listAudit } from "../store/audit.ts";
import { auditQuery } from "../../shared/schemas.ts";

/** Router for /audit. */
export function auditRouter(deps: CoreDeps): Hono {
  const { db } = deps;
  const app = new Hono();

  defineRoute(app, {
    method: "GET",
    path: "/",
    tag: "audit",
    summary: "The audit trail, filtered",
    query: auditQuery,
    responses: { 200: list("AuditEntry"), 422: invalid },
  }, (c, input) => {
    const q = input.query();
    return c.json(listAudit(db, q));
  });

  return app;
}
