/** The streaming multipart reader: any chunking gives the same file, malformed bodies throw. */
import assert from "node:assert/strict";
import { multipartBoundary, MultipartError, streamFilePart } from "../../core/http/multipart.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

const enc = new TextEncoder();

function streamOf(bytes: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

async function read(body: Uint8Array, chunk: number, boundary = "b0undary") {
  const parts: number[] = [];
  const outcome = await streamFilePart(streamOf(body, chunk), boundary, {
    field: "file",
    onChunk: (c) => Promise.resolve(void parts.push(...c)),
  });
  return { outcome, file: new Uint8Array(parts) };
}

Deno.test("streamFilePart: the file part's bytes, whatever the chunk size", async () => {
  // Content that almost looks like the delimiter, and bytes of every value.
  const content = new Uint8Array([
    ...enc.encode("\r\n--b0undar\r\n--b0undarY"),
    ...Array.from({ length: 512 }, (_, i) => i % 256),
  ]);
  const body = new Uint8Array([
    ...enc.encode("preamble\r\n--b0undary\r\n"),
    ...enc.encode('Content-Disposition: form-data; name="note"\r\n\r\nhello\r\n--b0undary\r\n'),
    ...enc.encode('Content-Disposition: form-data; name="file"; filename="x.bin"\r\n'),
    ...enc.encode("Content-Type: application/octet-stream\r\n\r\n"),
    ...content,
    ...enc.encode("\r\n--b0undary--\r\nepilogue"),
  ]);
  for (const chunk of [1, 2, 7, 64, 100_000]) {
    const got = await read(body, chunk);
    assert.equal(got.outcome, "file", `chunk ${chunk}`);
    assert.deepEqual(got.file, content, `chunk ${chunk}`);
  }
});

Deno.test("streamFilePart: missing file, plain field, malformed bodies", async () => {
  const field = enc.encode(
    '--b0undary\r\nContent-Disposition: form-data; name="file"\r\n\r\ntext\r\n--b0undary--',
  );
  assert.equal((await read(field, 5)).outcome, "not_a_file");
  const other = enc.encode(
    '--b0undary\r\nContent-Disposition: form-data; name="x"\r\n\r\ntext\r\n--b0undary--',
  );
  assert.equal((await read(other, 5)).outcome, "missing");
  for (
    const bad of [
      "",
      "no boundary at all",
      '--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nno end',
      "--b0undary\r\n" + "x".repeat(20_000),
      "--b0undaryXX",
    ]
  ) {
    await assert.rejects(read(enc.encode(bad), 3), MultipartError, JSON.stringify(bad));
  }
  assert.equal(multipartBoundary("multipart/form-data; boundary=abc"), "abc");
  assert.equal(multipartBoundary('multipart/form-data; boundary="a b"'), "a b");
  assert.equal(multipartBoundary("application/json"), null);
  assert.equal(multipartBoundary("multipart/form-data"), null);
});
