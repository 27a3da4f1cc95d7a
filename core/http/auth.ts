/**
 * The optional access token: with `CORE_API_TOKEN` set, every endpoint but `GET /health` wants
 * `Authorization: Bearer <token>`. Unset, the API stays open as in the first version.
 */
import type { MiddlewareHandler } from "hono";

/** Paths anyone may call: the container healthcheck knows no token. */
export const OPEN_PATHS: readonly string[] = ["/health"];

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/**
 * Whether `a` and `b` are the same bytes, in time that depends only on their length. Callers
 * compare SHA-256 digests, so the length is always 32 and says nothing about the token.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * A checker of candidate tokens against `token`, in constant time: both sides are hashed first,
 * so the comparison takes the same time whatever the lengths.
 */
export function tokenChecker(token: string): (given: string) => Promise<boolean> {
  const expected = sha256(token);
  return async (given) => constantTimeEqual(await sha256(given), await expected);
}

/** Options of {@linkcode requireToken}. */
export interface RequireTokenOptions {
  /** Paths that check access themselves (the admin page's session cookie). */
  except?: (path: string) => boolean;
}

/** Middleware answering 401 to a request without the right bearer token (none when unset). */
export function requireToken(
  token: string | undefined,
  options: RequireTokenOptions = {},
): MiddlewareHandler {
  if (token === undefined) return async (_c, next) => await next();
  const matches = tokenChecker(token);
  return async (c, next) => {
    if (OPEN_PATHS.includes(c.req.path) || options.except?.(c.req.path)) return await next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    // Checked even without a header, so a missing token takes as long as a wrong one.
    const ok = await matches(match ? match[1] : "");
    if (match && ok) return await next();
    c.header("WWW-Authenticate", 'Bearer realm="memori"');
    return c.json(
      {
        detail: match
          ? "Invalid bearer token"
          : "Missing bearer token: send Authorization: Bearer <CORE_API_TOKEN>",
      },
      401,
    );
  };
}
