/**
 * The dispatcher: takes entries from the five `llm:*` streams and runs up to `concurrency` of
 * them at once (the worker's jobs in hand; model_slots.ts bounds their model calls).
 *
 * - One blocking XREADGROUP over all five streams, on its own connection, asking for as many
 *   entries as there are free slots (COUNT is per stream, so any surplus waits in a small local
 *   backlog) and as the model's breaker allows (no new work during a model outage).
 * - Every few seconds: touch our own entries (XCLAIM JUSTID) so a slow job of a live consumer is
 *   not taken over, and XAUTOCLAIM entries idle past WORKER_CLAIM_IDLE_SECONDS (a dead
 *   consumer's); an entry delivered more than WORKER_MAX_DELIVERIES times is handed to
 *   `poisoned` instead of `run`.
 * - stop(): stop reading, let running jobs finish (bounded), then abort the rest.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../shared/log.ts";
import { redisReady } from "../shared/redis.ts";
import {
  ALL_JOB_STREAMS,
  autoClaim,
  ensureGroup,
  readGroup,
  type StreamEntry,
  WORKER_GROUP,
} from "../shared/streams.ts";
import { sleep } from "./retry.ts";

/** What decides whether new work may be taken (the model's breaker). */
export interface WorkGate {
  /** How many new entries may be taken with `inFlight` jobs running. */
  allowance(inFlight: number): number;
  /** Resolves at the next change that may raise the allowance, or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void>;
}

/** Options for {@linkcode startDispatcher}. */
export interface DispatcherOptions {
  /** Commands connection (claims, group creation). */
  redis: Redis;
  /** Connection for the blocking read only. */
  reader: Redis;
  /** This replica's consumer name. */
  consumer: string;
  /** Most jobs in hand at once. */
  concurrency: number;
  /** BLOCK of the XREADGROUP, in ms. */
  blockMs: number;
  /** Idle time after which another consumer's entry is taken over, in ms. */
  claimIdleMs: number;
  /** How often to claim and touch, in ms. */
  claimIntervalMs: number;
  /** Deliveries after which an entry is poison. */
  maxDeliveries: number;
  /** Logger. */
  log: Logger;
  /** Whether new work may be taken. */
  gate: WorkGate;
  /** Aborted when the worker stops taking work. */
  stopping: AbortSignal;
  /** Run one entry to its outcome (never throws). */
  run(entry: StreamEntry): Promise<void>;
  /** Dispose of an entry delivered too often. */
  poisoned(entry: StreamEntry, deliveries: number): Promise<void>;
}

/** A running dispatcher. */
export interface Dispatcher {
  /** Resolves once the consumer group exists on every stream. */
  readonly ready: Promise<void>;
  /** Jobs being run right now. */
  inFlight(): number;
  /** Wait for the loops to end (after `stopping` aborted), then for running jobs up to `graceMs`. */
  drain(graceMs: number): Promise<void>;
  /** Wait for every running job, however long. */
  settled(): Promise<void>;
}

/** Start the read and claim loops. */
export function startDispatcher(options: DispatcherOptions): Dispatcher {
  return new SlotDispatcher(options);
}

type Run = (entry: StreamEntry) => Promise<void>;

/** The dispatcher's state is its own: the loops and the slots, nothing shared with the runner. */
class SlotDispatcher implements Dispatcher {
  readonly ready: Promise<void>;
  #o: DispatcherOptions;
  #inflight = new Map<string, { entry: StreamEntry; done: Promise<void> }>();
  #backlog: StreamEntry[] = [];
  #wakeReader?: () => void;
  #resolveReady!: () => void;
  // The reader's connection id, for CLIENT UNBLOCK (a new one after each reconnect).
  #readerId?: number;
  #loops: Promise<unknown>;

  constructor(o: DispatcherOptions) {
    this.#o = o;
    this.ready = new Promise<void>((r) => this.#resolveReady = r);
    o.reader.on("ready", this.#onReaderReady);
    if (o.reader.status === "ready") this.#onReaderReady();
    this.#loops = Promise.all([this.#readLoop(), this.#claimLoop(), this.#gateLoop()]).catch((
      err,
    ) => o.log.error("consumer loop crashed", { error: err as Error }));
  }

