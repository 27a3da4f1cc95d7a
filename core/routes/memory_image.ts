/** POST /memories/{id}/image: an upload streamed into the image directory (image_upload.ts). */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { ACTOR_HEADER, fail, invalid, ok } from "../openapi.ts";
import type { Context } from "hono";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { writeAudit } from "../store/audit.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { pathId } from "../http/validate.ts";
import { requireMemory } from "../store/lookups.ts";
import { getMemoryRow } from "../store/memory_repo.ts";
import { MULTIPART_SLACK_BYTES, type ReceivedImage, receiveImage } from "../files/image_upload.ts";
import { multipartBoundary } from "../http/multipart.ts";
import { concurrencyLimit } from "../http/concurrency.ts";
import { discardImage } from "./memory_common.ts";
import type { CoreConfig } from "../../shared/config.ts";
import { imageUpload } from "../../shared/schemas.ts";

/** Router for /memories/{id}/image (mounted under /memories). */
export function memoryImageRouter(deps: CoreDeps): Hono {
  const { db, clock, config } = deps;
  const app = new Hono();

  const uploadSlots = concurrencyLimit(config.MAX_CONCURRENT_UPLOADS, { what: "uploads" });
  defineRoute(app, {
    method: "POST",
    path: "/:id/image",
    middleware: [uploadSlots],
    tag: "memories",
    summary: "Upload the memory's image (multipart `file`; stored as <uuid><ext>)",
    multipart: imageUpload,
    headers: [ACTOR_HEADER],
    responses: {
      200: ok("ImageUpload"),
      404: fail("no such memory"),
      415: fail("not a supported image type"),
      422: invalid,
    },
  }, async (c) => {
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
