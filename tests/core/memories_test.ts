import assert from "node:assert/strict";
import { join } from "node:path";
import { call, createUser, makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { count, tempDir } from "../helpers/fixtures.ts";

await sanitizeTests();

const OWNER = 501;
const START = Date.parse("2026-03-01T10:00:00.000Z");

/** A clock that moves one second each time it is read, so every write gets a later time. */
function steppingClock(): () => Date {
  let t = START;
  return () => new Date(t += 1000);
}

async function coreWithUser(): Promise<TestCore> {
  const core = await makeCore({ clock: steppingClock() });
  await createUser(core.app, OWNER, "Owner");
  return core;
}

// deno-lint-ignore no-explicit-any
async function newMemory(core: TestCore, body: Record<string, unknown> = {}): Promise<any> {
  const res = await call(core.app, "POST", "/memories", {
    owner_user_id: OWNER,
    content: "buy oat milk",
    ...body,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

function audits(core: TestCore, id: string): { action: string; actor: string; detail: string }[] {
  return core.db.prepare(
    "SELECT action, actor, detail FROM audit_log WHERE entity_id = ? ORDER BY id",
  ).all(id) as unknown as { action: string; actor: string; detail: string }[];
}

Deno.test("POST /memories creates a confirmed text memory with the full shape", async () => {
  await using core = await coreWithUser();
  const res = await call(core.app, "POST", "/memories", {
    owner_user_id: OWNER,
    content: "buy oat milk",
    source_chat_id: -100200,
    source_message_id: 77,
  });
  assert.equal(res.status, 201);
  const m = res.body;
  assert.match(m.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(
    { ...m, id: "x" },
    {
      id: "x",
      owner_user_id: OWNER,
      source_chat_id: -100200,
      source_message_id: 77,
      content: "buy oat milk",
      media_type: null,
      media_file_id: null,
      media_local_path: null,
      status: "confirmed",
      pending_expires_at: null,
      is_pinned: false,
      created_at: m.created_at,
      updated_at: m.created_at,
      tags: [],
    },
  );
  assert.match(m.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  const got = await call(core.app, "GET", `/memories/${m.id}`);
  assert.equal(got.status, 200);
  assert.equal(JSON.stringify(got.body), JSON.stringify(m)); // the same fields in the same order
  // GET's text is written by SQLite (loadMemoryJsonText): the same bytes and content type as the
  // JSON Hono writes for the other answers.
  const raw = await core.app.request(`/memories/${m.id}`);
  assert.equal(await raw.text(), JSON.stringify(m));
  assert.equal(raw.headers.get("content-type"), "application/json");
  const a = audits(core, m.id);
  assert.deepEqual(a.map((r) => [r.action, r.actor]), [["created", `user:${OWNER}`]]);
});

Deno.test("POST /memories with an image is pending for 7 days and may have no content", async () => {
  await using core = await coreWithUser();
  const m = await newMemory(core, {
    content: undefined,
    media_type: "image",
    media_file_id: "AgACAgUAAxkBAAI",
  });
  assert.equal(m.status, "pending");
  assert.equal(m.content, null);
  assert.equal(m.media_type, "image");
  assert.equal(m.media_file_id, "AgACAgUAAxkBAAI");
  const created = Date.parse(m.created_at);
  assert.equal(Date.parse(m.pending_expires_at) - created, 7 * 24 * 3600 * 1000);
  assert.match(m.pending_expires_at, /Z$/);
  // Answered as written, without reading the row back: the same as what is stored.
  const got = await call(core.app, "GET", `/memories/${m.id}`);
  assert.equal(JSON.stringify(got.body), JSON.stringify(m));
});

Deno.test("POST /memories in one turn: an unknown owner is 404 alone, the others are kept once", async () => {
  await using core = await coreWithUser();
  // The same group commit; the 404 is thrown inside it, so the group is run again part by part.
  const answers = await Promise.all(
    [OWNER, 999, OWNER, OWNER].map((owner, i) =>
      call(core.app, "POST", "/memories", { owner_user_id: owner, content: `turn ${i}` })
    ),
  );
  assert.deepEqual(answers.map((a) => a.status), [201, 404, 201, 201]);
  assert.deepEqual(answers[1].body, { detail: "User not found" });
  assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 3);
  assert.equal(count(core, "SELECT count(*) AS n FROM memories_fts"), 3);
  assert.equal(
    count(core, "SELECT count(*) AS n FROM audit_log WHERE entity_type = 'memory'"),
    3,
  );
  for (const a of [answers[0], answers[2], answers[3]]) {
    assert.equal((await call(core.app, "GET", `/memories/${a.body.id}`)).status, 200);
  }
});

Deno.test("POST /memories refuses bad input with 4xx and writes nothing", async () => {
  await using core = await coreWithUser();
  const unknown = await call(core.app, "POST", "/memories", {
    owner_user_id: 999,
    content: "x",
  });
  assert.equal(unknown.status, 404);
  assert.deepEqual(unknown.body, { detail: "User not found" });

  for (const content of [undefined, null, "", "   \n"]) {
    const res = await call(core.app, "POST", "/memories", { owner_user_id: OWNER, content });
    assert.equal(res.status, 422, `content ${JSON.stringify(content)}`);
    assert.deepEqual(res.body.detail[0].loc, ["body", "content"]);
  }
  const badType = await call(core.app, "POST", "/memories", {
    owner_user_id: OWNER,
    content: "x",
    media_type: "video",
  });
  assert.equal(badType.status, 422);
  assert.deepEqual(badType.body.detail[0].loc, ["body", "media_type"]);
  const noOwner = await call(core.app, "POST", "/memories", { content: "x" });
  assert.equal(noOwner.status, 422);
  assert.equal(noOwner.body.detail[0].type, "missing");
  const malformed = await call(core.app, "POST", "/memories", "{nope");
  assert.equal(malformed.status, 422);
  assert.equal(malformed.body.detail[0].type, "json_invalid");
  const array = await call(core.app, "POST", "/memories", [1, 2]);
  assert.equal(array.status, 422);
  assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 0);
  assert.equal(count(core, "SELECT count(*) AS n FROM audit_log WHERE entity_type='memory'"), 0);
});

Deno.test(
  "POST /memories with an Idempotency-Key creates once and replays the first memory",
  async () => {
    await using core = await coreWithUser();
    const headers = { "Idempotency-Key": "job-123:create-memory" };
    const body = { owner_user_id: OWNER, content: "call the plumber" };
    const first = await call(core.app, "POST", "/memories", body, headers);
    assert.equal(first.status, 201);
    const again = await call(core.app, "POST", "/memories", body, headers);
    assert.equal(again.status, 201);
    assert.deepEqual(again.body, first.body);
    // The same key with another body is another request: refused, and nothing of the first.
    const changed = await call(core.app, "POST", "/memories", { ...body, content: "other" }, {
      ...headers,
    });
    assert.equal(changed.status, 422);
    assert.deepEqual(changed.body.detail[0].loc, ["header", "Idempotency-Key"]);
    assert.ok(!JSON.stringify(changed.body).includes(first.body.id));
    assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 1);
    assert.equal(audits(core, first.body.id).length, 1);

    const other = await call(core.app, "POST", "/memories", body, { "Idempotency-Key": "k2" });
    assert.notEqual(other.body.id, first.body.id);
    const none = await call(core.app, "POST", "/memories", body);
    assert.equal(none.status, 201);
    assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 3);

    const bad = await call(core.app, "POST", "/memories", body, { "Idempotency-Key": "a b" });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.detail[0].loc, ["header", "Idempotency-Key"]);

    core.db.prepare(
      "INSERT INTO idempotency_keys (key, entity_type, entity_id, created_at) VALUES (?,?,?,?)",
    ).run("used-by-job", "llm_job", crypto.randomUUID(), "2026-01-01T00:00:00.000Z");
    const clash = await call(core.app, "POST", "/memories", body, {
      "Idempotency-Key": "used-by-job",
    });
    assert.equal(clash.status, 422);
    assert.match(clash.body.detail[0].msg, /llm_job/);
    assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 3);

    // Once the memory a key made is deleted, a retry makes a new one instead of failing.
    const del = await call(core.app, "DELETE", `/memories/${first.body.id}`);
    assert.equal(del.status, 204);
    const after = await call(core.app, "POST", "/memories", body, headers);
    assert.equal(after.status, 201);
    assert.notEqual(after.body.id, first.body.id);
    const replay = await call(core.app, "POST", "/memories", body, headers);
    assert.equal(replay.body.id, after.body.id);
  },
);

