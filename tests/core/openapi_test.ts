/**
 * /openapi.json against the app Hono really serves. The document is built from the routes'
 * own definitions (core/http/route.ts), so what is left to check is:
 * - every route Hono has registered is in the document (none was registered without its
 *   definition), and every documented operation is a registered route;
 * - the routers read bodies and queries only through their definitions, so the schema the
 *   document shows is the one the handler parses;
 * - a real request to each route answers a documented status, and its body passes the response
 *   schema the document names for that status (the strict zod schema behind the component);
 * - the request body and query schemas in the document are z.toJSONSchema of the definition's;
 * - the error answers (404, 422, 401) pass the error schemas the document names.
 */
import { isAdminWebPath } from "../../core/admin_web/access.ts";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { z } from "zod";
import { routeLabel } from "../../core/http/observe.ts";
import { documentedRoutes } from "../../core/http/route.ts";
import { componentSchemas, jsonSchemaOf, openApiPath } from "../../core/openapi.ts";
import { DOCS_ASSETS } from "../../core/routes/docs_assets.ts";
import { RESPONSE_SCHEMAS, type ResponseSchemaName } from "../../shared/response_schemas.ts";
import { DEAD_LETTER_STREAM } from "../../shared/streams.ts";
import { call, createUser, makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { parseExposition } from "../helpers/metrics_text.ts";

await sanitizeTests();

// deno-lint-ignore no-explicit-any
type Json = any;

/** A 1x1 PNG. */
const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

const USER = 5150;

/** `METHOD /openapi/{path}` of each documented operation. */
function documentedOperations(doc: Json): string[] {
  const out: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths as Record<string, object>)) {
    for (const method of Object.keys(ops)) out.push(`${method.toUpperCase()} ${path}`);
  }
  return out.sort();
}

/** The handlers Hono registered (middleware is registered with method ALL). */
function registeredOperations(app: Hono): string[] {
  return [
    ...new Set(
      app.routes
        // The admin page's HTML pages and form posts are for browsers, not part of the API;
        // `/*` is app-wide middleware registered for some methods (the body limit).
        .filter((r) => r.method !== "ALL" && r.path !== "/*" && !isAdminWebPath(r.path))
        .map((r) => `${r.method} ${openApiPath(r.path)}`),
    ),
  ].sort();
}

/** What a request answered. */
interface Answer {
  status: number;
  contentType: string;
  text: string;
  body: Json;
}

async function send(
  app: Hono,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (typeof body === "string") {
    init.body = body;
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const res = await app.request(path, init);
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch { /* not JSON */ }
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? "",
    text,
    body: parsed,
  };
}

/** The zod schema the document names for `status` of an operation, checked against the body. */
function checkAgainstDocument(doc: Json, op: string, answer: Answer): void {
  const [method, path] = op.split(" ");
  const responses = doc.paths[path]?.[method.toLowerCase()]?.responses;
  assert.ok(responses, `${op} is not documented`);
  const documented = responses[String(answer.status)];
  assert.ok(
    documented,
    `${op} answered ${answer.status}, which the document does not list: ${
      answer.text.slice(0, 300)
    }`,
  );
  const content = documented.content as Record<string, { schema: Json }> | undefined;
  if (!content) {
    assert.equal(answer.text, "", `${op} ${answer.status} is documented without a body`);
    return;
  }
  const [mediaType, { schema }] = Object.entries(content)[0];
  assert.ok(
    answer.contentType.startsWith(mediaType.split(";")[0]),
    `${op}: content-type ${answer.contentType}, documented ${mediaType}`,
  );
  if (mediaType !== "application/json" || !("$ref" in schema || schema.items?.$ref)) {
    return; // Not a named schema (text, HTML, the document itself): checked by the callers.
  }
  const ref: string = schema.$ref ?? schema.items.$ref;
  const name = ref.replace("#/components/schemas/", "") as ResponseSchemaName;
  const zodSchema = RESPONSE_SCHEMAS[name];
  assert.ok(zodSchema, `${op}: ${ref} names no response schema`);
  const target = schema.type === "array" ? z.array(zodSchema) : zodSchema;
  const parsed = target.safeParse(answer.body);
  assert.ok(
    parsed.success,
    `${op} ${answer.status} does not match ${schema.type === "array" ? `[${name}]` : name}: ${
      parsed.success ? "" : z.prettifyError(parsed.error)
    }\n${answer.text.slice(0, 500)}`,
  );
}

