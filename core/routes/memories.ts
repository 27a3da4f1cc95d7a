/** STUB: to be implemented. */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";

/** Router for /memories. */
export function memoriesRouter(_deps: CoreDeps): Hono {
  return new Hono();
}
