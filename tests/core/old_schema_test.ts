/**
 * A database file written by the first (Python) version, at user_version 8, opens through the
 * core, upgrades in place, and its rows read through the API as the contract spells them.
 */
import assert from "node:assert/strict";
import { call, makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { type TempDir, tempDir } from "../helpers/fixtures.ts";
import { openDatabase } from "../../core/db/open.ts";
import { schemaVersion } from "../../core/db/migrate.ts";
import { MIGRATIONS } from "../../core/db/migrations/mod.ts";
import { republishOnce } from "../../core/background/republisher.ts";
import { runSchedulerOnce } from "../../core/background/scheduler.ts";

await sanitizeTests();

const USER = 424242;
const OTHER = 515151;
const IDS = {
  milk: "0b8f3c3e-6a3f-4d5e-9a51-0f1f7c9c2a11",
  pinned: "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
  other: "2d3e4f5a-6b7c-4d8e-9fa0-b1c2d3e4f5a6",
  task: "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7",
  reminder: "4f5a6b7c-8d9e-4fa0-b1c2-d3e4f5a6b7c8",
  event: "5a6b7c8d-9eaf-4b01-c2d3-e4f5a6b7c8d9",
  job: "6b7c8d9e-af01-4c12-d3e4-f5a6b7c8d9ea",
  backup: "7c8d9eaf-0112-4d23-e4f5-a6b7c8d9eafb",
};

/** Write a version-8 file the way the first version did (its defaults, its time formats). */
async function writeV8File(): Promise<{ dir: TempDir; path: string }> {
  const dir = await tempDir("memori_v8_");
  const path = `${dir.path}/life_organiser.db`;
  using db = openDatabase(path, { upTo: 8 });
  assert.equal(schemaVersion(db), 8);
  db.exec(`
    INSERT INTO users (telegram_user_id, display_name, is_allowed) VALUES (${USER}, 'Old Ann', 1);
    INSERT INTO users (telegram_user_id, display_name, is_allowed) VALUES (${OTHER}, 'Bob', 1);
    INSERT INTO user_settings (user_id, timezone, language) VALUES (${USER}, 'Asia/Singapore', 'en');
    INSERT INTO user_settings (user_id) VALUES (${OTHER});

    INSERT INTO memories (id, owner_user_id, source_chat_id, source_message_id, content, status)
      VALUES ('${IDS.milk}', ${USER}, ${USER}, 17, 'Buy oat milk at the corner shop', 'confirmed');
    INSERT INTO memory_tags (memory_id, tag, status, confirmed_at)
      VALUES ('${IDS.milk}', 'groceries', 'confirmed', '2025-06-01T10:00:00.000Z');
    INSERT INTO memory_tags (memory_id, tag, status, suggested_at)
      VALUES ('${IDS.milk}', 'dairyfarm', 'suggested', '2025-06-01T10:00:00.000Z');
    INSERT INTO memories (id, owner_user_id, content, status, is_pinned)
      VALUES ('${IDS.pinned}', ${USER}, 'Wifi password is on the fridge', 'confirmed', 1);
    INSERT INTO memories (id, owner_user_id, content, status)
      VALUES ('${IDS.other}', ${OTHER}, 'Buy oat milk too', 'confirmed');
  `);
  // The first version kept its external-content index by hand.
  for (const id of [IDS.milk, IDS.pinned, IDS.other]) {
    db.prepare(
      `INSERT INTO memories_fts (rowid, content, tags)
       SELECT rowid, content, '' FROM memories WHERE id = ?`,
    ).run(id);
  }
  db.exec(`
    INSERT INTO tasks (id, memory_id, owner_user_id, description, state, due_at)
      VALUES ('${IDS.task}', '${IDS.milk}', ${USER}, 'Buy oat milk', 'NOT_DONE',
              '2026-03-05T17:00:00+08:00');
    INSERT INTO reminders (id, memory_id, owner_user_id, fire_at, fired, text)
      VALUES ('${IDS.reminder}', '${IDS.milk}', ${USER}, '2026-02-01T09:00:00+00:00', 0,
              'Buy oat milk');
    INSERT INTO events (id, memory_id, owner_user_id, description, event_time, source_type,
                        source_detail, status, pending_since)
      VALUES ('${IDS.event}', NULL, ${USER}, 'Dentist appointment', '2026-03-10T09:00:00Z',
              'email', 'From: clinic', 'pending', '2026-02-01T08:00:00Z');
    INSERT INTO llm_jobs (id, job_type, payload, user_id, status, created_at, updated_at)
      VALUES ('${IDS.job}', 'intent_classify', '{"query": "remind me to buy milk"}', ${USER},
              'queued', '2026-02-01T08:00:00.000Z', '2026-02-01T08:00:00.000Z');
    INSERT INTO audit_log (entity_type, entity_id, action, actor, detail)
      VALUES ('memory', '${IDS.milk}', 'created', 'user:${USER}', NULL);
    INSERT INTO audit_log (entity_type, entity_id, action, actor, detail)
      VALUES ('llm_job', '${IDS.job}', 'created', 'system:api', '{"job_type": "intent_classify"}');
    INSERT INTO backup_jobs (backup_id, user_id, started_at, completed_at, status, file_path)
      VALUES ('${IDS.backup}', ${USER}, '2026-02-01T03:00:00Z', '2026-02-01T03:01:00Z',
              'completed', '/data/backups/b.tar.gz');
  `);
  return { dir, path };
}

async function withOldFile(
  fn: (core: TestCore) => Promise<void>,
  clock?: () => Date,
): Promise<void> {
  const { dir, path } = await writeV8File();
  await using _dir = dir;
  await using core = await makeCore({ databasePath: path, clock });
  await fn(core);
}

function sameInstant(actual: unknown, expected: string, what: string): void {
  assert.equal(typeof actual, "string", what);
  assert.match(actual as string, /Z$/, `${what}: ${actual} ends with Z`);
  assert.equal(Date.parse(actual as string), Date.parse(expected), what);
}

Deno.test(
  "old schema: a version-8 file upgrades in place to the latest version and keeps its rows",
  async () => {
    await withOldFile((core) => {
      assert.equal(schemaVersion(core.db), MIGRATIONS.at(-1)!.version);
      const count = (table: string) =>
        (core.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      assert.equal(count("users"), 2);
      assert.equal(count("user_settings"), 2);
      assert.equal(count("memories"), 3);
      assert.equal(count("memory_tags"), 2);
      assert.equal(count("tasks"), 1);
      assert.equal(count("reminders"), 1);
      assert.equal(count("events"), 1);
      assert.equal(count("llm_jobs"), 1);
      assert.equal(count("audit_log"), 2);
      assert.equal(count("backup_jobs"), 1);
      // The rebuilt index holds content and confirmed tags only.
      const hits = (q: string) =>
        core.db.prepare(
          `SELECT r.memory_id AS id FROM memories_fts f
           JOIN memories_fts_rows r ON f.rowid = r.fts_rowid WHERE memories_fts MATCH ?`,
        ).all(q).map((r) => r.id).sort();
      assert.deepEqual(hits("milk"), [IDS.milk, IDS.other].sort());
      assert.deepEqual(hits("groceries"), [IDS.milk]);
      assert.deepEqual(hits("dairyfarm"), []);
      // Jobs of the first version count as never published.
      const job = core.db.prepare("SELECT stream_message_id, published_at FROM llm_jobs").get()!;
      assert.deepEqual({ ...job }, { stream_message_id: null, published_at: null });
      return Promise.resolve();
    });
  },
);

Deno.test(
  "old schema: GET /llm_jobs/{id} reads the old job, and the republisher sends it",
  async () => {
    await withOldFile(async (core) => {
      const res = await call(core.app, "GET", `/llm_jobs/${IDS.job}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.id, IDS.job);
      assert.equal(res.body.job_type, "intent_classify");
      assert.deepEqual(res.body.payload, { query: "remind me to buy milk" });
      assert.equal(res.body.user_id, USER);
      assert.equal(res.body.status, "queued");
      assert.equal(res.body.result, null);
      assert.match(res.body.created_at, /Z$/);
      const list = await call(core.app, "GET", `/llm_jobs?user_id=${USER}`);
      assert.deepEqual(list.body.map((j: { id: string }) => j.id), [IDS.job]);

      const pass = await republishOnce(core.deps);
      assert.equal(pass.published, 1);
      const [[, fields]] = await core.redis.xrange("llm:intent", "-", "+");
      assert.deepEqual(JSON.parse(fields[1]), {
        job_id: IDS.job,
        job_type: "intent_classify",
        payload: { query: "remind me to buy milk" },
        user_id: USER,
      });
    });
  },
);

Deno.test("old schema: the scheduler fires the old reminder written with an offset", async () => {
  await withOldFile(async (core) => {
    const pass = await runSchedulerOnce(core.deps);
    assert.deepEqual(pass.errors, []);
    assert.equal(pass.reminders_fired, 1);
    const [[, fields]] = await core.redis.xrange("notify:telegram", "-", "+");
    assert.deepEqual(JSON.parse(fields[1]).content, {
      reminder_id: IDS.reminder,
      memory_id: IDS.milk,
      // The memory's content, which the chat gateway shows (DESIGN.md section 4).
      memory_content: "Buy oat milk at the corner shop",
      text: "Buy oat milk",
      fire_at: "2026-02-01T09:00:00.000Z",
    });
  }, () => new Date("2026-02-02T00:00:00Z"));
});

Deno.test("old schema: GET /memories/{id} reads the old memory with its tags", async () => {
  await withOldFile(async (core) => {
    const res = await call(core.app, "GET", `/memories/${IDS.milk}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.id, IDS.milk);
    assert.equal(res.body.owner_user_id, USER);
    assert.equal(res.body.content, "Buy oat milk at the corner shop");
    assert.equal(res.body.status, "confirmed");
    assert.match(res.body.created_at, /Z$/);
    const tags = [...res.body.tags].sort((a: { tag: string }, b: { tag: string }) =>
      a.tag.localeCompare(b.tag)
    );
    assert.equal(tags.length, 2);
    assert.equal(tags[0].tag, "dairyfarm");
    assert.equal(tags[0].status, "suggested");
    sameInstant(tags[0].suggested_at, "2025-06-01T10:00:00Z", "suggested_at");
    assert.equal(tags[1].tag, "groceries");
    assert.equal(tags[1].status, "confirmed");
    sameInstant(tags[1].confirmed_at, "2025-06-01T10:00:00Z", "confirmed_at");
  });
});

Deno.test("old schema: GET /tasks lists the old task with its due time in UTC", async () => {
  await withOldFile(async (core) => {
    const res = await call(core.app, "GET", `/tasks?owner_user_id=${USER}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.length, 1);
    const task = res.body[0];
    assert.equal(task.id, IDS.task);
    assert.equal(task.memory_id, IDS.milk);
    assert.equal(task.description, "Buy oat milk");
    assert.equal(task.state, "NOT_DONE");
    sameInstant(task.due_at, "2026-03-05T09:00:00Z", "due_at");
  });
});

Deno.test("old schema: GET /settings/{user_id} reads the old settings", async () => {
  await withOldFile(async (core) => {
    const res = await call(core.app, "GET", `/settings/${USER}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.user_id, USER);
    assert.equal(res.body.timezone, "Asia/Singapore");
    assert.equal(res.body.language, "en");
    assert.match(res.body.created_at, /Z$/);
    assert.match(res.body.updated_at, /Z$/);
    const other = await call(core.app, "GET", `/settings/${OTHER}`);
    assert.equal(other.status, 200, JSON.stringify(other.body));
    assert.equal(other.body.timezone, "UTC");
  });
});

Deno.test(
  "old schema: GET /search finds the old confirmed memory by content and by confirmed tag",
  async () => {
    await withOldFile(async (core) => {
      const ids = (body: { memory: { id: string } }[]) => body.map((h) => h.memory.id);
      const byContent = await call(core.app, "GET", `/search?q=oat%20milk&owner=${USER}`);
      assert.equal(byContent.status, 200, JSON.stringify(byContent.body));
      assert.deepEqual(ids(byContent.body), [IDS.milk], "only the owner's memories");
      assert.equal(typeof byContent.body[0].score, "number");
      assert.ok(
        byContent.body[0].memory.tags.some((t: { tag: string }) => t.tag === "groceries"),
      );
      const byTag = await call(core.app, "GET", `/search?q=groceries&owner=${USER}`);
      assert.equal(byTag.status, 200);
      assert.deepEqual(ids(byTag.body), [IDS.milk]);
      const bySuggested = await call(core.app, "GET", `/search?q=dairyfarm&owner=${USER}`);
      assert.equal(bySuggested.status, 200);
      assert.deepEqual(ids(bySuggested.body), [], "suggested tags are not searched");
      const pinned = await call(core.app, "GET", `/search?pinned=true&owner=${USER}`);
      assert.equal(pinned.status, 200);
      assert.deepEqual(ids(pinned.body), [IDS.pinned]);
    });
  },
);

Deno.test("old schema: GET /events and GET /reminders read the old rows", async () => {
  await withOldFile(async (core) => {
    const events = await call(core.app, "GET", `/events?owner_user_id=${USER}`);
    assert.equal(events.status, 200, JSON.stringify(events.body));
    assert.equal(events.body.length, 1);
    assert.equal(events.body[0].id, IDS.event);
    assert.equal(events.body[0].status, "pending");
    assert.equal(events.body[0].source_type, "email");
    assert.equal(events.body[0].description, "Dentist appointment");
    sameInstant(events.body[0].event_time, "2026-03-10T09:00:00Z", "event_time");
    const reminders = await call(core.app, "GET", `/reminders?owner_user_id=${USER}`);
    assert.equal(reminders.status, 200, JSON.stringify(reminders.body));
    assert.equal(reminders.body.length, 1);
    assert.equal(reminders.body[0].id, IDS.reminder);
    assert.equal(reminders.body[0].text, "Buy oat milk");
    // The contract leaves the JSON type of `fired` open; either spelling of "not fired" will do.
    assert.ok([false, 0].includes(reminders.body[0].fired), JSON.stringify(reminders.body[0]));
    sameInstant(reminders.body[0].fire_at, "2026-02-01T09:00:00Z", "fire_at");
  });
});

Deno.test("old schema: GET /backup/status/{user_id} reads the old backup job", async () => {
  await withOldFile(async (core) => {
    const res = await call(core.app, "GET", `/backup/status/${USER}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, "completed");
    assert.equal(res.body.user_id, USER);
    const none = await call(core.app, "GET", `/backup/status/${OTHER}`);
    assert.equal(none.status, 404);
  });
});