Deno.test(
  "POST /memories: another owner reusing an Idempotency-Key gets 422, never the first memory",
  async () => {
    await using core = await coreWithUser();
    const intruder = await createUser(core.app, OWNER + 1, "Intruder");
    const headers = { "Idempotency-Key": "guessable-key-1" };
    const secret = { owner_user_id: OWNER, content: "a\u00e9 secretword" };
    const first = await call(core.app, "POST", "/memories", secret, headers);
    assert.equal(first.status, 201);
    const stolen = await call(core.app, "POST", "/memories", {
      owner_user_id: intruder,
      content: "hello",
    }, headers);
    assert.equal(stolen.status, 422);
    assert.match(stolen.body.detail[0].msg, /different request/);
    const text = JSON.stringify(stolen.body);
    assert.ok(!text.includes("secretword") && !text.includes(first.body.id), text);
    // Same body on another route is another request too.
    const job = await call(core.app, "POST", "/llm_jobs", {
      job_type: "followup",
      payload: { message: "x" },
    }, headers);
    assert.equal(job.status, 422);
    assert.equal(count(core, "SELECT count(*) AS n FROM memories"), 1);
    assert.equal(count(core, "SELECT count(*) AS n FROM llm_jobs"), 0);
    // The owner's own retry still replays.
    const again = await call(core.app, "POST", "/memories", secret, headers);
    assert.equal(again.status, 201);
    assert.equal(again.body.id, first.body.id);
  },
);

