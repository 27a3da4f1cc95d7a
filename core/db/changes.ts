/** What an update changes in a row: the SET clause, its values and the audit diff, from one loop. */
import type { SQLInputValue } from "node:sqlite";

/** The columns of `after` that differ from `before`, in the shapes an UPDATE and its audit need. */
export interface ColumnChanges {
  /** `col = ?, col = ?` for the changed columns (empty when nothing changed). */
  set: string;
  /** The new values, in the order of `set`. */
  args: SQLInputValue[];
  /** `{col: {from, to}}` for the audit entry. */
  diff: Record<string, { from: unknown; to: unknown }>;
}

/** Compare `columns` of `before` and `after` (strict equality). */
export function columnChanges<R extends Record<K, SQLInputValue>, K extends keyof R & string>(
  before: R,
  after: R,
  columns: readonly K[],
): ColumnChanges {
  const sets: string[] = [];
  const args: SQLInputValue[] = [];
  const diff: ColumnChanges["diff"] = {};
  for (const col of columns) {
    if (before[col] === after[col]) continue;
    sets.push(`${col} = ?`);
    args.push(after[col]);
    diff[col] = { from: before[col], to: after[col] };
  }
  return { set: sets.join(", "), args, diff };
}
