/** Small fixtures the core tests share: a core on a movable clock, memories, row counts. */
import { makeCore, type TestCore } from "./core_app.ts";
import { insertMemory as insertMemoryRow, type NewMemory } from "../../core/store/memory_repo.ts";
import { newRowId } from "../../core/store/row_id.ts";

/** The instant the fixture memories are stamped with. */
export const FIXTURE_T0 = "2026-03-01T00:00:00.000Z";

/** A core whose clock the test moves by assigning `time.now`. */
export async function coreAt(iso: string): Promise<TestCore & { time: { now: Date } }> {
  const time = { now: new Date(iso) };
  const core = await makeCore({ clock: () => time.now });
  return Object.assign(core, { time });
}

/**
 * A confirmed memory inserted by the store (indexed for search like any), for tests of routers
 * that only point at memories (so they do not depend on the memories router). Returns its id.
 */
export function insertMemory(core: TestCore, owner: number, content = "a memory"): string {
  return insertMemoryRow(core.db, newMemory(owner, content, { at: FIXTURE_T0 })).id;
}

/**
 * A new text memory of `owner` for the store's insertMemory: confirmed unless told (a pending
 * one is an image's, as only images wait), stamped now unless told.
 */
export function newMemory(
  owner: number,
  content: string,
  options: { status?: "confirmed" | "pending"; at?: string } = {},
): NewMemory {
  const status = options.status ?? "confirmed";
  return {
    id: newRowId(),
    owner_user_id: owner,
    source_chat_id: null,
    source_message_id: null,
    content,
    media_type: status === "pending" ? "image" : null,
    media_file_id: null,
    status,
    pending_expires_at: null,
    at: options.at ?? new Date().toISOString(),
  };
}

/** The `n` column of a `SELECT count(*) AS n ...` query. */
export function count(core: TestCore, sql: string, ...args: (string | number)[]): number {
  return Number((core.db.prepare(sql).get(...args) as { n: number }).n);
}

/** A clock the test steps by hand: `clock` for makeCore, `advance(ms)`, `iso(offsetMs)`. */
export function manualClock(start = "2026-03-01T10:00:00.000Z"): {
  clock: () => Date;
  advance(ms: number): void;
  iso(offsetMs?: number): string;
} {
  let t = Date.parse(start);
  return {
    clock: () => new Date(t),
    advance(ms: number) {
      t += ms;
    },
    iso(offsetMs = 0) {
      return new Date(t + offsetMs).toISOString();
    },
  };
}

/** A temp directory removed with its contents when the scope ends (`await using`). */
export interface TempDir extends AsyncDisposable {
  /** Its path. */
  path: string;
}

/** Make a temp directory: `await using tmp = await tempDir("memori_x_");` then `tmp.path`. */
export async function tempDir(prefix?: string): Promise<TempDir> {
  const path = await Deno.makeTempDir(prefix === undefined ? {} : { prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** Options for {@linkcode until}. */
export interface UntilOptions {
  /** Give up after this long, ms (10 s). */
  timeoutMs?: number;
  /** Between checks, ms (5). */
  pollMs?: number;
}

/** Wait until `cond` holds; throws `timed out waiting for <what>` past the timeout. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  options: UntilOptions = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, options.pollMs ?? 5));
  }
}