Deno.test("GET /memories/{id} answers 404 for unknown and malformed ids", async () => {
  await using core = await coreWithUser();
  for (const id of [crypto.randomUUID(), "not-a-uuid", "1"]) {
    const res = await call(core.app, "GET", `/memories/${id}`);
    assert.equal(res.status, 404, id);
    assert.deepEqual(res.body, { detail: "Memory not found" });
  }
});

Deno.test("PATCH /memories/{id} edits content and pin, bumps updated_at, audits", async () => {
  await using core = await coreWithUser();
  const m = await newMemory(core);
  const res = await call(core.app, "PATCH", `/memories/${m.id}`, {
    content: "buy almond milk",
    is_pinned: true,
  });
  assert.equal(res.status, 200);
  assert.equal(res.body.content, "buy almond milk");
  assert.equal(res.body.is_pinned, true);
  assert.equal(res.body.created_at, m.created_at);
  assert.ok(Date.parse(res.body.updated_at) > Date.parse(m.updated_at));
  assert.deepEqual(res.body.tags, []);
  const a = audits(core, m.id);
  assert.deepEqual(a.map((r) => r.action), ["created", "updated"]);
  assert.deepEqual(JSON.parse(a[1].detail).fields.sort(), ["content", "is_pinned"]);

  // The X-Actor header names the worker.
  const unpin = await call(core.app, "PATCH", `/memories/${m.id}`, { is_pinned: false }, {
    "X-Actor": "system:llm_worker",
  });
  assert.equal(unpin.body.is_pinned, false);
  assert.equal(audits(core, m.id)[2].actor, "system:llm_worker");

  // Nothing to change: same answer, no new audit entry.
  const same = await call(core.app, "PATCH", `/memories/${m.id}`, { content: "buy almond milk" });
  assert.equal(same.status, 200);
  assert.equal(same.body.updated_at, unpin.body.updated_at);
  assert.equal(audits(core, m.id).length, 3);
});

Deno.test(
  "PATCH /memories/{id} confirming a pending memory clears its expiry and audits confirmed",
  async () => {
    await using core = await coreWithUser();
    const m = await newMemory(core, { content: null, media_type: "image" });
    const res = await call(core.app, "PATCH", `/memories/${m.id}`, { status: "confirmed" });
    assert.equal(res.status, 200);
    assert.equal(res.body.status, "confirmed");
    assert.equal(res.body.pending_expires_at, null);
    assert.deepEqual(audits(core, m.id).map((r) => r.action), ["created", "confirmed"]);
    const back = await call(core.app, "PATCH", `/memories/${m.id}`, { status: "pending" });
    assert.equal(back.status, 409);
    assert.match(back.body.detail, /cannot go back to pending/);
    assert.equal((await call(core.app, "GET", `/memories/${m.id}`)).body.status, "confirmed");
  },
);

