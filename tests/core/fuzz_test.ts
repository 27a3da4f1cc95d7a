/**
 * Property tests over the whole HTTP contract: random JSON values, random strings and
 * near-valid bodies sent to every POST/PATCH/PUT endpoint of DESIGN.md section 3 and of the
 * operator endpoints (retries, dead-letter replay), random
 * query strings to the list endpoints and random path ids. The answer is never a 5xx, and
 * every 4xx is JSON with `detail`. Seeds are fixed, so a failure reproduces.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";

await sanitizeTests();

const SEED = 20260301;
const RUNS = 25;

const USER = 777;

/** One of each row, by direct SQL (the other routers are written concurrently). */
function seed(core: TestCore) {
  const now = new Date().toISOString();
  const ids = {
    memory: crypto.randomUUID(),
    task: crypto.randomUUID(),
    reminder: crypto.randomUUID(),
    event: crypto.randomUUID(),
    job: crypto.randomUUID(),
  };
  core.db.exec(`
    INSERT INTO users (telegram_user_id, display_name, is_allowed, created_at)
      VALUES (${USER}, 'Fuzz', 1, '${now}');
    INSERT INTO user_settings (user_id, created_at, updated_at) VALUES (${USER}, '${now}', '${now}');
    INSERT INTO memories (id, owner_user_id, content, status, created_at, updated_at)
      VALUES ('${ids.memory}', ${USER}, 'fuzzy memory', 'confirmed', '${now}', '${now}');
    INSERT INTO tasks (id, memory_id, owner_user_id, description, created_at, updated_at)
      VALUES ('${ids.task}', '${ids.memory}', ${USER}, 'fuzz task', '${now}', '${now}');
    INSERT INTO reminders (id, memory_id, owner_user_id, fire_at, text, created_at, updated_at)
      VALUES ('${ids.reminder}', '${ids.memory}', ${USER}, '${now}', 'fuzz', '${now}', '${now}');
    INSERT INTO events (id, owner_user_id, description, event_time, source_type, status,
                        pending_since, created_at, updated_at)
      VALUES ('${ids.event}', ${USER}, 'fuzz event', '${now}', 'manual', 'pending', '${now}',
              '${now}', '${now}');
    INSERT INTO llm_jobs (id, job_type, payload, user_id, status, created_at, updated_at)
      VALUES ('${ids.job}', 'followup', '{"message":"x"}', ${USER}, 'queued', '${now}', '${now}');
  `);
  return ids;
}

type Ids = ReturnType<typeof seed>;

/** Values that get past the first type checks, mixed with anything at all. */
function plausible(ids: Ids): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(
      USER,
      -1,
      0,
      2 ** 53,
      1e308,
      ids.memory,
      ids.task,
      crypto.randomUUID(),
      "2026-03-01T10:00:00Z",
      "2026-03-01T10:00:00+08:00",
      "2026-02-30T10:00:00Z",
      "not a date",
      "image",
      "confirmed",
      "suggested",
      "pending",
      "rejected",
      "DONE",
      "NOT_DONE",
      "email",
      "manual",
      "queued",
      "processing",
      "completed",
      "failed",
      "image_tag",
      "intent_classify",
      "followup",
      "task_match",
      "email_extract",
      "UTC",
      "Mars/Olympus",
      "../../etc/passwd",
      "\u0000",
      '"quoted" OR 1=1 --',
      "",
      null,
      true,
      [],
      {},
    ),
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.integer(),
    fc.double(),
  );
}

/**
 * Objects using the endpoint's own keys (each optional), mostly with well-typed values so the
 * requests get past validation into the handlers, else with plausible or random ones.
 */
function nearValid(good: Record<string, fc.Arbitrary<unknown>>, ids: Ids): fc.Arbitrary<unknown> {
  const value = plausible(ids);
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, arb] of Object.entries(good)) {
    shape[k] = fc.oneof({ arbitrary: arb, weight: 4 }, { arbitrary: value, weight: 1 });
  }
  return fc.record(shape, { requiredKeys: [] });
}

