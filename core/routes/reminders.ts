/** STUB: to be implemented. */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";

/** Router for /reminders. */
export function remindersRouter(_deps: CoreDeps): Hono {
  return new Hono();
}
