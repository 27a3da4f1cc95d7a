/**
 * core/db/group_commit.ts on a real SQLite database: the work of one turn shares one commit, a
 * failing part is undone alone (the group run again with a savepoint a part), a failed commit
 * fails every part, and the writes parts hold (core/db/held_writes.ts) are made in order.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { groupCommit } from "../../core/db/group_commit.ts";
import { writeInOrder } from "../../core/db/held_writes.ts";
import { openDatabase, transaction } from "../../core/db/open.ts";
import { tempDir } from "../helpers/fixtures.ts";

Deno.test.sanitizer({ ops: true, resources: true });

function openDb(): DatabaseSync {
  const db = new DatabaseSync(":memory:");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("CREATE TABLE parent (id INTEGER PRIMARY KEY)");
  db.exec("CREATE TABLE t (v TEXT NOT NULL, p INTEGER REFERENCES parent(id))");
  return db;
}

const count = (db: DatabaseSync) =>
  Number((db.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n);

Deno.test("groupCommit: one turn's parts share a commit; each answers after it", async () => {
  const db = openDb();
  let commits = 0;
  const exec = db.exec.bind(db);
  db.exec = (sql: string) => {
    if (sql === "COMMIT") commits++;
    exec(sql);
  };
  const parts = Array.from({ length: 10 }, (_, i) =>
    groupCommit(db, () => {
      db.prepare("INSERT INTO t (v) VALUES (?)").run(`v${i}`);
      return i;
    }).then((value) => ({ value, open: db.isTransaction })));
  const done = await Promise.all(parts);
  assert.deepEqual(done.map((d) => d.value), [...Array(10).keys()]);
  assert.ok(done.every((d) => !d.open), "answered only after the commit");
  assert.equal(commits, 1);
  assert.equal(count(db), 10);
  db.close();
});

Deno.test("groupCommit: a failing part is undone and fails alone", async () => {
  const db = openDb();
  const ok = groupCommit(db, () => db.prepare("INSERT INTO t (v) VALUES ('a')").run());
  const bad = groupCommit(db, () => {
    db.prepare("INSERT INTO t (v) VALUES ('b')").run();
    db.prepare("INSERT INTO t (v) VALUES (NULL)").run();
  });
  // A transaction() inside a part is a savepoint of the group's transaction.
  const nested = groupCommit(
    db,
    () => transaction(db, () => db.prepare("INSERT INTO t (v) VALUES ('c')").run()),
  );
  await ok;
  await nested;
  await assert.rejects(bad, /NOT NULL/);
  assert.deepEqual(
    db.prepare("SELECT v FROM t ORDER BY v").all().map((r) => (r as { v: string }).v),
    ["a", "c"],
  );
  db.close();
});

Deno.test("groupCommit: no savepoints unless a part fails; then each part runs again in one", async () => {
  const db = openDb();
  const savepoints: string[] = [];
  const prepare = db.prepare.bind(db);
  db.prepare = (sql: string) => {
    if (sql.startsWith("SAVEPOINT")) savepoints.push(sql);
    return prepare(sql);
  };
  const insert = (v: string | null) => db.prepare("INSERT INTO t (v) VALUES (?)").run(v);
  const runs = { a: 0, b: 0, c: 0, bad: 0, alone: 0 };
  await Promise.all([
    groupCommit(db, () => void (runs.a++, insert("a"))),
    groupCommit(db, () => void (runs.b++, insert("b"))),
  ]);
  assert.deepEqual(savepoints, [], "every part succeeded: no savepoint");

  const ok = groupCommit(db, () => void (runs.c++, insert("c")));
  const bad = groupCommit(db, () => {
    runs.bad++;
    insert("d");
    insert(null);
  });
  await ok;
  await assert.rejects(bad, /NOT NULL/);
  assert.equal(savepoints.length, 2, "run again, a savepoint each");

  // A group of one that fails is rolled back, not run again.
  await assert.rejects(groupCommit(db, () => void (runs.alone++, insert("e"), insert(null))));
  assert.deepEqual(runs, { a: 1, b: 1, c: 2, bad: 2, alone: 1 });
  assert.deepEqual(
    db.prepare("SELECT v FROM t ORDER BY v").all().map((r) => (r as { v: string }).v),
    ["a", "b", "c"],
    "a part that ran twice wrote once",
  );
  db.close();
});

Deno.test("groupCommit: a commit that fails fails every part, and nothing is kept", async () => {
  const db = openDb();
  const a = groupCommit(db, () => db.prepare("INSERT INTO t (v) VALUES ('a')").run());
  const b = groupCommit(db, () => {
    // A deferred foreign key is checked at COMMIT, which then fails.
    db.exec("PRAGMA defer_foreign_keys = ON");
    db.prepare("INSERT INTO t (v, p) VALUES ('b', 42)").run();
  });
  await assert.rejects(a, /FOREIGN KEY/);
  await assert.rejects(b, /FOREIGN KEY/);
  assert.equal(db.isTransaction, false);
  assert.equal(count(db), 0);
  db.close();
});

Deno.test("groupCommit: writes held by its parts are made in order of key, before the COMMIT", async () => {
  const db = openDb();
  const insert = (v: string) => db.prepare("INSERT INTO t (v) VALUES (?)").run(v);
  const hold = (key: number, v: string) =>
    writeInOrder(db, { key: BigInt(key), write: () => insert(v) });
  await Promise.all([
    groupCommit(db, () => hold(30, "c")),
    groupCommit(db, () => (hold(20, "b"), hold(40, "d"))),
    groupCommit(db, () => hold(10, "a")),
  ]);
  assert.deepEqual(
    db.prepare("SELECT v FROM t ORDER BY rowid").all().map((r) => (r as { v: string }).v),
    ["a", "b", "c", "d"],
  );
  // Outside a group a write is made at once.
  hold(5, "e");
  assert.equal(count(db), 5);
  db.close();
});

Deno.test("groupCommit: a held write that fails fails its part alone, the group run again", async () => {
  const db = openDb();
  const runs = { ok: 0, bad: 0 };
  const ok = groupCommit(db, () => {
    runs.ok++;
    writeInOrder(db, {
      key: 2n,
      write: () => void db.prepare("INSERT INTO t (v) VALUES ('kept')").run(),
    });
  });
  const bad = groupCommit(db, () => {
    runs.bad++;
    db.prepare("INSERT INTO t (v) VALUES ('undone')").run();
    writeInOrder(db, {
      key: 1n,
      write: () => void db.prepare("INSERT INTO t (v) VALUES (NULL)").run(),
    });
  });
  await ok;
  await assert.rejects(bad, /NOT NULL/);
  assert.deepEqual(runs, { ok: 2, bad: 2 });
  assert.deepEqual(
    db.prepare("SELECT v FROM t").all().map((r) => (r as { v: string }).v),
    ["kept"],
  );
  // A failed part's held writes are dropped with it, not made by the next group.
  const alone = groupCommit(db, () => {
    writeInOrder(db, {
      key: 1n,
      write: () => void db.prepare("INSERT INTO t (v) VALUES ('dropped')").run(),
    });
    db.prepare("INSERT INTO t (v) VALUES (NULL)").run();
  });
  await assert.rejects(alone, /NOT NULL/);
  await groupCommit(db, () => db.prepare("INSERT INTO t (v) VALUES ('next')").run());
  assert.deepEqual(
    db.prepare("SELECT v FROM t ORDER BY rowid").all().map((r) => (r as { v: string }).v),
    ["kept", "next"],
  );
  db.close();
});

/** SQLite's temp files (named etilqs_*) this process holds open, from /proc/self/fd. */
function sqliteTempFiles(): string[] {
  return [...Deno.readDirSync("/proc/self/fd")]
    .map((e) => {
      try {
        return Deno.readLinkSync(`/proc/self/fd/${e.name}`);
      } catch {
        return ""; // closed since the listing
      }
    })
    .filter((target) => target.includes("etilqs_"));
}

Deno.test("groupCommit: a part's savepoint journal stays in memory, not in a temp file", async () => {
  await using tmp = await tempDir("memori_gc_");
  const db = openDatabase(`${tmp.path}/store.db`, { migrate: false });
  db.exec("CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
  let held: string[] = ["not checked"];
  await Promise.all([
    groupCommit(db, () => {
      for (let i = 0; i < 200; i++) {
        db.prepare("INSERT INTO big (v) VALUES (?)").run("x".repeat(500));
      }
    }),
    // Changes ~100 KB of pages the first part already changed: its journal passes the 64 KiB
    // at which SQLite spills a journal to a file unless temp_store is MEMORY.
    groupCommit(db, () => {
      db.prepare("UPDATE big SET v = v || 'y'").run();
      held = sqliteTempFiles();
    }),
  ]);
  db.close();
  assert.deepEqual(held, []);
});
