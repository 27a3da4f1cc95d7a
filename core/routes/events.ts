/** STUB: to be implemented. */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";

/** Router for /events. */
export function eventsRouter(_deps: CoreDeps): Hono {
  return new Hono();
}