  inFlight(): number {
    return this.#inflight.size;
  }

  async drain(graceMs: number): Promise<void> {
    await this.#loops;
    this.#o.reader.off("ready", this.#onReaderReady);
    const running = [...this.#inflight.values()].map((f) => f.done);
    if (running.length > 0) {
      this.#o.log.info("waiting for in-flight jobs", { count: running.length, grace_ms: graceMs });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const graceOver = new Promise<void>((r) => timer = setTimeout(r, graceMs));
      await Promise.race([Promise.all(running), graceOver]);
      clearTimeout(timer);
    }
    if (this.#backlog.length > 0) {
      // Never started, so still queued in the core; another consumer reclaims them.
      this.#o.log.info("leaving unstarted entries pending", { count: this.#backlog.length });
      this.#backlog.length = 0;
    }
  }

  async settled(): Promise<void> {
    await Promise.allSettled([...this.#inflight.values()].map((f) => f.done));
  }

  #onReaderReady = () => {
    this.#readerId = undefined;
    this.#o.reader.client("ID").then((id) => this.#readerId = Number(id)).catch(() => {});
  };

  #busy(): number {
    return this.#inflight.size + this.#backlog.length;
  }

  /** Free slots the gate lets us fill now. */
  #free(): number {
    return Math.min(
      this.#o.concurrency - this.#busy(),
      this.#o.gate.allowance(this.#inflight.size),
    );
  }

  #dispatch(entry: StreamEntry, run?: Run): void {
    const k = key(entry);
    if (this.#inflight.has(k) || this.#backlog.some((e) => key(e) === k)) return;
    if (run) return this.#start(entry, run);
    this.#backlog.push(entry);
    this.#pump();
  }

  #start(entry: StreamEntry, run: Run): void {
    const k = key(entry);
    const done = run(entry)
      .catch((err) => this.#o.log.error("job crashed", { error: err as Error, entry_id: entry.id }))
      .finally(() => {
        this.#inflight.delete(k);
        this.#pump();
        this.#wakeReader?.();
      });
    this.#inflight.set(k, { entry, done });
  }

  #pump(): void {
    const o = this.#o;
    while (
      !o.stopping.aborted && this.#inflight.size < o.concurrency && this.#backlog.length > 0 &&
      o.gate.allowance(this.#inflight.size) > 0
    ) {
      this.#start(this.#backlog.shift()!, o.run);
    }
  }

