/**
 * A streaming reader of multipart/form-data bodies that hands one file part to a sink chunk by
 * chunk. Hono's `parseBody()` (like `Request.formData()`) holds the whole body in memory several
 * times over: ~64 MB per 10 MiB upload. Here only the current chunk and a boundary's length of
 * look-behind are held; other parts are skipped, and their size is bounded.
 */

/** The body is not well-formed multipart/form-data. */
export class MultipartError extends Error {
  /** Build from a message for the client. */
  constructor(message: string) {
    super(message);
    this.name = "MultipartError";
  }
}

/** Options of {@linkcode streamFilePart}. */
export interface FilePartOptions {
  /** The form field whose file is streamed. */
  field: string;
  /** Called with each piece of that file's content, in order (a view: copy it to keep it). */
  onChunk(chunk: Uint8Array): Promise<void>;
  /** Most bytes of headers per part (default 16 KiB). */
  maxHeaderBytes?: number;
  /** Most bytes of all other parts and the preamble together (default 64 KiB). */
  maxOtherBytes?: number;
}

/** What the body held under the field: a file (streamed), a plain value, or nothing. */
export type FilePartOutcome = "file" | "not_a_file" | "missing";

/** The boundary of a `multipart/form-data; boundary=...` content type, or null. */
export function multipartBoundary(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : null;
}

const CRLF = new Uint8Array([13, 10]);
const HEADER_END = new Uint8Array([13, 10, 13, 10]);
const ascii = (s: string) => new TextEncoder().encode(s);

/** `needle` in `hay` at or after `from`, or -1. */
function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  const last = hay.length - needle.length;
  for (
    let i = hay.indexOf(needle[0], from);
    i !== -1 && i <= last;
    i = hay.indexOf(needle[0], i + 1)
  ) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/** Buffered reads over a byte stream. */
class Bytes {
  buf: Uint8Array = new Uint8Array(0);
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #done = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Append the next chunk; false at the end of the stream. */
  async more(): Promise<boolean> {
    if (this.#done) return false;
    const { done, value } = await this.#reader.read();
    if (done) {
      this.#done = true;
      return false;
    }
    const joined = new Uint8Array(this.buf.length + value.length);
    joined.set(this.buf);
    joined.set(value, this.buf.length);
    this.buf = joined;
    return true;
  }

  /** Wait until `needle` is buffered and return its index; `limit` bounds the bytes before it. */
  async find(needle: Uint8Array, limit: number, what: string): Promise<number> {
    for (;;) {
      const i = indexOf(this.buf, needle);
      if (i !== -1 && i <= limit) return i;
      if (this.buf.length > limit + needle.length) throw new MultipartError(`${what} is too long`);
      if (!(await this.more())) throw new MultipartError(`body ended inside the ${what}`);
    }
  }

  /** Stop reading (the rest of the body is not wanted). */
  async cancel(): Promise<void> {
    if (!this.#done) await this.#reader.cancel().catch(() => {});
  }
}

function partName(headers: string): { name: string | null; isFile: boolean } {
  const disposition = headers.split("\r\n")
    .find((h) => /^content-disposition\s*:/i.test(h)) ?? "";
  const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1] ?? null;
  return { name, isFile: /;\s*filename\*?=/i.test(disposition) };
}

/**
 * Read `body` (multipart/form-data with `boundary`), streaming the content of the first file
 * part named `options.field` to `options.onChunk`. Throws {@linkcode MultipartError} on a
 * malformed or oversized body, and whatever `onChunk` throws (the rest is then not read).
 */
export async function streamFilePart(
  body: ReadableStream<Uint8Array>,
  boundary: string,
  options: FilePartOptions,
): Promise<FilePartOutcome> {
  const maxHeader = options.maxHeaderBytes ?? 16 * 1024;
  let otherBudget = options.maxOtherBytes ?? 64 * 1024;
  const spendOther = (n: number) => {
    otherBudget -= n;
    if (otherBudget < 0) throw new MultipartError("parts other than the file are too large");
  };
  const delimiter = ascii(`\r\n--${boundary}`);
  const bytes = new Bytes(body);
  let outcome: FilePartOutcome = "missing";
  try {
    // The preamble, then the first boundary (the body may start with it, without a CRLF).
    bytes.buf = new Uint8Array([...CRLF]);
    await bytes.more();
    const first = await bytes.find(delimiter, otherBudget, "preamble");
    spendOther(first);
    bytes.buf = bytes.buf.subarray(first + delimiter.length);
    for (;;) {
      while (bytes.buf.length < 2) {
        if (!(await bytes.more())) throw new MultipartError("body ended after a boundary");
      }
      if (bytes.buf[0] === 45 && bytes.buf[1] === 45) return outcome; // "--": the last one
      if (bytes.buf[0] !== CRLF[0] || bytes.buf[1] !== CRLF[1]) {
        throw new MultipartError("a boundary is not followed by a line break");
      }
      bytes.buf = bytes.buf.subarray(2);
      const headerEnd = await bytes.find(HEADER_END, maxHeader, "part header");
      const { name, isFile } = partName(new TextDecoder().decode(bytes.buf.subarray(0, headerEnd)));
      bytes.buf = bytes.buf.subarray(headerEnd + HEADER_END.length);
      const wanted = name === options.field && isFile && outcome !== "file";
      if (name === options.field && outcome === "missing") outcome = isFile ? "file" : "not_a_file";
      const emit = async (piece: Uint8Array) => {
        if (piece.length === 0) return;
        if (wanted) await options.onChunk(piece);
        else spendOther(piece.length);
      };
      // The part's content, passed on as it arrives; a delimiter's length stays buffered, since
      // it may be the start of the delimiter split across two reads.
      for (;;) {
        const i = indexOf(bytes.buf, delimiter);
        if (i !== -1) {
          await emit(bytes.buf.subarray(0, i));
          bytes.buf = bytes.buf.subarray(i + delimiter.length);
          break;
        }
        const keep = delimiter.length - 1;
        if (bytes.buf.length > keep) {
          await emit(bytes.buf.subarray(0, bytes.buf.length - keep));
          bytes.buf = bytes.buf.subarray(bytes.buf.length - keep);
        }
        if (!(await bytes.more())) throw new MultipartError("body ended before its last boundary");
      }
    }
  } finally {
    await bytes.cancel();
  }
}
