/**
 * The rules of single fields, shared by the request schemas (schemas.ts) and the job payloads
 * (job_types.ts): text every layer keeps whole, UUIDs, Telegram user ids, ISO times.
 */
import { z } from "zod";

const ISO_DATE_TIME =
  /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}:?\d{2})?$/;

/**
 * Normalize an ISO 8601 date-time to UTC `YYYY-MM-DDTHH:MM:SS.sssZ`; `null` when unparseable.
 * A time without an offset is taken as UTC, as the first version did.
 */
export function toUtcIso(value: string): string | null {
  if (!ISO_DATE_TIME.test(value)) return null;
  // Date.parse rolls 2026-02-30 over to March; a reminder must not silently move.
  const [y, mo, d] = value.slice(0, 10).split("-").map(Number);
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) {
    return null;
  }
  let v = value.replace(" ", "T");
  if (!/(Z|z|[+-]\d{2}:?\d{2})$/.test(v)) v += "Z";
  // Date.parse wants the offset with a colon.
  v = v.replace(/([+-]\d{2})(\d{2})$/, "$1:$2");
  // Date.parse keeps milliseconds only; drop finer digits rather than reject them.
  v = v.replace(/(\.\d{3})\d+/, "$1");
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) return null;
  return new Date(ms).toISOString();
}

/** An ISO 8601 date-time, any offset, normalized to UTC with a `Z`. */
export const isoDateTime = z.string().transform((value, ctx) => {
  const iso = toUtcIso(value);
  if (iso === null) {
    ctx.addIssue({
      code: "custom",
      message: "must be an ISO 8601 date-time, e.g. 2026-01-31T09:00:00Z",
    });
    return z.NEVER;
  }
  return iso;
});

/** The message of a text field holding NUL or an unpaired surrogate. */
export const UNSAFE_TEXT_MESSAGE =
  "must not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates";

/** Whether `s` is text every layer keeps whole: no NUL, no unpaired surrogate. */
export function isSafeText(s: string): boolean {
  return !s.includes("\0") && s.isWellFormed();
}

/**
 * A text field of a request. SQLite's C API cuts text at NUL ("a\u0000b" was stored whole but
 * read back as "a") and UTF-8 encoders replace unpaired surrogates, both without notice; every
 * text field of the request schemas starts here so all refuse them alike (422).
 */
export function textField(): z.ZodString {
  return z.string().refine(isSafeText, UNSAFE_TEXT_MESSAGE);
}

/** A Telegram user id. */
export const userId = z.number().int().safe();
/** A UUID string (any version; ids written by the first version are UUID v4 too). */
export const uuid = textField().regex(
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  "must be a UUID",
);
