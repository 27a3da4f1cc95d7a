/** POST /users: upsert a user and make sure default settings exist. */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { ACTOR_HEADER, invalid, ok } from "../openapi.ts";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { writeAudit } from "../store/audit.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { queryOne } from "../db/query.ts";
import { insertDefaultSettings } from "../store/settings_repo.ts";
import { userCreate } from "../../shared/schemas.ts";
import type { userResponse } from "../../shared/response_schemas.ts";
import type { z } from "zod";

interface UserRow {
  telegram_user_id: number;
  display_name: string;
  is_allowed: number;
  created_at: string;
}

/** A user row as the contract spells it. */
export function userJson(row: UserRow): z.output<typeof userResponse> {
  return {
    telegram_user_id: row.telegram_user_id,
    display_name: row.display_name,
    is_allowed: row.is_allowed === 1,
    created_at: row.created_at,
  };
}

const USER_SQL = "SELECT * FROM users WHERE telegram_user_id = ?";

/** Router for /users. */
export function usersRouter(deps: CoreDeps): Hono {
  const { db, clock } = deps;
  const app = new Hono();

  defineRoute(app, {
    method: "POST",
    path: "/",
    tag: "users",
    summary: "Create or update a user (and its default settings)",
    body: userCreate,
    headers: [ACTOR_HEADER],
    responses: { 200: ok("User"), 422: invalid },
  }, async (c, input) => {
    const body = await input.body();
    const now = nowIso(clock);
    const row = transaction(db, () => {
      const before = queryOne<UserRow>(db, USER_SQL, body.telegram_user_id);
      if (before) {
        db.prepare(
          `UPDATE users SET display_name = ?, is_allowed = coalesce(?, is_allowed)
           WHERE telegram_user_id = ?`,
        ).run(
          body.display_name,
          body.is_allowed === undefined ? null : Number(body.is_allowed),
          body.telegram_user_id,
        );
      } else {
        db.prepare(
          `INSERT INTO users (telegram_user_id, display_name, is_allowed, created_at)
           VALUES (?, ?, ?, ?)`,
        ).run(body.telegram_user_id, body.display_name, Number(body.is_allowed ?? false), now);
      }
      insertDefaultSettings(db, body.telegram_user_id, now);
      const changed = !before || before.display_name !== body.display_name ||
        (body.is_allowed !== undefined && before.is_allowed !== Number(body.is_allowed));
      if (changed) {
        writeAudit(db, {
          entity_type: "user",
          entity_id: String(body.telegram_user_id),
          action: before ? "updated" : "created",
          actor: actorOf(c, body.telegram_user_id),
          detail: { display_name: body.display_name },
          at: now,
        });
      }
      // Written just above, inside this transaction.
      return queryOne<UserRow>(db, USER_SQL, body.telegram_user_id)!;
    });
    return c.json(userJson(row), 200);
  });

  return app;
}
