/**
 * Image files under IMAGE_STORAGE_PATH: type detection by magic bytes (the client's file name
 * and content type are not trusted), atomic saving under a new UUID name, and deletion that
 * never touches anything outside the directory.
 */
import { posix } from "node:path";

/** An image type the core accepts. */
export interface ImageType {
  /** Short name for messages, e.g. `PNG`. */
  name: string;
  /** MIME type. */
  mime: string;
  /** File name extension with the dot, e.g. `.png`. */
  ext: string;
}

/** The image types uploads may have, in the order messages list them. */
export const ACCEPTED_IMAGE_TYPES: readonly ImageType[] = [
  { name: "JPEG", mime: "image/jpeg", ext: ".jpg" },
  { name: "PNG", mime: "image/png", ext: ".png" },
  { name: "GIF", mime: "image/gif", ext: ".gif" },
  { name: "WebP", mime: "image/webp", ext: ".webp" },
];

const [JPEG, PNG, GIF, WEBP] = ACCEPTED_IMAGE_TYPES;

function startsWith(bytes: Uint8Array, prefix: readonly number[], at = 0): boolean {
  if (bytes.length < at + prefix.length) return false;
  return prefix.every((b, i) => bytes[at + i] === b);
}

function ascii(text: string): number[] {
  return [...text].map((ch) => ch.charCodeAt(0));
}

/** The image type of `bytes` from its magic bytes, or null when it is none of the accepted. */
export function detectImageType(bytes: Uint8Array): ImageType | null {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return JPEG;
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return PNG;
  if (startsWith(bytes, ascii("GIF87a")) || startsWith(bytes, ascii("GIF89a"))) return GIF;
  if (startsWith(bytes, ascii("RIFF")) && startsWith(bytes, ascii("WEBP"), 8)) return WEBP;
  return null;
}

/** "JPEG, PNG, GIF or WebP", for error messages. */
export function acceptedTypesText(): string {
  const names = ACCEPTED_IMAGE_TYPES.map((t) => t.name);
  return `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}

/**
 * The image directory as a normalized absolute path without a trailing slash. A relative
 * IMAGE_STORAGE_PATH is taken relative to the working directory.
 */
export function imageRoot(imageDir: string): string {
  const abs = posix.isAbsolute(imageDir) ? posix.normalize(imageDir) : posix.resolve(imageDir);
  return abs.replace(/\/+$/, "") || "/";
}

/**
 * `path` as a normalized absolute path strictly inside `imageDir`, or null when it is not one.
 * Absolute paths must lie inside the directory; relative ones are taken relative to it; `..`
 * may not leave it; NUL bytes are refused. Purely lexical: {@linkcode deleteImage} also checks
 * real paths before removing anything.
 */
export function imagePathInside(path: string, imageDir: string): string | null {
  if (path.includes("\0") || imageDir.includes("\0") || path.trim() === "") return null;
  const root = imageRoot(imageDir);
  const full = posix.isAbsolute(path)
    ? posix.normalize(path)
    : posix.normalize(posix.join(root, path));
  const prefix = root === "/" ? "/" : `${root}/`;
  const trimmed = full.replace(/\/+$/, "");
  if (!trimmed.startsWith(prefix) || trimmed.length <= prefix.length) return null;
  return trimmed;
}

/**
 * Why the existing file at `path` (already {@linkcode imagePathInside} `imageDir`) must not be
 * used as an image, or null when it may (a file that does not exist yet is the worker's to
 * report). Its real path must stay inside the real directory (a symlink can lead out) and it must
 * have one link: a hard link made inside the directory to a file elsewhere passes every path
 * check, and its content would reach the model.
 */
export async function imageFileProblem(path: string, imageDir: string): Promise<string | null> {
  let real: string;
  let realRoot: string;
  try {
    real = await Deno.realPath(path);
    realRoot = await Deno.realPath(imageRoot(imageDir));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  if (!real.startsWith(`${realRoot}/`)) return "its real path (through a symlink) is outside it";
  const info = await Deno.stat(real);
  if (!info.isFile) return "it is not a file";
  if (info.nlink !== null && info.nlink > 1) {
    return `it has ${info.nlink} hard links, so its content may be a file from elsewhere`;
  }
  return null;
}

/** An image to save. */
export interface ImageUpload {
  /** The file's bytes. */
  bytes: Uint8Array;
  /** Its detected type (gives the extension). */
  type: ImageType;
}

/**
 * Save `upload` in `imageDir` as `<new uuid><ext>` and return the absolute path. The bytes go to
 * a hidden temporary name first and are renamed into place once written and synced, so a
 * half-written file never appears under a final name.
 */
export async function saveImage(imageDir: string, upload: ImageUpload): Promise<string> {
  const root = imageRoot(imageDir);
  await Deno.mkdir(root, { recursive: true });
  const id = crypto.randomUUID();
  const temp = posix.join(root, `.${id}.part`);
  const final = posix.join(root, `${id}${upload.type.ext}`);
  try {
    const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o640 });
    try {
      let written = 0;
      while (written < upload.bytes.length) {
        written += await file.write(upload.bytes.subarray(written));
      }
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(temp, final);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  return final;
}

/** What {@linkcode deleteImage} did. */
export type DeleteImageResult = "deleted" | "missing" | "outside" | "not_a_file";

/**
 * Remove the image at `path` if it is inside `imageDir`. A path outside the directory, lexically
 * or through a symlinked parent directory, is never removed (`outside`); a file already gone is
 * fine (`missing`); a directory is left alone (`not_a_file`). Other errors (permissions) are
 * thrown.
 */
export async function deleteImage(path: string, imageDir: string): Promise<DeleteImageResult> {
  const inside = imagePathInside(path, imageDir);
  if (inside === null) return "outside";
  let realRoot: string;
  let realParent: string;
  try {
    realRoot = await Deno.realPath(imageRoot(imageDir));
    realParent = await Deno.realPath(posix.dirname(inside));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "missing";
    throw err;
  }
  if (realParent !== realRoot && !realParent.startsWith(`${realRoot}/`)) return "outside";
  const target = posix.join(realParent, posix.basename(inside));
  try {
    if ((await Deno.lstat(target)).isDirectory) return "not_a_file";
    // The final component is removed as it is: a symlink is unlinked, never followed.
    await Deno.remove(target);
    return "deleted";
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "missing";
    throw err;
  }
}
