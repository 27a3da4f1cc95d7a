/**
 * The OpenAPI 3.1 document of the core, generated from the same zod schemas that validate the
 * requests (shared/schemas.ts) and describe the answers (shared/response_schemas.ts), with zod's
 * own `z.toJSONSchema()`. The routers stay plain Hono; this file is the registry of what each
 * route takes and answers, and the tests hold it to the routes Hono really has (both ways) and
 * to real answers.
 *
 * OpenAPI 3.1 schemas are JSON Schema 2020-12, zod's default target, so the output is used as is
 * (minus `$schema`). Request schemas are converted with `io: "input"` (what a client sends: a
 * transformed date-time is a string, a field with a default is optional); response schemas with
 * `io: "output"`. A schema zod cannot represent throws, so a test fails rather than the document
 * quietly saying less.
 */
import { z } from "zod";
import * as req from "../shared/schemas.ts";
import { RESPONSE_SCHEMAS, type ResponseSchemaName } from "../shared/response_schemas.ts";
import { OPEN_PATHS } from "./http/auth.ts";
import { CLIENT_ACTORS_TEXT } from "../shared/actors.ts";
import { DOCS_ASSETS } from "./routes/docs_assets.ts";

/** HTTP methods the core uses. */
export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** One documented answer. */
export interface ResponseDoc {
  /** What it means. */
  description: string;
  /** The named JSON schema of the body (components.schemas). */
  schema?: ResponseSchemaName;
  /** The body is a JSON array of `schema`. */
  list?: boolean;
  /** A body that is not JSON: its media type and a JSON Schema of it. */
  raw?: { contentType: string; schema: Record<string, unknown> };
}

/** A path parameter. */
export interface ParamDoc {
  /** What it is. */
  description: string;
  /** Its schema. */
  schema: z.ZodType;
}

/** A request header a route reads. */
export interface HeaderDoc {
  /** Header name. */
  name: string;
  /** What it does. */
  description: string;
}

/** One route of the registry. */
export interface RouteDoc {
  /** HTTP method. */
  method: Method;
  /** The Hono route pattern, e.g. `/memories/:id`. */
  path: string;
  /** Tag (group) in the reference. */
  tag: string;
  /** One line. */
  summary: string;
  /** More, when needed. */
  description?: string;
  /** Path parameters, by name. */
  params?: Record<string, ParamDoc>;
  /** Query string schema (an object of the parameters). */
  query?: z.ZodObject;
  /** JSON body schema. */
  body?: z.ZodType;
  /** The JSON body may be left out (empty counts as `{}`). */
  bodyOptional?: boolean;
  /** multipart/form-data body schema. */
  multipart?: z.ZodType;
  /** Request headers. */
  headers?: HeaderDoc[];
  /** Answers by status code (401 and 413 are added where they apply). */
  responses: Record<number, ResponseDoc>;
}

const uuidParam: ParamDoc = { description: "UUID", schema: req.uuid };
const userIdParam: ParamDoc = {
  description: "Telegram user id",
  schema: z.number().int(),
};
const entryIdParam: ParamDoc = {
  description: "entry id on llm:dead_letter",
  schema: req.streamEntryId,
};

const ok = (schema: ResponseSchemaName, description = "OK"): ResponseDoc => ({
  description,
  schema,
});
const list = (schema: ResponseSchemaName, description = "OK, newest first"): ResponseDoc => ({
  description,
  schema,
  list: true,
});
const fail = (description: string): ResponseDoc => ({ description, schema: "Error" });
const invalid: ResponseDoc = {
  description: "the request does not validate (body, query or path)",
  schema: "ValidationError",
};
const deleted: ResponseDoc = { description: "deleted" };

const idempotencyKey: HeaderDoc = {
  name: "Idempotency-Key",
  description:
    "repeat a create safely: the same key with the same body answers what the first request made; with another body, 422",
};
const actorHeader: HeaderDoc = {
  name: "X-Actor",
  description: `audit actor, one of ${CLIENT_ACTORS_TEXT} (anything else: 422); default ` +
    "user:<owner> for a user's data, else system:api (system:llm_worker on PATCH /llm_jobs/{id})",
};

