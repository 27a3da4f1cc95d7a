/** Audit trail: every create, update, delete and state change writes one row. */
import type { DatabaseSync } from "node:sqlite";
import type { AuditAction, EntityType } from "../shared/enums.ts";

/** One audit entry to write. */
export interface AuditEntry {
  /** Kind of entity changed. */
  entity_type: EntityType;
  /** Its id (user ids as strings). */
  entity_id: string;
  /** What happened. */
  action: AuditAction;
  /** Who: see shared/actors.ts (`user:<id>`, `system:api`, `system:scheduler`, ...). */
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
