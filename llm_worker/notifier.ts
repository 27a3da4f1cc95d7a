/** A one-shot wake-up many can wait for: the breaker's "something changed" for the dispatcher. */

/** Waiters woken together by {@linkcode Notifier.notify}. */
export class Notifier {
  #listeners = new Set<() => void>();

  /** Resolves at the next notify(), or when `signal` aborts (at once when it already has). */
  wait(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        this.#listeners.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#listeners.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Wake every waiter. */
  notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}
