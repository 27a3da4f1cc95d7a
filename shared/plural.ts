/** English counts for log lines and user-facing texts. */

/** `n` and `unit`, plural unless `n` is 1: "1 second", "24 hours", "2 workers". */
export function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}
