-- Two lookups that read every row of a table that grows.
--
-- The admin overview (refreshed every few seconds while it is open) counts the jobs finished in
-- the last hour and day, and finds the oldest queued job, in core/jobs/queue_stats.ts. That read
-- every job on the core's main thread: ~35 ms at 100,000 jobs, ~310 ms at 1,000,000. A partial
-- index over finished jobs by updated_at (a finished job's last change is its finishing) makes
-- the counts read only the day's finished jobs; the oldest queued job comes from
-- idx_llm_jobs_status. A job enters this index once, when it finishes, at the index's newest end.
CREATE INDEX idx_llm_jobs_finished ON llm_jobs(updated_at) WHERE status IN ('completed', 'failed');

-- Deleting a reminder unlinks the events that point to it (core/store/reminder_repo.ts), and the
-- foreign key events.reminder_id checks the same; with no index both read every event. Few events
-- have a reminder, so the index is partial.
CREATE INDEX idx_events_reminder ON events(reminder_id) WHERE reminder_id IS NOT NULL;
