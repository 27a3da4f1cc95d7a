/**
 * MAX_BODY_BYTES on JSON bodies (core/app.ts): a declared Content-Length is checked without the
 * body being read; a body without one, or with a Transfer-Encoding beside it, is counted as it
 * arrives.
 */
import assert from "node:assert/strict";
import { makeCore, sanitizeTests } from "../helpers/core_app.ts";

await sanitizeTests();

const LIMIT = 1000;

/** A body of `size` bytes sent in 100-byte chunks, and how many chunks were pulled from it. */
function countedBody(size: number): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let sent = 0;
  let pulls = 0;
  // A high-water mark of 0: nothing is pulled before the body is read.
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      if (sent >= size) return controller.close();
      const n = Math.min(100, size - sent);
      sent += n;
      controller.enqueue(new TextEncoder().encode(" ".repeat(n)));
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => pulls };
}

async function post(
  app: { request(req: Request): Response | Promise<Response> },
  body: BodyInit,
  headers: Record<string, string>,
): Promise<{ status: number; detail: unknown }> {
  const res = await app.request(
    new Request("http://core/users", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    }),
  );
  return { status: res.status, detail: (await res.json()).detail };
}

Deno.test("a declared Content-Length over MAX_BODY_BYTES is 413 before the body is read", async () => {
  await using core = await makeCore({ env: { MAX_BODY_BYTES: String(LIMIT) } });
  const body = countedBody(LIMIT * 5);
  const res = await post(core.app, body.stream, { "content-length": String(LIMIT * 5) });
  assert.equal(res.status, 413);
  assert.match(String(res.detail), /larger than 1000 bytes/);
  assert.equal(body.pulled(), 0);
});

Deno.test("a declared Content-Length within MAX_BODY_BYTES reaches the route", async () => {
  await using core = await makeCore({ env: { MAX_BODY_BYTES: String(LIMIT) } });
  const text = JSON.stringify({ telegram_user_id: 7, display_name: "x".repeat(LIMIT - 60) });
  const res = await post(core.app, text, { "content-length": String(text.length) });
  assert.equal(res.status, 200);
});

Deno.test("a body without Content-Length is counted and cut at MAX_BODY_BYTES", async () => {
  await using core = await makeCore({ env: { MAX_BODY_BYTES: String(LIMIT) } });
  const body = countedBody(LIMIT * 50);
  const res = await post(core.app, body.stream, {});
  assert.equal(res.status, 413);
  // Stopped once past the limit, not read to the end.
  assert.ok(body.pulled() <= LIMIT / 100 + 2, `pulled ${body.pulled()} chunks`);
});

Deno.test("a Content-Length beside Transfer-Encoding is not trusted", async () => {
  await using core = await makeCore({ env: { MAX_BODY_BYTES: String(LIMIT) } });
  const body = countedBody(LIMIT * 5);
  const res = await post(core.app, body.stream, {
    "content-length": "10",
    "transfer-encoding": "chunked",
  });
  assert.equal(res.status, 413);
});
