/**
 * End to end: `deno task core` (scripts/serve.sh's flags) with a file database and search
 * workers searches on its worker threads: their modules load under the core's narrow read
 * permission, they see each memory as soon as its POST answered, 16 searches at once all answer,
 * and SIGTERM still ends the core cleanly.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { httpOk, startService } from "../helpers/processes.ts";
import { freePort, startRedisServer } from "../helpers/redis_server.ts";
import { tempDir } from "../helpers/fixtures.ts";

// No shared Redis here: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

// deno-lint-ignore no-explicit-any
async function api(url: string, method: string, body?: unknown): Promise<any> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

Deno.test("deno task core with SEARCH_WORKERS=2 searches on its workers", async () => {
  await using tmp = await tempDir("memori_e2e_search_");
  await using redis = await startRedisServer();
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  await using core = startService("core", {
    CORE_HOST: "127.0.0.1",
    CORE_PORT: String(port),
    DATABASE_PATH: join(tmp.path, "db", "memori.db"),
    IMAGE_STORAGE_PATH: join(tmp.path, "images"),
    REDIS_URL: redis.url,
    SEARCH_WORKERS: "2",
    LOG_LEVEL: "debug",
  });
  try {
    await core.waitFor("GET /health", () => httpOk(`${base}/health`), 30_000);
    assert.match(core.output(), /"search":"2 workers"/);
    const user = await api(`${base}/users`, "POST", { telegram_user_id: 901, display_name: "Ann" });
    assert.equal(user.status, 200);
    for (let i = 0; i < 10; i++) {
      const made = await api(`${base}/memories`, "POST", {
        owner_user_id: 901,
        content: `heron sighting number${i}`,
      });
      assert.equal(made.status, 201);
      const found = await api(`${base}/search?owner=901&q=number${i}`, "GET");
      assert.equal(found.status, 200, JSON.stringify(found.body));
      assert.deepEqual(found.body.map((h: { memory: { id: string } }) => h.memory.id), [
        made.body.id,
      ]);
    }
    const many = await Promise.all(
      Array.from({ length: 16 }, () => api(`${base}/search?owner=901&q=heron`, "GET")),
    );
    for (const res of many) {
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 10);
    }
    assert.doesNotMatch(core.output(), /search worker crashed|Requires read access/);
  } catch (err) {
    (err as Error).message += `\n--- core output ---\n${core.output()}`;
    throw err;
  }
  const status = await core.stop();
  assert.equal(status.code, 0, core.output());
  assert.match(core.output(), /core shutting down/);
});
