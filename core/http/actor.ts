/**
 * The `X-Actor` header: the one place the core reads it. A claim a client may not make is a 422,
 * answered before the route runs so nothing is half done.
 */
import type { Context } from "hono";
import { ApiError } from "./errors.ts";
import { API_ACTOR, CLIENT_ACTORS_TEXT, isClientActor, userActor } from "../../shared/actors.ts";

/** The actor the request names in `X-Actor`, if any; 422 when a client may not claim it. */
export function claimedActor(c: Context): string | undefined {
  const header = c.req.header("x-actor");
  // An empty header claims nothing: some HTTP clients send one for an unset variable.
  if (header === undefined || header === "") return undefined;
  if (isClientActor(header)) return header;
  throw new ApiError(422, [{
    loc: ["header", "x-actor"],
    msg: `X-Actor must be one of ${CLIENT_ACTORS_TEXT}`,
    type: "value_error",
  }]);
}

/**
 * Who is acting: the `X-Actor` header when there is one, else `user:<ownerId>` when the request
 * is about a user's data, else `system:api`.
 */
export function actorOf(c: Context, ownerId?: number | null): string {
  const claimed = claimedActor(c);
  if (claimed !== undefined) return claimed;
  return ownerId === undefined || ownerId === null ? API_ACTOR : userActor(ownerId);
}