/** Every `$ref` in `value`. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refs(v, out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k === "$ref" && typeof v === "string") out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

/** Rows and entries every route can be called on. */
async function fixture(core: TestCore) {
  await createUser(core.app, USER, "Doc Tester");
  const memory = (await call(core.app, "POST", "/memories", {
    owner_user_id: USER,
    content: "milk and bread from the corner shop",
  })).body;
  await call(core.app, "POST", `/memories/${memory.id}/tags`, { tags: ["groceries"] });
  const spare = (await call(core.app, "POST", "/memories", {
    owner_user_id: USER,
    content: "a memory to delete",
  })).body;
  const image = (await call(core.app, "POST", "/memories", {
    owner_user_id: USER,
    media_type: "image",
  })).body;
  const task = (await call(core.app, "POST", "/tasks", {
    memory_id: memory.id,
    owner_user_id: USER,
    description: "buy milk",
    due_at: "2026-05-01T09:00:00Z",
  })).body;
  const reminder = (await call(core.app, "POST", "/reminders", {
    memory_id: memory.id,
    owner_user_id: USER,
    text: "milk",
    fire_at: "2030-05-01T09:00:00Z",
  })).body;
  const event = (await call(core.app, "POST", "/events", {
    owner_user_id: USER,
    event_time: "2030-06-01T18:00:00Z",
    description: "dinner",
    source_type: "manual",
  })).body;
  const job = (await call(core.app, "POST", "/llm_jobs", {
    job_type: "followup",
    payload: { message: "remind me" },
    user_id: USER,
  })).body;
  const now = new Date().toISOString();
  const failedJob = crypto.randomUUID();
  const replayJob = crypto.randomUUID();
  // The replayed job is of another type than the ones retry-failed takes in the scenarios.
  for (
    const [id, type] of [
      [failedJob, "intent_classify"],
      [replayJob, "followup"],
      [crypto.randomUUID(), "intent_classify"],
    ]
  ) {
    core.db.prepare(
      `INSERT INTO llm_jobs (id, job_type, payload, user_id, status, error_message, created_at,
         updated_at) VALUES (?, ?, '{"message":"x"}', ?, 'failed', 'bad output', ?, ?)`,
    ).run(id, type, USER, now, now);
  }
  core.db.prepare(
    `INSERT INTO backup_jobs (backup_id, user_id, started_at, completed_at, status, file_path)
     VALUES (?, ?, ?, ?, 'completed', '/backups/1.tar')`,
  ).run(crypto.randomUUID(), USER, now, now);
  const deadLetter = (id: string) =>
    core.redis.xadd(
      DEAD_LETTER_STREAM,
      "*",
      "data",
      JSON.stringify({
        reason: "bad_output",
        error: "The model's answer was unusable",
        stream: "llm:intent",
        entry_id: "1-0",
        job_id: id,
        job_type: "intent_classify",
        message: { job_id: id, job_type: "intent_classify", payload: { message: "x" } },
        dead_lettered_at: now,
      }),
    ) as Promise<string>;
  const replayEntry = await deadLetter(replayJob);
  const spareEntry = await deadLetter(crypto.randomUUID());
  return {
    memory,
    spare,
    image,
    task,
    reminder,
    event,
    job,
    failedJob,
    replayEntry,
    spareEntry,
  };
}

type Fixture = Awaited<ReturnType<typeof fixture>>;

