/** The admin overview's job activity (core/jobs/queue_stats.ts) against real SQLite. */
import assert from "node:assert/strict";
import { openDatabase } from "../../core/db/open.ts";
import { jobActivity } from "../../core/jobs/queue_stats.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const NOW = new Date("2026-06-01T12:00:00.000Z");

function minutesAgo(minutes: number): string {
  return new Date(NOW.getTime() - minutes * 60_000).toISOString();
}

Deno.test("jobActivity counts jobs finished in the last hour and day, and the oldest queued", () => {
  using db = openDatabase(":memory:");
  const insert = db.prepare(
    `INSERT INTO llm_jobs (id, job_type, payload, status, created_at, updated_at)
     VALUES (?, 'followup', '{}', ?, ?, ?)`,
  );
  // [status, created minutes ago, last changed minutes ago]
  const jobs: [string, number, number][] = [
    ["completed", 30, 5], // last hour
    ["failed", 3000, 59], // last hour, created two days ago: finishing is what counts
    ["completed", 300, 120], // last day
    ["failed", 1500, 1439], // last day
    ["completed", 1500, 1441], // older
    ["processing", 10, 1], // not finished
    ["queued", 50, 50],
    ["queued", 2000, 2000], // the oldest queued
    ["queued", 5, 1],
  ];
  jobs.forEach(([status, created, updated], i) =>
    insert.run(`job-${i}`, status, minutesAgo(created), minutesAgo(updated))
  );
  assert.deepEqual(jobActivity(db, NOW), {
    finished_last_hour: 2,
    finished_last_day: 4,
    oldest_queued_at: minutesAgo(2000),
  });

  // A failed job put back in the queue is neither finished nor is its old finishing counted.
  db.prepare("UPDATE llm_jobs SET status = 'queued', updated_at = ? WHERE id = 'job-1'")
    .run(minutesAgo(0));
  assert.deepEqual(jobActivity(db, NOW), {
    finished_last_hour: 1,
    finished_last_day: 3,
    oldest_queued_at: minutesAgo(3000),
  });

  db.exec("DELETE FROM llm_jobs");
  assert.deepEqual(jobActivity(db, NOW), {
    finished_last_hour: 0,
    finished_last_day: 0,
    oldest_queued_at: null,
  });
});
