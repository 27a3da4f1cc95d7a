import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openDatabase } from "../../core/db/open.ts";
import { limitParam } from "../../core/db/query.ts";
import { migrate, schemaVersion } from "../../core/db/migrate.ts";
import { MIGRATIONS } from "../../core/db/migrations/mod.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { createLogger } from "../../shared/log.ts";
import { listJobsQuery } from "../../core/store/job_repo.ts";
import {
  AUDIT_TYPE_INDEX_WHERE,
  type AuditFilter,
  listAuditQuery,
} from "../../core/store/audit.ts";
import { JOB_ACTIVITY_SQL, JOB_COUNTS_SQL } from "../../core/jobs/queue_stats.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

const DIR = new URL("../../core/db/migrations/", import.meta.url);

/** SQLite's plan for `sql`, one line per step. */
function queryPlan(db: DatabaseSync, sql: string): string {
  return db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all().map((r) => String(r.detail)).join("\n");
}
const LATEST = MIGRATIONS.at(-1)!.version;

Deno.test("every NNN_*.sql migration file is listed in mod.ts, in order, with its own text", async () => {
  const files: string[] = [];
  for await (const e of Deno.readDir(DIR)) {
    if (e.isFile && e.name.endsWith(".sql")) files.push(e.name);
  }
  files.sort();
  for (const name of files) assert.match(name, /^\d{3}_[a-z0-9_]+\.sql$/, `badly named: ${name}`);
  assert.deepEqual(MIGRATIONS.map((m) => m.name), files);
  MIGRATIONS.forEach((m, i) => {
    assert.equal(m.version, i + 1, `${m.name}: numbers run 1, 2, 3, ... without gaps`);
    assert.equal(m.version, Number(m.name.slice(0, 3)), m.name);
  });
  for (const m of MIGRATIONS) {
    assert.equal(m.sql, await Deno.readTextFile(new URL(m.name, DIR)), m.name);
  }
});

Deno.test("a fresh database reaches the latest version with the contract's tables", () => {
  using db = openDatabase(":memory:");
  assert.equal(schemaVersion(db), LATEST);
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()
    .map((r) => String(r.name));
  for (
    const t of [
      "users",
      "user_settings",
      "memories",
      "memory_tags",
      "tasks",
      "reminders",
      "events",
      "audit_log",
      "llm_jobs",
      "backup_jobs",
      "memories_fts",
      "idempotency_keys",
    ]
  ) assert.ok(tables.includes(t), t);
  const jobCols = db.prepare("PRAGMA table_info(llm_jobs)").all().map((r) => r.name);
  assert.ok(jobCols.includes("stream_message_id"));
  assert.ok(jobCols.includes("published_at"));
  const eventCols = db.prepare("PRAGMA table_info(events)").all().map((r) => r.name);
  assert.ok(eventCols.includes("last_reprompt_at"));
  assert.equal(
    (db.prepare("PRAGMA foreign_keys").get() as { foreign_keys: number }).foreign_keys,
    1,
  );
  // Migrating again does nothing.
  assert.deepEqual(migrate(db), []);
});

Deno.test("each intermediate version upgrades to the latest", () => {
  for (let v = 0; v <= LATEST; v++) {
    using db = openDatabase(":memory:", { upTo: v });
    assert.equal(schemaVersion(db), v);
    const applied = migrate(db);
    assert.equal(applied.length, LATEST - v, `from ${v}`);
    assert.equal(schemaVersion(db), LATEST);
  }
});

Deno.test("an upgrade says when it starts and how long it took; an up-to-date file says nothing", () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger("core", { sink: (line) => lines.push(JSON.parse(line)) });
  using db = openDatabase(":memory:", { upTo: 12 });
  migrate(db, { log });
  assert.deepEqual(lines.map((l) => [l.message, l.from, l.to]), [
    ["upgrading the database schema", 12, LATEST],
    ["database schema upgraded", 12, LATEST],
  ]);
  assert.equal(typeof lines[1].ms, "number");
  lines.length = 0;
  migrate(db, { log });
  assert.deepEqual(lines, []);
});

Deno.test("a database file newer than this program is refused with a clear message", async () => {
  await using dirTmp = await tempDir("memori_mig_");
  const dir = dirTmp.path;
  const path = `${dir}/future.db`;
  const raw = new DatabaseSync(path);
  raw.exec(`PRAGMA user_version = ${LATEST + 1}`);
  raw.close();
  assert.throws(
    () => openDatabase(path),
    (err: Error) => {
      assert.match(err.message, new RegExp(`version ${LATEST + 1} is newer`));
      assert.match(err.message, new RegExp(`\\(${LATEST}\\)`));
      assert.match(err.message, /upgrade the program/);
      return true;
    },
  );
  // Refusing did not touch the file.
  const again = new DatabaseSync(path);
  assert.equal(schemaVersion(again), LATEST + 1);
  again.close();
});

