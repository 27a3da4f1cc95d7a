/**
 * /reminders: create, list, read, update (moving a fired reminder to the future re-arms it) and
 * delete (unlinking an event that points to it).
 */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { notFound } from "../http/errors.ts";
import { parseBody, parseQuery, pathId } from "../http/validate.ts";
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

  app.post("/", async (c) => {
    const body = await parseBody(c, reminderCreate);
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

  app.get("/", (c) => {
    const q = parseQuery(c, reminderListQuery);
    return c.json(listReminders(db, { ...q, now: nowIso(clock) }).map(reminderJson));
  });

  app.get("/:id", (c) => {
    const id = pathId(c, "id", WHAT);
    const row = getReminder(db, id);
    if (!row) throw notFound(WHAT);
    return c.json(reminderJson(row));
  });

  app.patch("/:id", async (c) => {
    const id = pathId(c, "id", WHAT);
    const body = await parseBody(c, reminderUpdate);
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

  app.delete("/:id", (c) => {
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
