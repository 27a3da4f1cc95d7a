/** A bound on how long anything may take, the one promise timeout of both services. */

/**
 * Resolve as `promise` does, or reject after `ms` with "no answer from `what` within `ms` ms".
 * The timer is cleared either way. `onTimeout` runs when the bound is hit (to abandon the work).
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  options: { onTimeout?: () => void } = {},
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      options.onTimeout?.();
      reject(new Error(`no answer from ${what} within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
