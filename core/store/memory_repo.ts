/**
 * Memory rows as the HTTP contract spells them, with their tags, plus the small queries other
 * modules share: loading memories with tags, tag normalization and what points to a memory.
 */
import type { DatabaseSync } from "node:sqlite";
import { queryAll, queryOne } from "../db/query.ts";
import type { z } from "zod";
import { indexNewMemory } from "./search_index.ts";
import type { MediaType, MemoryStatus } from "../../shared/enums.ts";
import type { memoryResponse, tagResponse } from "../../shared/response_schemas.ts";

/** The columns of a `memories` row. */
export interface MemoryRow {
  /** UUID. */
  id: string;
  /** Telegram user id of the owner. */
  owner_user_id: number;
  /** Chat the memory came from, if any. */
  source_chat_id: number | null;
  /** Message the memory came from, if any. */
  source_message_id: number | null;
  /** Text; may be null for an image memory. */
  content: string | null;
  /** `image` or null. */
  media_type: MediaType | null;
  /** Telegram file id of the media. */
  media_file_id: string | null;
  /** Where the image is stored, inside IMAGE_STORAGE_PATH. */
  media_local_path: string | null;
  /** `confirmed` or `pending`. */
  status: MemoryStatus;
  /** When a pending memory is dropped, ISO UTC. */
  pending_expires_at: string | null;
  /** 0 or 1 in the database. */
  is_pinned: number;
  /** ISO UTC. */
  created_at: string;
  /** ISO UTC. */
  updated_at: string;
}

/** A tag of a memory, as answered (the shape is the response schema's). */
export type TagJson = z.output<typeof tagResponse>;

/** A memory with its tags, as every endpoint that returns one answers it. */
export type MemoryJson = z.output<typeof memoryResponse>;

// The columns of a memory, in the order its JSON answers them (memoryJson below, and the JSON
// SQLite writes for GET /memories/{id}).
const MEMORY_FIELDS = [
  "id",
  "owner_user_id",
  "source_chat_id",
  "source_message_id",
  "content",
  "media_type",
  "media_file_id",
  "media_local_path",
  "status",
  "pending_expires_at",
  "is_pinned",
  "created_at",
  "updated_at",
] as const satisfies readonly (keyof MemoryRow)[];

/** The memory columns in a fixed order, for `SELECT ${MEMORY_COLUMNS} FROM memories m`. */
export const MEMORY_COLUMNS: string = MEMORY_FIELDS.map((f) => `m.${f}`).join(", ");

/** A memory row and its tags as the contract spells them. */
export function memoryJson(row: MemoryRow, tags: TagJson[]): MemoryJson {
  return {
    id: row.id,
    owner_user_id: row.owner_user_id,
    source_chat_id: row.source_chat_id,
    source_message_id: row.source_message_id,
    content: row.content,
    media_type: row.media_type,
    media_file_id: row.media_file_id,
    media_local_path: row.media_local_path,
    status: row.status,
    pending_expires_at: row.pending_expires_at,
    is_pinned: row.is_pinned === 1,
    created_at: row.created_at,
    updated_at: row.updated_at,
    tags,
  };
}

const INSERT_MEMORY_SQL = `INSERT INTO memories (${MEMORY_FIELDS.join(", ")})
  VALUES (${MEMORY_FIELDS.map(() => "?").join(", ")})`;

/**
 * A memory to insert: the row's own fields, without an image file yet (the upload sets it), not
 * pinned, and created and updated `at`.
 */
export type NewMemory =
  & Omit<MemoryRow, "media_local_path" | "is_pinned" | "created_at" | "updated_at">
  & { at: string };

/**
 * Insert a memory; call inside the caller's transaction. The one place the core inserts a
 * memory, so the one place a confirmed one is indexed for search (core/store/search_index.ts).
 * Answers the row as written, so a caller that answers with the new memory (which has no tags
 * yet) need not read it back.
 */
export function insertMemory(db: DatabaseSync, memory: NewMemory): MemoryRow {
  const { at, ...fields } = memory;
  const row: MemoryRow = {
    ...fields,
    media_local_path: null,
    is_pinned: 0,
    created_at: at,
    updated_at: at,
  };
  const { lastInsertRowid } = db.prepare(INSERT_MEMORY_SQL).run(
    ...MEMORY_FIELDS.map((f) => row[f]),
  );
  if (row.status === "confirmed") indexNewMemory(db, { ...row, rowid: lastInsertRowid });
  return row;
}

/** The `memories` row `id`, or null. */
export function getMemoryRow(db: DatabaseSync, id: string): MemoryRow | null {
  return queryOne<MemoryRow>(db, `SELECT ${MEMORY_COLUMNS} FROM memories m WHERE m.id = ?`, id);
}

/**
 * The tags of each memory in `ids`, in one query. Tags keep insertion order (the rowid of
 * memory_tags) so a model's suggestions stay in the order it ranked them.
 */
export function loadTags(db: DatabaseSync, ids: readonly string[]): Map<string, TagJson[]> {
  const out = new Map<string, TagJson[]>();
  for (const id of ids) out.set(id, []);
  if (ids.length === 0) return out;
  const unique = [...new Set(ids)];
  const marks = unique.map(() => "?").join(", ");
  const rows = queryAll<TagJson & { memory_id: string }>(
    db,
    `SELECT memory_id, tag, status, suggested_at, confirmed_at FROM memory_tags
     WHERE memory_id IN (${marks}) ORDER BY rowid`,
    ...unique,
  );
  for (const r of rows) {
    out.get(r.memory_id)?.push({
      tag: r.tag,
      status: r.status,
      suggested_at: r.suggested_at,
      confirmed_at: r.confirmed_at,
    });
  }
  return out;
}