Deno.test("a failing migration leaves the database as it was", () => {
  using db = openDatabase(":memory:", { upTo: 2 });
  const broken = [
    ...MIGRATIONS.slice(0, 3),
    { version: 4, name: "004_broken.sql", sql: "CREATE TABLE half (x); SELECT * FROM nowhere;" },
  ];
  assert.throws(() => migrate(db, { migrations: broken }), /migration 004_broken\.sql failed/);
  // 003 applied in its own transaction; 004 rolled back entirely.
  assert.equal(schemaVersion(db), 3);
  const half = db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get();
  assert.equal(half, undefined);
});

Deno.test("tag lookups of the search-index triggers use the primary key, not every confirmed tag", () => {
  using db = openDatabase(":memory:");
  const plan = (sql: string) => queryPlan(db, sql);
  // The subquery every memories_fts trigger runs (migration 010). Through
  // idx_memory_tags_status (dropped by 013) it read all confirmed tags in the database.
  const triggerLookup = plan(
    "SELECT group_concat(t.tag, ' ') FROM memory_tags t " +
      "WHERE t.memory_id = ? AND t.status = 'confirmed'",
  );
  assert.match(triggerLookup, /USING INDEX sqlite_autoindex_memory_tags_1 \(memory_id=\?\)/);
  // Since 021 the triggers read an index row from the view memories_fts_rows, which looks the
  // tags up the same way, by the memory's id.
  const rowLookup = plan("SELECT tags FROM memories_fts_rows WHERE memory_id = ?");
  assert.match(rowLookup, /USING INDEX sqlite_autoindex_memory_tags_1 \(memory_id=\?\)/);
  assert.match(rowLookup, /USING INDEX sqlite_autoindex_memories_1 \(id=\?\)/);
  const triggers = db.prepare(
    "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%INSERT INTO memories_fts%'",
  ).all().map((r) => String(r.sql));
  // Five in 013; a new memory is indexed by the core since 015 (core/store/search_index.ts).
  assert.equal(triggers.length, 4);
  for (const sql of triggers) {
    assert.match(sql, /FROM memories_fts_rows WHERE memory_id = \w+\.(id|memory_id)/);
  }
  // The scheduler's expiry of old suggestions pages through the suggestions alone.
  const expiry = plan(
    "SELECT memory_id, tag, suggested_at FROM memory_tags WHERE status = 'suggested' " +
      "AND suggested_at IS NOT NULL AND (suggested_at <= ? OR suggested_at NOT LIKE '%Z') " +
      `AND (memory_id, tag) > (?, ?) ORDER BY memory_id, tag LIMIT ${limitParam()}`,
  );
  assert.match(expiry, /USING INDEX idx_memory_tags_suggested/);
  assert.doesNotMatch(expiry, /TEMP B-TREE/);
});

Deno.test("a new text memory is written to one index; pinned, pending and image ones have theirs", () => {
  using db = openDatabase(":memory:");
  const plan = (sql: string) => queryPlan(db, sql);
  // Every index on memories is written by each insert unless it is partial (migration 016);
  // the owner's, read only by the search's owner filter, went with it (migration 021).
  const full = db.prepare(
    "SELECT name FROM pragma_index_list('memories') WHERE partial = 0 ORDER BY name",
  ).all().map((r) => String(r.name));
  assert.deepEqual(full, ["sqlite_autoindex_memories_1"]);
  // An owner's pinned memories, newest first (core/store/search_query.ts), in index order.
  const pinned = plan(
    "SELECT m.id FROM memories m WHERE m.owner_user_id = ? AND m.is_pinned = 1 " +
      `AND m.status = 'confirmed' ORDER BY m.created_at DESC, m.rowid DESC LIMIT ${limitParam()}`,
  );
  assert.match(pinned, /USING INDEX idx_memories_pinned \(owner_user_id=\?\)/);
  assert.doesNotMatch(pinned, /TEMP B-TREE/);
  // The scheduler's expiry of pending image memories (core/background/scheduler.ts).
  const expiry = plan(
    "SELECT id, owner_user_id, media_local_path, pending_expires_at FROM memories " +
      "WHERE status = 'pending' AND pending_expires_at IS NOT NULL " +
      "AND (pending_expires_at <= ? OR pending_expires_at NOT LIKE '%Z') " +
      `AND (pending_expires_at, id) > (?, ?) ORDER BY pending_expires_at, id LIMIT ${limitParam()}`,
  );
  assert.match(expiry, /USING INDEX idx_memories_pending_expires/);
  // Whether another memory still names an image file (core/routes/memory_common.ts).
  const imageUsed = plan("SELECT 1 AS x FROM memories WHERE media_local_path IN (?, ?) LIMIT 1");
  assert.match(imageUsed, /USING COVERING INDEX idx_memories_image/);
});

