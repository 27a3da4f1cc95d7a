/**
 * /memories: create (idempotent with `Idempotency-Key`), read, update, delete, tags and the image
 * upload. Search indexing is done by the database's triggers (migration 010): a confirmed
 * memory's content and confirmed tags are indexed whenever they change.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { writeAudit } from "../audit.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { parseBody, pathId } from "../http/validate.ts";
import {
  findIdempotent,
  forgetIdempotent,
  idempotencyKey,
  rememberIdempotent,
} from "../idempotency.ts";
import { requireMemory, requireUser } from "../lookups.ts";
import {
  describeReferences,
  getMemoryRow,
  loadMemoryWithTags,
  type MemoryJson,
  memoryReferences,
  normalizeTag,
} from "../memory_repo.ts";
import { deleteImage } from "../images.ts";
import { checkImageFile, imagePathInside } from "../../shared/images.ts";
import { MULTIPART_SLACK_BYTES, type ReceivedImage, receiveImage } from "../image_upload.ts";
import { multipartBoundary } from "../http/multipart.ts";
import { concurrencyLimit } from "../http/concurrency.ts";
import type { CoreConfig } from "../../shared/config.ts";
import { imageUpload, memoryCreate, memoryUpdate, tagsAdd } from "../../shared/schemas.ts";
import type { TagStatus } from "../../shared/enums.ts";

/** How long an image memory waits for the user's confirmation. */
const PENDING_TTL_MS = 7 * 24 * 60 * 60 * 1000;

function bodyIssue(field: string, msg: string, type = "value_error"): ApiError {
  return new ApiError(422, [{ loc: ["body", field], msg, type }]);
}

function isBlank(text: string | null | undefined): boolean {
  return text === null || text === undefined || text.trim() === "";
}

/** The memory as answered, after a write that must have left it in place. */
function mustLoad(deps: CoreDeps, id: string): MemoryJson {
  const memory = loadMemoryWithTags(deps.db, id);
  if (memory === null) throw notFound("Memory");
  return memory;
}

/**
 * Remove a memory's old image file after the change that dropped it has committed. Files
 * outside the image directory are never ours; a file another memory still names is kept.
 */
async function discardImage(deps: CoreDeps, path: string | null): Promise<void> {
  if (!path) return;
  const inside = imagePathInside(path, deps.config.IMAGE_STORAGE_PATH);
  if (inside === null) {
    deps.log.warn("memory image is outside IMAGE_STORAGE_PATH; not deleted", { path });
    return;
  }
  const shared = deps.db.prepare(
    "SELECT 1 AS x FROM memories WHERE media_local_path IN (?, ?) LIMIT 1",
  ).get(path, inside);
  if (shared) return;
  try {
    const result = await deleteImage(inside, deps.config.IMAGE_STORAGE_PATH);
    if (result === "outside" || result === "not_a_file") {
      deps.log.warn("memory image not deleted", { path: inside, reason: result });
    }
  } catch (err) {
    // The row change has committed; a file left behind is only disk space, so say so and go on.
    deps.log.warn("could not delete memory image", { path: inside, error: err as Error });
  }
}

