/** Applies numbered migrations, tracking the applied number in `PRAGMA user_version`. */
import type { DatabaseSync } from "node:sqlite";
import { type Migration, MIGRATIONS } from "./migrations/mod.ts";
import { rollbackIfActive } from "./sqlite_errors.ts";

/** Options for {@linkcode migrate}. */
export interface MigrateOptions {
  /** Stop after this version (tests build old-schema files with it). */
  upTo?: number;
  /** Migrations to apply; all of them by default. */
  migrations?: readonly Migration[];
}

/** The `user_version` of `db`. */
export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number };
  return row.user_version;
}

/**
 * Apply every migration newer than the file's `user_version`, each in its own transaction
 * together with its version bump, so a failed migration leaves the file as it was.
 * Returns the names applied.
 */
export function migrate(db: DatabaseSync, options: MigrateOptions = {}): string[] {
  const all = options.migrations ?? MIGRATIONS;
  const current = schemaVersion(db);
  const latest = all.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new Error(
      `database schema version ${current} is newer than this program knows (${latest}); ` +
        "upgrade the program instead of opening the file with an older one",
    );
  }
  const applied: string[] = [];
  for (const m of all) {
    if (m.version <= current) continue;
    if (options.upTo !== undefined && m.version > options.upTo) break;
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(m.sql);
      db.exec(`PRAGMA user_version = ${m.version}`);
      db.exec("COMMIT");
    } catch (err) {
      rollbackIfActive(db);
      throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
    }
    applied.push(m.name);
  }
  return applied;
}
