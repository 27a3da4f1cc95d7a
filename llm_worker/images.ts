/**
 * Reading job images safely: an `image_path` is absolute inside IMAGE_STORAGE_PATH or relative to
 * it, its real path (after symlinks) must stay inside the real directory, and the file must have
 * one link (no hard link to a file elsewhere), or it is never read.
 */
import { isAbsolute, join, normalize } from "node:path";
import { Buffer } from "node:buffer";
import { PermanentError } from "./errors.ts";

/** The image types vision models accept, detected from magic bytes. */
export type ImageMime = "image/jpeg" | "image/png" | "image/gif" | "image/webp" | "image/bmp";

/** Largest image sent to the model; bigger files fail the job rather than the model call. */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

/** An image ready to send. */
export interface LoadedImage {
  /** The real path that was read. */
  path: string;
  /** Detected MIME type. */
  mime: ImageMime;
  /** File size in bytes. */
  size: number;
  /** `data:<mime>;base64,...` */
  dataUrl: string;
}

/** MIME type from the first bytes of a file, or null when it is not an image we know. */
export function detectImageMime(bytes: Uint8Array): ImageMime | null {
  const b = bytes;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (
    b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 &&
    b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a
  ) return "image/png";
  if (b.length >= 6 && ascii(b, 0, 4) === "GIF8" && (b[4] === 0x37 || b[4] === 0x39)) {
    return "image/gif";
  }
  if (b.length >= 12 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP") {
    return "image/webp";
  }
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return "image/bmp";
  return null;
}

function ascii(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, to));
}

function within(dir: string, path: string): boolean {
  const base = dir.endsWith("/") && dir.length > 1 ? dir.slice(0, -1) : dir;
  return path === base || path.startsWith(base === "/" ? "/" : `${base}/`);
}

/**
 * The real path of `imagePath` if it lies inside `storageDir`; throws {@linkcode PermanentError}
 * (`image_path_refused` or `image_missing`) otherwise. Nothing outside the directory is touched:
 * the lexical check comes first, and the real-path check catches symlinks that lead out.
 */
export async function resolveImagePath(storageDir: string, imagePath: string): Promise<string> {
  const refused = (why: string) =>
    new PermanentError(
      "image_path_refused",
      `image_path ${JSON.stringify(imagePath)} is outside IMAGE_STORAGE_PATH (${why}); not read`,
      { userMessage: "the image file is not in the image store" },
    );
  if (imagePath.includes("\0")) throw refused("contains a NUL byte");
  const base = normalize(storageDir);
  const candidate = isAbsolute(imagePath) ? normalize(imagePath) : join(base, imagePath);
  if (!within(base, candidate)) throw refused("path leaves the directory");
  let realBase: string;
  try {
    realBase = await Deno.realPath(base);
  } catch (err) {
    throw new PermanentError(
      "image_missing",
      `IMAGE_STORAGE_PATH ${JSON.stringify(storageDir)} cannot be resolved: ${
        (err as Error).message
      }`,
      { userMessage: "the image store is not available", cause: err },
    );
  }
  let real: string;
  try {
    real = await Deno.realPath(candidate);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new PermanentError(
        "image_missing",
        `image file ${JSON.stringify(imagePath)} does not exist`,
        { userMessage: "the image file no longer exists", cause: err },
      );
    }
    // Permission errors mean the real path left what the worker may read.
    throw refused((err as Error).name);
  }
  if (!within(realBase, real)) throw refused("a symlink leads out of the directory");
  // A hard link made inside the directory to a file elsewhere passes every path check above.
  // (Directories always have several links; loadImage refuses them as not a file.)
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(real);
  } catch (err) {
    throw refused((err as Error).name);
  }
  const links = info.nlink;
  if (info.isFile && links !== null && links > 1) {
    throw new PermanentError(
      "image_path_refused",
      `image_path ${JSON.stringify(imagePath)} has ${links} hard links, so its content may be ` +
        "a file from outside IMAGE_STORAGE_PATH; not read",
      { userMessage: "the image file is not in the image store" },
    );
  }
  return real;
}

/** Resolve, check and read an image, returning it as a data URL with its detected MIME type. */
export async function loadImage(storageDir: string, imagePath: string): Promise<LoadedImage> {
  const real = await resolveImagePath(storageDir, imagePath);
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(real);
    if (!info.isFile) {
      throw new PermanentError("image_unreadable", `image_path ${imagePath} is not a file`);
    }
    if (info.size > MAX_IMAGE_BYTES) {
      throw new PermanentError(
        "image_unreadable",
        `image file is ${info.size} bytes, over the ${MAX_IMAGE_BYTES} byte limit`,
        { userMessage: "the image is too large" },
      );
    }
    bytes = await Deno.readFile(real);
  } catch (err) {
    if (err instanceof PermanentError) throw err;
    if (err instanceof Deno.errors.NotFound) {
      throw new PermanentError("image_missing", `image file ${imagePath} does not exist`, {
        userMessage: "the image file no longer exists",
        cause: err,
      });
    }
    throw new PermanentError(
      "image_unreadable",
      `image file ${imagePath} cannot be read: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const mime = detectImageMime(bytes);
  if (!mime) {
    throw new PermanentError(
      "image_unreadable",
      `image file ${imagePath} is not a JPEG, PNG, GIF, WebP or BMP image`,
      { userMessage: "the file is not an image I can read" },
    );
  }
  const dataUrl = `data:${mime};base64,${Buffer.from(bytes).toString("base64")}`;
  return { path: real, mime, size: bytes.length, dataUrl };
}