/** Every route of the core, in the order of the reference. */
export const ROUTES: readonly RouteDoc[] = [
  {
    method: "GET",
    path: "/health",
    tag: "operations",
    summary: "Liveness: answers while the process serves HTTP (never needs the token)",
    responses: { 200: ok("Health") },
  },
  {
    method: "GET",
    path: "/metrics",
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
  },
  {
    method: "GET",
    path: "/openapi.json",
    tag: "operations",
    summary: "This document",
    responses: {
      200: {
        description: "the OpenAPI 3.1 document",
        raw: { contentType: "application/json", schema: { type: "object" } },
      },
    },
  },
  {
    method: "GET",
    path: "/docs",
    tag: "operations",
    summary: "Interactive API reference (Swagger UI) over this document",
    responses: {
      200: {
        description: "HTML page",
        raw: { contentType: "text/html", schema: { type: "string" } },
      },
    },
  },
  ...DOCS_ASSETS.map((asset): RouteDoc => ({
    method: "GET",
    path: asset.path,
    tag: "operations",
    summary: asset.summary,
    responses: {
      200: {
        description: "a file of the /docs page",
        raw: { contentType: asset.contentType.split(";")[0], schema: { type: "string" } },
      },
    },
  })),
  {
    method: "POST",
    path: "/users",
    tag: "users",
    summary: "Create or update a user (and its default settings)",
    body: req.userCreate,
    headers: [actorHeader],
    responses: { 200: ok("User"), 422: invalid },
  },
  {
    method: "POST",
    path: "/memories",
    tag: "memories",
    summary: "Create a memory (an image memory starts pending for 7 days)",
    body: req.memoryCreate,
    headers: [idempotencyKey, actorHeader],
    responses: { 201: ok("Memory", "created"), 404: fail("unknown owner"), 422: invalid },
  },
  {
    method: "GET",
    path: "/memories/:id",
    tag: "memories",
    summary: "A memory with its tags",
    params: { id: uuidParam },
    responses: { 200: ok("Memory"), 404: fail("no such memory") },
  },
  {
    method: "PATCH",
    path: "/memories/:id",
    tag: "memories",
    summary: "Change a memory (confirming indexes it for search)",
    params: { id: uuidParam },
    body: req.memoryUpdate,
    headers: [actorHeader],
    responses: {
      200: ok("Memory"),
      404: fail("no such memory"),
      409: fail("a confirmed memory cannot go back to pending"),
      422: invalid,
    },
  },
  {
    method: "DELETE",
    path: "/memories/:id",
    tag: "memories",
    summary: "Delete a memory, its tags, index entry and image file",
    params: { id: uuidParam },
    headers: [actorHeader],
    responses: {
      204: deleted,
      404: fail("no such memory"),
      409: fail("tasks, reminders or events point to it (nothing changed)"),
    },
  },
  {
    method: "POST",
    path: "/memories/:id/tags",
    tag: "memories",
    summary: "Add tags (an upsert: confirmed upgrades a suggestion, nothing downgrades)",
    params: { id: uuidParam },
    body: req.tagsAdd,
    headers: [actorHeader],
    responses: { 200: ok("Memory"), 404: fail("no such memory"), 422: invalid },
  },
  {
    method: "DELETE",
    path: "/memories/:id/tags/:tag",
    tag: "memories",
    summary: "Remove a tag",
    params: { id: uuidParam, tag: { description: "the tag", schema: z.string() } },
    headers: [actorHeader],
    responses: { 204: deleted, 404: fail("no such memory or tag") },
  },
  {
    method: "POST",
    path: "/memories/:id/image",
    tag: "memories",
    summary: "Upload the memory's image (multipart `file`; stored as <uuid><ext>)",
    params: { id: uuidParam },
    multipart: req.imageUpload,
    headers: [actorHeader],
    responses: {
      200: ok("ImageUpload"),
      404: fail("no such memory"),
      415: fail("not a supported image type"),
      422: invalid,
    },
  },
  {
    method: "POST",
    path: "/tasks",
    tag: "tasks",
    summary: "Create a task",
    body: req.taskCreate,
    headers: [actorHeader],
    responses: { 201: ok("Task", "created"), 404: fail("unknown owner or memory"), 422: invalid },
  },
  {
    method: "GET",
    path: "/tasks",
    tag: "tasks",
    summary: "List tasks",
    query: req.taskListQuery,
    responses: { 200: list("Task"), 422: invalid },
  },
  {
    method: "GET",
    path: "/tasks/:id",
    tag: "tasks",
    summary: "A task",
    params: { id: uuidParam },
    responses: { 200: ok("Task"), 404: fail("no such task") },
  },
  {
    method: "PATCH",
    path: "/tasks/:id",
    tag: "tasks",
    summary: "Change a task; DONE on a recurring task creates the next one",
    params: { id: uuidParam },
    body: req.taskUpdate,
    headers: [actorHeader],
    responses: { 200: ok("TaskUpdate"), 404: fail("no such task"), 422: invalid },
  },
  {
    method: "DELETE",
    path: "/tasks/:id",
    tag: "tasks",
    summary: "Delete a task",
    params: { id: uuidParam },
    headers: [actorHeader],
    responses: { 204: deleted, 404: fail("no such task") },
  },
  {
    method: "POST",
    path: "/reminders",
    tag: "reminders",
    summary: "Create a reminder",
    body: req.reminderCreate,
    headers: [actorHeader],
    responses: {
      201: ok("Reminder", "created"),
      404: fail("unknown owner or memory"),
      422: invalid,
    },
  },
  {
    method: "GET",
    path: "/reminders",
    tag: "reminders",
    summary: "List reminders",
    query: req.reminderListQuery,
    responses: { 200: list("Reminder", "OK, the next to fire first"), 422: invalid },
  },
  {
    method: "GET",
    path: "/reminders/:id",
    tag: "reminders",
    summary: "A reminder",
    params: { id: uuidParam },
    responses: { 200: ok("Reminder"), 404: fail("no such reminder") },
  },
  {
    method: "PATCH",
    path: "/reminders/:id",
    tag: "reminders",
    summary: "Change a reminder (moving a fired one to the future re-arms it)",
    params: { id: uuidParam },
    body: req.reminderUpdate,
    headers: [actorHeader],
    responses: { 200: ok("Reminder"), 404: fail("no such reminder"), 422: invalid },
  },
  {
    method: "DELETE",
    path: "/reminders/:id",
    tag: "reminders",
    summary: "Delete a reminder",
    params: { id: uuidParam },
    headers: [actorHeader],
    responses: { 204: deleted, 404: fail("no such reminder") },
  },
  {
    method: "POST",
    path: "/events",
    tag: "events",
    summary: "Create an event (pending until reviewed)",
    body: req.eventCreate,
    headers: [idempotencyKey, actorHeader],
    responses: {
      201: ok("Event", "created"),
      404: fail("unknown owner or memory"),
      409: fail("the event this Idempotency-Key created has been deleted"),
      422: invalid,
    },
  },
  {
    method: "GET",
    path: "/events",
    tag: "events",
    summary: "List events",
    query: req.eventListQuery,
    responses: { 200: list("Event", "OK, latest event_time first"), 422: invalid },
  },
  {
    method: "GET",
    path: "/events/:id",
    tag: "events",
    summary: "An event",
    params: { id: uuidParam },
    responses: { 200: ok("Event"), 404: fail("no such event") },
  },
  {
    method: "PATCH",
    path: "/events/:id",
    tag: "events",
    summary: "Review or change an event (confirming creates a reminder at event_time)",
    params: { id: uuidParam },
    body: req.eventUpdate,
    headers: [actorHeader],
    responses: { 200: ok("Event"), 404: fail("no such event"), 422: invalid },
  },
  {
    method: "DELETE",
    path: "/events/:id",
    tag: "events",
    summary: "Delete an event",
    params: { id: uuidParam },
    headers: [actorHeader],
    responses: { 204: deleted, 404: fail("no such event") },
  },
  {
    method: "GET",
    path: "/search",
    tag: "search",
    summary: "Full-text search over an owner's confirmed memories, pinned first (at most 20)",
    query: req.searchQuery,
    responses: {
      200: list("SearchHit", "hits, pinned first, then by relevance"),
      400: fail("empty q without pinned=true"),
      404: fail("unknown owner"),
      422: invalid,
    },
  },
  {
    method: "GET",
    path: "/settings/:user_id",
    tag: "settings",
    summary: "A user's settings (the defaults, not stored, for a user without any)",
    params: { user_id: userIdParam },
    responses: { 200: ok("Settings"), 404: fail("unknown user"), 422: invalid },
  },
  {
    method: "PUT",
    path: "/settings/:user_id",
    tag: "settings",
    summary: "Change a user's settings",
    params: { user_id: userIdParam },
    body: req.settingsUpdate,
    headers: [actorHeader],
    responses: { 200: ok("Settings"), 404: fail("unknown user"), 422: invalid },
  },
  {
    method: "GET",
    path: "/audit",
    tag: "audit",
    summary: "The audit trail, filtered",
    query: req.auditQuery,
    responses: { 200: list("AuditEntry"), 422: invalid },
  },
  {
    method: "GET",
    path: "/backup/status/:user_id",
    tag: "backup",
    summary: "The user's latest backup job",
    params: { user_id: userIdParam },
    responses: { 200: ok("BackupStatus"), 404: fail("no backup found"), 422: invalid },
  },
  {
    method: "POST",
    path: "/llm_jobs",
    tag: "llm_jobs",
    summary: "Create an LLM job (committed, then published to its stream)",
    description: "The payload is checked per job type: image_tag {memory_id, image_path}, " +
      "intent_classify {message (or query), memory_id?, original_timestamp?, " +
      "followup_context?}, followup {message, context?}, task_match {memory_id, " +
      "memory_content}, email_extract {subject, body}.",
    body: req.llmJobCreate,
    headers: [idempotencyKey, actorHeader],
    responses: { 201: ok("Job", "created"), 422: invalid },
  },
  {
    method: "GET",
    path: "/llm_jobs",
    tag: "llm_jobs",
    summary: "List LLM jobs",
    query: req.llmJobListQuery,
    responses: { 200: list("Job"), 422: invalid },
  },
  {
    method: "GET",
    path: "/llm_jobs/:id",
    tag: "llm_jobs",
    summary: "An LLM job",
    params: { id: uuidParam },
    responses: { 200: ok("Job"), 404: fail("LLM job not found") },
  },
  {
    method: "PATCH",
    path: "/llm_jobs/:id",
    tag: "llm_jobs",
    summary: "Update a job's status, result or error (the worker does this)",
    params: { id: uuidParam },
    body: req.llmJobUpdate,
    headers: [actorHeader],
    responses: {
      200: ok("Job"),
      404: fail("LLM job not found"),
      409: fail("the job is already completed or failed"),
      422: invalid,
    },
  },
  {
    method: "POST",
    path: "/llm_jobs/:id/retry",
    tag: "llm_jobs",
    summary: "Retry a failed job: back to queued and onto its stream",
    params: { id: uuidParam },
    headers: [actorHeader],
    responses: {
      200: ok("Job", "the job, queued again"),
      404: fail("LLM job not found"),
      409: fail("the job is not failed"),
    },
  },
  {
    method: "POST",
    path: "/llm_jobs/retry-failed",
    tag: "llm_jobs",
    summary: "Retry every failed job (optionally of one type), oldest first",
    body: req.llmJobRetryFailed,
    bodyOptional: true,
    headers: [actorHeader],
    responses: { 200: ok("RetryFailed"), 422: invalid },
  },
  {
    method: "GET",
    path: "/admin/queue-stats",
    tag: "admin",
    summary: "Jobs by status and type, job stream lengths, pending entries per consumer",
    responses: { 200: ok("QueueStats") },
  },
  {
    method: "GET",
    path: "/admin/dead-letters",
    tag: "admin",
    summary: "Messages the worker gave up on, newest first (page on with before=<last id>)",
    query: req.deadLetterListQuery,
    responses: { 200: list("DeadLetter"), 422: invalid, 503: fail("Redis is unavailable") },
  },
  {
    method: "POST",
    path: "/admin/dead-letters/:entry_id/replay",
    tag: "admin",
    summary: "Re-queue the failed job a dead-letter entry names, then delete the entry",
    params: { entry_id: entryIdParam },
    headers: [actorHeader],
    responses: {
      200: ok("Job", "the job, queued again"),
      404: fail("no such dead-letter entry"),
      409: fail("the entry names no job the core has, or the job is not failed"),
      503: fail("Redis is unavailable"),
    },
  },
  {
    method: "DELETE",
    path: "/admin/dead-letters/:entry_id",
    tag: "admin",
    summary: "Delete a dead-letter entry (e.g. a malformed message)",
    params: { entry_id: entryIdParam },
    responses: {
      204: deleted,
      404: fail("no such dead-letter entry"),
      503: fail("Redis is unavailable"),
    },
  },
];

