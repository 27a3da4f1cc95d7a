/**
 * /events: create (idempotent with an `Idempotency-Key`, which the LLM worker sends per
 * extracted event), list, read, review (confirm makes a reminder, reject drops it) and delete.
 */
import { Hono } from "hono";
import type { DatabaseSync } from "node:sqlite";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { parseBody, parseQuery, pathId } from "../http/validate.ts";
import {
  findIdempotent,
  type IdempotencyKey,
  idempotencyKey,
  rememberIdempotent,
} from "../store/idempotency.ts";
import { requireUser } from "../store/lookups.ts";
import {
  deleteEvent,
  eventJson,
  type EventRow,
  getEvent,
  insertEvent,
  listEvents,
  updateEvent,
} from "../store/event_repo.ts";
import { requireOwnedMemory } from "../store/lookups.ts";
import { eventCreate, eventListQuery, eventUpdate } from "../../shared/schemas.ts";

const WHAT = "Event";

/**
 * The event an earlier request with `key` created, or null when the key is new. A key already
 * used for another kind of entity is refused (the key table allows one entity per key, so
 * storing it again would fail); so is a key whose event has since been deleted, rather than
 * bringing back an event the user removed.
 */
function priorEvent(db: DatabaseSync, key: IdempotencyKey | null): EventRow | null {
  if (key === null) return null;
  const id = findIdempotent(db, key, "event");
  if (id === null) return null;
  const prior = getEvent(db, id);
  if (prior === null) {
    throw new ApiError(409, "The event created with this Idempotency-Key has been deleted");
  }
  return prior;
}

/** Router for /events. */
export function eventsRouter(deps: CoreDeps): Hono {
  const { db, clock } = deps;
  const app = new Hono();

  app.post("/", async (c) => {
    const body = await parseBody(c, eventCreate);
    const key = await idempotencyKey(c);
    const now = nowIso(clock);
    const row = transaction(db, () => {
      const prior = priorEvent(db, key);
      if (prior !== null) return prior;
      if (body.memory_id) {
        requireOwnedMemory(db, { memory_id: body.memory_id, owner_user_id: body.owner_user_id });
      } else {
        requireUser(db, body.owner_user_id);
      }
      const event = insertEvent(db, {
        memory_id: body.memory_id ? body.memory_id.toLowerCase() : null,
        owner_user_id: body.owner_user_id,
        event_time: body.event_time,
        description: body.description,
        source_type: body.source_type,
        source_detail: body.source_detail ?? null,
        actor: actorOf(c, body.owner_user_id),
        at: now,
      });
      rememberIdempotent(db, key, { type: "event", id: event.id, at: now });
      return event;
    });
    return c.json(eventJson(row), 201);
  });

  app.get("/", (c) => {
    const q = parseQuery(c, eventListQuery);
    return c.json(listEvents(db, q).map(eventJson));
  });

  app.get("/:id", (c) => {
    const id = pathId(c, "id", WHAT);
    const row = getEvent(db, id);
    if (!row) throw notFound(WHAT);
    return c.json(eventJson(row));
  });

  app.patch("/:id", async (c) => {
    const id = pathId(c, "id", WHAT);
    const body = await parseBody(c, eventUpdate);
    const now = nowIso(clock);
    const row = transaction(db, () => {
      const before = getEvent(db, id);
      if (!before) throw notFound(WHAT);
      return updateEvent(db, id, {
        ...body,
        actor: actorOf(c, before.owner_user_id),
        at: now,
      })!;
    });
    return c.json(eventJson(row));
  });

  app.delete("/:id", (c) => {
    const id = pathId(c, "id", WHAT);
    const now = nowIso(clock);
    transaction(db, () => {
      const before = getEvent(db, id);
      if (!before) throw notFound(WHAT);
      deleteEvent(db, id, { actor: actorOf(c, before.owner_user_id), at: now });
    });
    return c.body(null, 204);
  });

  return app;
}