Deno.test("PATCH /memories/{id} keeps media_local_path inside IMAGE_STORAGE_PATH", async () => {
  await using core = await coreWithUser();
  const m = await newMemory(core, { media_type: "image" });
  const rel = await call(core.app, "PATCH", `/memories/${m.id}`, {
    media_local_path: "sub/../photo.jpg",
  });
  assert.equal(rel.status, 200);
  assert.equal(rel.body.media_local_path, join(core.imageDir, "photo.jpg"));
  const abs = await call(core.app, "PATCH", `/memories/${m.id}`, {
    media_local_path: `${core.imageDir}/x/y.png`,
  });
  assert.equal(abs.status, 200);
  assert.equal(abs.body.media_local_path, `${core.imageDir}/x/y.png`);
  for (
    const bad of [
      "../escape.jpg",
      "/etc/passwd",
      `${core.imageDir}/../other.jpg`,
      `${core.imageDir}-sibling/a.jpg`,
      core.imageDir,
      ".",
      "a\u0000b.jpg",
      "",
    ]
  ) {
    const res = await call(core.app, "PATCH", `/memories/${m.id}`, { media_local_path: bad });
    assert.equal(res.status, 422, JSON.stringify(bad));
    assert.deepEqual(res.body.detail[0].loc, ["body", "media_local_path"]);
  }
  const cleared = await call(core.app, "PATCH", `/memories/${m.id}`, { media_local_path: null });
  assert.equal(cleared.body.media_local_path, null);
});

Deno.test(
  "PATCH /memories/{id} refuses bad bodies and unknown ids without changing anything",
  async () => {
    await using core = await coreWithUser();
    const m = await newMemory(core);
    const cases: [unknown, string][] = [
      [{ content: "" }, "content"],
      [{ content: null }, "content"],
      [{ is_pinned: "yes" }, "is_pinned"],
      [{ status: "archived" }, "status"],
      [{ content: 5 }, "content"],
    ];
    for (const [body, field] of cases) {
      const res = await call(core.app, "PATCH", `/memories/${m.id}`, body);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.deepEqual(res.body.detail[0].loc, ["body", field]);
    }
    const malformed = await call(core.app, "PATCH", `/memories/${m.id}`, "[");
    assert.equal(malformed.status, 422);
    const unknown = await call(core.app, "PATCH", `/memories/${crypto.randomUUID()}`, {
      content: "x",
    });
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { detail: "Memory not found" });
    const got = await call(core.app, "GET", `/memories/${m.id}`);
    assert.deepEqual(got.body, m);
    assert.equal(audits(core, m.id).length, 1);
  },
);

Deno.test("DELETE /memories/{id} removes the row, its tags, its image file and audits", async () => {
  await using core = await coreWithUser();
  const m = await newMemory(core, { media_type: "image" });
  const file = join(core.imageDir, "photo.png");
  await Deno.writeFile(file, new Uint8Array([1, 2, 3]));
  await call(core.app, "PATCH", `/memories/${m.id}`, { media_local_path: "photo.png" });
  await call(core.app, "POST", `/memories/${m.id}/tags`, { tags: ["beach"] });
  const res = await call(core.app, "DELETE", `/memories/${m.id}`);
  assert.equal(res.status, 204);
  assert.equal(res.body, null);
  assert.equal((await call(core.app, "GET", `/memories/${m.id}`)).status, 404);
  assert.equal(count(core, "SELECT count(*) AS n FROM memory_tags WHERE memory_id = ?", m.id), 0);
  await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
  const last = audits(core, m.id).at(-1)!;
  assert.equal(last.action, "deleted");
  assert.deepEqual(JSON.parse(last.detail).tags, ["beach"]);
  const again = await call(core.app, "DELETE", `/memories/${m.id}`);
  assert.equal(again.status, 404);
  assert.deepEqual(again.body, { detail: "Memory not found" });
});

