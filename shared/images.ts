/**
 * The one image rule of both services: which files are images (magic bytes; the client's file
 * name and content type are not trusted), and which paths are inside IMAGE_STORAGE_PATH. The
 * core applies it to uploads and job payloads, the worker again before it reads a file (the
 * file may have changed in between).
 */
import { posix } from "node:path";

/** An image type both services accept. */
export interface ImageType {
  /** Short name for messages, e.g. `PNG`. */
  name: string;
  /** MIME type. */
  mime: "image/jpeg" | "image/png" | "image/gif" | "image/webp";
  /** File name extension with the dot, e.g. `.png`. */
  ext: string;
}

/**
 * The accepted image types, in the order messages list them: what uploads may be and what the
 * worker sends to a vision model (the types OpenAI-compatible servers take).
 */
export const ACCEPTED_IMAGE_TYPES: readonly ImageType[] = [
  { name: "JPEG", mime: "image/jpeg", ext: ".jpg" },
  { name: "PNG", mime: "image/png", ext: ".png" },
  { name: "GIF", mime: "image/gif", ext: ".gif" },
  { name: "WebP", mime: "image/webp", ext: ".webp" },
];

const [JPEG, PNG, GIF, WEBP] = ACCEPTED_IMAGE_TYPES;

/** Bytes {@linkcode detectImageType} needs at most. */
export const IMAGE_HEAD_BYTES = 16;

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

/** "JPEG, PNG, GIF or WebP", for messages. */
export function acceptedTypesText(): string {
  const names = ACCEPTED_IMAGE_TYPES.map((t) => t.name);
  return `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}

/**
 * The image directory as a normalized absolute path without a trailing slash. A relative
 * IMAGE_STORAGE_PATH is taken relative to the working directory (both services alike).
 */
export function imageRoot(imageDir: string): string {
  const abs = posix.isAbsolute(imageDir) ? posix.normalize(imageDir) : posix.resolve(imageDir);
  return abs.replace(/\/+$/, "") || "/";
}

/**
 * `path` as a normalized absolute path strictly inside `imageDir` (never the directory itself),
 * or null when it is not one. Absolute paths must lie inside the directory; relative ones are
 * taken relative to it; `..` may not leave it; NUL bytes are refused. Purely lexical:
 * {@linkcode checkImageFile} also follows the file to its real path.
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

/** Why an image file may not be used. */
export type ImageFileProblem =
  /** Not inside the directory, by name or through a symlink. */
  | "outside"
  /** Nothing there. */
  | "missing"
  /** A directory or other non-file. */
  | "not_a_file"
  /** More than one hard link: its content may be a file from elsewhere. */
  | "hard_links"
  /** The directory itself cannot be resolved, or the file cannot be looked at. */
  | "unavailable";

/** What {@linkcode checkImageFile} found. */
export type ImageFileCheck =
  | { ok: true; path: string; size: number }
  | { ok: false; problem: ImageFileProblem; message: string };

/**
 * Check the file at `path` (absolute, or relative to `imageDir`) before it is used: inside the
 * directory by name, its real path (after symlinks) inside the real directory, a regular file,
 * and one link only (a hard link made inside the directory to a file elsewhere passes every path
 * check, and its content would reach the model). On success, the real path and size.
 */
export async function checkImageFile(path: string, imageDir: string): Promise<ImageFileCheck> {
  const fail = (problem: ImageFileProblem, message: string): ImageFileCheck => ({
    ok: false,
    problem,
    message,
  });
  const inside = imagePathInside(path, imageDir);
  if (inside === null) return fail("outside", "it is outside IMAGE_STORAGE_PATH");
  let realRoot: string;
  try {
    realRoot = await Deno.realPath(imageRoot(imageDir));
  } catch (err) {
    return fail("unavailable", `IMAGE_STORAGE_PATH cannot be resolved: ${(err as Error).name}`);
  }
  let real: string;
  let info: Deno.FileInfo;
  try {
    real = await Deno.realPath(inside);
    info = await Deno.stat(real);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return fail("missing", "the file does not exist");
    // Permission errors mean the real path left what this process may read.
    return fail(
      "outside",
      `its real path is outside IMAGE_STORAGE_PATH or cannot be read (${(err as Error).name})`,
    );
  }
  if (!real.startsWith(realRoot === "/" ? "/" : `${realRoot}/`)) {
    return fail("outside", "its real path (through a symlink) is outside IMAGE_STORAGE_PATH");
  }
  if (!info.isFile) return fail("not_a_file", "it is not a file");
  if (info.nlink !== null && info.nlink > 1) {
    return fail(
      "hard_links",
      `it has ${info.nlink} hard links, so its content may be a file from elsewhere`,
    );
  }
  return { ok: true, path: real, size: info.size };
}
