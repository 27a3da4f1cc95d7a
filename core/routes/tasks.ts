/**
 * /tasks: create, list, read, update (marking a recurring task DONE creates the next one) and
 * delete.
 */
import { columnChanges } from "../db/changes.ts";
import { Hono } from "hono";
import type { Context } from "hono";
import type { z } from "zod";
import { defineRoute } from "../http/route.ts";
import { ACTOR_HEADER, deleted, fail, invalid, list, ok } from "../openapi.ts";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { writeAudit } from "../store/audit.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { notFound } from "../http/errors.ts";
import { pathId } from "../http/validate.ts";
import { requireOwnedMemory } from "../store/lookups.ts";
import {
  getTask,
  insertTask,
  listTasks,
  nextDueAt,
  taskJson,
  type TaskRow,
} from "../store/task_repo.ts";
import { taskCreate, taskListQuery, taskUpdate } from "../../shared/schemas.ts";
import { newRowId } from "../store/row_id.ts";

const WHAT = "Task";

/** Router for /tasks. */
export function tasksRouter(deps: CoreDeps): Hono {
  const { db, clock } = deps;
  const app = new Hono();

  defineRoute(app, {
    method: "POST",
    path: "/",
    tag: "tasks",
    summary: "Create a task",
    body: taskCreate,
    headers: [ACTOR_HEADER],
    responses: { 201: ok("Task", "created"), 404: fail("unknown owner or memory"), 422: invalid },
  }, async (c, input) => {
    const body = await input.body();
    const now = nowIso(clock);
    const row = transaction(db, () => {
      requireOwnedMemory(db, body);
      const task = insertTask(db, {
        id: newRowId(),
        memory_id: body.memory_id.toLowerCase(),
        owner_user_id: body.owner_user_id,
        description: body.description,
        due_at: body.due_at ?? null,
        recurrence_minutes: body.recurrence_minutes ?? null,
        at: now,
      });
      writeAudit(db, {
        entity_type: "task",
        entity_id: task.id,
        action: "created",
        actor: actorOf(c, task.owner_user_id),
        detail: { memory_id: task.memory_id, description: task.description },
        at: now,
      });
      return task;
    });
    return c.json(taskJson(row), 201);
  });

  defineRoute(app, {
    method: "GET",
    path: "/",
    tag: "tasks",
    summary: "List tasks",
    query: taskListQuery,
    responses: { 200: list("Task"), 422: invalid },
  }, (c, input) => {
    const q = input.query();
    return c.json(listTasks(db, q).map(taskJson));
  });

  defineRoute(app, {
    method: "GET",
    path: "/:id",
    tag: "tasks",
    summary: "A task",
    responses: { 200: ok("Task"), 404: fail("no such task") },
  }, (c) => {
    const id = pathId(c, "id", WHAT);
    const row = getTask(db, id);
    if (!row) throw notFound(WHAT);
    return c.json(taskJson(row));
  });

  defineRoute(app, {
    method: "PATCH",
    path: "/:id",
    tag: "tasks",
    summary: "Change a task; DONE on a recurring task creates the next one",
    body: taskUpdate,
    headers: [ACTOR_HEADER],
    responses: { 200: ok("TaskUpdate"), 404: fail("no such task"), 422: invalid },
  }, async (c, input) => {
    const id = pathId(c, "id", WHAT);
    const body = await input.body();
    const now = nowIso(clock);
    const out = updateTask(deps, c, { id, body, now });
    return c.json({ task: taskJson(out.task), recurring_task_id: out.next });
  });

  defineRoute(app, {
    method: "DELETE",
    path: "/:id",
    tag: "tasks",
    summary: "Delete a task",
    headers: [ACTOR_HEADER],
    responses: { 204: deleted, 404: fail("no such task") },
  }, (c) => {
    const id = pathId(c, "id", WHAT);
    const now = nowIso(clock);
    transaction(db, () => {
      const before = getTask(db, id);
      if (!before) throw notFound(WHAT);
      db.prepare("DELETE FROM tasks WHERE id = ?").run(id);
      writeAudit(db, {
        entity_type: "task",
        entity_id: id,
        action: "deleted",
        actor: actorOf(c, before.owner_user_id),
        detail: { memory_id: before.memory_id, description: before.description },
        at: now,
      });
    });
    return c.body(null, 204);
  });

  return app;
}

/**
 * Apply a PATCH in one transaction with its audit entries; DONE on a recurring task creates the
 * next one (whose id is returned as `next`).
 */
function updateTask(
  deps: CoreDeps,
  c: Context,
  change: { id: string; body: z.output<typeof taskUpdate>; now: string },
): { task: TaskRow; next: string | null } {
  const { db } = deps;
  const { id, body, now } = change;
  return transaction(db, () => {
    const before = getTask(db, id);
    if (!before) throw notFound(WHAT);
    const actor = actorOf(c, before.owner_user_id);
    const after: TaskRow = { ...before };
    if (body.description !== undefined) after.description = body.description;
    if (body.due_at !== undefined) after.due_at = body.due_at;
    if (body.recurrence_minutes !== undefined) after.recurrence_minutes = body.recurrence_minutes;
    if (body.state !== undefined) after.state = body.state;
    const becameDone = before.state !== "DONE" && after.state === "DONE";
    // completed_at is set once, when the task becomes DONE; a repeated DONE keeps it.
    if (becameDone) after.completed_at = now;
    if (after.state === "NOT_DONE") after.completed_at = null;

    const { set, args, diff } = columnChanges(before, after, [
      "description",
      "state",
      "due_at",
      "recurrence_minutes",
      "completed_at",
    ]);
    if (set === "") return { task: before, next: null };
    db.prepare(`UPDATE tasks SET ${set}, updated_at = ? WHERE id = ?`).run(...args, now, id);
    writeAudit(db, {
      entity_type: "task",
      entity_id: id,
      action: "updated",
      actor,
      detail: { changes: diff },
      at: now,
    });
    let next: string | null = null;
    // Only the transition creates the next task, so DONE sent twice makes one successor.
    if (becameDone && after.recurrence_minutes) {
      const successor = insertTask(db, {
        id: newRowId(),
        memory_id: after.memory_id,
        owner_user_id: after.owner_user_id,
        description: after.description,
        due_at: nextDueAt(after.due_at, { minutes: after.recurrence_minutes, now }),
        recurrence_minutes: after.recurrence_minutes,
        at: now,
      });
      writeAudit(db, {
        entity_type: "task",
        entity_id: successor.id,
        action: "created",
        actor,
        detail: {
          recurring_from: id,
          memory_id: successor.memory_id,
          description: successor.description,
          due_at: successor.due_at,
        },
        at: now,
      });
      next = successor.id;
    }
    return { task: getTask(db, id)!, next };
  });
}
