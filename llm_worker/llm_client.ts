/**
 * The model client, over the `openai` package against any OpenAI-compatible server. Errors come
 * out classified: unreachable, timeouts, 408/429 and 5xx are {@linkcode TransientError}; other 4xx
 * are {@linkcode PermanentError}; unusable answers are {@linkcode BadOutputError}. The SDK's own
 * retries are off (`maxRetries: 0`) so they never stack on the worker's backoff.
 */
import { OpenAI } from "openai";
import type { z } from "zod";
import type { WorkerConfig } from "../shared/config.ts";
import type { Logger } from "../shared/log.ts";
import { silentLogger } from "../shared/log.ts";
import { BadOutputError, PermanentError, ShutdownError, TransientError } from "./errors.ts";
import { parseModelJson } from "./json_output.ts";

/** A prompt: system instructions and the user turn. */
export interface Prompt {
  /** System message. */
  system: string;
  /** User message text. */
  user: string;
}

/** A prompt with an image attached to the user turn. */
export interface VisionPrompt extends Prompt {
  /** `data:<mime>;base64,...` URL of the image. */
  imageDataUrl: string;
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts the request (worker shutdown). */
  signal?: AbortSignal;
}

/** What the handlers use to talk to the model. */
export interface LlmClient {
  /** Plain-text answer of the text model. */
  text(prompt: Prompt, options?: CallOptions): Promise<string>;
  /** JSON answer of the text model, validated with `schema`. */
  json<S extends z.ZodType>(schema: S, prompt: Prompt, options?: CallOptions): Promise<z.output<S>>;
  /** JSON answer of the vision model about an image, validated with `schema`. */
  visionJson<S extends z.ZodType>(
    schema: S,
    prompt: VisionPrompt,
    options?: CallOptions,
  ): Promise<z.output<S>>;
}

/** The settings the client reads (LLM_MAX_ANSWER_CHARS defaults to 65536). */
export type LlmConfig =
  & Pick<
    WorkerConfig,
    "LLM_BASE_URL" | "LLM_API_KEY" | "LLM_TEXT_MODEL" | "LLM_VISION_MODEL" | "LLM_TIMEOUT_SECONDS"
  >
  & Partial<Pick<WorkerConfig, "LLM_MAX_ANSWER_CHARS">>;

/** Options for {@linkcode createLlmClient}. */
export interface LlmClientOptions {
  /** Logger (the API key never reaches it). */
  log?: Logger;
  /** fetch implementation for the SDK; the global one by default. */
  fetch?: typeof fetch;
  /** Sampling temperature; low, since we want parseable, repeatable answers. */
  temperature?: number;
  /** Told about every model request: which model, how long it took, and whether it answered. */
  onCall?: (call: LlmCall) => void;
}

/** One model request, as {@linkcode LlmClientOptions.onCall} hears of it. */
export interface LlmCall {
  /** The model asked. */
  model: string;
  /** Seconds from sending to the answer (or the error). */
  seconds: number;
  /** `ok` when the model answered text (usable or not: that is judged later), else `error`. */
  outcome: "ok" | "error";
}

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;

