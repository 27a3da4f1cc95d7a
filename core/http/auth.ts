/**
 * The optional access token: with `CORE_API_TOKEN` set, every endpoint but `GET /health` wants
 * `Authorization: Bearer <token>`. Unset, the API stays open as in the first version. The header
 * is checked by Hono's bearerAuth; this module only shapes its refusals as the API's 401s.
 */
import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { except } from "hono/combine";
import { HTTPException } from "hono/http-exception";

/** Paths anyone may call: the container healthcheck knows no token. */
export const OPEN_PATHS: readonly string[] = ["/health"];

const CHALLENGE = 'Bearer realm="memori"';
const MISSING = "Missing bearer token: send Authorization: Bearer <CORE_API_TOKEN>";
const INVALID = "Invalid bearer token";

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

function refusal(detail: string): (c: Context) => Response {
  return (c) => c.json({ detail }, 401);
}

// bearerAuth takes only RFC 6750 token characters; a `Bearer <anything>` header it turns down on
// that ground still carries a token, just a wrong one, and keeps being told so.
function malformedRefusal(c: Context): Response {
  const header = c.req.header("authorization") ?? "";
  return refusal(/^Bearer[ \t]+\S+$/i.test(header) ? INVALID : MISSING)(c);
}

/**
 * Middleware answering 401 to a request without the bearer `token`. Without a token the API is
 * open, and the app registers no such layer at all (core/app.ts).
 */
export function requireToken(token: string, options: RequireTokenOptions = {}): MiddlewareHandler {
  const check = bearerAuth({
    verifyToken: tokenChecker(token),
    // bearerAuth answers a malformed header with 400; the API always said 401, and every refusal
    // carries the same challenge.
    noAuthenticationHeader: { message: refusal(MISSING), wwwAuthenticateHeader: CHALLENGE },
    invalidAuthenticationHeader: { message: malformedRefusal, wwwAuthenticateHeader: CHALLENGE },
    invalidToken: { message: refusal(INVALID), wwwAuthenticateHeader: CHALLENGE },
  });
  // bearerAuth throws its refusal; answering it here keeps the app's error handler, which turns
  // other Hono exceptions into `{detail}`, from rewriting the body.
  const answered: MiddlewareHandler = async (c, next) => {
    try {
      return await check(c, next);
    } catch (err) {
      if (err instanceof HTTPException && err.status === 401) return err.getResponse();
      throw err;
    }
  };
  const skip = options.except ?? (() => false);
  return except([...OPEN_PATHS, (c: Context) => skip(c.req.path)], answered);
}