/** Any body: JSON of anything, near-valid JSON, or raw text that is usually not JSON. */
function bodies(good: Record<string, fc.Arbitrary<unknown>>, ids: Ids): fc.Arbitrary<string> {
  return fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    { arbitrary: nearValid(good, ids).map((v) => JSON.stringify(v)), weight: 4 },
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.constantFrom("", "{", "[", "null", "{}", "[]", '{"a":', "\u0000", "\ufeff{}", "1e999"),
  );
}

const CONTENT_TYPES = [
  "application/json",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "multipart/form-data",
  "",
];

async function send(
  core: TestCore,
  req: { method: string; path: string; body?: string; contentType?: string },
): Promise<{ status: number; text: string; type: string }> {
  const headers: Record<string, string> = {};
  if (req.contentType) headers["content-type"] = req.contentType;
  const res = await core.app.request(req.path, {
    method: req.method,
    headers,
    body: req.body,
  });
  return {
    status: res.status,
    text: await res.text(),
    type: res.headers.get("content-type") ?? "",
  };
}

function checkAnswer(
  what: string,
  res: { status: number; text: string; type: string },
): void {
  assert.ok(res.status < 500, `${what} -> ${res.status} ${res.text.slice(0, 300)}`);
  if (res.status >= 400) {
    assert.match(res.type, /application\/json/, `${what} -> ${res.status} ${res.type}`);
    const body = JSON.parse(res.text);
    assert.ok(
      body !== null && typeof body === "object" && "detail" in body,
      `${what} -> ${res.text.slice(0, 300)}`,
    );
  }
}

const text = fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 });
const anyDate = fc.date({
  min: new Date("2000-01-01"),
  max: new Date("2100-01-01"),
  noInvalidDate: true,
});
const time = fc.oneof(
  anyDate.map((d) => d.toISOString()),
  fc.tuple(anyDate, fc.constantFrom("+08:00", "-05:30", "+0000", "", "Z")).map(([d, off]) =>
    d.toISOString().slice(0, 19) + off
  ),
);
const minutes = fc.oneof(fc.integer({ min: 1, max: 100_000 }), fc.integer());

