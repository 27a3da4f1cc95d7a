/**
 * Signals scoped to one job run. Deno keeps an entry on a source signal for every signal composed
 * from it (AbortSignal.any) until that source is collected; composed from the worker's own
 * signals, which live as long as the process, memory grew with every job. A child made here is
 * detached from its parents by `release()`.
 */

/** A signal aborted with the first of `parents` to abort, until `release()` detaches it. */
export function childSignal(...parents: AbortSignal[]): { signal: AbortSignal; release(): void } {
  const child = new AbortController();
  const aborted = parents.find((p) => p.aborted);
  if (aborted) {
    child.abort(aborted.reason);
    return { signal: child.signal, release: () => {} };
  }
  const listeners = parents.map((parent) => {
    const onAbort = () => child.abort(parent.reason);
    parent.addEventListener("abort", onAbort, { once: true });
    return () => parent.removeEventListener("abort", onAbort);
  });
  return { signal: child.signal, release: () => listeners.forEach((detach) => detach()) };
}
