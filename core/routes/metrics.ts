/** GET /metrics: the core's Prometheus metrics (see core/metrics.ts). */
import { Hono } from "hono";
import type { CoreMetrics } from "../metrics.ts";
import { defineRoute } from "../http/route.ts";
import { METRICS_CONTENT_TYPE } from "../../shared/metrics.ts";

/** Router for /metrics. */
export function metricsRouter(metrics: CoreMetrics): Hono {
  const app = new Hono();
  defineRoute(app, {
    method: "GET",
    path: "/",
    tag: "operations",
    summary: "Prometheus metrics (text exposition format)",
    description: "HTTP requests by route pattern and status with a latency histogram, LLM jobs " +
      "by type and status, job stream lengths and pending entries, dead-letter length.",
    responses: {
      200: {
        description: "metrics",
        raw: { contentType: "text/plain; version=0.0.4", schema: { type: "string" } },
      },
    },
  }, async (c) => {
    const text = await metrics.registry.render();
    return c.body(text, 200, { "Content-Type": METRICS_CONTENT_TYPE });
  });
  return app;
}
