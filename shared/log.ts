/**
 * Structured logging: one JSON object per line on stderr, with time, level, service and message.
 * Callers pass fields such as `job_id`; secrets never go in (the config is not logged whole).
 */
import { setImmediate } from "node:timers";

/** Severity levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Extra structured fields on a log line. */
export type LogFields = Record<string, unknown>;

/** A small structured logger. */
export interface Logger {
  /** Verbose detail for debugging. */
  debug(message: string, fields?: LogFields): void;
  /** Normal operation. */
  info(message: string, fields?: LogFields): void;
  /** Something went wrong but was handled. */
  warn(message: string, fields?: LogFields): void;
  /** Something failed. */
  error(message: string, fields?: LogFields): void;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. */
  level?: LogLevel;
  /** Where lines go; stderr by default. */
  sink?: (line: string) => void;
  /**
   * Fields of the surrounding work added to every line (e.g. the worker's current job id), so
   * code that only has the service's logger still says which job a line is about. Fields passed
   * to the call win over these.
   */
  context?: () => LogFields | undefined;
}

/** A logger that tags every line with `service`. */
export function createLogger(service: string, options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? "info"];
  const sink = options.sink ?? stderrSink;
  function write(level: LogLevel, message: string, fields?: LogFields): void {
    if (ORDER[level] < min) return;
    const line: LogFields = { time: isoNow(), level, service, message };
    const context = options.context?.();
    if (context) addFields(line, context);
    if (fields) addFields(line, fields);
    line.message = clip(message);
    sink(safeJson(line));
  }
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
  };
}

function addFields(line: LogFields, extra: LogFields): void {
  for (const k of Object.keys(extra)) {
    const v = extra[k];
    line[k] = clip(v instanceof Error ? v.message : v);
  }
}

let lastMs = NaN;
let lastIso = "";

// The time of a line, formatted once per millisecond: under load the access log writes several
// lines a millisecond, and formatting a date each time was a visible part of a line's cost.
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** Most bytes of log lines held before they are written even within the same turn. */
const MAX_BUFFERED_CHARS = 64 * 1024;

let buffered: string[] = [];
let bufferedChars = 0;
let flushScheduled = false;
const encoder = new TextEncoder();

/**
 * The default sink: lines written to stderr once per turn of the event loop, in one write,
 * instead of one synchronous console write each (the access log line was ~20% of a
 * GET /memories/{id}). Lines are still written in order, before the process waits for I/O again,
 * and {@linkcode flushLogs} writes what is left (the services call it before they exit).
 */
function stderrSink(line: string): void {
  if (!exitHooked) hookExit();
  buffered.push(line);
  bufferedChars += line.length + 1;
  if (bufferedChars >= MAX_BUFFERED_CHARS) return flushLogs();
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flushLogs);
}

let exitHooked = false;

// Deno.exit() and a crash skip the pending flush; these events come first in both cases (the
// listeners only write, they do not handle the error).
function hookExit(): void {
  exitHooked = true;
  for (const event of ["unload", "error", "unhandledrejection"]) {
    globalThis.addEventListener(event, flushLogs);
  }
}

/** Write the log lines not yet written (see the default sink). */
export function flushLogs(): void {
  flushScheduled = false;
  if (buffered.length === 0) return;
  const text = buffered.join("\n") + "\n";
  buffered = [];
  bufferedChars = 0;
  const bytes = encoder.encode(text);
  try {
    let done = 0;
    while (done < bytes.length) done += Deno.stderr.writeSync(bytes.subarray(done));
  } catch {
    // stderr closed (the reader went away): nowhere left to say so.
  }
}

/** Longest string value written in a log line; longer ones are cut with a note of the length. */
export const MAX_LOG_FIELD_CHARS = 2000;

// A hostile input (a 1 MB job id, a huge model answer in an error) must not turn each log line
// into megabytes: strings are cut, and objects are written only when small once serialized.
function clip(value: unknown): unknown {
  if (typeof value === "string") {
    return value.length <= MAX_LOG_FIELD_CHARS
      ? value
      : `${value.slice(0, MAX_LOG_FIELD_CHARS)}... (${value.length} characters)`;
  }
  if (value === null || typeof value !== "object") return value;
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return `(not serializable: ${(err as Error).message})`;
  }
  return json.length <= MAX_LOG_FIELD_CHARS ? value : clip(json);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    return JSON.stringify(`(not serializable: ${(err as Error).message})`);
  }
}

/** A logger that drops everything, for tests that do not read logs. */
export const silentLogger: Logger = createLogger("silent", { sink: () => {} });

/** How log lines are shown: JSON as written, or `pretty` for a person at a terminal. */
export type LogFormat = "json" | "pretty";

/**
 * One line written by {@linkcode createLogger}, for a person: `12:00:01.234 INFO  message k=v`
 * (the date and the service are left to the reader's context). Anything that is not such a line
 * comes back unchanged.
 */
export function prettyLogLine(line: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof parsed !== "object" || parsed === null || !("message" in parsed)) return line;
  const { time, level, service: _, message, ...fields } = parsed as LogFields;
  const clock = typeof time === "string" ? time.slice(11, 23) : "";
  const extras = Object.entries(fields).map(([k, v]) => {
    const text = typeof v === "string" ? v : JSON.stringify(v);
    return `${k}=${/[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text}`;
  });
  const head = `${clock} ${String(level ?? "").toUpperCase().padEnd(5)} ${String(message)}`;
  return extras.length ? `${head} ${extras.join(" ")}` : head;
}