/** Router for /memories. */
export function memoriesRouter(deps: CoreDeps): Hono {
  const { db, clock, config } = deps;
  const app = new Hono();

  app.post("/", async (c) => {
    const body = await parseBody(c, memoryCreate);
    const key = await idempotencyKey(c);
    const isImage = body.media_type === "image";
    if (!isImage && isBlank(body.content)) {
      throw bodyIssue("content", "a text memory needs non-empty content");
    }
    requireUser(db, body.owner_user_id);
    const now = clock();
    const at = now.toISOString();
    const id = transaction(db, () => {
      const prior = findIdempotent(db, key, "memory");
      if (prior !== null) {
        if (getMemoryRow(db, prior) !== null) return prior;
        // The memory this key made has been deleted since; the key is free again rather
        // than a dead end (its row would otherwise block the insert below).
        forgetIdempotent(db, key!);
      }
      const newId = crypto.randomUUID();
      const status = isImage ? "pending" : "confirmed";
      const expires = isImage ? new Date(now.getTime() + PENDING_TTL_MS).toISOString() : null;
      db.prepare(
        `INSERT INTO memories (id, owner_user_id, source_chat_id, source_message_id, content,
           media_type, media_file_id, media_local_path, status, pending_expires_at, is_pinned,
           created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, 0, ?, ?)`,
      ).run(
        newId,
        body.owner_user_id,
        body.source_chat_id ?? null,
        body.source_message_id ?? null,
        body.content ?? null,
        body.media_type ?? null,
        body.media_file_id ?? null,
        status,
        expires,
        at,
        at,
      );
      rememberIdempotent(db, key, { type: "memory", id: newId, at });
      writeAudit(db, {
        entity_type: "memory",
        entity_id: newId,
        action: "created",
        actor: actorOf(c, body.owner_user_id),
        detail: { status, media_type: body.media_type ?? null },
        at,
      });
      return newId;
    });
    return c.json(mustLoad(deps, id), 201);
  });

  app.get("/:id", (c) => {
    const id = pathId(c, "id", "Memory");
    const memory = loadMemoryWithTags(db, id);
    if (memory === null) throw notFound("Memory");
    return c.json(memory, 200);
  });

  app.patch("/:id", async (c) => {
    const id = pathId(c, "id", "Memory");
    requireMemory(db, id);
    const body = await parseBody(c, memoryUpdate);
    let localPath: string | null | undefined = undefined;
    if (body.media_local_path !== undefined) {
      if (body.media_local_path === null) {
        localPath = null;
      } else {
        // Stored in its normalized absolute form, which is what the worker and the file
        // cleanup expect.
        localPath = imagePathInside(body.media_local_path, config.IMAGE_STORAGE_PATH);
        if (localPath === null) {
          throw bodyIssue(
            "media_local_path",
            "must be a path inside IMAGE_STORAGE_PATH (absolute, or relative to it)",
          );
        }
        // A file that is not there yet is fine (a client may set the path before uploading).
        const check = await checkImageFile(localPath, config.IMAGE_STORAGE_PATH);
        if (!check.ok && check.problem !== "missing") {
          throw bodyIssue("media_local_path", `refused: ${check.message}`);
        }
      }
    }
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
    return c.json(mustLoad(deps, id), 200);
  });

  app.delete("/:id", async (c) => {
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

  app.post("/:id/tags", async (c) => {
    const id = pathId(c, "id", "Memory");
    requireMemory(db, id);
    const body = await parseBody(c, tagsAdd);
    const tags = [...new Set(body.tags.map(normalizeTag))];
    const status: TagStatus = body.status;
    const at = nowIso(clock);
    transaction(db, () => {
      const memory = getMemoryRow(db, id);
      if (memory === null) throw notFound("Memory");
      const get = db.prepare("SELECT status FROM memory_tags WHERE memory_id = ? AND tag = ?");
      const insert = db.prepare(
        `INSERT INTO memory_tags (memory_id, tag, status, suggested_at, confirmed_at)
         VALUES (?, ?, ?, ?, ?)`,
      );
      const confirm = db.prepare(
        `UPDATE memory_tags SET status = 'confirmed', confirmed_at = ?
         WHERE memory_id = ? AND tag = ?`,
      );
      const added: string[] = [];
      const confirmed: string[] = [];
      for (const tag of tags) {
        const existing = get.get(id, tag) as { status: string } | undefined;
        if (!existing) {
          insert.run(
            id,
            tag,
            status,
            status === "suggested" ? at : null,
            status === "confirmed" ? at : null,
          );
          added.push(tag);
        } else if (status === "confirmed" && existing.status !== "confirmed") {
          confirm.run(at, id, tag);
          confirmed.push(tag);
        }
        // Otherwise nothing changes: a suggestion never downgrades or refreshes a tag, so a
        // re-run tagging job leaves the memory as it was.
      }
      if (added.length === 0 && confirmed.length === 0) return;
      db.prepare("UPDATE memories SET updated_at = ? WHERE id = ?").run(at, id);
      writeAudit(db, {
        entity_type: "memory",
        entity_id: id,
        action: "updated",
        actor: actorOf(c, memory.owner_user_id),
        detail: { tags, status, added, confirmed },
        at,
      });
    });
    return c.json(mustLoad(deps, id), 200);
  });

  app.delete("/:id/tags/:tag", (c) => {
    const id = pathId(c, "id", "Memory");
    const tag = normalizeTag(c.req.param("tag") ?? "");
    const at = nowIso(clock);
    transaction(db, () => {
      const memory = getMemoryRow(db, id);
      if (memory === null) throw notFound("Memory");
      const row = db.prepare("SELECT status FROM memory_tags WHERE memory_id = ? AND tag = ?")
        .get(id, tag) as { status: string } | undefined;
      if (!row) throw notFound("Tag");
      db.prepare("DELETE FROM memory_tags WHERE memory_id = ? AND tag = ?").run(id, tag);
      db.prepare("UPDATE memories SET updated_at = ? WHERE id = ?").run(at, id);
      writeAudit(db, {
        entity_type: "tag",
        entity_id: id,
        action: "deleted",
        actor: actorOf(c, memory.owner_user_id),
        detail: { tag, status: row.status },
        at,
      });
    });
    return c.body(null, 204);
  });

  const uploadSlots = concurrencyLimit(config.MAX_CONCURRENT_UPLOADS, { what: "uploads" });
  app.post("/:id/image", uploadSlots, async (c) => {
    const id = pathId(c, "id", "Memory");
    requireMemory(db, id);
    const { path, type, size } = await uploadedImage(c, config);
    const at = nowIso(clock);
    let previous: string | null;
    try {
      previous = transaction(db, () => {
        const before = getMemoryRow(db, id);
        if (before === null) throw notFound("Memory");
        db.prepare("UPDATE memories SET media_local_path = ?, updated_at = ? WHERE id = ?")
          .run(path, at, id);
        writeAudit(db, {
          entity_type: "memory",
          entity_id: id,
          action: "updated",
          actor: actorOf(c, before.owner_user_id),
          detail: {
            fields: ["media_local_path"],
            media_local_path: path,
            previous_path: before.media_local_path,
            image_type: type.mime,
            size,
          },
          at,
        });
        return before.media_local_path;
      });
    } catch (err) {
      // The row did not take the new file, so nothing names it.
      await Deno.remove(path).catch(() => {});
      throw err;
    }
    if (previous !== path) await discardImage(deps, previous);
    return c.json({ local_path: path }, 200);
  });

  return app;
}

/**
 * The upload's `file` part, streamed into the image directory (see image_upload.ts). A body
 * that says it is far over the limit is refused before any of it is read.
 */
async function uploadedImage(c: Context, config: CoreConfig): Promise<ReceivedImage> {
  // The same schema the OpenAPI document gives for this body.
  c.set("bodySchema", imageUpload);
  const declared = Number(c.req.header("content-length") ?? NaN);
  if (declared > config.MAX_UPLOAD_BYTES + MULTIPART_SLACK_BYTES) {
    throw new ApiError(413, `request body is larger than ${config.MAX_UPLOAD_BYTES} bytes`);
  }
  const boundary = multipartBoundary(c.req.header("content-type"));
  if (boundary === null || c.req.raw.body === null) {
    throw new ApiError(422, [{
      loc: ["body"],
      msg: "malformed multipart/form-data body: expected multipart/form-data with a boundary",
      type: "multipart_invalid",
    }]);
  }
  return await receiveImage(c.req.raw.body, boundary, {
    imageDir: config.IMAGE_STORAGE_PATH,
    maxBytes: config.MAX_UPLOAD_BYTES,
  });
}
