/** The user_settings table: a user's settings row, and the defaults a user without one has. */
import type { DatabaseSync } from "node:sqlite";
import { queryOne } from "../db/query.ts";

/** A user_settings row. */
export interface SettingsRow {
  /** The user (Telegram id). */
  user_id: number;
  /** IANA time zone. */
  timezone: string;
  /** Language code. */
  language: string;
  /** When the row was made, ISO UTC. */
  created_at: string;
  /** When it last changed, ISO UTC. */
  updated_at: string;
}

/** What a user has until they change it (also the schema's column defaults). */
export const DEFAULT_SETTINGS = { timezone: "UTC", language: "en" } as const;

/** The user's settings row, or null when there is none (users of the first version may lack one). */
export function getSettings(db: DatabaseSync, userId: number): SettingsRow | null {
  return queryOne<SettingsRow>(
    db,
    "SELECT user_id, timezone, language, created_at, updated_at FROM user_settings WHERE user_id = ?",
    userId,
  );
}

/** The settings a user without a row has at `at`: the defaults, not stored. */
export function defaultSettings(userId: number, at: string): SettingsRow {
  return { user_id: userId, ...DEFAULT_SETTINGS, created_at: at, updated_at: at };
}

/** Store the default settings for `userId` unless it has a row; true when one was made. */
export function insertDefaultSettings(db: DatabaseSync, userId: number, at: string): boolean {
  const res = db.prepare(
    `INSERT OR IGNORE INTO user_settings (user_id, timezone, language, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?)`,
  ).run(userId, DEFAULT_SETTINGS.timezone, DEFAULT_SETTINGS.language, at, at);
  return Number(res.changes) > 0;
}
