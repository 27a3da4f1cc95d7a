/**
 * Sign-in for the admin page. A browser cannot add a bearer header, so with CORE_API_TOKEN set
 * the operator types the token once and gets a random session id in an HttpOnly, SameSite=Strict
 * cookie. Sessions live in the core's memory: a restart signs everyone out, which is fine for an
 * operator page and keeps the token itself out of the cookie.
 */

/** Name of the session cookie (scoped to /admin). */
export const SESSION_COOKIE = "memori_admin_session";

/** How long a session lasts after sign-in, in ms. */
export const SESSION_TTL_MS = 12 * 3600_000;

/** Sessions kept at most; the oldest goes first, so a flood of sign-ins cannot grow memory. */
const MAX_SESSIONS = 1000;

/** One signed-in browser. */
export interface AdminSession {
  /** Random id (the cookie's value). */
  id: string;
  /** Token the page's forms carry, checked on every POST. */
  csrf: string;
  /** Epoch ms after which the session is over. */
  expiresAt: number;
}

/** The session store of one core. */
export interface AdminSessions {
  /** Start a session at epoch ms `now`. */
  create(now: number): AdminSession;
  /** The live session with this id, if any. */
  get(id: string | undefined, now: number): AdminSession | undefined;
  /** End a session. */
  drop(id: string): void;
}

/** A random URL-safe string of `bytes` random bytes. */
export function randomToken(bytes = 32): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

/** A new, empty session store. */
export function createAdminSessions(): AdminSessions {
  // Map keeps insertion order, so the first key is the oldest session.
  const sessions = new Map<string, AdminSession>();
  return {
    create(now) {
      for (const [id, s] of sessions) if (s.expiresAt <= now) sessions.delete(id);
      while (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
      const session = { id: randomToken(), csrf: randomToken(), expiresAt: now + SESSION_TTL_MS };
      sessions.set(session.id, session);
      return session;
    },
    get(id, now) {
      if (id === undefined) return undefined;
      const session = sessions.get(id);
      if (!session) return undefined;
      if (session.expiresAt <= now) {
        sessions.delete(id);
        return undefined;
      }
      return session;
    },
    drop(id) {
      sessions.delete(id);
    },
  };
}

/** Whether two strings are equal, in time that depends only on their lengths. */
export function sameString(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
