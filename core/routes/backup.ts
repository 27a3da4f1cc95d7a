/** GET /backup/status/{user_id}: the user's latest backup job. */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { fail, invalid, ok } from "../openapi.ts";
import type { CoreDeps } from "../deps.ts";
import { ApiError } from "../http/errors.ts";
import { pathUserId } from "../http/validate.ts";
import { utcOut, utcSql } from "../store/time.ts";
import { queryOne } from "../db/query.ts";
import type { backupStatusResponse } from "../../shared/response_schemas.ts";
import type { z } from "zod";

interface BackupRow {
  backup_id: string;
  user_id: number;
  started_at: string;
  completed_at: string | null;
  status: string;
  file_path: string | null;
  error_message: string | null;
}

/** Router for /backup. */
export function backupRouter(deps: CoreDeps): Hono {
  const { db } = deps;
  const app = new Hono();

  defineRoute(app, {
    method: "GET",
    path: "/status/:user_id",
    tag: "backup",
    summary: "The user's latest backup job",
    responses: { 200: ok("BackupStatus"), 404: fail("no backup found"), 422: invalid },
  }, (c) => {
    const userId = pathUserId(c, "user_id");
    // Ordered by normalized time: rows written with offsets must not sort as plain strings.
    const row = queryOne<BackupRow>(
      db,
      `SELECT backup_id, user_id, started_at, completed_at, status, file_path, error_message
       FROM backup_jobs WHERE user_id = ?
       ORDER BY ${utcSql("started_at")} DESC, rowid DESC LIMIT 1`,
      userId,
    );
    if (!row) throw new ApiError(404, "No backup found");
    const answer: z.output<typeof backupStatusResponse> = {
      backup_id: row.backup_id,
      user_id: row.user_id,
      started_at: utcOut(row.started_at),
      completed_at: utcOut(row.completed_at),
      status: row.status,
      file_path: row.file_path,
      error_message: row.error_message,
    };
    return c.json(answer);
  });

  return app;
}
