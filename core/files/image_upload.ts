/**
 * Receiving an image upload: the multipart `file` part goes straight from the request stream to
 * a hidden temporary file in the image directory, counted as it comes (over the limit: 413 and
 * the rest is not read), typed from its first bytes, and renamed to `<uuid><ext>` when whole.
 * Only a chunk at a time is in memory, whatever the file's size.
 */
import { posix } from "node:path";
import { ApiError } from "../http/errors.ts";
import { MultipartError, streamFilePart } from "../http/multipart.ts";
import {
  acceptedTypesText,
  detectImageType,
  IMAGE_HEAD_BYTES,
  imageRoot,
  type ImageType,
} from "../../shared/images.ts";

/** A saved upload. */
export interface ReceivedImage {
  /** Absolute path of the saved file. */
  path: string;
  /** Its detected type. */
  type: ImageType;
  /** Its size in bytes. */
  size: number;
}

/** Options of {@linkcode receiveImage}. */
export interface ReceiveImageOptions {
  /** IMAGE_STORAGE_PATH. */
  imageDir: string;
  /** MAX_UPLOAD_BYTES. */
  maxBytes: number;
}

/** Bytes a multipart body may have beyond its file (boundaries, part headers, other fields). */
export const MULTIPART_SLACK_BYTES = 64 * 1024;

function fileIssue(msg: string, type: string): ApiError {
  return new ApiError(422, [{ loc: ["body", "file"], msg, type }]);
}

/**
 * Save the `file` part of `body` (multipart with `boundary`) in the image directory. Throws
 * {@linkcode ApiError}: 413 past `maxBytes`, 415 for a non-image, 422 for a malformed body or no
 * file; nothing is left on disk then.
 */
export async function receiveImage(
  body: ReadableStream<Uint8Array>,
  boundary: string,
  options: ReceiveImageOptions,
): Promise<ReceivedImage> {
  const root = imageRoot(options.imageDir);
  await Deno.mkdir(root, { recursive: true });
  const id = crypto.randomUUID();
  const temp = posix.join(root, `.${id}.part`);
  let file: Deno.FsFile | null = null;
  let size = 0;
  const head = new Uint8Array(IMAGE_HEAD_BYTES);
  try {
    const outcome = await streamFilePart(body, boundary, {
      field: "file",
      async onChunk(chunk) {
        size += chunk.length;
        if (size > options.maxBytes) {
          throw new ApiError(413, `file is larger than ${options.maxBytes} bytes`);
        }
        if (size - chunk.length < IMAGE_HEAD_BYTES) {
          head.set(
            chunk.subarray(0, IMAGE_HEAD_BYTES - (size - chunk.length)),
            size - chunk.length,
          );
        }
        file ??= await Deno.open(temp, { write: true, createNew: true, mode: 0o640 });
        for (let written = 0; written < chunk.length;) {
          written += await file.write(chunk.subarray(written));
        }
      },
    });
    if (outcome === "missing") throw fileIssue("Field required", "missing");
    if (outcome === "not_a_file") throw fileIssue("Input not instance of File", "invalid_type");
    const type = detectImageType(head.subarray(0, Math.min(size, IMAGE_HEAD_BYTES)));
    if (type === null) {
      throw new ApiError(
        415,
        `file is not a supported image; accepted types are ${acceptedTypesText()}`,
      );
    }
    file ??= await Deno.open(temp, { write: true, createNew: true, mode: 0o640 });
    await file.syncData();
    file.close();
    file = null;
    const path = posix.join(root, `${id}${type.ext}`);
    await Deno.rename(temp, path);
    return { path, type, size };
  } catch (err) {
    (file as Deno.FsFile | null)?.close();
    await Deno.remove(temp).catch(() => {});
    if (err instanceof MultipartError) {
      throw new ApiError(422, [{
        loc: ["body"],
        msg: `malformed multipart/form-data body: ${err.message}`,
        type: "multipart_invalid",
      }]);
    }
    throw err;
  }
}
