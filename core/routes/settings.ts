/**
 * /settings/{user_id}: read and change a user's settings. A known user without a settings row
 * (data of the first version) reads as the defaults, and nothing is stored until a change; an
 * unknown user is a 404, not the first version's 500.
 */
import { columnChanges } from "../db/changes.ts";
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { ACTOR_HEADER, fail, invalid, ok } from "../openapi.ts";
import type { Context } from "hono";
import type { DatabaseSync } from "node:sqlite";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { writeAudit } from "../store/audit.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { pathUserId } from "../http/validate.ts";
import { requireUser } from "../store/lookups.ts";
import {
  defaultSettings,
  getSettings,
  insertDefaultSettings,
  type SettingsRow,
} from "../store/settings_repo.ts";
import { utcOut } from "../store/time.ts";
import { settingsUpdate } from "../../shared/schemas.ts";
import type { settingsResponse } from "../../shared/response_schemas.ts";
import type { z } from "zod";

/** Settings as the contract spells them. */
function settingsJson(row: SettingsRow): z.output<typeof settingsResponse> {
  return {
    user_id: row.user_id,
    timezone: row.timezone,
    language: row.language,
    created_at: utcOut(row.created_at),
    updated_at: utcOut(row.updated_at),
  };
}

/** The user's settings row, created with the defaults (and audited) when missing. */
function ensureSettings(
  db: DatabaseSync,
  userId: number,
  context: { c: Context; at: string },
): SettingsRow {
  if (!insertDefaultSettings(db, userId, context.at)) return getSettings(db, userId)!;
  const row = getSettings(db, userId)!;
  writeAudit(db, {
    entity_type: "user_settings",
    entity_id: String(userId),
    action: "created",
    // The user did not ask for this; the API filled in what the old data lacked.
    actor: actorOf(context.c),
    detail: { timezone: row.timezone, language: row.language, reason: "defaults" },
    at: context.at,
  });
  return row;
}

/** Router for /settings. */
export function settingsRouter(deps: CoreDeps): Hono {
  const { db, clock } = deps;
  const app = new Hono();

  defineRoute(app, {
    method: "GET",
    path: "/:user_id",
    tag: "settings",
    summary: "A user's settings (the defaults, not stored, for a user without any)",
    responses: { 200: ok("Settings"), 404: fail("unknown user"), 422: invalid },
  }, (c) => {
    const userId = pathUserId(c, "user_id");
    requireUser(db, userId);
    const row = getSettings(db, userId) ?? defaultSettings(userId, nowIso(clock));
    return c.json(settingsJson(row));
  });

  defineRoute(app, {
    method: "PUT",
    path: "/:user_id",
    tag: "settings",
    summary: "Change a user's settings",
    body: settingsUpdate,
    headers: [ACTOR_HEADER],
    responses: { 200: ok("Settings"), 404: fail("unknown user"), 422: invalid },
  }, async (c, input) => {
    const userId = pathUserId(c, "user_id");
    const body = await input.body();
    const now = nowIso(clock);
    const row = transaction(db, () => {
      requireUser(db, userId);
      const before = ensureSettings(db, userId, { c, at: now });
      const after = {
        ...before,
        timezone: body.timezone ?? before.timezone,
        language: body.language ?? before.language,
      };
      const { set, args, diff } = columnChanges(before, after, ["timezone", "language"]);
      if (set === "") return before;
      db.prepare(`UPDATE user_settings SET ${set}, updated_at = ? WHERE user_id = ?`)
        .run(...args, now, userId);
      writeAudit(db, {
        entity_type: "user_settings",
        entity_id: String(userId),
        action: "updated",
        actor: actorOf(c, userId),
        detail: { changes: diff },
        at: now,
      });
      return getSettings(db, userId)!;
    });
    return c.json(settingsJson(row));
  });

  return app;
}
