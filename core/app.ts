/**
 * The core HTTP app: one router per resource, composed here. Creating the app is separate from
 * serving it (main.ts), so tests call `app.request()` on an app with their own dependencies.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { CoreDeps } from "./deps.ts";
import { ApiError, errorResponse } from "./http/errors.ts";
import { healthRouter } from "./routes/health.ts";
import { usersRouter } from "./routes/users.ts";
import { memoriesRouter } from "./routes/memories.ts";
import { tasksRouter } from "./routes/tasks.ts";
import { remindersRouter } from "./routes/reminders.ts";
import { eventsRouter } from "./routes/events.ts";
import { searchRouter } from "./routes/search.ts";
import { settingsRouter } from "./routes/settings.ts";
import { auditRouter } from "./routes/audit.ts";
import { backupRouter } from "./routes/backup.ts";
import { llmJobsRouter } from "./routes/llm_jobs.ts";
import { adminRouter } from "./routes/admin.ts";
import { adminWebRouter } from "./routes/admin_web.tsx";
import { isAdminWebPath } from "./admin_web/access.ts";
import { metricsRouter } from "./routes/metrics.ts";
import { docsRouter } from "./routes/docs.ts";
import { requireToken } from "./http/auth.ts";
import { documentedRoutes } from "./http/route.ts";
import { openApiDocument } from "./openapi.ts";
import { claimedActor } from "./http/actor.ts";
import { observeRequests } from "./http/observe.ts";
import { createCoreMetrics } from "./metrics.ts";
import { isDiskFull } from "./db/sqlite_errors.ts";
import { SplitRouter } from "./http/split_router.ts";

/** The `detail` of a 507: the database could not grow, so the change was not saved. */
export const DISK_FULL_DETAIL =
  "Insufficient storage: the server's disk is full, so nothing was saved; try again later";

// The upload route's paths, as the exemption from the JSON body limit has always matched them.
const IMAGE_UPLOAD_PATH = /\/memories\/[^/]+\/image$/;

/** Build the core app on `deps`. */
export function createApp(deps: CoreDeps): Hono {
  // /llm_jobs holds the one pair of routes RegExpRouter cannot express (see split_router.ts).
  const app = new Hono({ router: new SplitRouter({ triePrefixes: ["/llm_jobs"] }) });
  const { config, log } = deps;
  const metrics = createCoreMetrics(deps);

  // First, so every answer (401, 413, 404 and errors too) is counted, timed and logged.
  app.use("*", observeRequests(log, metrics));
  // Before the body limits: a caller without the token learns nothing else. The admin page
  // checks its own session cookie (a browser cannot send the bearer header). Without a token
  // there is nothing to check, and no layer: each middleware layer is an async step of every
  // request (the checks below share one for that reason).
  if (config.CORE_API_TOKEN !== undefined) {
    app.use("*", requireToken(config.CORE_API_TOKEN, { except: isAdminWebPath }));
  }

  // Uploads are streamed to disk and counted by their route (core/files/image_upload.ts): Hono's
  // bodyLimit would hold a body without Content-Length in memory. Every other body is small JSON.
  // Only methods whose routes read a body pass through it (a GET's body is never read).
  // A plain condition rather than hono/combine's except(), which composed three async layers and
  // their closures anew for every request (~3% of the main thread under POST /memories).
  const tooLarge = (c: Context) =>
    errorResponse(
      c,
      new ApiError(413, `request body is larger than ${config.MAX_BODY_BYTES} bytes`),
    );
  const limitBody = bodyLimit({ maxSize: config.MAX_BODY_BYTES, onError: tooLarge });
  const limitJsonBody: MiddlewareHandler = (c, next) => {
    if (IMAGE_UPLOAD_PATH.test(c.req.path)) return next();
    // A declared length is checked here, as bodyLimit checks it, but without bodyLimit's first
    // step, reading `Request.body`: in Deno that makes the body a JavaScript stream, which the
    // route's read then goes through (~8 µs of a POST's CPU, ~7% of POST /llm_jobs). A chunked
    // body has no length to trust and is counted by bodyLimit as it arrives.
    const length = c.req.header("content-length");
    if (length === undefined || c.req.header("transfer-encoding") !== undefined) {
      return limitBody(c, next);
    }
    return Number.parseInt(length, 10) > config.MAX_BODY_BYTES
      ? Promise.resolve(tooLarge(c))
      : next();
  };
  app.on(["POST", "PUT", "PATCH", "DELETE"], "*", limitJsonBody);

  // Last before the routes, in one layer: the JSON depth limit the body parsers read, and the
  // X-Actor check (a forged X-Actor, e.g. the scheduler's name, must change nothing).
  app.use("*", async (c, next) => {
    c.set("maxJsonDepth", config.MAX_JSON_DEPTH);
    claimedActor(c);
    await next();
  });

  // The operations' routes first: the document lists the routes in the order they are mounted.
  app.route("/health", healthRouter());
  app.route("/metrics", metricsRouter(metrics));
  app.route("/", docsRouter(() => openApiDocument(documentedRoutes(app).routes)));
  app.route("/users", usersRouter(deps));
  app.route("/memories", memoriesRouter(deps));
  app.route("/tasks", tasksRouter(deps));
  app.route("/reminders", remindersRouter(deps));
  app.route("/events", eventsRouter(deps));
  app.route("/search", searchRouter(deps));
  app.route("/settings", settingsRouter(deps));
  app.route("/audit", auditRouter(deps));
  app.route("/backup", backupRouter(deps));
  app.route("/llm_jobs", llmJobsRouter(deps));
  app.route("/admin", adminWebRouter(deps));
  app.route("/admin", adminRouter(deps));

  app.notFound((c) => c.json({ detail: "Not Found" }, 404));
  app.onError((err, c) => {
    if (err instanceof ApiError) return errorResponse(c, err);
    // Hono's own HTTP errors (e.g. a malformed multipart body) carry a 4xx status.
    const status = (err as { status?: number }).status;
    if (typeof status === "number" && status >= 400 && status < 500) {
      return c.json({ detail: err.message || "Bad Request" }, status as 400);
    }
    const fields = {
      request_id: c.get("requestId"),
      path: c.req.path,
      method: c.req.method,
      error: err.message,
    };
    if (isDiskFull(err)) {
      // Nothing of the request was kept (SQLite rolled it back); the operator must free space.
      log.error("database disk is full", fields);
      return c.json({ detail: DISK_FULL_DETAIL }, 507);
    }
    log.error("unhandled error", fields);
    return c.json({ detail: "Internal Server Error" }, 500);
  });
  return app;
}
