import assert from "node:assert/strict";
import { join } from "node:path";
import { call, createUser, makeCore, sanitizeTests, type TestCore } from "../helpers/core_app.ts";
import { deleteImage } from "../../core/files/images.ts";
import { detectImageType, imagePathInside } from "../../shared/images.ts";
import { tempDir } from "../helpers/fixtures.ts";

await sanitizeTests();

const OWNER = 601;

// ---- real image bytes, built here ----

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const typed = concat(new TextEncoder().encode(type), data);
  return concat(u32(data.length), typed, u32(crc32(typed)));
}

async function zlib(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new CompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A valid PNG of `w` x `h` red pixels (RGB, 8 bit), optionally padded with a text chunk. */
async function makePng(w = 1, h = 1, padding = 0): Promise<Uint8Array> {
  const ihdr = concat(u32(w), u32(h), new Uint8Array([8, 2, 0, 0, 0]));
  const rows: number[] = [];
  for (let y = 0; y < h; y++) {
    rows.push(0);
    for (let x = 0; x < w; x++) rows.push(255, 0, 0);
  }
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
  ];
  if (padding > 0) {
    parts.push(pngChunk("tEXt", new TextEncoder().encode("Comment\0" + "x".repeat(padding))));
  }
  parts.push(
    pngChunk("IDAT", await zlib(new Uint8Array(rows))),
    pngChunk("IEND", new Uint8Array()),
  );
  return concat(...parts);
}

function segment(marker: number, body: number[]): number[] {
  const len = body.length + 2;
  return [0xff, marker, len >> 8, len & 0xff, ...body];
}

/**
 * A valid baseline JPEG of one grey pixel: one quantization table, one-symbol Huffman tables
 * (DC category 0 and AC end-of-block, each coded as the bit 0) and a scan of two 0 bits.
 */
function makeJpeg(): Uint8Array {
  const oneSymbolTable = (cls: number) => [cls, 1, ...new Array(15).fill(0), 0x00];
  return new Uint8Array([
    0xff,
    0xd8,
    ...segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0]),
    ...segment(0xdb, [0x00, ...new Array(64).fill(1)]),
    ...segment(0xc0, [8, 0, 1, 0, 1, 1, 1, 0x11, 0]),
    ...segment(0xc4, oneSymbolTable(0x00)),
    ...segment(0xc4, oneSymbolTable(0x10)),
    ...segment(0xda, [1, 1, 0x00, 0, 63, 0]),
    0x3f,
    0xff,
    0xd9,
  ]);
}

const GIF = new Uint8Array([
  ...new TextEncoder().encode("GIF89a"),
  1,
  0,
  1,
  0,
  0x80,
  0,
  0,
  0,
  0,
  0,
  255,
  255,
  255,
  0x2c,
  0,
  0,
  0,
  0,
  1,
  0,
  1,
  0,
  0,
  2,
  2,
  0x44,
  1,
  0,
  0x3b,
]);

function webpHeader(): Uint8Array {
  const enc = new TextEncoder();
  return concat(enc.encode("RIFF"), new Uint8Array([26, 0, 0, 0]), enc.encode("WEBPVP8L"));
}

// ---- unit tests of core/files/images.ts ----

Deno.test("detectImageType knows JPEG, PNG, GIF and WebP by their magic bytes only", async () => {
  assert.equal(detectImageType(await makePng())?.ext, ".png");
  assert.equal(detectImageType(makeJpeg())?.ext, ".jpg");
  assert.equal(detectImageType(GIF)?.ext, ".gif");
  assert.equal(detectImageType(new TextEncoder().encode("GIF87a..."))?.ext, ".gif");
  assert.equal(detectImageType(webpHeader())?.ext, ".webp");
  assert.equal(detectImageType(webpHeader())?.mime, "image/webp");
  assert.equal(detectImageType(new TextEncoder().encode("hello, not an image")), null);
  assert.equal(detectImageType(new TextEncoder().encode("RIFF\0\0\0\0WAVEfmt ")), null);
  assert.equal(detectImageType(new Uint8Array([0xff, 0xd8])), null);
  assert.equal(detectImageType(new Uint8Array()), null);
  assert.equal(detectImageType(new TextEncoder().encode("<svg xmlns=...></svg>")), null);
});