const TAG_FIELDS = ["tag", "status", "suggested_at", "confirmed_at"] as const;

// The tags of memory `m` as a JSON array of TagJson, in insertion order.
const TAGS_JSON_SQL = `(SELECT json_group_array(json_object(${
  TAG_FIELDS.map((f) => `'${f}', t.${f}`).join(", ")
}) ORDER BY t.rowid) FROM memory_tags t WHERE t.memory_id = m.id)`;

// The row and its tags in one statement: each statement outside a transaction takes and drops
// WAL read locks (two fcntl calls, ~7 µs here), which was a third of a GET /memories/{id}.
const MEMORY_WITH_TAGS_SQL = `SELECT ${MEMORY_COLUMNS}, ${TAGS_JSON_SQL} AS tags_json
  FROM memories m WHERE m.id = ?`;

/**
 * memoryJson's text for the row of `memories m`, written by SQLite, as an SQL expression:
 * is_pinned a JSON boolean, then the tags (json(): a JSON array, whether or not the subquery
 * keeps its JSON subtype). The same text as `JSON.stringify(memoryJson(row, tags))`
 * (tests/core/memory_json_text_test.ts), except that a NUL in a text column is kept (escaped),
 * where node:sqlite cuts a text it reads at its first NUL; the API refuses NUL, so only a row the
 * first version wrote can hold one.
 */
export const MEMORY_JSON_EXPR: string = `json_object(${
  MEMORY_FIELDS.map((f) =>
    f === "is_pinned"
      ? `'${f}', json(CASE m.${f} WHEN 1 THEN 'true' ELSE 'false' END)`
      : `'${f}', m.${f}`
  ).join(", ")
}, 'tags', json(${TAGS_JSON_SQL}))`;

const MEMORY_JSON_SQL = `SELECT ${MEMORY_JSON_EXPR} AS j FROM memories m WHERE m.id = ?`;

/** Memory `id` with its tags, or null when there is no such memory. */
export function loadMemoryWithTags(db: DatabaseSync, id: string): MemoryJson | null {
  const row = queryOne<MemoryRow & { tags_json: string }>(db, MEMORY_WITH_TAGS_SQL, id);
  if (row === null) return null;
  const { tags_json, ...memory } = row;
  return memoryJson(memory, JSON.parse(tags_json) as TagJson[]);
}

/**
 * Memory `id` with its tags as JSON text ({@linkcode MEMORY_JSON_EXPR}), the same text as
 * `JSON.stringify` of {@linkcode loadMemoryWithTags}'s answer, or null when there is no such
 * memory. For an answer that is only sent: building the row's and the tags' objects and then
 * their JSON in JS was a quarter of GET /memories/{id}'s store work (~19 -> ~14 µs on the
 * bench's store).
 */
export function loadMemoryJsonText(db: DatabaseSync, id: string): string | null {
  return queryOne<{ j: string }>(db, MEMORY_JSON_SQL, id)?.j ?? null;
}

/** Several memory rows with their tags (one query for all the tags), in the rows' order. */
export function withTags(db: DatabaseSync, rows: readonly MemoryRow[]): MemoryJson[] {
  const tags = loadTags(db, rows.map((r) => r.id));
  return rows.map((r) => memoryJson(r, tags.get(r.id) ?? []));
}

/**
 * A tag as stored: trimmed, inner whitespace collapsed to one space, lower case. Done the same
 * way everywhere so "Blue  Sky" and "blue sky" are one tag.
 */
export function normalizeTag(tag: string): string {
  return tag.trim().replace(/\s+/gu, " ").toLowerCase();
}

/** How many rows of each kind point to a memory. */
export interface MemoryReferences {
  /** Tasks with this memory_id. */
  tasks: number;
  /** Reminders with this memory_id. */
  reminders: number;
  /** Events with this memory_id. */
  events: number;
}

/** Count the tasks, reminders and events that point to memory `id`. */
export function memoryReferences(db: DatabaseSync, id: string): MemoryReferences {
  // An aggregate-only SELECT always answers one row.
  const row = queryOne<MemoryReferences>(
    db,
    `SELECT (SELECT count(*) FROM tasks WHERE memory_id = ?1) AS tasks,
            (SELECT count(*) FROM reminders WHERE memory_id = ?1) AS reminders,
            (SELECT count(*) FROM events WHERE memory_id = ?1) AS events`,
    id,
  )!;
  return { tasks: row.tasks, reminders: row.reminders, events: row.events };
}

/**
 * "1 task, 2 reminders" for the non-zero counts of `refs`, or null when nothing points to the
 * memory.
 */
export function describeReferences(refs: MemoryReferences): string | null {
  const parts: string[] = [];
  const add = (n: number, one: string, many: string) => {
    if (n > 0) parts.push(`${n} ${n === 1 ? one : many}`);
  };
  add(refs.tasks, "task", "tasks");
  add(refs.reminders, "reminder", "reminders");
  add(refs.events, "event", "events");
  return parts.length === 0 ? null : parts.join(", ");
}
