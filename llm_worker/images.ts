/**
 * Reading job images safely, by the rule the core applies too (shared/images.ts): the path is
 * inside IMAGE_STORAGE_PATH by name and by real path (no symlink leading out), the file has one
 * link (no hard link to a file elsewhere), and its first bytes say it is an accepted image. The
 * check is made again here, just before reading: the file may have changed since the core
 * accepted the job.
 */
import { Buffer } from "node:buffer";
import {
  acceptedTypesText,
  checkImageFile,
  detectImageType,
  type ImageFileProblem,
  type ImageType,
} from "../shared/images.ts";
import { PermanentError, type PermanentReason } from "./errors.ts";

/** Largest image sent to the model; bigger files fail the job rather than the model call. */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

/** An image ready to send. */
export interface LoadedImage {
  /** The real path that was read. */
  path: string;
  /** Detected MIME type. */
  mime: ImageType["mime"];
  /** File size in bytes. */
  size: number;
  /** `data:<mime>;base64,...` */
  dataUrl: string;
}

const FAILURE: Record<ImageFileProblem, { reason: PermanentReason; user: string }> = {
  outside: { reason: "image_path_refused", user: "the image file is not in the image store" },
  hard_links: { reason: "image_path_refused", user: "the image file is not in the image store" },
  missing: { reason: "image_missing", user: "the image file no longer exists" },
  not_a_file: { reason: "image_unreadable", user: "the file is not an image I can read" },
  unavailable: { reason: "image_missing", user: "the image store is not available" },
};

/**
 * The real path of `imagePath` when it may be read; throws {@linkcode PermanentError}
 * (`image_path_refused`, `image_missing` or `image_unreadable`) otherwise. Nothing outside the
 * directory is touched: the lexical check comes first.
 */
export async function resolveImagePath(storageDir: string, imagePath: string): Promise<string> {
  const check = await checkImageFile(imagePath, storageDir);
  if (check.ok) return check.path;
  const { reason, user } = FAILURE[check.problem];
  throw new PermanentError(
    reason,
    `image_path ${JSON.stringify(imagePath)} is refused: ${check.message}; not read`,
    { userMessage: user },
  );
}

/** Resolve, check and read an image, returning it as a data URL with its detected MIME type. */
export async function loadImage(storageDir: string, imagePath: string): Promise<LoadedImage> {
  const real = await resolveImagePath(storageDir, imagePath);
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(real);
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
  const type = detectImageType(bytes);
  if (!type) {
    throw new PermanentError(
      "image_unreadable",
      `image file ${imagePath} is not a ${acceptedTypesText()} image`,
      { userMessage: "the file is not an image I can read" },
    );
  }
  const dataUrl = `data:${type.mime};base64,${Buffer.from(bytes).toString("base64")}`;
  return { path: real, mime: type.mime, size: bytes.length, dataUrl };
}
