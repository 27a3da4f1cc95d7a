import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { loadImage, resolveImagePath } from "../../llm_worker/images.ts";
import { detectImageType } from "../../shared/images.ts";
import { parsePayload } from "../../shared/job_types.ts";
import { PermanentError } from "../../llm_worker/errors.ts";
import { PNG_BYTES } from "./harness.ts";
import { tempDir } from "../helpers/fixtures.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

function refused(reason: string) {
  return (err: unknown) => {
    assert.ok(err instanceof PermanentError, String(err));
    assert.equal(err.reason, reason, err.message);
    return true;
  };
}

Deno.test("the worker reads the image types the core accepts, and no other (one rule)", () => {
  const mime = (b: Uint8Array) => detectImageType(b)?.mime ?? null;
  assert.equal(mime(PNG_BYTES), "image/png");
  assert.equal(mime(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0])), "image/jpeg");
  assert.equal(mime(new TextEncoder().encode("GIF89a......")), "image/gif");
  assert.equal(mime(new TextEncoder().encode("RIFF\0\0\0\0WEBPVP8 ")), "image/webp");
  // BMP: the core refuses such an upload, and vision APIs do not take it.
  assert.equal(mime(new TextEncoder().encode("BM......")), null);
  assert.equal(mime(new TextEncoder().encode("hello world")), null);
  assert.equal(mime(new Uint8Array()), null);
});

Deno.test("loadImage reads absolute and relative paths inside the directory as a data URL", async () => {
  await using dirTmp = await tempDir();
  const dir = dirTmp.path;
  await Deno.mkdir(join(dir, "sub"));
  await Deno.writeFile(join(dir, "sub", "a.png"), PNG_BYTES);
  const abs = await loadImage(dir, join(dir, "sub", "a.png"));
  assert.equal(abs.mime, "image/png");
  assert.equal(abs.size, PNG_BYTES.length);
  assert.ok(abs.dataUrl.startsWith("data:image/png;base64,iVBORw0KGgo"));
  const rel = await loadImage(dir, "sub/a.png");
  assert.equal(rel.dataUrl, abs.dataUrl);
  // `..` that stays inside is fine.
  const inside = await loadImage(dir, "sub/../sub/a.png");
  assert.equal(inside.dataUrl, abs.dataUrl);
});

Deno.test("image paths leaving the directory are refused: absolute, .., symlinks", async () => {
  await using rootTmp = await tempDir();
  const root = rootTmp.path;
  const dir = join(root, "images");
  const outside = join(root, "secret.png");
  await Deno.mkdir(dir);
  await Deno.writeFile(outside, PNG_BYTES);
  await Deno.symlink(outside, join(dir, "link.png"));
  await Deno.symlink(root, join(dir, "up"));
  await assert.rejects(resolveImagePath(dir, outside), refused("image_path_refused"));
  await assert.rejects(resolveImagePath(dir, "../secret.png"), refused("image_path_refused"));
  await assert.rejects(
    resolveImagePath(dir, `${dir}/../secret.png`),
    refused("image_path_refused"),
  );
  await assert.rejects(resolveImagePath(dir, "link.png"), refused("image_path_refused"));
  await assert.rejects(resolveImagePath(dir, "up/secret.png"), refused("image_path_refused"));
  await assert.rejects(resolveImagePath(dir, "/etc/passwd"), refused("image_path_refused"));
  await assert.rejects(resolveImagePath(dir, "a\0b.png"), refused("image_path_refused"));
  // A sibling directory sharing the prefix is not inside.
  await Deno.mkdir(`${dir}2`);
  await Deno.writeFile(`${dir}2/x.png`, PNG_BYTES);
  await assert.rejects(resolveImagePath(dir, `${dir}2/x.png`), refused("image_path_refused"));
});

Deno.test("a missing file and a non-image fail permanently with clear reasons", async () => {
  await using dirTmp = await tempDir();
  const dir = dirTmp.path;
  await assert.rejects(loadImage(dir, "nope.jpg"), refused("image_missing"));
  await Deno.writeTextFile(join(dir, "notes.txt"), "just text");
  await assert.rejects(loadImage(dir, "notes.txt"), refused("image_unreadable"));
  await Deno.mkdir(join(dir, "folder"));
  await assert.rejects(loadImage(dir, "folder"), refused("image_unreadable"));
});

Deno.test("a hard link in the directory to a file elsewhere is refused, saying so", async () => {
  await using rootTmp = await tempDir();
  const root = rootTmp.path;
  const dir = join(root, "images");
  const outside = join(root, "secret.png");
  await Deno.mkdir(dir);
  await Deno.writeFile(outside, PNG_BYTES);
  await Deno.link(outside, join(dir, "hard.png"));
  await assert.rejects(loadImage(dir, "hard.png"), (err: unknown) => {
    assert.ok(err instanceof PermanentError);
    assert.equal(err.reason, "image_path_refused");
    assert.match(err.message, /2 hard links/);
    return true;
  });
  // Once the other name is gone the file is the directory's own again.
  await Deno.remove(outside);
  assert.equal((await loadImage(dir, "hard.png")).mime, "image/png");
});

Deno.test("core and worker apply one rule, with a relative IMAGE_STORAGE_PATH too", async () => {
  await using dirTmp = await tempDir();
  const dir = dirTmp.path;
  await Deno.writeFile(join(dir, "a.png"), PNG_BYTES);
  // The same directory named relative to the working directory, as a workstation sets it.
  const relDir = relative(Deno.cwd(), dir);
  const ctx = { imageDir: relDir };
  const payload = { memory_id: crypto.randomUUID(), image_path: join(dir, "a.png") };
  // The core accepts the absolute path inside and stores it normalized...
  const accepted = await parsePayload("image_tag", payload, ctx);
  assert.ok(accepted.success, JSON.stringify(accepted));
  assert.equal(accepted.data.image_path, join(dir, "a.png"));
  // ...and the worker reads it.
  assert.equal((await loadImage(relDir, join(dir, "a.png"))).mime, "image/png");
  // The directory itself is no image path for either.
  const dirItself = await parsePayload("image_tag", { ...payload, image_path: dir }, ctx);
  assert.equal(dirItself.success, false);
  await assert.rejects(loadImage(relDir, dir), refused("image_path_refused"));
  await assert.rejects(loadImage(relDir, "."), refused("image_path_refused"));
});
