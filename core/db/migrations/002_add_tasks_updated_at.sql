-- First version: tasks.updated_at.
ALTER TABLE tasks ADD COLUMN updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
