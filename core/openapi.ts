/**
 * The OpenAPI 3.1 document of the core, built from the routes the app registered with
 * `defineRoute` (http/route.ts): each carries the zod schemas its handler validates the request
 * with (shared/schemas.ts) and the named schemas of its answers (shared/response_schemas.ts),
 * converted with zod's own `z.toJSONSchema()`. This file holds what the routes share: the answer
 * and header vocabulary, the path parameters and the document around the operations.
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
import type { DocumentedRoute, HeaderDoc, ResponseDoc } from "./http/route.ts";

/** A path parameter. */
interface ParamDoc {
  /** What it is. */
  description: string;
  /** Its schema. */
  schema: z.ZodType;
}

// Path parameters are documented by name, from the route's Hono pattern, so a route cannot
// declare parameters its path does not have. A new name must be added here (the document
// builder throws otherwise, and the tests with it).
const PATH_PARAMS: Record<string, ParamDoc> = {
  id: { description: "UUID", schema: req.uuid },
  user_id: { description: "Telegram user id", schema: z.number().int() },
  entry_id: { description: "entry id on llm:dead_letter", schema: req.streamEntryId },
  tag: { description: "the tag", schema: z.string() },
};

/** A 200 (or `description`) answer with the named schema. */
export const ok = (schema: ResponseSchemaName, description = "OK"): ResponseDoc => ({
  description,
  schema,
});
/** An answer that is a JSON array of the named schema. */
export const list = (
  schema: ResponseSchemaName,
  description = "OK, newest first",
): ResponseDoc => ({ description, schema, list: true });
/** An error answer, `{"detail": "..."}`. */
export const fail = (description: string): ResponseDoc => ({ description, schema: "Error" });
/** The contract's 422. */
export const invalid: ResponseDoc = {
  description: "the request does not validate (body, query or path)",
  schema: "ValidationError",
};
/** A 204 without a body. */
export const deleted: ResponseDoc = { description: "deleted" };

/** The Idempotency-Key header of the creates that take it. */
export const IDEMPOTENCY_KEY: HeaderDoc = {
  name: "Idempotency-Key",
  description:
    "repeat a create safely: the same key with the same body answers what the first request made; with another body, 422",
};
/** The X-Actor header of the routes that change something. */
export const ACTOR_HEADER: HeaderDoc = {
  name: "X-Actor",
  description: `audit actor, one of ${CLIENT_ACTORS_TEXT} (anything else: 422); default ` +
    "user:<owner> for a user's data, else system:api (system:llm_worker on PATCH /llm_jobs/{id})",
};

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

function operationId(route: DocumentedRoute): string {
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

function isOpen(route: DocumentedRoute): boolean {
  return OPEN_PATHS.includes(route.path);
}

function operation(route: DocumentedRoute): JsonSchema {
  const parameters: JsonSchema[] = [];
  for (const [, name] of route.path.matchAll(/:([A-Za-z0-9_]+)/g)) {
    const p = PATH_PARAMS[name];
    if (p === undefined) {
      throw new Error(`${route.path}: no documentation for path parameter ${name}`);
    }
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
  if (route.headers?.includes(ACTOR_HEADER)) responses["422"] ??= responseObject(invalid);
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

/** The OpenAPI 3.1 document of `routes` (see `documentedRoutes` in http/route.ts). */
export function openApiDocument(
  routes: readonly DocumentedRoute[],
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
