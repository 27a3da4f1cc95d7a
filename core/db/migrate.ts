/** Applies numbered migrations, tracking the applied number in `PRAGMA user_version`. */
import type { DatabaseSync } from "node:sqlite";
import { type Migration, MIGRATIONS } from "./migrations/mod.ts";
import { rollbackIfActive } from "./sqlite_errors.ts";
import { flushLogs, type Logger } from "../../shared/log.ts";

/** Options for {@linkcode migrate}. */
export interface MigrateOptions {
  /** Stop after this version (tests build old-schema files with it). */
  upTo?: number;
  /** Migrations to apply; all of them by default. */
  migrations?: readonly Migration[];
  /**
   * Told when an upgrade starts and when it is done. It runs before the core listens, and on a
   * large store its index builds take seconds (017: ~5 s at 1,000,000 jobs), so the start is
   * written out at once rather than with the next turn's lines.
   */
  log?: Logger;
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
  const pending = all.filter((m) =>
    m.version > current && (options.upTo === undefined || m.version <= options.upTo)
  );
  if (pending.length === 0) return [];
  const to = pending.at(-1)!.version;
  const started = performance.now();
  if (options.log) {
    options.log.info("upgrading the database schema", { from: current, to });
    flushLogs();
  }
  for (const m of pending) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(m.sql);
      db.exec(`PRAGMA user_version = ${m.version}`);
      db.exec("COMMIT");
    } catch (err) {
      rollbackIfActive(db);
      throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
    }
  }
  options.log?.info("database schema upgraded", {
    from: current,
    to,
    ms: Math.round(performance.now() - started),
  });
  return pending.map((m) => m.name);
}
