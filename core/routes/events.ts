/**
 * /events: create (idempotent with an `Idempotency-Key`, which the LLM worker sends per
 * extracted event), list, read, review (confirm makes a reminder, reject drops it) and delete.
 */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { ACTOR_HEADER, deleted, fail, IDEMPOTENCY_KEY, invalid, list, ok } from "../openapi.ts";
import type { DatabaseSync } from "node:sqlite";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { pathId } from "../http/validate.ts";
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

  defineRoute(app, {
    method: "POST",
    path: "/",
    tag: "events",
    summary: "Create an event (pending until reviewed)",
    body: eventCreate,
    headers: [IDEMPOTENCY_KEY, ACTOR_HEADER],
    responses: {
      201: ok("Event", "created"),
      404: fail("unknown owner or memory"),
      409: fail("the event this Idempotency-Key created has been deleted"),
      422: invalid,
    },
  }, async (c, input) => {
    const body = await input.body();
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

  defineRoute(app, {
    method: "GET",
    path: "/",
    tag: "events",
    summary: "List events",
    query: eventListQuery,
    responses: { 200: list("Event", "OK, latest event_time first"), 422: invalid },
  }, (c, input) => {
    const q = input.query();
    return c.json(listEvents(db, q).map(eventJson));
  });

  defineRoute(app, {
    method: "GET",
    path: "/:id",
    tag: "events",
    summary: "An event",
    responses: { 200: ok("Event"), 404: fail("no such event") },
  }, (c) => {
    const id = pathId(c, "id", WHAT);
    const row = getEvent(db, id);
    if (!row) throw notFound(WHAT);
    return c.json(eventJson(row));
  });

  defineRoute(app, {
    method: "PATCH",
    path: "/:id",
    tag: "events",
    summary: "Review or change an event (confirming creates a reminder at event_time)",
    body: eventUpdate,
    headers: [ACTOR_HEADER],
    responses: { 200: ok("Event"), 404: fail("no such event"), 422: invalid },
  }, async (c, input) => {
    const id = pathId(c, "id", WHAT);
    const body = await input.body();
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

  defineRoute(app, {
    method: "DELETE",
    path: "/:id",
    tag: "events",
    summary: "Delete an event",
    headers: [ACTOR_HEADER],
    responses: { 204: deleted, 404: fail("no such event") },
  }, (c) => {
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
