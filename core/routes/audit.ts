/** GET /audit: the audit trail, filtered, newest first. */
import { Hono } from "hono";
import type { SQLInputValue } from "node:sqlite";
import type { CoreDeps } from "../deps.ts";
import { parseQuery } from "../http/validate.ts";
import { utcOut } from "../time.ts";
import { auditQuery } from "../../shared/schemas.ts";
import { LEGACY_ENTITY_TYPES } from "../../shared/enums.ts";

interface AuditRow {
  id: number;
  entity_type: string;
  entity_id: string;
  action: string;
  actor: string;
  detail: string | null;
  created_at: string;
}

const USER_ACTOR = /^user:(-?\d{1,16})$/;

/** The entity type's current name (old rows may carry a legacy one). */
function currentEntityType(name: string): string {
  return LEGACY_ENTITY_TYPES[name] ?? name;
}

/** Every stored name of the entity type `name` means: its current name and its legacy ones. */
function storedEntityTypes(name: string): string[] {
  const current = currentEntityType(name);
  const legacy = Object.keys(LEGACY_ENTITY_TYPES).filter((k) => LEGACY_ENTITY_TYPES[k] === current);
  return [current, ...legacy];
}

function parseDetail(detail: string | null): unknown {
  if (detail === null) return null;
  try {
    return JSON.parse(detail);
  } catch {
    // Rows of the first version may hold plain text; show it rather than fail.
    return detail;
  }
}

function auditJson(row: AuditRow): Record<string, unknown> {
  const user = USER_ACTOR.exec(row.actor);
  return {
    id: row.id,
    user_id: user ? Number(user[1]) : null,
    entity_type: currentEntityType(row.entity_type),
    entity_id: row.entity_id,
    action: row.action,
    actor: row.actor,
    detail: parseDetail(row.detail),
    created_at: utcOut(row.created_at),
  };
}

/** Router for /audit. */
export function auditRouter(deps: CoreDeps): Hono {
  const { db } = deps;
  const app = new Hono();

  app.get("/", (c) => {
    const q = parseQuery(c, auditQuery);
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    if (q.entity_type !== undefined) {
      const names = storedEntityTypes(q.entity_type);
      where.push(`entity_type IN (${names.map(() => "?").join(", ")})`);
      args.push(...names);
    }
    for (const col of ["entity_id", "action", "actor"] as const) {
      const value = q[col];
      if (value === undefined) continue;
      where.push(`${col} = ?`);
      args.push(value);
    }
    const rows = db.prepare(
      `SELECT id, entity_type, entity_id, action, actor, detail, created_at FROM audit_log
       ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
    ).all(...args, q.limit, q.offset) as unknown as AuditRow[];
    return c.json(rows.map(auditJson));
  });

  return app;
}
