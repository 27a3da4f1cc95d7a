/**
 * core/store/row_id.ts: new rows' ids keep the contract's UUID v4 format and sort by the time
 * they were made, so the tables' id indexes take each insert on the same few pages.
 */
import assert from "node:assert/strict";
import { newRowId } from "../../core/store/row_id.ts";
import { call, createUser, makeCore, sanitizeTests } from "../helpers/core_app.ts";

await sanitizeTests();

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The milliseconds in an id's first 48 bits. */
function timeOf(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

Deno.test("newRowId: the v4 format, the time in the first 48 bits, the rest random", () => {
  const id = newRowId(0x0123456789ab);
  assert.match(id, V4);
  assert.equal(id.slice(0, 14), "01234567-89ab-");
  const sameMs = new Set(Array.from({ length: 1000 }, () => newRowId(0x0123456789ab)));
  assert.equal(sameMs.size, 1000);
  for (const other of sameMs) assert.match(other, V4);
});

Deno.test("newRowId: ids made later sort after earlier ones", () => {
  const start = Date.parse("2026-11-30T00:00:00.000Z");
  const ids = Array.from({ length: 500 }, (_, i) => newRowId(start + i * 7));
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(timeOf(ids[0]), start);
  assert.ok(newRowId() > newRowId(start));
});

Deno.test("every kind of row the core creates gets such an id, with the time it was made", async () => {
  await using core = await makeCore();
  const owner = await createUser(core.app, 71);
  const before = Date.now();
  const created = async (path: string, body: Record<string, unknown>) => {
    const res = await call(core.app, "POST", path, body);
    assert.equal(res.status, 201, `${path}: ${JSON.stringify(res.body)}`);
    return res.body.id as string;
  };
  const memory = await created("/memories", { owner_user_id: owner, content: "oat milk" });
  const ids = [
    memory,
    await created("/tasks", { memory_id: memory, owner_user_id: owner, description: "buy it" }),
    await created("/reminders", {
      memory_id: memory,
      owner_user_id: owner,
      text: "milk",
      fire_at: "2027-01-01T09:00:00Z",
    }),
    await created("/events", {
      memory_id: memory,
      owner_user_id: owner,
      source_type: "manual",
      description: "market",
      event_time: "2027-01-02T09:00:00Z",
    }),
    await created("/llm_jobs", { job_type: "followup", payload: { message: "hi" } }),
  ];
  const after = Date.now();
  for (const id of ids) {
    assert.match(id, V4);
    assert.ok(timeOf(id) >= before && timeOf(id) <= after, `${id} made between the calls`);
  }
});
