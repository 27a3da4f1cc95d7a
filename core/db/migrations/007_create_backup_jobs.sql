-- First version: backup job tracking.
CREATE TABLE backup_jobs (
    backup_id       TEXT PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    started_at      TEXT NOT NULL,
    completed_at    TEXT,
    status          TEXT NOT NULL,
    file_path       TEXT,
    error_message   TEXT
);
CREATE INDEX idx_backup_jobs_user_started ON backup_jobs(user_id, started_at DESC);
