/**
 * /memories: create (idempotent with `Idempotency-Key`), read, update, delete; the tags
 * (memory_tags.ts) and the image upload (memory_image.ts) are mounted here. Search indexing is
 * done by the database's triggers (migration 010): a confirmed memory's content and confirmed
 * tags are indexed whenever they change.
 */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { ACTOR_HEADER, deleted, fail, IDEMPOTENCY_KEY, invalid, ok } from "../openapi.ts";
import type { Context } from "hono";
import type { z } from "zod";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { writeAudit } from "../store/audit.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { groupCommit } from "../db/group_commit.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { pathId } from "../http/validate.ts";
import {
  findIdempotent,
  forgetIdempotent,
  type IdempotencyKey,
  idempotencyKey,
  rememberIdempotent,
} from "../store/idempotency.ts";
import { requireMemory, requireUser } from "../store/lookups.ts";
import {
  describeReferences,
  getMemoryRow,
  insertMemory,
  loadMemoryJsonText,
  memoryJson,
  memoryReferences,
  type MemoryRow,
} from "../store/memory_repo.ts";
import { checkImageFile, imagePathInside } from "../../shared/images.ts";
import { memoryCreate, memoryUpdate } from "../../shared/schemas.ts";
import { bodyIssue, discardImage, isBlank, mustLoad } from "./memory_common.ts";
import { memoryTagsRouter } from "./memory_tags.ts";
import { memoryImageRouter } from "./memory_image.ts";
import { newRowId } from "../store/row_id.ts";
import { jsonText } from "../http/json_text.ts";

/** How long an image memory waits for the user's confirmation. */
const PENDING_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** Router for /memories. */
export function memoriesRouter(deps: CoreDeps): Hono {
  const { db, clock, config } = deps;
  const app = new Hono();

  defineRoute(app, {
    method: "POST",
    path: "/",
    tag: "memories",
    summary: "Create a memory (an image memory starts pending for 7 days)",
    body: memoryCreate,
    headers: [IDEMPOTENCY_KEY, ACTOR_HEADER],
    responses: { 201: ok("Memory", "created"), 404: fail("unknown owner"), 422: invalid },
  }, async (c, input) => {
    const body = await input.body();
    const key = await idempotencyKey(c);
    const isImage = body.media_type === "image";
    if (!isImage && isBlank(body.content)) {
      throw bodyIssue("content", "a text memory needs non-empty content");
    }
    // One commit for the memories of a turn (core/db/group_commit.ts).
    const made = await groupCommit(db, () => createMemory(deps, c, { body, key, now: clock() }));
    // A new memory is answered as written (it has no tags yet); a replay as it is now.
    return c.json(made.row ? memoryJson(made.row, []) : mustLoad(deps, made.id), 201);
  });

  defineRoute(app, {
    method: "GET",
    path: "/:id",
    tag: "memories",
    summary: "A memory with its tags",
    responses: { 200: ok("Memory"), 404: fail("no such memory") },
  }, (c) => {
    const id = pathId(c, "id", "Memory");
    const memory = loadMemoryJsonText(db, id);
    if (memory === null) throw notFound("Memory");
    return jsonText(c, memory);
  });

  defineRoute(app, {
    method: "PATCH",
    path: "/:id",
    tag: "memories",
    summary: "Change a memory (confirming indexes it for search)",
    body: memoryUpdate,
    headers: [ACTOR_HEADER],
    responses: {
      200: ok("Memory"),
      404: fail("no such memory"),
      409: fail("a confirmed memory cannot go back to pending"),
      422: invalid,
    },
  }, async (c, input) => {
    const id = pathId(c, "id", "Memory");
    requireMemory(db, id);
    const body = await input.body();
    const localPath = await checkedLocalPath(body.media_local_path, config.IMAGE_STORAGE_PATH);
    updateMemory(deps, c, { id, body, localPath });
    return c.json(mustLoad(deps, id), 200);
  });

  defineRoute(app, {
    method: "DELETE",
    path: "/:id",
    tag: "memories",
    summary: "Delete a memory, its tags, index entry and image file",
    headers: [ACTOR_HEADER],
    responses: {
      204: deleted,
      404: fail("no such memory"),
      409: fail("tasks, reminders or events point to it (nothing changed)"),
    },
  }, async (c) => {
    const id = pathId(c, "id", "Memory");
    const at = nowIso(clock);
    const removedPath = transaction(db, () => {
      const before = getMemoryRow(db, id);
      if (before === null) throw notFound("Memory");
      const refs = describeReferences(memoryReferences(db, id));
      if (refs !== null) {
        throw new ApiError(
          409,
          `Memory is referenced by ${refs}; delete or detach them first`,
        );
      }
      const tags = db.prepare("SELECT tag FROM memory_tags WHERE memory_id = ? ORDER BY rowid")
        .all(id).map((t) => t.tag);
      db.prepare("DELETE FROM memory_tags WHERE memory_id = ?").run(id);
      db.prepare("DELETE FROM memories WHERE id = ?").run(id);
      writeAudit(db, {
        entity_type: "memory",
        entity_id: id,
        action: "deleted",
        actor: actorOf(c, before.owner_user_id),
        detail: {
          status: before.status,
          media_type: before.media_type,
          media_local_path: before.media_local_path,
          tags,
        },
        at,
      });
      return before.media_local_path;
    });
    await discardImage(deps, removedPath);
    return c.body(null, 204);
  });

  app.route("/", memoryTagsRouter(deps));
  app.route("/", memoryImageRouter(deps));
  return app;
}

