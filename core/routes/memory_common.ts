/** What the /memories routers share: answers, body issues and the cleanup of replaced images. */
import type { CoreDeps } from "../deps.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { loadMemoryWithTags, type MemoryJson } from "../store/memory_repo.ts";
import { deleteImage } from "../files/images.ts";
import { imagePathInside } from "../../shared/images.ts";

/** A 422 about one body field. */
export function bodyIssue(field: string, msg: string, type = "value_error"): ApiError {
  return new ApiError(422, [{ loc: ["body", field], msg, type }]);
}

/** No text at all, or only white space. */
export function isBlank(text: string | null | undefined): boolean {
  return text === null || text === undefined || text.trim() === "";
}

/** The memory as answered, after a write that must have left it in place. */
export function mustLoad(deps: CoreDeps, id: string): MemoryJson {
  const memory = loadMemoryWithTags(deps.db, id);
  if (memory === null) throw notFound("Memory");
  return memory;
}

/**
 * Remove a memory's old image file after the change that dropped it has committed. Files
 * outside the image directory are never ours; a file another memory still names is kept.
 */
export async function discardImage(deps: CoreDeps, path: string | null): Promise<void> {
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