  /** Free slots to read into; when none, waits for a freed slot or a gate change and says 0. */
  async #room(): Promise<number> {
    const free = this.#free();
    if (free > 0) return free;
    // Every listener added for this wait goes with it: the stop signal lives as long as the
    // worker, and this runs once per freed slot.
    const waited = new AbortController();
    await new Promise<void>((resolve) => {
      this.#wakeReader = resolve;
      this.#o.gate.changed(waited.signal).then(resolve);
      this.#o.stopping.addEventListener("abort", () => resolve(), {
        once: true,
        signal: waited.signal,
      });
      if (this.#o.stopping.aborted) resolve();
    });
    waited.abort();
    this.#wakeReader = undefined;
    return 0;
  }

  async #setUp(): Promise<void> {
    const o = this.#o;
    for (let attempt = 0; !o.stopping.aborted; attempt++) {
      try {
        await connected(o.redis, o.stopping);
        await ensureGroup(o.redis, ALL_JOB_STREAMS);
        this.#resolveReady();
        return;
      } catch (err) {
        o.log.warn("cannot create the consumer groups yet; retrying", { error: err as Error });
        await sleep(Math.min(5000, 200 * 2 ** Math.min(attempt, 5)), o.stopping).catch(() => {});
      }
    }
  }

  async #readLoop(): Promise<void> {
    const o = this.#o;
    await this.#setUp();
    while (!o.stopping.aborted) {
      const free = await this.#room();
      if (free <= 0) continue;
      try {
        await connected(o.reader, o.stopping);
        if (o.stopping.aborted) break;
        const entries = await readGroup(o.reader, o.consumer, {
          streams: ALL_JOB_STREAMS,
          count: Number.isFinite(free) ? free : o.concurrency,
          blockMs: o.blockMs,
        });
        for (const entry of entries) this.#dispatch(entry);
      } catch (err) {
        if (o.stopping.aborted) break;
        await this.#readFailed(err as Error);
      }
    }
  }

  async #readFailed(err: Error): Promise<void> {
    if ((err.message ?? "").includes("NOGROUP")) {
      // A stream or group was deleted under us; recreate and carry on.
      await ensureGroup(this.#o.redis, ALL_JOB_STREAMS).catch(() => {});
    } else {
      this.#o.log.warn("reading the job streams failed; retrying", { error: err });
      await sleep(500, this.#o.stopping).catch(() => {});
    }
  }

  /**
   * Follow the gate: start backlog entries it now allows, and when it closes (the model went
   * down), cut a read that is blocked waiting for new work, so nothing more is taken.
   */
  async #gateLoop(): Promise<void> {
    const o = this.#o;
    while (!o.stopping.aborted) {
      await o.gate.changed(o.stopping);
      this.#pump();
      if (o.gate.allowance(this.#inflight.size) === 0 && this.#readerId !== undefined) {
        await o.redis.client("UNBLOCK", this.#readerId).catch(() => {});
      }
    }
  }

  /** Touch our own entries so their idle time never reaches the claim threshold. */
  async #touchOurs(): Promise<void> {
    const o = this.#o;
    const idle = Math.floor(o.claimIdleMs / 3);
    for (const entry of [...[...this.#inflight.values()].map((f) => f.entry), ...this.#backlog]) {
      await o.redis.call(
        "XCLAIM",
        entry.stream,
        WORKER_GROUP,
        o.consumer,
        idle,
        entry.id,
        "JUSTID",
      );
    }
  }

  async #claimOnce(): Promise<void> {
    const o = this.#o;
    await this.#touchOurs();
    for (const stream of ALL_JOB_STREAMS) {
      const free = this.#free();
      if (free <= 0 || o.stopping.aborted) return;
      const claimed = await autoClaim(o.redis, o.consumer, {
        streams: [stream],
        minIdleMs: o.claimIdleMs,
        count: Number.isFinite(free) ? free : o.concurrency,
      });
      for (const entry of claimed) {
        const deliveries = await deliveryCount(o.redis, entry);
        o.log.info("reclaimed an idle entry", { stream, entry_id: entry.id, deliveries });
        if (deliveries > o.maxDeliveries) this.#dispatch(entry, (e) => o.poisoned(e, deliveries));
        else this.#dispatch(entry);
      }
    }
  }

  async #claimLoop(): Promise<void> {
    const o = this.#o;
    // Wait for the groups, but not past a stop: a worker that never reached Redis must still
    // exit on SIGTERM.
    await Promise.race([this.ready, aborted(o.stopping)]);
    while (!o.stopping.aborted) {
      try {
        await this.#claimOnce();
      } catch (err) {
        if (!o.stopping.aborted) o.log.warn("reclaiming failed", { error: err as Error });
      }
      await sleep(o.claimIntervalMs, o.stopping).catch(() => {});
    }
  }
}

function key(entry: StreamEntry): string {
  return `${entry.stream}\u0000${entry.id}`;
}

/** How many times `entry` has been delivered (XPENDING); 1 when Redis cannot say. */
async function deliveryCount(redis: Redis, entry: StreamEntry): Promise<number> {
  const rows = await redis.xpending(entry.stream, WORKER_GROUP, entry.id, entry.id, 1) as [
    string,
    string,
    number,
    number,
  ][];
  return Number(rows[0]?.[3] ?? 1);
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/**
 * Wait until `redis` is connected, at most 5 s (a connection that stays down is reported by the
 * failing command instead), or until `signal` aborts.
 */
async function connected(redis: Redis, signal: AbortSignal): Promise<void> {
  await redisReady(redis, { timeoutMs: 5000, signal }).catch(() => {});
}
