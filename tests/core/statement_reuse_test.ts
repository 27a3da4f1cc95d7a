/**
 * A statement the core runs again is not compiled again. Deno's SQLite plans a bare `LIMIT ?` by
 * its bound value and compiles the statement afresh whenever it is bound, which node:sqlite does
 * on every run (core/db/query.ts, limitParam): every search and list paid a parse and a plan.
 * SQLite calls the authorizer only while it compiles a statement, so counting its calls over a
 * repeated workload counts the compilations.
 */
import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { call, createUser, makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { runSchedulerOnce } from "../../core/background/scheduler.ts";
import { republishOnce } from "../../core/background/republisher.ts";

await sanitizeTests();

// SQLite's authorizer action codes of a transaction and a savepoint: db.exec compiles those on
// every call, as it is meant to; any other action is part of compiling a statement.
const SQLITE_TRANSACTION = 22;
const SQLITE_SAVEPOINT = 32;

/** node:sqlite's setAuthorizer, which Deno's runtime has and its type declarations lack. */
type Authorizer = (action: number, arg1: string | null) => number;

/** Statements compiled on a connection since the last `take()`, as action and first argument. */
interface Compiles extends Disposable {
  take(): string[];
}

/**
 * Count what `db` compiles from now on. Setting an authorizer expires every prepared statement
 * of the connection, so each is compiled once more on its next run.
 */
function countCompiles(db: DatabaseSync): Compiles {
  const authorize = (cb: Authorizer | null) =>
    (db as DatabaseSync & { setAuthorizer(cb: Authorizer | null): void }).setAuthorizer(cb);
  let seen: string[] = [];
  authorize((action, arg1) => {
    if (action !== SQLITE_TRANSACTION && action !== SQLITE_SAVEPOINT) {
      seen.push(`${action} ${arg1}`);
    }
    return 0; // SQLITE_OK
  });
  return {
    take: () => {
      const out = seen;
      seen = [];
      return out;
    },
    [Symbol.dispose]: () => authorize(null),
  };
}

const OWNER = 8101;

/** Memories, a pinned one among them, and one of everything the lists read. */
async function seed(core: TestCore): Promise<void> {
  await createUser(core.app, OWNER);
  for (const content of ["harbour ferry times", "ferry to the island", "harbour lights"]) {
    const res = await call(core.app, "POST", "/memories", { owner_user_id: OWNER, content });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  }
  const first = await call(core.app, "GET", `/search?owner=${OWNER}&q=ferry`);
  const id = first.body[0].memory.id;
  assert.equal((await call(core.app, "PATCH", `/memories/${id}`, { is_pinned: true })).status, 200);
  const job = { job_type: "followup", payload: { message: "hi" }, user_id: OWNER };
  assert.equal((await call(core.app, "POST", "/llm_jobs", job)).status, 201);
}

/** Searches of every kind, every list with a limit, the background passes. */
async function workload(core: TestCore): Promise<void> {
  for (
    const path of [
      `/search?owner=${OWNER}&q=ferry`,
      `/search?owner=${OWNER}&q=harbour+ferry`,
      `/search?owner=${OWNER}&q=ferry&pinned=true`,
      `/search?owner=${OWNER}&pinned=true`,
      "/llm_jobs?limit=5&offset=0",
      `/llm_jobs?status=queued&user_id=${OWNER}`,
      `/tasks?owner_user_id=${OWNER}`,
      "/reminders",
      "/events",
      "/audit?limit=10",
    ]
  ) {
    const res = await call(core.app, "GET", path);
    assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
  }
  assert.equal((await call(core.app, "POST", "/llm_jobs/retry-failed", {})).status, 200);
  await runSchedulerOnce(core.deps);
  await republishOnce(core.deps);
}

Deno.test("searches, lists and background passes compile no statement when run again", async () => {
  // A candidate cap of 1 sends a search with several matches through every ranking query.
  await using core = await makeCore({ env: { SEARCH_CANDIDATE_CAP: "1" } });
  await seed(core);
  using compiles = countCompiles(core.db);
  await workload(core);
  assert.ok(compiles.take().length > 0, "the first run compiles its statements (the check sees)");
  await workload(core);
  assert.deepEqual(compiles.take(), []);
});
