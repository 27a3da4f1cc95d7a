/**
 * /reminders: create, list, read, update (moving a fired reminder to the future re-arms it) and
 * delete (unlinking an event that points to it).
 */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { ACTOR_HEADER, deleted, fail, invalid, list, ok } from "../openapi.ts";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { notFound } from "../http/errors.ts";
import { pathId } from "../http/validate.ts";
import {
  createReminder,
  deleteReminder,
  getReminder,
  listReminders,
  reminderJson,
  updateReminder,
} from "../store/reminder_repo.ts";
import { requireOwnedMemory } from "../store/lookups.ts";
import { reminderCreate, reminderListQuery, reminderUpdate } from "../../shared/schemas.ts";

const WHAT = "Reminder";

/** Router for /reminders. */
export function remindersRouter(deps: CoreDeps): Hono {
  const { db, clock } = deps;
  const app = new Hono();

  defineRoute(app, {
    method: "POST",
    path: "/",
    tag: "reminders",
    summary: "Create a reminder",
    body: reminderCreate,
    headers: [ACTOR_HEADER],
    responses: {
      201: ok("Reminder", "created"),
      404: fail("unknown owner or memory"),
      422: invalid,
    },
  }, async (c, input) => {
    const body = await input.body();
    const now = nowIso(clock);
    const row = transaction(db, () => {
      requireOwnedMemory(db, body);
      return createReminder(db, {
        memory_id: body.memory_id.toLowerCase(),
        owner_user_id: body.owner_user_id,
        text: body.text,
        fire_at: body.fire_at,
        recurrence_minutes: body.recurrence_minutes ?? null,
        actor: actorOf(c, body.owner_user_id),
        at: now,
      });
    });
    return c.json(reminderJson(row), 201);
  });

  defineRoute(app, {
    method: "GET",
    path: "/",
    tag: "reminders",
    summary: "List reminders",
    query: reminderListQuery,
    responses: { 200: list("Reminder", "OK, the next to fire first"), 422: invalid },
  }, (c, input) => {
    const q = input.query();
    return c.json(listReminders(db, { ...q, now: nowIso(clock) }).map(reminderJson));
  });

  defineRoute(app, {
    method: "GET",
    path: "/:id",
    tag: "reminders",
    summary: "A reminder",
    responses: { 200: ok("Reminder"), 404: fail("no such reminder") },
  }, (c) => {
    const id = pathId(c, "id", WHAT);
    const row = getReminder(db, id);
    if (!row) throw notFound(WHAT);
    return c.json(reminderJson(row));
  });

  defineRoute(app, {
    method: "PATCH",
    path: "/:id",
    tag: "reminders",
    summary: "Change a reminder (moving a fired one to the future re-arms it)",
    body: reminderUpdate,
    headers: [ACTOR_HEADER],
    responses: { 200: ok("Reminder"), 404: fail("no such reminder"), 422: invalid },
  }, async (c, input) => {
    const id = pathId(c, "id", WHAT);
    const body = await input.body();
    const now = nowIso(clock);
    const row = transaction(db, () => {
      const before = getReminder(db, id);
      if (!before) throw notFound(WHAT);
      return updateReminder(db, id, {
        text: body.text,
        fire_at: body.fire_at,
        recurrence_minutes: body.recurrence_minutes,
        actor: actorOf(c, before.owner_user_id),
        at: now,
      })!;
    });
    return c.json(reminderJson(row));
  });

  defineRoute(app, {
    method: "DELETE",
    path: "/:id",
    tag: "reminders",
    summary: "Delete a reminder",
    headers: [ACTOR_HEADER],
    responses: { 204: deleted, 404: fail("no such reminder") },
  }, (c) => {
    const id = pathId(c, "id", WHAT);
    const now = nowIso(clock);
    transaction(db, () => {
      const before = getReminder(db, id);
      if (!before) throw notFound(WHAT);
      deleteReminder(db, id, { actor: actorOf(c, before.owner_user_id), at: now });
    });
    return c.body(null, 204);
  });

  return app;
}
