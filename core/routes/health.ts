/** GET /health */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { ok } from "../openapi.ts";

/** Liveness: answers while the process serves HTTP. */
export function healthRouter(): Hono {
  const app = new Hono();
  defineRoute(app, {
    method: "GET",
    path: "/",
    tag: "operations",
    summary: "Liveness: answers while the process serves HTTP (never needs the token)",
    responses: { 200: ok("Health") },
  }, (c) => c.json({ status: "ok" }));
  return app;
}
