/**
 * Removing image files under IMAGE_STORAGE_PATH without ever touching anything outside it
 * (uploads are written by image_upload.ts). Which files are images and which paths are inside
 * the directory is shared/images.ts, the worker's rule too.
 */
import { posix } from "node:path";
import { imagePathInside, imageRoot } from "../../shared/images.ts";

/** What {@linkcode deleteImage} did. */
export type DeleteImageResult = "deleted" | "missing" | "outside" | "not_a_file";

/**
 * Remove the image at `path` if it is inside `imageDir`. A path outside the directory, lexically
 * or through a symlinked parent directory, is never removed (`outside`); a file already gone is
 * fine (`missing`); a directory is left alone (`not_a_file`). Other errors (permissions) are
 * thrown.
 */
export async function deleteImage(path: string, imageDir: string): Promise<DeleteImageResult> {
  const inside = imagePathInside(path, imageDir);
  if (inside === null) return "outside";
  let realRoot: string;
  let realParent: string;
  try {
    realRoot = await Deno.realPath(imageRoot(imageDir));
    realParent = await Deno.realPath(posix.dirname(inside));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "missing";
    throw err;
  }
  if (realParent !== realRoot && !realParent.startsWith(`${realRoot}/`)) return "outside";
  const target = posix.join(realParent, posix.basename(inside));
  try {
    if ((await Deno.lstat(target)).isDirectory) return "not_a_file";
    // The final component is removed as it is: a symlink is unlinked, never followed.
    await Deno.remove(target);
    return "deleted";
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "missing";
    throw err;
  }
}
