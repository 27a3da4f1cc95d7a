/** Request parsing with zod: body, query and path, each failing with the contract's 422. */
import type { Context } from "hono";
import type { z } from "zod";
import { ApiError, validationError } from "./errors.ts";
import type {} from "./context.ts";
import { uuid } from "../../shared/schemas.ts";
import { DEFAULT_MAX_JSON_DEPTH } from "../../shared/config.ts";
import { jsonDeeperThan } from "./json_depth.ts";

/** Parse the JSON body with `schema`; malformed JSON and a non-object body are 422 too. */
export async function parseBody<S extends z.ZodType>(
  c: Context,
  schema: S,
): Promise<z.output<S>> {
  return await parseJsonBody(c, schema, { optional: false });
}

/** Like {@linkcode parseBody}, but an empty body counts as `{}`. */
export async function parseOptionalBody<S extends z.ZodType>(
  c: Context,
  schema: S,
): Promise<z.output<S>> {
  return await parseJsonBody(c, schema, { optional: true });
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

async function parseJsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  options: { optional: boolean },
): Promise<z.output<S>> {
  let raw: unknown;
  try {
    // Fatal: invalid UTF-8 would otherwise become U+FFFD and be stored as if the client sent it.
    const body = STRICT_UTF8.decode(await c.req.arrayBuffer());
    const maxDepth = c.get("maxJsonDepth") ?? DEFAULT_MAX_JSON_DEPTH;
    if (jsonDeeperThan(body, maxDepth)) {
      throw new ApiError(422, [{
        loc: ["body"],
        msg: `JSON nests deeper than ${maxDepth} levels (MAX_JSON_DEPTH)`,
        type: "json_too_deep",
      }]);
    }
    raw = options.optional && body.trim() === "" ? {} : JSON.parse(body);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(422, [{
      loc: ["body"],
      msg: err instanceof TypeError
        ? "body is not valid UTF-8"
        : `JSON decode error: ${(err as Error).message}`,
      type: "json_invalid",
    }]);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw validationError("body", parsed.error);
  return parsed.data;
}

/**
 * Parse the query string with `schema`. A repeated key is 422: which copy wins differs between
 * proxies and frameworks, so a filter could check one value and the query use another.
 */
export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const repeated = Object.entries(c.req.queries()).filter(([, values]) => values.length > 1);
  if (repeated.length > 0) {
    throw new ApiError(
      422,
      repeated.map(([key]) => ({
        loc: ["query", key],
        msg: "must be given at most once",
        type: "repeated_key",
      })),
    );
  }
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) throw validationError("query", parsed.error);
  return parsed.data;
}

/**
 * The path parameter `name` as an id. Ids are UUIDs; anything else cannot name a row, so it is
 * answered as not found rather than as a validation error, which is what clients expect.
 */
export function pathId(c: Context, name: string, what: string): string {
  const value = c.req.param(name) ?? "";
  if (!uuid.safeParse(value).success) throw new ApiError(404, `${what} not found`);
  return value.toLowerCase();
}

/** The path parameter `name` as an integer user id (422 when it is not one). */
export function pathUserId(c: Context, name: string): number {
  const value = c.req.param(name) ?? "";
  if (!/^-?\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new ApiError(422, [{
      loc: ["path", name],
      msg: "must be an integer user id",
      type: "int_parsing",
    }]);
  }
  return Number(value);
}
