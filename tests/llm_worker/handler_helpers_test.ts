import assert from "node:assert/strict";
import { cleanQuestion } from "../../llm_worker/handlers/followup.ts";
import { imageTagOutput, normalizeTags } from "../../llm_worker/handlers/image_tag.ts";
import { intentOutput, MAX_TITLE_CHARS, searchTitle } from "../../llm_worker/handlers/intent.ts";
import { taskMatchOutput } from "../../llm_worker/handlers/task_match.ts";
import { eventItem } from "../../llm_worker/handlers/email_extract.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("searchTitle cuts long notes, so 20 hits always fit in a stored result", () => {
  const title = searchTitle({ content: "x".repeat(100_000), media_type: null, tags: [] });
  assert.equal(title.length, MAX_TITLE_CHARS);
  assert.ok(title.endsWith("…"));
  assert.equal(
    searchTitle({ content: "y".repeat(MAX_TITLE_CHARS), media_type: null, tags: [] }),
    "y".repeat(MAX_TITLE_CHARS),
  );
});

Deno.test("searchTitle follows the title rules clients rely on", () => {
  const tags = (...names: string[]) => names.map((tag) => ({ tag, status: "confirmed" }));
  assert.equal(searchTitle({ content: "Buy milk", media_type: null, tags: [] }), "Buy milk");
  assert.equal(searchTitle({ content: null, media_type: null, tags: [] }), "Untitled");
  assert.equal(
    searchTitle({ content: "Receipt", media_type: "image", tags: tags("a") }),
    "[Image] Receipt",
  );
  assert.equal(
    searchTitle({ content: null, media_type: "image", tags: tags("cat", "sofa") }),
    "[Image] cat, sofa",
  );
  assert.equal(
    searchTitle({ content: "", media_type: "image", tags: tags("a", "b", "c", "d", "e") }),
    "[Image] a, b, c (+2 more)",
  );
  assert.equal(
    searchTitle({ content: null, media_type: "image", tags: tags("a", "b", "c") }),
    "[Image] a, b, c",
  );
  assert.equal(searchTitle({ content: null, media_type: "image", tags: [] }), "[Image] Untitled");
});

Deno.test("image tag output: tags cleaned, deduplicated, capped at 7; none is unusable", () => {
  assert.deepEqual(normalizeTags(["#Cat", " cat ", "Sofa  Bed", 3, "", "x".repeat(150)]), [
    "cat",
    "sofa bed",
    "x".repeat(100),
  ]);
  assert.deepEqual(normalizeTags("a, b,c"), ["a", "b", "c"]);
  assert.equal(normalizeTags(["1", "2", "3", "4", "5", "6", "7", "8", "9"]).length, 7);
  assert.deepEqual(imageTagOutput.parse({ tags: ["a"], other: 1 }), {
    description: "",
    tags: ["a"],
  });
  assert.equal(imageTagOutput.safeParse({ description: "x", tags: [] }).success, false);
  assert.equal(imageTagOutput.safeParse({ description: "x" }).success, false);
});

Deno.test("intent output keeps every key and normalizes the intent", () => {
  const out = intentOutput.parse({ intent: "General Note", suggested_tags: ["x"], weird: 1 });
  assert.deepEqual(out, { intent: "general_note", suggested_tags: ["x"], weird: 1 });
  assert.equal(intentOutput.safeParse({ intent: "dance" }).success, false);
  assert.equal(intentOutput.safeParse({}).success, false);
});

Deno.test("task match output accepts numbers as strings or percentages", () => {
  assert.deepEqual(taskMatchOutput.parse({ matched_task_id: "t1", confidence: "0.9" }), {
    matched_task_id: "t1",
    confidence: 0.9,
  });
  assert.equal(taskMatchOutput.parse({ matched_task_id: "t", confidence: 85 }).confidence, 0.85);
  assert.equal(
    taskMatchOutput.parse({ matched_task_id: "null", confidence: 1 }).matched_task_id,
    null,
  );
  assert.equal(taskMatchOutput.parse({ confidence: 0 }).matched_task_id, null);
  assert.equal(taskMatchOutput.safeParse({ matched_task_id: "t" }).success, false);
  assert.equal(eventItem.safeParse({ description: "", confidence: 1 }).success, false);
});

Deno.test("cleanQuestion strips wrapping the model adds", () => {
  assert.equal(cleanQuestion('"Which one?"'), "Which one?");
  assert.equal(cleanQuestion("Question: Which one?"), "Which one?");
  assert.equal(cleanQuestion('{"question": "Which file?"}'), "Which file?");
  assert.equal(cleanQuestion("<think>hmm</think>\nWhen?"), "When?");
  assert.equal(cleanQuestion("```\nWhere?\n```"), "Where?");
  assert.equal(cleanQuestion("  "), "");
});
