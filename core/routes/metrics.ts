/** GET /metrics: the core's Prometheus metrics (see core/metrics.ts). */
import { Hono } from "hono";
import type { CoreMetrics } from "../metrics.ts";
import { METRICS_CONTENT_TYPE } from "../../shared/metrics.ts";

/** Router for /metrics. */
export function metricsRouter(metrics: CoreMetrics): Hono {
  const app = new Hono();
  app.get("/", async (c) => {
    const text = await metrics.registry.render();
    return c.body(text, 200, { "Content-Type": METRICS_CONTENT_TYPE });
  });
  return app;
}