/** A JSON Schema object. */
export type JsonSchema = Record<string, unknown>;

/** `z.toJSONSchema(schema, {io})` without the `$schema` key (OpenAPI 3.1 names the dialect). */
export function jsonSchemaOf(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io }) as JsonSchema;
  return rest;
}

/** The named response schemas as `components.schemas`, referencing each other by `$ref`. */
export function componentSchemas(): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(RESPONSE_SCHEMAS)) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, {
    io: "output",
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, JsonSchema> };
  const schemas: Record<string, JsonSchema> = {};
  for (const [id, schema] of Object.entries(out.schemas)) {
    const { $schema: _s, $id: _i, ...rest } = schema;
    schemas[id] = rest;
  }
  return schemas;
}

/** `/memories/:id` as OpenAPI spells it: `/memories/{id}`. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function operationId(route: RouteDoc): string {
  const words = route.path.split("/").filter(Boolean).map((p) =>
    p.replace(/^:/, "by_").replace(/[^A-Za-z0-9_]/g, "_")
  );
  return [route.method.toLowerCase(), ...words].join("_");
}

function refOf(name: ResponseSchemaName): JsonSchema {
  return { $ref: `#/components/schemas/${name}` };
}

function responseObject(doc: ResponseDoc): JsonSchema {
  if (doc.raw) {
    return {
      description: doc.description,
      content: { [doc.raw.contentType]: { schema: doc.raw.schema } },
    };
  }
  if (!doc.schema) return { description: doc.description };
  const schema = doc.list ? { type: "array", items: refOf(doc.schema) } : refOf(doc.schema);
  return { description: doc.description, content: { "application/json": { schema } } };
}

function isOpen(route: RouteDoc): boolean {
  return OPEN_PATHS.includes(route.path);
}

function operation(route: RouteDoc): JsonSchema {
  const parameters: JsonSchema[] = [];
  for (const [name, p] of Object.entries(route.params ?? {})) {
    parameters.push({
      name,
      in: "path",
      required: true,
      description: p.description,
      schema: jsonSchemaOf(p.schema, "input"),
    });
  }
  if (route.query) {
    const query = jsonSchemaOf(route.query, "input");
    const required = (query.required ?? []) as string[];
    for (const [name, schema] of Object.entries(query.properties as Record<string, JsonSchema>)) {
      parameters.push({ name, in: "query", required: required.includes(name), schema });
    }
  }
  for (const h of route.headers ?? []) {
    parameters.push({
      name: h.name,
      in: "header",
      required: false,
      description: h.description,
      schema: { type: "string" },
    });
  }
  const op: JsonSchema = {
    operationId: operationId(route),
    tags: [route.tag],
    summary: route.summary,
  };
  if (route.description) op.description = route.description;
  if (parameters.length) op.parameters = parameters;
  if (route.body) {
    op.requestBody = {
      required: !route.bodyOptional,
      content: { "application/json": { schema: jsonSchemaOf(route.body, "input") } },
    };
  } else if (route.multipart) {
    op.requestBody = {
      required: true,
      content: { "multipart/form-data": { schema: jsonSchemaOf(route.multipart, "input") } },
    };
  }
  const responses: Record<string, JsonSchema> = {};
  for (const [status, doc] of Object.entries(route.responses)) {
    responses[status] = responseObject(doc);
  }
  // The X-Actor check answers 422 on any route that reads the header, even one without a body.
  if (route.headers?.includes(actorHeader)) responses["422"] ??= responseObject(invalid);
  if (!isOpen(route)) {
    responses["401"] = responseObject(
      fail("missing or wrong bearer token (when CORE_API_TOKEN is set)"),
    );
    op.security = [{ bearerAuth: [] }];
  } else {
    op.security = [];
  }
  if (route.body || route.multipart) {
    responses["413"] = responseObject(fail("the body is larger than the configured limit"));
  }
  op.responses = Object.fromEntries(
    Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)),
  );
  return op;
}

/** Options for {@linkcode openApiDocument}. */
export interface OpenApiOptions {
  /** info.version (default "1.0.0"). */
  version?: string;
}

/** The OpenAPI 3.1 document of `routes`. */
export function openApiDocument(
  routes: readonly RouteDoc[] = ROUTES,
  options: OpenApiOptions = {},
): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const path = openApiPath(route.path);
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Memori core API",
      version: options.version ?? "1.0.0",
      description: "The core of Memori: memories, tasks, reminders, events, search, settings, " +
        'audit and LLM jobs. Errors are `{"detail": "..."}`; validation errors are 422 with ' +
        '`{"detail": [{loc, msg, type}]}`. With CORE_API_TOKEN set, every endpoint but ' +
        "/health needs `Authorization: Bearer <token>`.",
    },
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: componentSchemas(),
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer" } },
    },
  };
}
