/** Audit trail: every create, update, delete and state change writes one row. */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { utcOut } from "./time.ts";
import type { z } from "zod";
import type { auditEntryResponse } from "../../shared/response_schemas.ts";
import { limitParam, queryAll } from "../db/query.ts";
import { type AuditAction, type EntityType, LEGACY_ENTITY_TYPES } from "../../shared/enums.ts";

/** One audit entry to write. */
export interface AuditEntry {
  /** Kind of entity changed. */
  entity_type: EntityType;
  /** Its id (user ids as strings). */
  entity_id: string;
  /** What happened. */
  action: AuditAction;
  /** Who: see shared/actors.ts (`user:<id>`, `system:api`, `system:scheduler`, `admin:web`, ...). */
  actor: string;
  /** Extra context, stored as JSON. */
  detail?: Record<string, unknown> | null;
  /** When, ISO UTC. */
  at: string;
}

/** Write one audit entry (inside the caller's transaction, so it lands with the change). */
export function writeAudit(db: DatabaseSync, entry: AuditEntry): void {
  db.prepare(
    `INSERT INTO audit_log (entity_type, entity_id, action, actor, detail, created_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
  ).run(
    entry.entity_type,
    entry.entity_id,
    entry.action,
    entry.actor,
    entry.detail ? JSON.stringify(entry.detail) : null,
    entry.at,
  );
}
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

/** An audit entry as the contract spells it. */
export type AuditEntryJson = z.output<typeof auditEntryResponse>;

/** An audit entry as answered. */
export function auditJson(row: AuditRow): AuditEntryJson {
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

/** Filters of {@linkcode listAudit}. */
export interface AuditFilter {
  /** Only this entity type. */
  entity_type?: string;
  /** Only this entity. */
  entity_id?: string;
  /** Only this action. */
  action?: string;
  /** Only this actor. */
  actor?: string;
  /** Page size. */
  limit: number;
  /** Rows to skip. */
  offset: number;
}

/** Audit entries matching `filter`, newest first, as answered. */
export function listAudit(db: DatabaseSync, filter: AuditFilter): AuditEntryJson[] {
  const { sql, args } = listAuditQuery(filter);
  return queryAll<AuditRow>(db, sql, ...args).map(auditJson);
}

/** The entity types most entries have: idx_audit_type (migration 020) leaves them out. */
export const FREQUENT_AUDIT_TYPES: readonly EntityType[] = ["memory", "llm_job"];

/** idx_audit_type's WHERE, word for word as in migration 020. */
export const AUDIT_TYPE_INDEX_WHERE = `entity_type NOT IN (${
  FREQUENT_AUDIT_TYPES.map((t) => `'${t}'`).join(", ")
})`;

/**
 * The query of {@linkcode listAudit}: a page read in order from idx_audit_entity with an
 * `entity_id` (migration 018); from idx_audit_type with one of the types it holds (020), whose
 * WHERE the query repeats (always true for such a type, and how SQLite knows the index serves
 * it); else from idx_audit_created, newest first.
 */
export function listAuditQuery(filter: AuditFilter): { sql: string; args: SQLInputValue[] } {
  const where: string[] = [];
  const args: SQLInputValue[] = [];
  if (filter.entity_type !== undefined) {
    const names = storedEntityTypes(filter.entity_type);
    where.push(`entity_type IN (${names.map(() => "?").join(", ")})`);
    args.push(...names);
    const frequent = names.some((n) => (FREQUENT_AUDIT_TYPES as readonly string[]).includes(n));
    // With an entity_id, idx_audit_entity finds the few entries of that entity instead.
    if (!frequent && filter.entity_id === undefined) {
      where.push(AUDIT_TYPE_INDEX_WHERE);
    }
  }
  for (const col of ["entity_id", "action", "actor"] as const) {
    const value = filter[col];
    if (value === undefined) continue;
    where.push(`${col} = ?`);
    args.push(value);
  }
  const sql = `SELECT id, entity_type, entity_id, action, actor, detail, created_at FROM audit_log
     ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY created_at DESC, id DESC LIMIT ${limitParam()} OFFSET ?`;
  return { sql, args: [...args, filter.limit, filter.offset] };
}
