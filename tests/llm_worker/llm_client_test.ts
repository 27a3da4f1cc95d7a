import assert from "node:assert/strict";
import { z } from "zod";
import { createLlmClient } from "../../llm_worker/llm_client.ts";
import {
  BadOutputError,
  PermanentError,
  ShutdownError,
  TransientError,
} from "../../llm_worker/errors.ts";
import { loadWorkerConfig } from "../../shared/config.ts";
import { imageUrls, jsonReply, promptText, startFakeLlm } from "../helpers/fake_llm.ts";

// No shared Redis here: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

const shape = z.object({ answer: z.string() });
const prompt = { system: "sys", user: "question?" };

function configFor(url: string, extra: Record<string, string> = {}) {
  return loadWorkerConfig({
    LLM_BASE_URL: url,
    LLM_TEXT_MODEL: "text-model",
    LLM_VISION_MODEL: "vision-model",
    LLM_API_KEY: "sk-test-secret",
    LLM_TIMEOUT_SECONDS: "1",
    ...extra,
  });
}

Deno.test("text, json and vision calls reach the server with the right shape", async () => {
  await using fake = await startFakeLlm();
  const llm = createLlmClient(configFor(fake.url));
  fake.enqueue({ content: "Plain words." }, jsonReply({ answer: "42", extra: true }), {
    content: 'Here: ```json\n{"answer": "img"}\n```',
  });
  assert.equal(await llm.text(prompt), "Plain words.");
  assert.deepEqual(await llm.json(shape, prompt), { answer: "42" });
  const dataUrl = "data:image/png;base64,AAAA";
  assert.deepEqual(
    await llm.visionJson(shape, { ...prompt, imageDataUrl: dataUrl }),
    { answer: "img" },
  );
  const [t, j, v] = fake.requests.map((r) => r.body);
  assert.equal(t.model, "text-model");
  assert.equal(t.response_format, undefined);
  assert.equal(j.response_format?.type, "json_object");
  assert.equal(v.model, "vision-model");
  assert.deepEqual(imageUrls(v), [dataUrl]);
  assert.equal(promptText(v), "sys\nquestion?");
  assert.equal(fake.requests[0].headers.authorization, "Bearer sk-test-secret");
});

Deno.test(
  "a server that rejects response_format gets asked without it, remembered per model",
  async () => {
    await using fake = await startFakeLlm();
    fake.when((r) => r.response_format !== undefined, {
      status: 400,
      message: "Unsupported parameter: 'response_format' is not supported with this model.",
      param: "response_format",
    });
    fake.setDefault(jsonReply({ answer: "ok" }));
    const llm = createLlmClient(configFor(fake.url));
    assert.deepEqual(await llm.json(shape, prompt), { answer: "ok" });
    assert.deepEqual(await llm.json(shape, prompt), { answer: "ok" });
    const formats = fake.requests.map((r) => r.body.response_format?.type ?? null);
    // First call: rejected, then retried without; second call goes straight without.
    assert.deepEqual(formats, ["json_object", null, null]);
    // The vision model is a different model: it is still asked with JSON mode first.
    await llm.visionJson(shape, { ...prompt, imageDataUrl: "data:image/png;base64,AA" });
    assert.equal(fake.requests[3].body.response_format?.type, "json_object");
    assert.equal(fake.requests[4].body.response_format, undefined);
  },
);

Deno.test("errors are classified, and the SDK does not retry on its own", async () => {
  await using fake = await startFakeLlm();
  const llm = createLlmClient(configFor(fake.url));
  fake.enqueue({ status: 503 });
  await assert.rejects(llm.text(prompt), (err) => {
    assert.ok(err instanceof TransientError && err.service === "llm", String(err));
    assert.match(err.message, /503/);
    return true;
  });
  assert.equal(fake.requests.length, 1, "maxRetries 0: one request per call");
  fake.enqueue({ status: 429 });
  await assert.rejects(llm.text(prompt), TransientError);
  fake.enqueue({ drop: true });
  await assert.rejects(llm.text(prompt), TransientError);
  fake.enqueue({ hang: true });
  await assert.rejects(llm.text(prompt), (err) => {
    assert.ok(err instanceof TransientError);
    assert.match(err.message, /did not answer in time/);
    return true;
  });
  fake.enqueue({ status: 401, message: "bad key" });
  await assert.rejects(llm.text(prompt), PermanentError);
  fake.enqueue({ status: 400, message: "context length exceeded" });
  await assert.rejects(llm.json(shape, prompt), PermanentError);
  fake.enqueue({ content: "no json here" });
  await assert.rejects(llm.json(shape, prompt), BadOutputError);
  fake.enqueue({ content: "   " });
  await assert.rejects(llm.text(prompt), BadOutputError);
  const ctl = new AbortController();
  fake.enqueue({ delayMs: 5000, content: "late" });
  const call = llm.text(prompt, { signal: ctl.signal });
  setTimeout(() => ctl.abort(), 50);
  await assert.rejects(call, ShutdownError);
  await fake.stop();
  await assert.rejects(llm.text(prompt), (err) => {
    assert.ok(err instanceof TransientError);
    assert.match(err.message, /unreachable/);
    return true;
  });
});
