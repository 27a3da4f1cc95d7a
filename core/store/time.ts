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

/** A stored time as the contract's UTC `...Z` string (null stays null; unparseable kept). */
export function utcOut(value: string | null): string | null {
  if (value === null) return null;
  return toUtcIso(value) ?? value;
}
