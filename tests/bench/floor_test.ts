/**
 * The bench's store floor (bench/floor_server.ts) does the core's store work: started as the bench
 * starts it, on a copy of a seeded store, it answers the bench's requests as the core does (the
 * same memory, the same search hits, a memory and a job with the core's fields) and writes what
 * the core writes (the audit entries, the job's publish and its stream id).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { seedMemories } from "../../bench/seed.ts";
import { startFloorServer } from "../../bench/reference.ts";
import { SEARCH_OWNER } from "../../bench/http.ts";
import { call, makeCore, sanitizeTests } from "../helpers/core_app.ts";
import { JOB_STREAMS } from "../../shared/streams.ts";

await sanitizeTests();

/** GET `path` from the floor and from the core's app, parsed. */
async function both(
  floorUrl: string,
  app: { request: (p: string) => Response | Promise<Response> },
  path: string,
) {
  const floor = await fetch(`${floorUrl}${path}`);
  const core = await app.request(path);
  return {
    floor: { status: floor.status, body: await floor.json() },
    core: { status: core.status, body: await core.json() },
  };
}

/** POST `body` as JSON to the floor: its status and parsed answer. */
async function post(floorUrl: string, path: string, body: unknown) {
  const res = await fetch(`${floorUrl}${path}`, { method: "POST", body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

Deno.test("the store floor answers the bench's requests with the core's store work", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memori_floor_test_" });
  const databasePath = join(dir, "core.db");
  const floorDir = join(dir, "floor");
  await Deno.mkdir(floorDir);
  const floorPath = join(floorDir, "memori.db");
  const seed = seedMemories(databasePath, { count: 2000 });
  await Deno.copyFile(databasePath, floorPath);
  const core = await makeCore({ databasePath });
  const floor = await startFloorServer({ databasePath: floorPath, redisUrl: core.redisUrl });
  try {
    const reads = [
      `/memories/${seed.sampleIds[3]}`,
      `/search?owner=${SEARCH_OWNER}&q=${seed.rare[0].word}`,
      `/search?owner=${SEARCH_OWNER}&q=${seed.common[0].word}`,
    ];
    for (const path of reads) {
      const r = await both(floor.url, core.app, path);
      assert.equal(r.floor.status, 200, path);
      assert.deepEqual(r.floor.body, r.core.body, path);
    }

    const memory = { owner_user_id: SEARCH_OWNER, content: "floor and core alike" };
    const fromFloor = await post(floor.url, "/memories", memory);
    const fromCore = await call(core.app, "POST", "/memories", memory);
    assert.equal(fromFloor.status, 201);
    const made = fromFloor.body;
    assert.deepEqual(Object.keys(made).sort(), Object.keys(fromCore.body).sort());
    assert.equal(made.content, memory.content);
    assert.equal(made.status, "confirmed");

    const job = {
      job_type: "followup",
      payload: { message: "what next?", context: "bench" },
      user_id: SEARCH_OWNER,
    };
    const jobRes = await post(floor.url, "/llm_jobs", job);
    const coreJob = await call(core.app, "POST", "/llm_jobs", job);
    assert.equal(jobRes.status, 201);
    const queued = jobRes.body;
    assert.deepEqual(Object.keys(queued).sort(), Object.keys(coreJob.body).sort());
    assert.equal(queued.status, "queued");
    const entries = await core.redis.xrange(JOB_STREAMS.followup, "-", "+");
    assert.ok(entries.some(([, fields]) => fields.join(" ").includes(queued.id)));

    await floor.stop();
    const stored = new DatabaseSync(floorPath, { readOnly: true });
    try {
      const audit = stored.prepare(
        "SELECT entity_type, action FROM audit_log WHERE entity_id IN (?, ?) ORDER BY entity_type",
      ).all(made.id, queued.id);
      assert.deepEqual(audit.map((a) => `${a.entity_type} ${a.action}`), [
        "llm_job created",
        "memory created",
      ]);
      const published = stored.prepare("SELECT stream_message_id FROM llm_jobs WHERE id = ?")
        .get(queued.id) as { stream_message_id: string | null };
      assert.match(published.stream_message_id ?? "", /^\d+-\d+$/);
    } finally {
      stored.close();
    }
  } finally {
    await floor.stop();
    await core.close();
    await Deno.remove(dir, { recursive: true });
  }
});
