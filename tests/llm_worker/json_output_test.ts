import assert from "node:assert/strict";
import { z } from "zod";
import { jsonCandidates, parseModelJson } from "../../llm_worker/json_output.ts";
import { BadOutputError } from "../../llm_worker/errors.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

const shape = z.object({ description: z.string(), tags: z.array(z.string()) });

Deno.test("parseModelJson reads bare JSON and ignores unknown keys", () => {
  const out = parseModelJson(shape, '{"description": "a cat", "tags": ["cat"], "extra": 1}');
  assert.deepEqual(out, { description: "a cat", tags: ["cat"] });
});

Deno.test("parseModelJson reads JSON wrapped in prose or code fences", () => {
  const fenced = 'Sure! Here you go:\n```json\n{"description": "a dog", "tags": ["dog"]}\n```\nBye';
  assert.deepEqual(parseModelJson(shape, fenced), { description: "a dog", tags: ["dog"] });
  const prose = 'The answer is {"description": "braces } in {text}", "tags": ["x"]} as asked.';
  assert.deepEqual(parseModelJson(shape, prose), {
    description: "braces } in {text}",
    tags: ["x"],
  });
  const think = '<think>maybe {"description": 1}</think>{"description": "ok", "tags": []}';
  assert.deepEqual(parseModelJson(shape, think), { description: "ok", tags: [] });
});

Deno.test("parseModelJson takes the first object that fits the schema", () => {
  const text = 'First {"note": "not it"} then {"description": "it", "tags": ["a"]}';
  assert.deepEqual(parseModelJson(shape, text), { description: "it", tags: ["a"] });
  assert.equal(jsonCandidates(text).length, 2);
});

Deno.test("parseModelJson throws BadOutputError for no JSON or the wrong shape", () => {
  assert.throws(() => parseModelJson(shape, "I cannot help with that."), (err) => {
    assert.ok(err instanceof BadOutputError);
    assert.match(err.message, /no JSON object/);
    return true;
  });
  assert.throws(() => parseModelJson(shape, '{"description": 5}'), (err) => {
    assert.ok(err instanceof BadOutputError);
    assert.match(err.message, /expected shape/);
    assert.match(err.message, /description/);
    return true;
  });
  assert.throws(() => parseModelJson(shape, '{"description": "x", "tags": ['), BadOutputError);
  assert.throws(() => parseModelJson(shape, ""), BadOutputError);
});