/** One real, successful request per documented operation. */
function scenarios(f: Fixture): [string, string, () => unknown][] {
  const m = f.memory.id;
  const png = () => {
    const form = new FormData();
    form.append("file", new Blob([PNG], { type: "image/png" }), "pixel.png");
    return form;
  };
  // [operation, concrete path, body]
  return [
    ["GET /health", "/health", () => undefined],
    ["GET /metrics", "/metrics", () => undefined],
    ["GET /openapi.json", "/openapi.json", () => undefined],
    ["GET /docs", "/docs", () => undefined],
    ...DOCS_ASSETS.map((
      a,
    ): [string, string, () => unknown] => [`GET ${a.path}`, a.path, () => undefined]),
    ["POST /users", "/users", () => ({ telegram_user_id: USER + 1, display_name: "Other" })],
    ["POST /memories", "/memories", () => ({ owner_user_id: USER, content: "a new note" })],
    ["GET /memories/{id}", `/memories/${m}`, () => undefined],
    ["PATCH /memories/{id}", `/memories/${m}`, () => ({ is_pinned: true })],
    ["POST /memories/{id}/tags", `/memories/${m}/tags`, () => ({ tags: ["dairy"] })],
    ["DELETE /memories/{id}/tags/{tag}", `/memories/${m}/tags/dairy`, () => undefined],
    ["POST /memories/{id}/image", `/memories/${f.image.id}/image`, png],
    ["DELETE /memories/{id}", `/memories/${f.spare.id}`, () => undefined],
    ["POST /tasks", "/tasks", () => ({ memory_id: m, owner_user_id: USER, description: "eggs" })],
    ["GET /tasks", `/tasks?owner_user_id=${USER}&limit=10`, () => undefined],
    ["GET /tasks/{id}", `/tasks/${f.task.id}`, () => undefined],
    ["PATCH /tasks/{id}", `/tasks/${f.task.id}`, () => ({ state: "DONE" })],
    ["DELETE /tasks/{id}", `/tasks/${f.task.id}`, () => undefined],
    ["POST /reminders", "/reminders", () => ({
      memory_id: m,
      owner_user_id: USER,
      text: "call",
      fire_at: "2031-01-01T10:00:00+02:00",
    })],
    ["GET /reminders", `/reminders?owner_user_id=${USER}&upcoming_only=true`, () => undefined],
    ["GET /reminders/{id}", `/reminders/${f.reminder.id}`, () => undefined],
    ["PATCH /reminders/{id}", `/reminders/${f.reminder.id}`, () => ({ text: "milk!" })],
    ["DELETE /reminders/{id}", `/reminders/${f.reminder.id}`, () => undefined],
    ["POST /events", "/events", () => ({
      owner_user_id: USER,
      event_time: "2031-02-01T10:00:00Z",
      description: "party",
      source_type: "email",
      source_detail: "Invitation",
    })],
    ["GET /events", `/events?owner_user_id=${USER}&status=pending`, () => undefined],
    ["GET /events/{id}", `/events/${f.event.id}`, () => undefined],
    ["PATCH /events/{id}", `/events/${f.event.id}`, () => ({ status: "confirmed" })],
    ["DELETE /events/{id}", `/events/${f.event.id}`, () => undefined],
    ["GET /search", `/search?q=milk&owner=${USER}`, () => undefined],
    ["GET /settings/{user_id}", `/settings/${USER}`, () => undefined],
    ["PUT /settings/{user_id}", `/settings/${USER}`, () => ({ timezone: "Europe/Paris" })],
    ["GET /audit", "/audit?limit=20&entity_type=memory", () => undefined],
    ["GET /backup/status/{user_id}", `/backup/status/${USER}`, () => undefined],
    ["POST /llm_jobs", "/llm_jobs", () => ({
      job_type: "intent_classify",
      payload: { message: "remind me to call mum", extra: 1 },
      user_id: USER,
    })],
    ["GET /llm_jobs", "/llm_jobs?status=queued&limit=5", () => undefined],
    ["GET /llm_jobs/{id}", `/llm_jobs/${f.job.id}`, () => undefined],
    ["PATCH /llm_jobs/{id}", `/llm_jobs/${f.job.id}`, () => ({ status: "processing" })],
    ["POST /llm_jobs/{id}/retry", `/llm_jobs/${f.failedJob}/retry`, () => undefined],
    ["POST /llm_jobs/retry-failed", "/llm_jobs/retry-failed", () => ({
      job_type: "intent_classify",
    })],
    ["GET /admin/queue-stats", "/admin/queue-stats", () => undefined],
    ["GET /admin/dead-letters", "/admin/dead-letters?limit=10", () => undefined],
    [
      "DELETE /admin/dead-letters/{entry_id}",
      `/admin/dead-letters/${f.spareEntry}`,
      () => undefined,
    ],
    [
      "POST /admin/dead-letters/{entry_id}/replay",
      `/admin/dead-letters/${f.replayEntry}/replay`,
      () => undefined,
    ],
  ];
}

Deno.test(
  "openapi: every registered route is documented, and every documented route exists",
  async () => {
    await using core = await makeCore();
    const res = await send(core.app, "GET", "/openapi.json");
    assert.equal(res.status, 200);
    const doc = res.body;
    assert.equal(doc.openapi, "3.1.0");
    const registered = registeredOperations(core.app);
    const documented = documentedOperations(doc);
    assert.deepEqual(
      registered.filter((r) => !documented.includes(r)),
      [],
      "routes Hono serves that the document leaves out",
    );
    assert.deepEqual(
      documented.filter((d) => !registered.includes(d)),
      [],
      "documented routes Hono does not serve",
    );
    // Each documented route is one operation; the only handlers without a definition are the
    // admin page's.
    const listing = documentedRoutes(core.app);
    assert.equal(listing.routes.length, documented.length);
    assert.deepEqual(
      listing.undocumented.filter((key) => !isAdminWebPath(key.split(" ")[1])),
      [],
      "handlers registered without defineRoute",
    );
  },
);

