/**
 * Stored times as the contract's UTC strings. Rows written by the first version may carry
 * offsets or lack the Z; these helpers normalize them when comparing in SQL and when answering.
 */
import { toUtcIso } from "../../shared/schemas.ts";

/**
 * SQL expression for `column` as normalized UTC (`YYYY-MM-DDTHH:MM:SS.sssZ`). Rows of the first
 * version may carry offsets or lack the Z, and those compare wrongly as plain strings; values
 * SQLite cannot parse are kept as they are.
 */
export function utcSql(column: string): string {
  return `coalesce(strftime('%Y-%m-%dT%H:%M:%fZ', ${column}), ${column})`;
}

// A time as the core writes it (Date#toISOString), clock fields in range: toUtcIso would answer
// it unchanged, so it is answered without parsing (a third of the time of building a job's
// answer). A day out of range (02-30) is answered as stored either way.
const AS_WRITTEN = /^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;

/** A stored time as the contract's UTC `...Z` string (null stays null; unparseable kept). */
export function utcOut<T extends string | null>(value: T): T {
  if (value === null || AS_WRITTEN.test(value)) return value;
  return (toUtcIso(value) ?? value) as T;
}
