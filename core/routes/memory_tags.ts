/**
 * /memories/{id}/tags: add tags (an upsert: a suggestion never downgrades or refreshes a tag, so
 * a re-run tagging job changes nothing) and remove one.
 */
import { Hono } from "hono";
import { defineRoute } from "../http/route.ts";
import { ACTOR_HEADER, deleted, fail, invalid, ok } from "../openapi.ts";
import type { CoreDeps } from "../deps.ts";
import { nowIso } from "../deps.ts";
import { writeAudit } from "../store/audit.ts";
import { actorOf } from "../http/actor.ts";
import { transaction } from "../db/open.ts";
import { notFound } from "../http/errors.ts";
import { pathId } from "../http/validate.ts";
import { requireMemory } from "../store/lookups.ts";
import { getMemoryRow, normalizeTag } from "../store/memory_repo.ts";
import { mustLoad } from "./memory_common.ts";
import { tagsAdd } from "../../shared/schemas.ts";
import type { TagStatus } from "../../shared/enums.ts";

/** Router for /memories/{id}/tags (mounted under /memories). */
export function memoryTagsRouter(deps: CoreDeps): Hono {
  const { db, clock } = deps;
  const app = new Hono();

  defineRoute(app, {
    method: "POST",
    path: "/:id/tags",
    tag: "memories",
    summary: "Add tags (an upsert: confirmed upgrades a suggestion, nothing downgrades)",
    body: tagsAdd,
    headers: [ACTOR_HEADER],
    responses: { 200: ok("Memory"), 404: fail("no such memory"), 422: invalid },
  }, async (c, input) => {
    const id = pathId(c, "id", "Memory");
    requireMemory(db, id);
    const body = await input.body();
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

  defineRoute(app, {
    method: "DELETE",
    path: "/:id/tags/:tag",
    tag: "memories",
    summary: "Remove a tag",
    headers: [ACTOR_HEADER],
    responses: { 204: deleted, 404: fail("no such memory or tag") },
  }, (c) => {
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

  return app;
}
