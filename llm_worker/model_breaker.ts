/**
 * A circuit breaker in front of the model server. A self-hoster's model is routinely off for
 * hours (a laptop running Ollama, a GPU box that sleeps), so an outage must not burn through the
 * backlog's retries:
 *
 * - `ok`: model calls go out at once.
 * - `outage` (a call found the server unreachable, timing out, 429 or 5xx): calls wait. One job
 *   at a time is let through as the probe, after a delay that grows from LLM_RETRY_BASE_MS to
 *   LLM_PROBE_MAX_SECONDS. Its answer closes the breaker and every waiting job goes on; its
 *   failure keeps the breaker open and the delay grows.
 * - The dispatcher takes no new work during an outage, except one entry when a probe is due and
 *   no job is there to be it (so a worker with nothing in flight still finds out the model is
 *   back).
 *
 * Successes and failures are reported by the model client wrapper ({@linkcode guardLlm}), so the
 * breaker knows precisely whether the server answered.
 */
import { ShutdownError, TransientError } from "./errors.ts";
import type { LlmClient } from "./llm_client.ts";
import { backoffDelay, type BackoffOptions } from "./retry.ts";
import { Notifier } from "./notifier.ts";

/** What the breaker knows of the model, for operators. */
export interface ModelStatus {
  /** `ok` or `outage`. */
  state: "ok" | "outage";
  /** When the current outage began (ISO), while in one. */
  outage_since?: string;
  /** Last time the model answered (ISO). */
  last_success_at?: string;
  /** Last time the model could not be reached (ISO). */
  last_failure_at?: string;
  /** Why it could not be reached, last time. */
  last_error?: string;
}

/** A permission to call the model, from {@linkcode ModelBreaker.turn}. */
export interface Turn {
  /** The wait ended at `until` before the model could be called. */
  readonly expired: boolean;
  /** This caller is the probe of an outage. */
  readonly probe: boolean;
  /** The attempt is over (frees the probe's place when the model was never reached). */
  done(): void;
}

/** Options for {@linkcode createModelBreaker}. */
export interface ModelBreakerOptions extends BackoffOptions {
  /** Current time. */
  clock?: () => Date;
  /** Told of every change of what the breaker knows (the worker writes it to Redis). */
  onChange?: (status: ModelStatus) => void;
}

/** The breaker; see the module documentation. */
export interface ModelBreaker {
  /** What it knows now. */
  status(): ModelStatus;
  /**
   * Wait until a model call may go out: at once while the model is up; during an outage until
   * this caller is the probe or the model is back, or until `until` (epoch ms) passes. Rejects
   * with {@linkcode ShutdownError} when `signal` aborts.
   */
  turn(options: { signal: AbortSignal; until?: number }): Promise<Turn>;
  /** The model answered. */
  succeeded(): void;
  /** The model could not be reached. */
  failed(error: string): void;
  /** How many new entries the dispatcher may take with `inFlight` jobs running. */
  allowance(inFlight: number): number;
  /** Resolves at the next change that may raise the allowance, or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void>;
  /** Clear its timer (the worker stopped). */
  close(): void;
}

interface Waiter {
  resolve(turn: Turn): void;
}

/** Build a breaker. */
export function createModelBreaker(options: ModelBreakerOptions): ModelBreaker {
  const clock = options.clock ?? (() => new Date());
  const status: ModelStatus = { state: "ok" };
  let probes = 0;
  let nextProbeAt = 0;
  let probing = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waiters: Waiter[] = [];
  const changes = new Notifier();

  const now = () => clock().getTime();
  const down = () => status.state === "outage";

  function wake(): void {
    changes.notify();
  }

  function changedNow(): void {
    options.onChange?.({ ...status });
    wake();
  }

  function makeTurn(probe: boolean, expired = false): Turn {
    let finished = false;
    return {
      expired,
      probe,
      done() {
        if (finished || !probe) return;
        finished = true;
        if (probing) {
          probing = false;
          schedule();
          wake();
        }
      },
    };
  }

  // Hand the probe's place to the first waiter once it is due.
  function schedule(): void {
    clearTimeout(timer);
    timer = undefined;
    if (!down() || probing) return;
    const wait = nextProbeAt - now();
    if (wait > 0) {
      timer = setTimeout(schedule, wait);
      Deno.unrefTimer(timer);
      // A due probe with nobody waiting raises the dispatcher's allowance.
      return;
    }
    const waiter = waiters.shift();
    if (waiter) {
      probing = true;
      waiter.resolve(makeTurn(true));
    } else {
      wake();
    }
  }

  return {
    status: () => ({ ...status }),
    turn({ signal, until }) {
      if (signal.aborted) return Promise.reject(new ShutdownError());
      if (!down()) return Promise.resolve(makeTurn(false));
      return new Promise<Turn>((resolve, reject) => {
        let expiry: ReturnType<typeof setTimeout> | undefined;
        const leave = () => {
          clearTimeout(expiry);
          signal.removeEventListener("abort", onAbort);
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
        };
        const waiter: Waiter = {
          resolve: (turn) => {
            leave();
            resolve(turn);
          },
        };
        const onAbort = () => {
          leave();
          reject(new ShutdownError());
        };
        signal.addEventListener("abort", onAbort, { once: true });
        if (until !== undefined) {
          expiry = setTimeout(() => waiter.resolve(makeTurn(false, true)), until - now());
        }
        waiters.push(waiter);
        schedule();
      });
    },
    succeeded() {
      const at = clock().toISOString();
      const wasDown = down();
      status.last_success_at = at;
      if (!wasDown) return options.onChange?.({ ...status });
      status.state = "ok";
      delete status.outage_since;
      probes = 0;
      probing = false;
      clearTimeout(timer);
      for (const waiter of waiters.splice(0)) waiter.resolve(makeTurn(false));
      changedNow();
    },
    failed(error) {
      const at = clock().toISOString();
      status.last_failure_at = at;
      status.last_error = error;
      if (!down()) {
        status.state = "outage";
        status.outage_since = at;
        probes = 0;
        nextProbeAt = now() + backoffDelay(probes, options);
      } else if (probing) {
        // The probe failed (failures of calls that went out before the outage do not count).
        nextProbeAt = now() + backoffDelay(++probes, options);
      }
      // Arm the timer now: with nobody waiting, the probe falling due must still wake the
      // dispatcher (changed()), or a worker with nothing in flight never takes the probe entry.
      schedule();
      changedNow();
    },
    allowance(inFlight) {
      if (!down()) return Infinity;
      const probeDue = !probing && waiters.length === 0 && now() >= nextProbeAt;
      return probeDue && inFlight === 0 ? 1 : 0;
    },
    close() {
      clearTimeout(timer);
      timer = undefined;
    },
    changed: (signal) => changes.wait(signal),
  };
}

/**
 * `llm` reporting each call's outcome to `breaker`: an outage error is a failure, any answer
 * (usable or not) a success.
 */
export function guardLlm(llm: LlmClient, breaker: ModelBreaker): LlmClient {
  async function observe<T>(call: () => Promise<T>): Promise<T> {
    try {
      const out = await call();
      breaker.succeeded();
      return out;
    } catch (err) {
      if (err instanceof TransientError && err.service === "llm") breaker.failed(err.message);
      else if (!(err instanceof ShutdownError)) breaker.succeeded();
      throw err;
    }
  }
  return {
    text: (prompt, o) => observe(() => llm.text(prompt, o)),
    json: (schema, prompt, o) => observe(() => llm.json(schema, prompt, o)),
    visionJson: (schema, prompt, o) => observe(() => llm.visionJson(schema, prompt, o)),
  };
}