Deno.test(
  "DELETE /memories/{id} leaves files outside the image dir, and a missing file is fine",
  async () => {
    await using core = await coreWithUser();
    await using outsideDirTmp = await tempDir();
    const outsideDir = outsideDirTmp.path;
    const outside = join(outsideDir, "keep.png");
    await Deno.writeFile(outside, new Uint8Array([9]));
    const a = await newMemory(core);
    // A path written by the first version, outside the directory: never ours to delete.
    core.db.prepare("UPDATE memories SET media_local_path = ? WHERE id = ?").run(outside, a.id);
    assert.equal((await call(core.app, "DELETE", `/memories/${a.id}`)).status, 204);
    assert.ok((await Deno.stat(outside)).isFile);

    const b = await newMemory(core);
    await call(core.app, "PATCH", `/memories/${b.id}`, { media_local_path: "gone.png" });
    assert.equal((await call(core.app, "DELETE", `/memories/${b.id}`)).status, 204);

    // Two memories naming one file: deleting one keeps the file for the other.
    const file = join(core.imageDir, "shared.png");
    await Deno.writeFile(file, new Uint8Array([7]));
    const c1 = await newMemory(core);
    const c2 = await newMemory(core);
    await call(core.app, "PATCH", `/memories/${c1.id}`, { media_local_path: file });
    await call(core.app, "PATCH", `/memories/${c2.id}`, { media_local_path: file });
    assert.equal((await call(core.app, "DELETE", `/memories/${c1.id}`)).status, 204);
    assert.ok((await Deno.stat(file)).isFile);
    assert.equal((await call(core.app, "DELETE", `/memories/${c2.id}`)).status, 204);
    await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
  },
);

Deno.test(
  "DELETE /memories/{id} answers 409 naming what points to it and changes nothing",
  async () => {
    await using core = await coreWithUser();
    const m = await newMemory(core);
    await call(core.app, "POST", `/memories/${m.id}/tags`, { tags: ["home"] });
    const file = join(core.imageDir, "kept.png");
    await Deno.writeFile(file, new Uint8Array([1]));
    await call(core.app, "PATCH", `/memories/${m.id}`, { media_local_path: "kept.png" });
    const before = (await call(core.app, "GET", `/memories/${m.id}`)).body;
    const auditsBefore = audits(core, m.id).length;
    core.db.prepare(
      `INSERT INTO tasks (id, memory_id, owner_user_id, description) VALUES (?, ?, ?, 'fix tap')`,
    ).run(crypto.randomUUID(), m.id, OWNER);
    for (const _ of [1, 2]) {
      core.db.prepare(
        `INSERT INTO reminders (id, memory_id, owner_user_id, fire_at, text)
       VALUES (?, ?, ?, '2026-05-01T09:00:00.000Z', 'x')`,
      ).run(crypto.randomUUID(), m.id, OWNER);
    }
    const res = await call(core.app, "DELETE", `/memories/${m.id}`);
    assert.equal(res.status, 409);
    assert.deepEqual(res.body, {
      detail: "Memory is referenced by 1 task, 2 reminders; delete or detach them first",
    });

    core.db.prepare(
      `INSERT INTO events (id, memory_id, owner_user_id, description, event_time, source_type)
     VALUES (?, ?, ?, 'party', '2026-05-01T18:00:00.000Z', 'manual')`,
    ).run(crypto.randomUUID(), m.id, OWNER);
    const withEvent = await call(core.app, "DELETE", `/memories/${m.id}`);
    assert.equal(withEvent.status, 409);
    assert.match(withEvent.body.detail, /1 task, 2 reminders, 1 event;/);

    assert.deepEqual((await call(core.app, "GET", `/memories/${m.id}`)).body, before);
    assert.ok((await Deno.stat(file)).isFile);
    assert.equal(audits(core, m.id).length, auditsBefore);
    const found = await call(core.app, "GET", `/search?owner=${OWNER}&q=milk`);
    assert.equal(found.body.length, 1);
  },
);

