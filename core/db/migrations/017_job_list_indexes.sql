-- Job lists and counts that read only what they answer. Jobs are never deleted, so llm_jobs only
-- grows, and every GET /llm_jobs sorted all the jobs its filter matched (ORDER BY created_at DESC
-- over an index on the filter column alone, or over the whole table without a filter), and every
-- /metrics scrape and GET /admin/queue-stats counted by type and status by reading each row.
-- Measured with 100,000 and 1,000,000 jobs, on the core's main thread, where every other
-- request waits: a list 60-230 ms and 0.4-2.3 s, the counts 105-160 ms and 1.1-1.6 s.
--
-- Each filter's index now ends in created_at, so a page of a list is read in order from its
-- index (~0.1 ms at 1,000,000), and the counts read one small index instead of the table (~80 ms
-- at 1,000,000; still a pass over every job, but a tenth of the table's). This costs writes: a
-- group of new jobs writes ~35 pages where it wrote ~27 (in-process, groups of 11). The admin
-- overview's finished-in-the-last-day figures (core/jobs/queue_stats.ts) still read every job.
DROP INDEX IF EXISTS idx_llm_jobs_status;
DROP INDEX IF EXISTS idx_llm_jobs_job_type;
DROP INDEX IF EXISTS idx_llm_jobs_user_id;
CREATE INDEX idx_llm_jobs_created ON llm_jobs(created_at);
CREATE INDEX idx_llm_jobs_status ON llm_jobs(status, created_at);
CREATE INDEX idx_llm_jobs_type ON llm_jobs(job_type, created_at);
CREATE INDEX idx_llm_jobs_type_status ON llm_jobs(job_type, status, created_at);
CREATE INDEX idx_llm_jobs_user ON llm_jobs(user_id, created_at) WHERE user_id IS NOT NULL;