Deno.test("imagePathInside accepts only paths strictly inside the directory", () => {
  const dir = "/data/images";
  assert.equal(imagePathInside("a.png", dir), "/data/images/a.png");
  assert.equal(imagePathInside("./x/../a.png", dir), "/data/images/a.png");
  assert.equal(imagePathInside("/data/images/sub/a.png", dir), "/data/images/sub/a.png");
  assert.equal(imagePathInside("a.png", "/data/images/"), "/data/images/a.png");
  for (
    const bad of [
      "../a.png",
      "/data/images",
      "/data/images/",
      "/data/images/..",
      "/data/imagesX/a.png",
      "/etc/passwd",
      "sub/../../a.png",
      "a\0.png",
      "",
      "  ",
    ]
  ) {
    assert.equal(imagePathInside(bad, dir), null, JSON.stringify(bad));
  }
});

Deno.test("deleteImage removes files inside only, never through a symlinked directory", async () => {
  await using dirTmp = await tempDir();
  const dir = dirTmp.path;
  await using outsideTmp = await tempDir();
  const outside = outsideTmp.path;
  const inside = join(dir, "a.png");
  await Deno.writeFile(inside, new Uint8Array([1]));
  assert.equal(await deleteImage("a.png", dir), "deleted");
  await assert.rejects(Deno.stat(inside), Deno.errors.NotFound);
  assert.equal(await deleteImage("a.png", dir), "missing");
  assert.equal(await deleteImage("nodir/a.png", dir), "missing");

  const victim = join(outside, "victim.png");
  await Deno.writeFile(victim, new Uint8Array([2]));
  assert.equal(await deleteImage(victim, dir), "outside");
  assert.equal(await deleteImage("../" + victim.split("/").slice(-2).join("/"), dir), "outside");
  await Deno.symlink(outside, join(dir, "link"));
  assert.equal(await deleteImage("link/victim.png", dir), "outside");
  assert.ok((await Deno.stat(victim)).isFile);

  // A symlink file inside is unlinked; its target stays.
  await Deno.symlink(victim, join(dir, "alias.png"));
  assert.equal(await deleteImage("alias.png", dir), "deleted");
  assert.ok((await Deno.stat(victim)).isFile);

  await Deno.mkdir(join(dir, "sub"));
  assert.equal(await deleteImage("sub", dir), "not_a_file");
  assert.ok((await Deno.stat(join(dir, "sub"))).isDirectory);
});

// ---- POST /memories/{id}/image ----

async function coreWithMemory(env: Record<string, string> = {}): Promise<
  { core: TestCore; id: string }
> {
  const core = await makeCore({ env });
  await createUser(core.app, OWNER);
  const res = await call(core.app, "POST", "/memories", {
    owner_user_id: OWNER,
    media_type: "image",
    media_file_id: "tg-file",
  });
  assert.equal(res.status, 201);
  return { core, id: res.body.id };
}

async function upload(
  core: TestCore,
  id: string,
  form: FormData,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; body: any }> {
  const res = await core.app.request(`/memories/${id}/image`, { method: "POST", body: form });
  return { status: res.status, body: await res.json() };
}

function fileForm(bytes: Uint8Array, name = "upload.bin", type = "application/octet-stream") {
  const form = new FormData();
  form.append("file", new File([bytes as BlobPart], name, { type }));
  return form;
}

function imageFiles(core: TestCore): string[] {
  return [...Deno.readDirSync(core.imageDir)].map((e) => e.name).sort();
}

Deno.test("POST /memories/{id}/image saves a PNG as <uuid>.png and sets media_local_path", async () => {
  const { core, id } = await coreWithMemory();
  await using _core = core;
  const png = await makePng(3, 2);
  // The client's name and type are ignored; the bytes decide.
  const res = await upload(core, id, fileForm(png, "photo.jpeg", "image/jpeg"));
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(Object.keys(res.body), ["local_path"]);
  const path: string = res.body.local_path;
  assert.ok(path.startsWith(`${core.imageDir}/`));
  assert.match(path.slice(core.imageDir.length + 1), /^[0-9a-f-]{36}\.png$/);
  assert.deepEqual(await Deno.readFile(path), png);
  const memory = await call(core.app, "GET", `/memories/${id}`);
  assert.equal(memory.body.media_local_path, path);
  assert.equal(memory.body.status, "pending");
  const audit = core.db.prepare(
    "SELECT action, detail FROM audit_log WHERE entity_id = ? ORDER BY id DESC LIMIT 1",
  ).get(id) as { action: string; detail: string };
  assert.equal(audit.action, "updated");
  assert.equal(JSON.parse(audit.detail).media_local_path, path);
});

