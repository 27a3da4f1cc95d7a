/** GET /health */
import { Hono } from "hono";

/** Liveness: answers while the process serves HTTP. */
export function healthRouter(): Hono {
  const app = new Hono();
  app.get("/", (c) => c.json({ status: "ok" }));
  return app;
}
