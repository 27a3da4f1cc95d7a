/** Error answers of the HTTP contract: `{"detail": "..."}`, and 422 with a list for validation. */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";

/** One validation problem, FastAPI style. */
export interface ValidationIssue {
  /** Where: `["body", "field"]`, `["query", "limit"]`, `["path", "id"]`. */
  loc: (string | number)[];
  /** What is wrong, for a person. */
  msg: string;
  /** Machine-readable kind, e.g. `missing`, `invalid_type`, `json_invalid`. */
  type: string;
}

/** An error a route throws to answer with `status` and `{"detail": detail}`. */
export class ApiError extends Error {
  /** HTTP status. */
  readonly status: ContentfulStatusCode;
  /** The `detail` value of the body. */
  readonly detail: string | ValidationIssue[];
  /** Headers the answer carries too (e.g. Retry-After on a 503). */
  readonly headers: Readonly<Record<string, string>>;
  /** Build from a status and detail (and headers to send with them). */
  constructor(
    status: ContentfulStatusCode,
    detail: string | ValidationIssue[],
    headers: Record<string, string> = {},
  ) {
    super(typeof detail === "string" ? detail : "validation error");
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
    this.headers = headers;
  }
}

/** 404 `{"detail": "<what> not found"}`. */
export function notFound(what: string): ApiError {
  return new ApiError(404, `${what} not found`);
}

/** Convert zod issues at `where` into a 422 {@linkcode ApiError}. */
export function validationError(where: string, error: z.ZodError): ApiError {
  return new ApiError(
    422,
    error.issues.map((i) => {
      const missing = i.code === "invalid_type" && i.message.includes("received undefined");
      return {
        loc: [where, ...i.path.map((p) => typeof p === "symbol" ? String(p) : p)],
        msg: missing ? "Field required" : i.message,
        type: missing ? "missing" : i.code,
      };
    }),
  );
}

/** Answer `err` as JSON. */
export function errorResponse(c: Context, err: ApiError): Response {
  return c.json({ detail: err.detail }, err.status, { ...err.headers });
}
