/** STUB: to be implemented. */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";

/** Router for /search. */
export function searchRouter(_deps: CoreDeps): Hono {
  return new Hono();
}
