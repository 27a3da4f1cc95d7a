/**
 * The one stream `deno task dev` writes: every service's log lines, its own messages and the
 * banner. On a terminal each line is pretty-printed behind its service's name; otherwise (or with
 * LOG_FORMAT=json) the services' JSON lines pass through unchanged and the runner's own lines are
 * JSON too, so the output stays machine-readable.
 */
import { createLogger, type LogFormat, type Logger, prettyLogLine } from "../../shared/log.ts";
import { bannerFields, type BannerInfo, bannerText } from "./banner.ts";

/** Where the runner's output goes. */
export interface DevOutput {
  /** `json` or `pretty`. */
  readonly format: LogFormat;
  /** The runner's own logger (service `dev`). */
  readonly log: Logger;
  /** A line a child wrote. */
  childLine(name: string, line: string): void;
  /** The banner, once everything answers. */
  banner(info: BannerInfo): void;
}

const NAME_WIDTH = 7;

/**
 * The format for `LOG_FORMAT` (`json` or `pretty`; unset: pretty only when stdout is a
 * terminal). Throws on another value.
 */
export function logFormat(value: string | undefined, isTerminal: boolean): LogFormat {
  if (value === undefined || value === "") return isTerminal ? "pretty" : "json";
  if (value === "json" || value === "pretty") return value;
  throw new Error(`LOG_FORMAT=${JSON.stringify(value)}: must be json or pretty`);
}

/** Output in `format`, written with `write` (stdout by default). */
export function devOutput(
  format: LogFormat,
  write: (text: string) => void = (text) => console.log(text),
): DevOutput {
  const prefixed = (name: string, text: string) =>
    write(`${name.padEnd(NAME_WIDTH)}| ${prettyLogLine(text)}`);
  const log = createLogger("dev", {
    sink: (line) => format === "json" ? write(line) : prefixed("dev", line),
  });
  return {
    format,
    log,
    childLine(name, line) {
      if (line.trim() === "") return;
      if (format === "pretty") prefixed(name, line);
      else if (line.startsWith("{")) write(line);
      // A line that is not JSON (redis-server's own, a Deno error) is wrapped, not mixed in raw.
      else write(JSON.stringify({ time: new Date().toISOString(), service: name, message: line }));
    },
    banner(info) {
      if (format === "pretty") write(bannerText(info));
      else log.info("memori is running", bannerFields(info));
      if (!info.llmAnswers && format === "json") {
        log.warn("the LLM server does not answer: jobs will wait until it does", {
          llm_base_url: info.llm,
        });
      }
    },
  };
}
