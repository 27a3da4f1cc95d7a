/** STUB: to be implemented. */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";

/** Router for /tasks. */
export function tasksRouter(_deps: CoreDeps): Hono {
  return new Hono();
}
