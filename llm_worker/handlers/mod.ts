/** The handler of each job type: the worker's one table of what a job type does. */
import type { JobType } from "../../shared/enums.ts";
import type { JobContext, JobResult } from "./context.ts";
import { handleImageTag } from "./image_tag.ts";
import { handleIntent } from "./intent.ts";
import { handleFollowup } from "./followup.ts";
import { handleTaskMatch } from "./task_match.ts";
import { handleEmailExtract } from "./email_extract.ts";

// deno-lint-ignore no-explicit-any
type AnyHandler = (ctx: JobContext<any>) => Promise<JobResult>;

/** The handler of each job type. */
export const HANDLERS: Readonly<Record<JobType, AnyHandler>> = {
  image_tag: handleImageTag,
  intent_classify: handleIntent,
  followup: handleFollowup,
  task_match: handleTaskMatch,
  email_extract: handleEmailExtract,
};
