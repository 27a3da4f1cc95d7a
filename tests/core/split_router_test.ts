/**
 * The core's router (core/http/split_router.ts): RegExpRouter outside /llm_jobs, TrieRouter
 * under it, matching every path exactly as one TrieRouter holding the whole table would.
 */
import assert from "node:assert/strict";
import type { Result } from "hono/router";
import { TrieRouter } from "hono/router/trie-router";
import { SplitRouter } from "../../core/http/split_router.ts";
import { makeCore, sanitizeTests } from "../helpers/core_app.ts";

await sanitizeTests();

/** A match as `[what was registered, its params]` pairs, in order, whatever the result's form. */
function normalized<T>(result: Result<T>): [T, Record<string, string>][] {
  const [matches, stash] = result;
  return matches.map(([handler, params]) => {
    if (stash === undefined) return [handler, { ...params as Record<string, string> }];
    const named: Record<string, string> = {};
    for (const [name, index] of Object.entries(params as Record<string, number>)) {
      named[name] = stash[index];
    }
    return [handler, named];
  });
}

/** A concrete path for a route pattern: each parameter filled in, each wildcard a segment. */
function samplePath(pattern: string, value: string): string {
  return pattern.replace(/:[A-Za-z_]+/g, value).replace(/\*/g, "anything");
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW"];

Deno.test("the core's router matches every path as one TrieRouter with all routes would", async () => {
  await using core = await makeCore({ env: { CORE_API_TOKEN: "t0ken-for-the-router-test" } });
  const reference = new TrieRouter<unknown>();
  // Hono registers `[handler, route]`; the route objects are what app.routes lists.
  for (const route of core.app.routes) reference.add(route.method, route.path, route);
  const routeOf = (item: unknown) => (item as [unknown, unknown])[1];

  const paths = new Set<string>(["/", "/nope", "/llm_jobs", "/llm_jobs/", "/llm_jobsx"]);
  for (const route of core.app.routes) {
    for (const value of ["01a23b09-6a14-470c-b0bc-9b410d37b60b", "retry-failed", "retry"]) {
      const path = samplePath(route.path, value);
      paths.add(path).add(`${path}/`).add(`${path}/extra`);
    }
  }
  assert.equal(core.app.router.name, "SplitRouter");
  for (const path of paths) {
    for (const method of METHODS) {
      const got = normalized(core.app.router.match(method, path))
        .map(([item, params]) => [routeOf(item), params]);
      assert.deepEqual(got, normalized(reference.match(method, path)), `${method} ${path}`);
    }
  }
  // Each route is reached by its own sample path, so the comparison covered every one.
  for (const route of core.app.routes) {
    const path = samplePath(route.path, "01a23b09-6a14-470c-b0bc-9b410d37b60b");
    const method = route.method === "ALL" ? "GET" : route.method;
    const matched = normalized(core.app.router.match(method, path)).map(([item]) => routeOf(item));
    assert.ok(matched.includes(route), `${route.method} ${route.path}`);
  }
});

Deno.test("paths under a trie prefix may hold routes RegExpRouter refuses; others fail loudly", () => {
  const router = new SplitRouter<string>({ triePrefixes: ["/llm_jobs"] });
  router.add("POST", "/llm_jobs/retry-failed", "retry all");
  router.add("POST", "/llm_jobs/:id/retry", "retry one");
  router.add("GET", "/memories/:id", "memory");
  assert.deepEqual(normalized(router.match("POST", "/llm_jobs/retry-failed")), [
    ["retry all", {}],
  ]);
  assert.deepEqual(normalized(router.match("POST", "/llm_jobs/abc/retry")), [
    ["retry one", { id: "abc" }],
  ]);
  assert.deepEqual(normalized(router.match("GET", "/memories/abc")), [["memory", { id: "abc" }]]);

  const another = new SplitRouter<string>({ triePrefixes: ["/llm_jobs"] });
  another.add("POST", "/memories/retry-failed", "a literal");
  assert.throws(
    () => another.add("POST", "/memories/:id/retry", "beside a parameter"),
    /POST \/memories\/:id\/retry .*triePrefixes/,
  );
});