function endpoints(
  ids: Ids,
  imageDir: string,
): { method: string; path: string; good: Record<string, fc.Arbitrary<unknown>> }[] {
  const owner = fc.constantFrom(USER, USER, 1, -5);
  const memoryId = fc.constantFrom(ids.memory, ids.memory, crypto.randomUUID(), "nope");
  return [
    {
      method: "POST",
      path: "/users",
      good: {
        telegram_user_id: fc.integer({ min: 1, max: 2 ** 40 }),
        display_name: text,
        is_allowed: fc.boolean(),
      },
    },
    {
      method: "POST",
      path: "/memories",
      good: {
        owner_user_id: owner,
        content: text,
        media_type: fc.constantFrom("image", null),
        media_file_id: text,
        source_chat_id: fc.integer(),
        source_message_id: fc.integer(),
      },
    },
    {
      method: "PATCH",
      path: `/memories/${ids.memory}`,
      good: {
        content: text,
        status: fc.constantFrom("confirmed", "pending"),
        is_pinned: fc.boolean(),
        media_local_path: fc.constantFrom("a.jpg", `${imageDir}/b.png`, "../x", "/etc/passwd"),
      },
    },
    {
      method: "POST",
      path: `/memories/${ids.memory}/tags`,
      good: {
        tags: fc.array(text, { minLength: 1, maxLength: 5 }),
        status: fc.constantFrom("confirmed", "suggested"),
      },
    },
    { method: "POST", path: `/memories/${ids.memory}/image`, good: { file: text } },
    {
      method: "POST",
      path: "/tasks",
      good: {
        memory_id: memoryId,
        owner_user_id: owner,
        description: text,
        due_at: time,
        recurrence_minutes: minutes,
      },
    },
    {
      method: "PATCH",
      path: `/tasks/${ids.task}`,
      good: {
        description: text,
        state: fc.constantFrom("DONE", "NOT_DONE"),
        due_at: time,
        recurrence_minutes: minutes,
      },
    },
    {
      method: "POST",
      path: "/reminders",
      good: {
        memory_id: memoryId,
        owner_user_id: owner,
        text,
        fire_at: time,
        recurrence_minutes: minutes,
      },
    },
    {
      method: "PATCH",
      path: `/reminders/${ids.reminder}`,
      good: { text, fire_at: time, recurrence_minutes: minutes },
    },
    {
      method: "POST",
      path: "/events",
      good: {
        memory_id: fc.oneof(memoryId, fc.constant(null)),
        owner_user_id: owner,
        event_time: time,
        description: text,
        source_type: fc.constantFrom("email", "manual"),
        source_detail: text,
      },
    },
    {
      method: "PATCH",
      path: `/events/${ids.event}`,
      good: {
        event_time: time,
        description: text,
        status: fc.constantFrom("pending", "confirmed", "rejected"),
      },
    },
    {
      method: "PUT",
      path: `/settings/${USER}`,
      good: {
        timezone: fc.constantFrom("UTC", "Europe/Paris", "Asia/Singapore", "Nowhere/Land"),
        language: fc.constantFrom("en", "fr", "de-CH", "x"),
      },
    },
    {
      method: "POST",
      path: "/llm_jobs",
      good: {
        job_type: fc.constantFrom(
          "image_tag",
          "intent_classify",
          "followup",
          "task_match",
          "email_extract",
        ),
        payload: fc.record({
          message: text,
          query: text,
          memory_id: text,
          image_path: fc.constantFrom("a.jpg", `${imageDir}/x.jpg`, "../x.jpg", "/etc/passwd"),
          memory_content: text,
          subject: text,
          body: text,
          context: text,
          followup_context: fc.record({ followup_question: text, user_answer: text }, {
            requiredKeys: [],
          }),
        }, { requiredKeys: [] }),
        user_id: owner,
      },
    },
    {
      method: "PATCH",
      path: `/llm_jobs/${ids.job}`,
      good: {
        status: fc.constantFrom("queued", "processing", "processing", "completed", "failed"),
        result: fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
        error_message: text,
      },
    },
    // Operator endpoints: the retry routes read no body (any is ignored), retry-failed an
    // optional one.
    { method: "POST", path: `/llm_jobs/${ids.job}/retry`, good: {} },
    {
      method: "POST",
      path: "/llm_jobs/retry-failed",
      good: {
        job_type: fc.constantFrom("image_tag", "followup", "task_match", "nope"),
        limit: fc.oneof(fc.integer({ min: 1, max: 10_000 }), fc.integer()),
      },
    },
    { method: "POST", path: "/admin/dead-letters/1-0/replay", good: {} },
  ];
}

Deno.test(
  "fuzz: POST/PATCH/PUT bodies never answer 5xx; 4xx answers are JSON with detail",
  async () => {
    await using core = await makeCore();
    const ids = seed(core);
    for (const ep of endpoints(ids, core.imageDir)) {
      await fc.assert(
        fc.asyncProperty(
          bodies(ep.good, ids),
          fc.constantFrom(...CONTENT_TYPES),
          async (body, contentType) => {
            const res = await send(core, { method: ep.method, path: ep.path, body, contentType });
            checkAnswer(`${ep.method} ${ep.path} [${contentType}] ${JSON.stringify(body)}`, res);
          },
        ),
        { seed: SEED, numRuns: RUNS * 3 },
      );
    }
  },
);

Deno.test("fuzz: random multipart uploads never answer 5xx", async () => {
  await using core = await makeCore();
  const ids = seed(core);
  const path = `/memories/${ids.memory}/image`;
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 256 }),
      fc.constantFrom("file", "image", "", "file[]"),
      fc.string({ maxLength: 30 }),
      fc.constantFrom("image/jpeg", "image/png", "text/plain", "application/octet-stream", ""),
      async (bytes, field, name, type) => {
        const form = new FormData();
        form.append(field, new File([bytes], name || "x", { type }));
        const res = await core.app.request(path, { method: "POST", body: form });
        const text = await res.text();
        checkAnswer(`multipart ${field} ${name} ${type} ${bytes.length} bytes`, {
          status: res.status,
          text,
          type: res.headers.get("content-type") ?? "",
        });
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
});

