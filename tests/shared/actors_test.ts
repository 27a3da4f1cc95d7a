import assert from "node:assert/strict";
import {
  ADMIN_WEB_ACTOR,
  API_ACTOR,
  isClientActor,
  SCHEDULER_ACTOR,
  userActor,
  WORKER_ACTOR,
} from "../../shared/actors.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("isClientActor: what a client may claim, and never the scheduler", () => {
  for (
    const ok of [API_ACTOR, WORKER_ACTOR, ADMIN_WEB_ACTOR, userActor(5), "user:9007199254740991"]
  ) {
    assert.ok(isClientActor(ok), ok);
  }
  for (
    const bad of [SCHEDULER_ACTOR, "user:9007199254740992", "user:-1", "user:1.5", "admin:", ""]
  ) {
    assert.ok(!isClientActor(bad), bad);
  }
});