Deno.test(
  "openapi: the document is self-consistent and its components are the response schemas",
  async () => {
    await using core = await makeCore();
    const doc = (await send(core.app, "GET", "/openapi.json")).body;
    const components = doc.components.schemas as Record<string, unknown>;
    assert.deepEqual(Object.keys(components).sort(), Object.keys(RESPONSE_SCHEMAS).sort());
    assert.deepEqual(components, componentSchemas());
    // Each named schema is z.toJSONSchema of its zod schema (with the named ones it uses
    // referenced rather than repeated).
    assert.deepEqual(components.Tag, jsonSchemaOf(RESPONSE_SCHEMAS.Tag, "output"));
    assert.equal(
      (components.Memory as Json).properties.tags.items.$ref,
      "#/components/schemas/Tag",
    );
    for (const ref of refs(doc)) {
      const name = ref.replace("#/components/schemas/", "");
      assert.ok(ref.startsWith("#/components/schemas/") && name in components, `dangling ${ref}`);
    }
    const ids = documentedOperations(doc).map((op) => {
      const [method, path] = op.split(" ");
      return doc.paths[path][method.toLowerCase()].operationId;
    });
    assert.equal(new Set(ids).size, ids.length, "operationIds are unique");
    for (const op of documentedOperations(doc)) {
      const [method, path] = op.split(" ");
      const operation = doc.paths[path][method.toLowerCase()];
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (operation.parameters ?? []).filter((p: Json) => p.in === "path")
        .map((p: Json) => p.name).sort();
      assert.deepEqual(declared, inPath, `${op}: path parameters`);
      // /health is the one open endpoint; everything else says it may need the token.
      if (path === "/health") assert.deepEqual(operation.security, []);
      else {
        assert.deepEqual(operation.security, [{ bearerAuth: [] }], op);
        assert.equal(
          operation.responses["401"].content["application/json"].schema.$ref,
          "#/components/schemas/Error",
          op,
        );
      }
    }
  },
);

Deno.test("openapi: routers read bodies and queries only through their route definitions", async () => {
  const dir = new URL("../../core/routes/", import.meta.url);
  let files = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!/\.tsx?$/.test(entry.name)) continue;
    const source = await Deno.readTextFile(new URL(entry.name, dir));
    // A direct call would validate with a schema the document may not show.
    assert.doesNotMatch(
      source,
      /\b(parseBody|parseOptionalBody|parseQuery)\(c,/,
      `${entry.name} parses a request outside its route definition`,
    );
    files++;
  }
  assert.ok(files > 10, `${files} routers read`);
});

