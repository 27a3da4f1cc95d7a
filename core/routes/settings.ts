/** STUB: to be implemented. */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";

/** Router for /settings. */
export function settingsRouter(_deps: CoreDeps): Hono {
  return new Hono();
}
