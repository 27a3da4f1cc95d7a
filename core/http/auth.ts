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

/** Middleware answering 401 to a request without the right bearer token (none when unset). */
export function requireToken(token: string | undefined): MiddlewareHandler {
  if (token === undefined) return async (_c, next) => await next();
  // Hashing both sides first makes the comparison constant-time whatever the lengths.
  const expected = sha256(token);
  return async (c, next) => {
    if (OPEN_PATHS.includes(c.req.path)) return await next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    const given = await sha256(match ? match[1] : "");
    if (match && constantTimeEqual(given, await expected)) return await next();
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
