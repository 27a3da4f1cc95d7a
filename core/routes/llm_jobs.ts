/** STUB: to be implemented. */
import { Hono } from "hono";
import type { CoreDeps } from "../deps.ts";

/** Router for /llm_jobs. */
export function llmJobsRouter(_deps: CoreDeps): Hono {
  return new Hono();
}
