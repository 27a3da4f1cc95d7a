/**
 * The language a user reads, from their settings in the core, for the texts the model writes for
 * them (tags, descriptions, questions). Looked up once per user and kept briefly, so a busy user
 * costs one settings request a minute, not one per job.
 */
import type { CoreClient } from "./core_client.ts";

/** The language used when a user has none set, or one we cannot name. */
export const DEFAULT_LANGUAGE = "English";

/** Options for {@linkcode createLanguageLookup}. */
export interface LanguageLookupOptions {
  /** How long an answer is kept, in ms (default 60 s). */
  ttlMs?: number;
  /** Most users kept (default 1000); the oldest entry goes first. */
  maxEntries?: number;
  /** Current time in ms. */
  now?: () => number;
}

/** The English name of a language code (`de` → German), or null when it names none. */
export function languageName(code: string | null | undefined): string | null {
  if (typeof code !== "string" || code.trim() === "") return null;
  try {
    const tag = Intl.getCanonicalLocales(code.trim())[0];
    const name = new Intl.DisplayNames(["en"], { type: "language", fallback: "none" }).of(tag);
    return name ?? null;
  } catch {
    return null;
  }
}

/**
 * A lookup of a user's language by id: the English name of their settings' `language`,
 * {@linkcode DEFAULT_LANGUAGE} for no user, no settings, an unknown code, or a core that does not
 * answer (a job is never held up or failed over its language).
 */
export function createLanguageLookup(
  core: Pick<CoreClient, "getSettings">,
  options: LanguageLookupOptions = {},
): (userId: number | null) => Promise<string> {
  const ttlMs = options.ttlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 1000;
  const now = options.now ?? Date.now;
  const cache = new Map<number, { language: string; at: number }>();
  return async (userId) => {
    if (userId === null) return DEFAULT_LANGUAGE;
    const hit = cache.get(userId);
    if (hit && now() - hit.at < ttlMs) return hit.language;
    let language = DEFAULT_LANGUAGE;
    try {
      const settings = await core.getSettings(userId);
      language = languageName(settings?.language) ?? DEFAULT_LANGUAGE;
    } catch { /* unknown user or core down: English this time */ }
    cache.delete(userId);
    cache.set(userId, { language, at: now() });
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
    return language;
  };
}