/**
 * `media_local_path` of a PATCH as it is stored: its normalized absolute form inside the image
 * directory (what the worker and the file cleanup expect), checked to be an acceptable file;
 * `undefined` when the body does not set it, `null` to clear it.
 */
async function checkedLocalPath(
  path: string | null | undefined,
  imageDir: string,
): Promise<string | null | undefined> {
  if (path === undefined || path === null) return path;
  const inside = imagePathInside(path, imageDir);
  if (inside === null) {
    throw bodyIssue(
      "media_local_path",
      "must be a path inside IMAGE_STORAGE_PATH (absolute, or relative to it)",
    );
  }
  // A file that is not there yet is fine (a client may set the path before uploading).
  const check = await checkImageFile(inside, imageDir);
  if (!check.ok && check.problem !== "missing") {
    throw bodyIssue("media_local_path", `refused: ${check.message}`);
  }
  return inside;
}

/** Apply a PATCH in one transaction, with its audit entry; a no-op change writes nothing. */
function updateMemory(
  deps: CoreDeps,
  c: Context,
  change: { id: string; body: z.output<typeof memoryUpdate>; localPath: string | null | undefined },
): void {
  const { db, clock } = deps;
  const { id, body, localPath } = change;
  const at = nowIso(clock);
  transaction(db, () => {
    const before = getMemoryRow(db, id);
    if (before === null) throw notFound("Memory");
    const changes: Record<string, unknown> = {};
    if (body.content !== undefined && body.content !== before.content) {
      changes.content = body.content;
    }
    if (body.is_pinned !== undefined && Number(body.is_pinned) !== before.is_pinned) {
      changes.is_pinned = Number(body.is_pinned);
    }
    if (localPath !== undefined && localPath !== before.media_local_path) {
      changes.media_local_path = localPath;
    }
    let confirming = false;
    if (body.status !== undefined && body.status !== before.status) {
      if (body.status === "pending") {
        // A confirmed memory going back to pending would be deleted by the expiry sweep.
        throw new ApiError(409, "Memory is already confirmed; it cannot go back to pending");
      }
      confirming = true;
      changes.status = "confirmed";
      changes.pending_expires_at = null;
    }
    const content = "content" in changes ? changes.content as string | null : before.content;
    if (before.media_type !== "image" && isBlank(content)) {
      throw bodyIssue("content", "a text memory needs non-empty content");
    }
    const fields = Object.keys(changes);
    if (fields.length === 0) return;
    // Field names come from the fixed set above, never from the request.
    db.prepare(
      `UPDATE memories SET ${fields.map((f) => `${f} = ?`).join(", ")}, updated_at = ?
       WHERE id = ?`,
    ).run(...fields.map((f) => changes[f] as string | number | null), at, id);
    const detail: Record<string, unknown> = { ...changes };
    if ("is_pinned" in detail) detail.is_pinned = detail.is_pinned === 1;
    if ("content" in detail) detail.content_length = content?.length ?? 0;
    delete detail.content;
    writeAudit(db, {
      entity_type: "memory",
      entity_id: id,
      action: confirming ? "confirmed" : "updated",
      actor: actorOf(c, before.owner_user_id),
      detail: { fields, ...detail },
      at,
    });
  });
}

/**
 * Insert the memory with its audit entry, or, for a repeated `Idempotency-Key`, find the one it
 * made: the memory's id either way, and the row when it is new; 404 for an unknown owner. A part
 * of a group commit, which keeps it all or nothing (core/db/group_commit.ts). The owner is looked
 * up here, inside the group's transaction, rather than before it: a read on its own takes and
 * drops the WAL read lock, ~9% of the core's main thread under POST /memories.
 */
function createMemory(
  deps: CoreDeps,
  c: Context,
  request: { body: z.output<typeof memoryCreate>; key: IdempotencyKey | null; now: Date },
): { id: string; row?: MemoryRow } {
  const { db } = deps;
  const { body, key, now } = request;
  const isImage = body.media_type === "image";
  const at = now.toISOString();
  requireUser(db, body.owner_user_id);
  const prior = findIdempotent(db, key, "memory");
  if (prior !== null) {
    if (getMemoryRow(db, prior) !== null) return { id: prior };
    // The memory this key made has been deleted since; the key is free again rather
    // than a dead end (its row would otherwise block the insert below).
    forgetIdempotent(db, key!);
  }
  const newId = newRowId();
  const status = isImage ? "pending" : "confirmed";
  const expires = isImage ? new Date(now.getTime() + PENDING_TTL_MS).toISOString() : null;
  const row = insertMemory(db, {
    id: newId,
    owner_user_id: body.owner_user_id,
    source_chat_id: body.source_chat_id ?? null,
    source_message_id: body.source_message_id ?? null,
    content: body.content ?? null,
    media_type: body.media_type ?? null,
    media_file_id: body.media_file_id ?? null,
    status,
    pending_expires_at: expires,
    at,
  });
  rememberIdempotent(db, key, { type: "memory", id: newId, at });
  writeAudit(db, {
    entity_type: "memory",
    entity_id: newId,
    action: "created",
    actor: actorOf(c, body.owner_user_id),
    detail: { status, media_type: body.media_type ?? null },
    at,
  });
  return { id: newId, row };
}
