-- A job row is committed before it is published; stream_message_id records that the XADD
-- happened, so the core can republish queued jobs that never reached Redis.
-- Jobs written by the first version count as unpublished: republishing a queued job is safe,
-- the worker skips jobs that are already completed or failed.
ALTER TABLE llm_jobs ADD COLUMN stream_message_id TEXT;
ALTER TABLE llm_jobs ADD COLUMN published_at TEXT;
CREATE INDEX idx_llm_jobs_unpublished ON llm_jobs(created_at)
    WHERE stream_message_id IS NULL AND status = 'queued';