Deno.test("POST /memories/{id}/tags normalizes, dedupes and upserts without downgrading", async () => {
  await using core = await coreWithUser();
  const m = await newMemory(core);
  const first = await call(core.app, "POST", `/memories/${m.id}/tags`, {
    tags: ["  Blue \t  Sky ", "blue sky", "BEACH"],
    status: "confirmed",
  });
  assert.equal(first.status, 200);
  assert.equal(first.body.id, m.id);
  assert.deepEqual(first.body.tags.map((t: { tag: string }) => t.tag), ["blue sky", "beach"]);
  for (const t of first.body.tags) {
    assert.equal(t.status, "confirmed");
    assert.equal(t.suggested_at, null);
    assert.match(t.confirmed_at, /Z$/);
  }

  const suggested = await call(core.app, "POST", `/memories/${m.id}/tags`, {
    tags: ["Beach", "sunset", "sand"],
    status: "suggested",
  });
  assert.equal(suggested.status, 200);
  const byTag = Object.fromEntries(
    suggested.body.tags.map((t: { tag: string }) => [t.tag, t]),
  );
  assert.equal(byTag.beach.status, "confirmed", "a suggestion never downgrades");
  assert.equal(byTag.beach.confirmed_at, first.body.tags[1].confirmed_at);
  assert.equal(byTag.sunset.status, "suggested");
  assert.match(byTag.sunset.suggested_at, /Z$/);
  assert.equal(byTag.sunset.confirmed_at, null);

  // A re-run of the tagging job changes nothing and audits nothing.
  const auditCount = audits(core, m.id).length;
  const rerun = await call(core.app, "POST", `/memories/${m.id}/tags`, {
    tags: ["sunset", "sand", "beach"],
    status: "suggested",
  });
  assert.deepEqual(rerun.body, suggested.body);
  assert.equal(audits(core, m.id).length, auditCount);
  assert.equal(count(core, "SELECT count(*) AS n FROM memory_tags WHERE memory_id = ?", m.id), 4);

  const confirm = await call(core.app, "POST", `/memories/${m.id}/tags`, {
    tags: ["SUNSET"],
    status: "confirmed",
  });
  const sunset = confirm.body.tags.find((t: { tag: string }) => t.tag === "sunset");
  assert.equal(sunset.status, "confirmed");
  assert.equal(sunset.suggested_at, byTag.sunset.suggested_at);
  assert.match(sunset.confirmed_at, /Z$/);
  const last = audits(core, m.id).at(-1)!;
  assert.equal(last.action, "updated");
  assert.deepEqual(JSON.parse(last.detail).confirmed, ["sunset"]);

  // status defaults to confirmed.
  const dflt = await call(core.app, "POST", `/memories/${m.id}/tags`, { tags: ["home"] });
  assert.equal(dflt.body.tags.at(-1).status, "confirmed");
});

Deno.test("POST /memories/{id}/tags refuses unknown memories and bad bodies", async () => {
  await using core = await coreWithUser();
  const m = await newMemory(core);
  const unknown = await call(core.app, "POST", `/memories/${crypto.randomUUID()}/tags`, {
    tags: ["a"],
  });
  assert.equal(unknown.status, 404);
  assert.deepEqual(unknown.body, { detail: "Memory not found" });
  for (
    const body of [
      {},
      { tags: [] },
      { tags: ["   "] },
      { tags: "beach" },
      { tags: ["a"], status: "maybe" },
      { tags: [1] },
    ]
  ) {
    const res = await call(core.app, "POST", `/memories/${m.id}/tags`, body);
    assert.equal(res.status, 422, JSON.stringify(body));
  }
  assert.equal(count(core, "SELECT count(*) AS n FROM memory_tags"), 0);
});

Deno.test("DELETE /memories/{id}/tags/{tag} decodes and normalizes the tag", async () => {
  await using core = await coreWithUser();
  const m = await newMemory(core);
  await call(core.app, "POST", `/memories/${m.id}/tags`, { tags: ["blue sky", "café"] });
  const res = await call(core.app, "DELETE", `/memories/${m.id}/tags/Blue%20%20SKY`);
  assert.equal(res.status, 204);
  const cafe = await call(
    core.app,
    "DELETE",
    `/memories/${m.id}/tags/${encodeURIComponent(" Café ")}`,
  );
  assert.equal(cafe.status, 204);
  assert.deepEqual((await call(core.app, "GET", `/memories/${m.id}`)).body.tags, []);
  const last = audits(core, m.id).at(-1)!;
  assert.equal(last.action, "deleted");
  assert.deepEqual(JSON.parse(last.detail), { tag: "café", status: "confirmed" });

  const missing = await call(core.app, "DELETE", `/memories/${m.id}/tags/blue%20sky`);
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { detail: "Tag not found" });
  const noMemory = await call(core.app, "DELETE", `/memories/${crypto.randomUUID()}/tags/x`);
  assert.equal(noMemory.status, 404);
  assert.deepEqual(noMemory.body, { detail: "Memory not found" });
});