Deno.test("fuzz: random query strings on the list endpoints never answer 5xx", async () => {
  await using core = await makeCore();
  const ids = seed(core);
  const lists: [string, string[]][] = [
    ["/tasks", ["state", "owner_user_id", "due_before", "due_after", "limit", "offset"]],
    ["/reminders", ["owner_user_id", "fired", "upcoming_only", "limit", "offset"]],
    ["/events", ["owner_user_id", "status", "limit", "offset"]],
    ["/search", ["q", "owner", "pinned"]],
    ["/audit", ["entity_type", "entity_id", "action", "actor", "limit", "offset"]],
    ["/llm_jobs", ["status", "job_type", "user_id", "limit", "offset"]],
    [`/settings/${USER}`, []],
    [`/backup/status/${USER}`, []],
    [`/memories/${ids.memory}`, []],
    [`/llm_jobs/${ids.job}`, []],
    ["/admin/dead-letters", ["limit", "before"]],
    ["/admin/queue-stats", []],
    ["/metrics", []],
  ];
  const value = fc.oneof(
    fc.string({ unit: "binary", maxLength: 30 }),
    fc.integer().map(String),
    fc.constantFrom(
      "",
      "true",
      "false",
      "1",
      "0",
      "-1",
      "1e309",
      "NaN",
      "9007199254740993",
      String(USER),
      "2026-03-01T10:00:00Z",
      "2026-03-01T10:00:00+08:00",
      '"',
      "*",
      "NEAR(a b)",
      "a OR b",
      "milk -cheese",
      "^x",
      "col:val",
    ),
  );
  for (const [path, keys] of lists) {
    const key = fc.oneof(fc.constantFrom(...keys, "limit", "x"), fc.string({ maxLength: 10 }));
    const encoded = fc.array(fc.tuple(key, value), { maxLength: 5 }).map((pairs) =>
      new URLSearchParams(pairs).toString()
    );
    // Raw text too, so malformed percent-escapes (`%zz`, `%E0%A4%A`) reach the router.
    const raw = fc.string({ unit: "binary-ascii", maxLength: 40 }).map((s) =>
      s.replace(/[#\s]/g, "")
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(encoded, raw), async (query) => {
        const res = await send(core, { method: "GET", path: `${path}?${query}` });
        checkAnswer(`GET ${path}?${query}`, res);
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    );
  }
});

Deno.test("fuzz: random path ids never answer 5xx", async () => {
  await using core = await makeCore();
  seed(core);
  const templates: [string, string][] = [
    ["GET", "/memories/{}"],
    ["PATCH", "/memories/{}"],
    ["DELETE", "/memories/{}"],
    ["DELETE", "/memories/{}/tags/x"],
    ["PATCH", "/tasks/{}"],
    ["DELETE", "/tasks/{}"],
    ["PATCH", "/reminders/{}"],
    ["DELETE", "/reminders/{}"],
    ["PATCH", "/events/{}"],
    ["DELETE", "/events/{}"],
    ["GET", "/settings/{}"],
    ["PUT", "/settings/{}"],
    ["GET", "/backup/status/{}"],
    ["GET", "/llm_jobs/{}"],
    ["PATCH", "/llm_jobs/{}"],
    ["POST", "/llm_jobs/{}/retry"],
    ["POST", "/admin/dead-letters/{}/replay"],
    ["DELETE", "/admin/dead-letters/{}"],
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...templates),
      fc.oneof(
        fc.string({ unit: "binary", maxLength: 40 }),
        fc.constantFrom("-1", "0", "1e3", "99999999999999999999", "%zz", "..", "%2e%2e"),
      ),
      async ([method, template], id) => {
        const segment = /^%|^\.\.$/.test(id) ? id : encodeURIComponent(id);
        const path = template.replace("{}", segment);
        const body = method === "GET" || method === "DELETE" ? undefined : "{}";
        const res = await send(core, {
          method,
          path,
          body,
          contentType: body ? "application/json" : undefined,
        });
        checkAnswer(`${method} ${path}`, res);
      },
    ),
    { seed: SEED, numRuns: RUNS * 8 },
  );
});