Deno.test("job lists read a page in order from an index, and the counts read no job row", () => {
  using db = openDatabase(":memory:");
  const plan = (sql: string) => queryPlan(db, sql);
  const filters = [
    {},
    { status: "failed" },
    { job_type: "followup" },
    { user_id: 7 },
    { status: "completed", job_type: "followup" },
    { status: "queued", user_id: 7 },
    { job_type: "followup", user_id: 7 },
  ];
  for (const filter of filters) {
    const list = plan(listJobsQuery({ ...filter, limit: 50, offset: 0 }).sql);
    // A sort would read every matching job before the first row of the page.
    assert.doesNotMatch(list, /TEMP B-TREE/, JSON.stringify(filter));
    assert.match(list, /USING INDEX idx_llm_jobs_/, JSON.stringify(filter));
  }
  assert.match(plan(JOB_COUNTS_SQL), /USING COVERING INDEX idx_llm_jobs_type_status/);
  assert.doesNotMatch(plan(JOB_COUNTS_SQL), /TEMP B-TREE/);
});

Deno.test("the admin overview's job activity reads the finished jobs' index, not every job", () => {
  using db = openDatabase(":memory:");
  const plan = queryPlan(db, JOB_ACTIVITY_SQL);
  assert.equal(
    plan.match(/USING (COVERING )?INDEX idx_llm_jobs_finished \(updated_at>\?\)/g)?.length,
    2,
  );
  assert.match(plan, /USING COVERING INDEX idx_llm_jobs_status \(status=\?\)/);
  assert.doesNotMatch(plan, /SCAN llm_jobs/);
});

Deno.test("deleting a reminder finds its events through an index, foreign key check included", () => {
  using db = openDatabase(":memory:");
  assert.match(
    queryPlan(db, "SELECT id FROM events WHERE reminder_id = ?"),
    /USING (COVERING )?INDEX idx_events_reminder \(reminder_id=\?\)/,
  );
  // EXPLAIN QUERY PLAN leaves out the foreign key's check of events; the DELETE's program shows
  // which b-trees it opens, by root page.
  const root = (name: string) =>
    Number(db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = ?").get(name)!.rootpage);
  const opened = db.prepare("EXPLAIN DELETE FROM reminders WHERE id = ?").all()
    .filter((op) => op.opcode === "OpenRead").map((op) => Number(op.p2));
  assert.ok(opened.includes(root("idx_events_reminder")), "the check reads idx_events_reminder");
  assert.ok(!opened.includes(root("events")), "and not the events table");
});

Deno.test("an entity's audit trail is read in order from an index, and so is the whole log", () => {
  using db = openDatabase(":memory:");
  const plan = (filter: Partial<AuditFilter>) =>
    queryPlan(db, listAuditQuery({ limit: 100, offset: 0, ...filter }).sql);
  const id = "0190a4c2-7d1e-4f00-8000-000000000001";
  for (const filter of [{ entity_id: id }, { entity_type: "memory", entity_id: id }]) {
    assert.match(plan(filter), /USING INDEX idx_audit_entity \(entity_id=\?\)/);
    assert.doesNotMatch(plan(filter), /TEMP B-TREE/);
  }
  for (const filter of [{}, { entity_type: "memory" }, { action: "created" }]) {
    assert.match(plan(filter), /USING INDEX idx_audit_created/);
    assert.doesNotMatch(plan(filter), /TEMP B-TREE/);
  }
  // A type most entries do not have is read from its own index, not looked for through the log.
  for (const filter of [{ entity_type: "task" }, { entity_type: "tag", action: "deleted" }]) {
    assert.match(plan(filter), /USING INDEX idx_audit_type \(entity_type=\?\)/);
    assert.doesNotMatch(plan(filter), /TEMP B-TREE/);
  }
  // user_settings has a legacy name too: two ranges, sorted (a few entries).
  assert.match(plan({ entity_type: "user_settings" }), /USING INDEX idx_audit_type/);
  assert.match(plan({ entity_type: "task", entity_id: id }), /USING INDEX idx_audit_entity/);
  const migration = MIGRATIONS.find((m) => m.sql.includes("CREATE INDEX idx_audit_type"))!;
  assert.ok(
    migration.sql.includes(`WHERE ${AUDIT_TYPE_INDEX_WHERE};`),
    "the query's WHERE is the index's",
  );
});

Deno.test("openDatabase reuses prepared statements by SQL text", () => {
  using db = openDatabase(":memory:");
  assert.equal(db.prepare("SELECT 1 AS x"), db.prepare("SELECT 1 AS x"));
  assert.notEqual(db.prepare("SELECT 1 AS x"), db.prepare("SELECT 2 AS x"));
  assert.deepEqual({ ...db.prepare("SELECT 1 AS x").get() }, { x: 1 });
});