Deno.test("openapi: a real request to every route answers what the document says", async () => {
  await using core = await makeCore();
  // The probe wraps the app to read, after each request, the route that answered it.
  const routed = new Set<string>();
  const probe = new Hono();
  probe.use("*", async (c, next) => {
    await next();
    routed.add(`${c.req.method} ${openApiPath(routeLabel(c))}`);
  });
  probe.route("/", core.app);
  const definitions = new Map(
    documentedRoutes(core.app).routes.map((r) => [`${r.method} ${openApiPath(r.path)}`, r]),
  );

  const f = await fixture(core);
  const doc = (await send(core.app, "GET", "/openapi.json")).body;
  const cases = scenarios(f);
  assert.deepEqual(
    cases.map(([op]) => op).sort(),
    documentedOperations(doc),
    "one scenario per documented operation",
  );
  for (const [op, path, body] of cases) {
    const method = op.split(" ")[0];
    const answer = await send(probe, method, path, body());
    assert.ok(answer.status < 300, `${op}: ${answer.status} ${answer.text.slice(0, 300)}`);
    checkAgainstDocument(doc, op, answer);
    if (op === "GET /metrics") parseExposition(answer.text);
    if (op === "GET /openapi.json") assert.deepEqual(answer.body, doc);
    if (op === "GET /docs") {
      for (const asset of DOCS_ASSETS) {
        assert.ok(answer.text.includes(`"${asset.path.slice(1)}"`));
      }
      assert.doesNotMatch(answer.text, /https?:\/\//, "the page loads nothing from elsewhere");
    }
    assert.ok(routed.has(op), `${op} was not routed as ${op}`);
    const seen = definitions.get(op)!;
    assert.ok(seen, `${op} has no definition`);

    // Request schemas: the document's is z.toJSONSchema of the definition's.
    const operation = doc.paths[op.split(" ")[1]][method.toLowerCase()];
    const content = operation.requestBody?.content ?? {};
    const documentedBody = content["application/json"]?.schema ??
      content["multipart/form-data"]?.schema;
    const bodySchema = seen.body ?? seen.multipart;
    if (bodySchema === undefined) {
      assert.equal(documentedBody, undefined, `${op} documents a body it never parses`);
    } else {
      const { $schema: _, ...expected } = z.toJSONSchema(bodySchema, { io: "input" }) as Json;
      assert.deepEqual(documentedBody, expected, `${op}: request body schema`);
    }
    const queryParams = (operation.parameters ?? []).filter((p: Json) => p.in === "query");
    if (seen.query === undefined) {
      assert.deepEqual(queryParams, [], `${op} documents a query it never parses`);
    } else {
      const expected = z.toJSONSchema(seen.query, { io: "input" }) as Json;
      const required: string[] = expected.required ?? [];
      assert.deepEqual(
        queryParams,
        Object.entries(expected.properties).map(([name, schema]) => ({
          name,
          in: "query",
          required: required.includes(name),
          schema,
        })),
        `${op}: query parameters`,
      );
    }
  }
});

Deno.test("openapi: 404 and 422 answers match the documented error schemas", async () => {
  await using core = await makeCore();
  const f = await fixture(core);
  const doc = (await send(core.app, "GET", "/openapi.json")).body;
  const unknown: Record<string, string> = {
    id: crypto.randomUUID(),
    user_id: "987654321",
    entry_id: "1-0",
    tag: "nothing",
  };
  const known: Record<string, string> = {
    id: f.memory.id,
    user_id: String(USER),
    entry_id: f.replayEntry,
    tag: "groceries",
  };
  let notFound = 0;
  let invalid = 0;
  for (const op of documentedOperations(doc)) {
    const [method, path] = op.split(" ");
    const operation = doc.paths[path][method.toLowerCase()];
    const fill = (values: Record<string, string>) =>
      path.replace(/\{([^}]+)\}/g, (_, name) => values[name]);
    const hasBody = operation.requestBody !== undefined;
    if (operation.responses["404"] && path.includes("{")) {
      const answer = await send(core.app, method, fill(unknown), hasBody ? "{}" : undefined);
      assert.equal(answer.status, 404, `${op} with unknown ids: ${answer.text}`);
      checkAgainstDocument(doc, op, answer);
      notFound++;
    }
    if (operation.responses["422"]) {
      let answer: Answer;
      if (operation.requestBody?.content["application/json"]) {
        // Known ids (a memory for /memories/{id}/...; the seeded job for /llm_jobs/{id}).
        const values = path.startsWith("/llm_jobs") ? { ...known, id: f.job.id } : known;
        answer = await send(core.app, method, fill(values), "{not json");
      } else if (operation.requestBody?.content["multipart/form-data"]) {
        const form = new FormData();
        form.append("other", "x");
        answer = await send(core.app, method, fill({ ...known, id: f.image.id }), form);
      } else if (path.includes("{user_id}")) {
        answer = await send(core.app, method, fill({ ...known, user_id: "abc" }));
      } else if (operation.parameters?.some((p: Json) => p.name === "X-Actor")) {
        const forged = { "x-actor": "system:scheduler" };
        answer = await send(core.app, method, fill(known), undefined, forged);
      } else {
        const param = (operation.parameters ?? []).find((p: Json) => p.in === "query");
        answer = await send(core.app, method, `${path}?${param.name}=${"\u0000".repeat(2000)}`);
      }
      assert.equal(answer.status, 422, `${op}: ${answer.text}`);
      checkAgainstDocument(doc, op, answer);
      invalid++;
    }
  }
  assert.ok(notFound >= 20 && invalid >= 20, `${notFound} 404s, ${invalid} 422s checked`);
});

Deno.test(
  "openapi: with CORE_API_TOKEN every route but /health answers the documented 401",
  async () => {
    const token = "doc-test-token-0123456789";
    await using core = await makeCore({ env: { CORE_API_TOKEN: token } });
    const auth = { authorization: `Bearer ${token}` };
    const doc = (await send(core.app, "GET", "/openapi.json", undefined, auth)).body;
    for (const op of documentedOperations(doc)) {
      const [method, path] = op.split(" ");
      const concrete = path.replace(
        /\{([^}]+)\}/g,
        (_, name) => name === "user_id" ? "1" : name === "entry_id" ? "1-0" : crypto.randomUUID(),
      );
      const answer = await send(core.app, method, concrete);
      if (path === "/health") {
        assert.equal(answer.status, 200);
        continue;
      }
      assert.equal(answer.status, 401, op);
      checkAgainstDocument(doc, op, answer);
    }
  },
);
