/** STUB: to be implemented. */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";

/** Router for /audit. */
export function auditRouter(_deps: CoreDeps): Hono {
  return new Hono();
}