/** Build the client from the worker settings. */
export function createLlmClient(config: LlmConfig, options: LlmClientOptions = {}): LlmClient {
  const log = options.log ?? silentLogger;
  const sdk = new OpenAI({
    apiKey: config.LLM_API_KEY,
    baseURL: config.LLM_BASE_URL,
    maxRetries: 0,
    timeout: config.LLM_TIMEOUT_SECONDS * 1000,
    fetch: options.fetch,
    // The SDK's debug logging would print request headers, i.e. the API key.
    logLevel: "off",
  });
  const temperature = options.temperature ?? 0.2;
  const maxAnswerChars = config.LLM_MAX_ANSWER_CHARS ?? 65536;
  // Models whose server rejected response_format: ask them without it from then on.
  const noJsonMode = new Set<string>();

  async function complete(
    model: string,
    messages: Message[],
    json: boolean,
    callOptions: CallOptions,
  ): Promise<string> {
    const useJsonMode = json && !noJsonMode.has(model);
    const started = performance.now();
    const observe = (outcome: LlmCall["outcome"]) =>
      options.onCall?.({ model, seconds: (performance.now() - started) / 1000, outcome });
    let content: string | null | undefined;
    try {
      const completion = await sdk.chat.completions.create(
        {
          model,
          messages,
          temperature,
          ...(useJsonMode ? { response_format: { type: "json_object" as const } } : {}),
        },
        { signal: callOptions.signal },
      );
      content = completion.choices?.[0]?.message?.content;
    } catch (err) {
      // Observed before any retry below, so each request is timed on its own.
      observe("error");
      if (useJsonMode && rejectsResponseFormat(err)) {
        noJsonMode.add(model);
        log.warn("model rejected response_format; asking without it from now on", { model });
        return await complete(model, messages, json, callOptions);
      }
      throw classify(err, { model, signal: callOptions.signal });
    }
    if (typeof content !== "string" || content.trim() === "") {
      observe("error");
      throw new BadOutputError("the model returned an empty answer");
    }
    if (content.length > maxAnswerChars) {
      // The server answered, but reading JSON out of a runaway (or hostile) answer is work we
      // bound: it counts as unusable output.
      observe("error");
      throw new BadOutputError(
        `the model's answer is ${content.length} characters long (LLM_MAX_ANSWER_CHARS is ${maxAnswerChars})`,
      );
    }
    observe("ok");
    return content;
  }

  return {
    async text(prompt, callOptions = {}) {
      return await complete(config.LLM_TEXT_MODEL, textMessages(prompt), false, callOptions);
    },
    async json(schema, prompt, callOptions = {}) {
      const out = await complete(config.LLM_TEXT_MODEL, textMessages(prompt), true, callOptions);
      return parseModelJson(schema, out);
    },
    async visionJson(schema, prompt, callOptions = {}) {
      const messages: Message[] = [
        { role: "system", content: prompt.system },
        {
          role: "user",
          content: [
            { type: "text", text: prompt.user },
            { type: "image_url", image_url: { url: prompt.imageDataUrl } },
          ],
        },
      ];
      const out = await complete(config.LLM_VISION_MODEL, messages, true, callOptions);
      return parseModelJson(schema, out);
    },
  };
}

function textMessages(prompt: Prompt): Message[] {
  return [
    { role: "system", content: prompt.system },
    { role: "user", content: prompt.user },
  ];
}

/** True when a 400/422 answer says the server does not support `response_format`. */
export function rejectsResponseFormat(err: unknown): boolean {
  if (!(err instanceof OpenAI.APIError)) return false;
  if (err.status !== 400 && err.status !== 422) return false;
  const text = `${err.message} ${err.param ?? ""} ${JSON.stringify(err.error ?? "")}`;
  return /response_format|json_object|json mode/i.test(text);
}

/** Map an SDK error to the worker's error classes (`model` names it in messages). */
export function classify(
  err: unknown,
  options: { model: string; signal?: AbortSignal },
): Error {
  const { model, signal } = options;
  if (err instanceof BadOutputError) return err;
  // The server answered 200 with a body that is not JSON: it is up, its answer is unusable.
  if (err instanceof SyntaxError) {
    return new BadOutputError(`the model server's answer is not JSON (model ${model})`);
  }
  if (err instanceof OpenAI.APIUserAbortError || signal?.aborted) return new ShutdownError();
  if (err instanceof OpenAI.APIConnectionTimeoutError) {
    return new TransientError("llm", `the model server did not answer in time (model ${model})`, {
      cause: err,
    });
  }
  if (err instanceof OpenAI.APIConnectionError) {
    return new TransientError("llm", `the model server is unreachable (model ${model})`, {
      cause: err,
    });
  }
  if (err instanceof OpenAI.APIError) {
    const status = err.status ?? 0;
    if (status >= 500 || status === 408 || status === 429) {
      return new TransientError("llm", `the model server answered ${status} (model ${model})`, {
        cause: err,
      });
    }
    return new PermanentError(
      "rejected",
      `the model server rejected the request with ${status}: ${err.message}`,
      { cause: err },
    );
  }
  // The SDK wraps transport failures; anything else is unexpected, so treat it as an outage
  // rather than failing a job for what may be a network hiccup.
  return new TransientError("llm", `calling the model failed: ${(err as Error)?.message ?? err}`, {
    cause: err,
  });
}