Deno.test("POST /memories/{id}/image replaces the previous file with the new one", async () => {
  const { core, id } = await coreWithMemory();
  await using _core = core;
  const first = await upload(core, id, fileForm(await makePng()));
  assert.equal(first.status, 200);
  const jpeg = makeJpeg();
  const second = await upload(core, id, fileForm(jpeg, "a.png", "image/png"));
  assert.equal(second.status, 200);
  assert.match(second.body.local_path, /\.jpg$/);
  assert.deepEqual(await Deno.readFile(second.body.local_path), jpeg);
  await assert.rejects(Deno.stat(first.body.local_path), Deno.errors.NotFound);
  assert.deepEqual(imageFiles(core), [second.body.local_path.split("/").at(-1)]);
  const gif = await upload(core, id, fileForm(GIF));
  assert.match(gif.body.local_path, /\.gif$/);
  const webp = await upload(core, id, fileForm(webpHeader()));
  assert.match(webp.body.local_path, /\.webp$/);
  assert.equal(imageFiles(core).length, 1);
});

Deno.test("POST /memories/{id}/image refuses a text file with 415 and writes nothing", async () => {
  const { core, id } = await coreWithMemory();
  await using _core = core;
  const text = new TextEncoder().encode("just some notes, not a picture\n");
  const res = await upload(core, id, fileForm(text, "notes.png", "image/png"));
  assert.equal(res.status, 415);
  assert.match(res.body.detail, /JPEG, PNG, GIF or WebP/);
  assert.deepEqual(imageFiles(core), []);
  const memory = await call(core.app, "GET", `/memories/${id}`);
  assert.equal(memory.body.media_local_path, null);
});

Deno.test("POST /memories/{id}/image answers 413 past MAX_UPLOAD_BYTES", async () => {
  const { core, id } = await coreWithMemory({ MAX_UPLOAD_BYTES: "2000" });
  await using _core = core;
  const small = await upload(core, id, fileForm(await makePng()));
  assert.equal(small.status, 200);
  // Over the limit but within the app's multipart slack: refused by the route.
  const big = await upload(core, id, fileForm(await makePng(1, 1, 3000)));
  assert.equal(big.status, 413);
  assert.match(big.body.detail, /larger than 2000 bytes/);
  // Far over: refused by the app's body limit before it is read.
  const huge = await upload(core, id, fileForm(await makePng(1, 1, 200_000)));
  assert.equal(huge.status, 413);
  assert.deepEqual(imageFiles(core), [small.body.local_path.split("/").at(-1)]);
});

Deno.test(
  "POST /memories/{id}/image answers 422 without a file and 404 for unknown memories",
  async () => {
    const { core, id } = await coreWithMemory();
    await using _core = core;
    const empty = new FormData();
    empty.append("other", "x");
    const missing = await upload(core, id, empty);
    assert.equal(missing.status, 422);
    assert.deepEqual(missing.body.detail[0].loc, ["body", "file"]);

    const notFile = new FormData();
    notFile.append("file", "plain text field");
    const asText = await upload(core, id, notFile);
    assert.equal(asText.status, 422);
    assert.deepEqual(asText.body.detail[0].loc, ["body", "file"]);

    const json = await call(core.app, "POST", `/memories/${id}/image`, { file: "x" });
    assert.equal(json.status, 422);

    const broken = await core.app.request(`/memories/${id}/image`, {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=XYZ" },
      body: '--XYZ\r\nContent-Disposition: form-data; name="file"\r\n\r\nno end',
    });
    assert.equal(broken.status, 422);
    assert.ok(Array.isArray((await broken.json()).detail));

    const unknown = await upload(core, crypto.randomUUID(), fileForm(await makePng()));
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { detail: "Memory not found" });
    const malformedId = await upload(core, "nope", fileForm(await makePng()));
    assert.equal(malformedId.status, 404);
    assert.deepEqual(imageFiles(core), []);
  },
);

Deno.test("an uploaded image is deleted with its memory", async () => {
  const { core, id } = await coreWithMemory();
  await using _core = core;
  const res = await upload(core, id, fileForm(await makePng()));
  assert.equal(res.status, 200);
  assert.equal((await call(core.app, "DELETE", `/memories/${id}`)).status, 204);
  await assert.rejects(Deno.stat(res.body.local_path), Deno.errors.NotFound);
  assert.deepEqual(imageFiles(core), []);
});

