import assert from "node:assert/strict";
import {
  emailExtractPrompt,
  followupPrompt,
  imageTagPrompt,
  intentPrompt,
  taskMatchPrompt,
} from "../../llm_worker/prompts.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("no prompt contains doubled braces, and user text is passed through verbatim", () => {
  const tricky = "say {{name}} and {x}";
  const prompts = [
    imageTagPrompt(),
    intentPrompt({ message: "remind me tomorrow", now: "2026-01-01T00:00:00.000Z" }),
    intentPrompt({
      message: "the thing",
      now: "2026-01-01T00:00:00.000Z",
      followup: { followup_question: "Which thing?", user_answer: "the red one" },
    }),
    followupPrompt({ message: "that", context: "earlier chat" }),
    taskMatchPrompt({ memoryContent: "paid rent", tasks: [{ id: "t1", description: "pay rent" }] }),
    emailExtractPrompt({ subject: "Dentist", body: "Mon 9am", now: "2026-01-01T00:00:00Z" }),
  ];
  for (const p of prompts) {
    assert.ok(!p.system.includes("{{") && !p.user.includes("{{"), p.user);
    assert.ok(!p.system.includes("}}") && !p.user.includes("}}"), p.user);
  }
  assert.match(imageTagPrompt().user, /\{"description": "...", "tags": \[/);
  // User text containing braces is the user's; it reaches the model unchanged.
  assert.ok(followupPrompt({ message: tricky }).user.includes(tricky));
  const intent = prompts[2].user;
  assert.match(intent, /Which thing\?/);
  assert.match(intent, /the red one/);
  assert.match(prompts[4].user, /id: t1 \| pay rent/);
});
