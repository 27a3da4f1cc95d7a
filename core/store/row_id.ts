/**
 * Ids of new rows (memories, jobs, tasks, reminders, events).
 *
 * The contract's ids are UUID v4 strings (DESIGN.md), and every table keys its rows by that
 * string in a B-tree index, as does the audit log's index on the entity. A fully random id lands
 * on a random leaf page of each of those indexes, and on a store larger than SQLite's page cache
 * each insert read a page and wrote it back whole in the WAL. Ids that sort by creation time
 * land on the same few pages. Measured on the 100,000-memory bench store, the core on one CPU
 * (8 alternating rounds): POST /memories ~226 -> ~168 us of CPU and 53 -> 22 KB written a
 * request, POST /llm_jobs ~203 -> ~164 us and 25 -> 16 KB.
 *
 * So an id is laid out as a UUID v7 (RFC 9562: the Unix time in milliseconds in its first 48
 * bits) but keeps the version 4 and variant bits of the format clients know, with 74 random bits
 * (12 after the version digit, 62 after the variant): still unguessable, and no more telling
 * than the `created_at` every answer carries. Ids written before (random throughout, like the
 * first version's) stay as they are and are looked up the same way.
 */

/** A new row id: a UUID in the v4 format whose first 48 bits are `nowMs` (now by default). */
export function newRowId(nowMs: number = Date.now()): string {
  const random = crypto.randomUUID(); // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx
  const time = Math.trunc(nowMs).toString(16).padStart(12, "0").slice(-12);
  return `${time.slice(0, 8)}-${time.slice(8)}${random.slice(13)}`;
}