Deno.test("image paths naming a hard link or a symlink out of the directory are refused", async () => {
  await using core = await makeCore();
  await using outsideDirTmp = await tempDir("memori_outside_");
  const outsideDir = outsideDirTmp.path;
  await createUser(core.app, OWNER, "Owner");
  const secret = join(outsideDir, "secret.png");
  await Deno.writeFile(secret, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  await Deno.link(secret, join(core.imageDir, "hard.png"));
  await Deno.symlink(secret, join(core.imageDir, "soft.png"));
  for (const [name, reason] of [["hard.png", /2 hard links/], ["soft.png", /symlink/]] as const) {
    const job = await call(core.app, "POST", "/llm_jobs", {
      job_type: "image_tag",
      payload: { memory_id: "m", image_path: name },
    });
    assert.equal(job.status, 422, `${name}: ${JSON.stringify(job.body)}`);
    assert.deepEqual(job.body.detail[0].loc, ["body", "payload", "image_path"]);
    assert.match(job.body.detail[0].msg, reason);
    const memory = await call(core.app, "POST", "/memories", {
      owner_user_id: OWNER,
      media_type: "image",
    });
    const patched = await call(core.app, "PATCH", `/memories/${memory.body.id}`, {
      media_local_path: name,
    });
    assert.equal(patched.status, 422, name);
    assert.match(patched.body.detail[0].msg, reason);
  }
  assert.equal(await core.redis.xlen("llm:image_tag"), 0);
});

// ---- uploads under load: streamed to disk, bounded in number ----

/** A multipart upload whose body the test feeds by hand, as a slow client would send it. */
function slowUpload(core: TestCore, id: string) {
  const boundary = "slow-boundary-1234";
  let feed!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (feed = c) });
  const enc = new TextEncoder();
  feed.enqueue(enc.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n` +
      "Content-Type: image/png\r\n\r\n",
  ));
  const answer = core.app.request(`/memories/${id}/image`, {
    method: "POST",
    headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    body,
    duplex: "half",
  } as RequestInit);
  return {
    answer,
    send: (bytes: Uint8Array) => feed.enqueue(bytes),
    finish() {
      feed.enqueue(enc.encode(`\r\n--${boundary}--\r\n`));
      feed.close();
    },
  };
}

async function partFileSize(core: TestCore, timeoutMs = 3000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const name of imageFiles(core)) {
      if (name.endsWith(".part")) {
        const size = (await Deno.stat(join(core.imageDir, name))).size;
        if (size > 0) return size;
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return 0;
}

Deno.test("an upload is written to disk as it arrives, not held in memory until it ends", async () => {
  const { core, id } = await coreWithMemory();
  await using _core = core;
  const png = await makePng(1, 1, 300_000);
  const up = slowUpload(core, id);
  up.send(png.subarray(0, 200_000));
  // The client has not finished; the bytes it sent are already in the file.
  assert.ok(await partFileSize(core) > 100_000, "nothing reached the disk before the end");
  up.send(png.subarray(200_000));
  up.finish();
  const res = await up.answer;
  assert.equal(res.status, 200);
  const { local_path } = await res.json();
  assert.deepEqual(await Deno.readFile(local_path), png);
  assert.deepEqual(imageFiles(core), [local_path.split("/").at(-1)]);
});

Deno.test("uploads past MAX_CONCURRENT_UPLOADS answer 503 with Retry-After", async () => {
  const { core, id } = await coreWithMemory({ MAX_CONCURRENT_UPLOADS: "1" });
  await using _core = core;
  const png = await makePng(1, 1, 5000);
  const first = slowUpload(core, id);
  first.send(png.subarray(0, 3000));
  assert.ok(await partFileSize(core) > 0);
  const busy = await core.app.request(`/memories/${id}/image`, {
    method: "POST",
    body: fileForm(png),
  });
  assert.equal(busy.status, 503);
  assert.equal(busy.headers.get("retry-after"), "1");
  assert.match((await busy.json()).detail, /too many uploads/);
  first.send(png.subarray(3000));
  first.finish();
  assert.equal((await first.answer).status, 200);
  // The slot is free again.
  assert.equal((await upload(core, id, fileForm(png))).status, 200);
});

Deno.test("a streamed upload past MAX_UPLOAD_BYTES stops at 413 and leaves no file", async () => {
  const { core, id } = await coreWithMemory({ MAX_UPLOAD_BYTES: "50000" });
  await using _core = core;
  const png = await makePng(1, 1, 200_000);
  const up = slowUpload(core, id);
  for (let at = 0; at < png.length; at += 16_384) up.send(png.subarray(at, at + 16_384));
  up.finish();
  const res = await up.answer;
  assert.equal(res.status, 413);
  assert.match((await res.json()).detail, /larger than 50000 bytes/);
  assert.deepEqual(imageFiles(core), []);
});
