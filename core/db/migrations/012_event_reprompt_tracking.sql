-- When an event still pending was last re-prompted, so the scheduler re-prompts once a day
-- without touching pending_since.
ALTER TABLE events ADD COLUMN last_reprompt_at TEXT;
CREATE INDEX idx_events_pending_since ON events(pending_since) WHERE status = 'pending';
CREATE INDEX idx_tasks_memory ON tasks(memory_id);
CREATE INDEX idx_reminders_memory ON reminders(memory_id);
CREATE INDEX idx_events_memory ON events(memory_id);
CREATE INDEX idx_audit_created ON audit_log(created_at);
