/** STUB: to be implemented. */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";

/** Router for /backup. */
export function backupRouter(_deps: CoreDeps): Hono {
  return new Hono();
}
