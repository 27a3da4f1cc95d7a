/** Small formatting helpers of the admin page: ages and durations a person reads at a glance. */

/** `ms` as e.g. `45s`, `12m 5s`, `3h 20m`, `2d 4h`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** How long ago ISO time `iso` was before `now`, e.g. `5m 2s ago`; `-` when there is none. */
export function ago(iso: string | null | undefined, now: Date): string {
  if (!iso) return "-";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return `${duration(now.getTime() - t)} ago`;
}

/** JSON text pretty-printed, or the text as is when it is not JSON. */
export function prettyJson(text: string | null): string {
  if (text === null) return "null";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
