-- First version: reminder text and updated_at.
ALTER TABLE reminders ADD COLUMN text TEXT;
ALTER TABLE reminders ADD COLUMN updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
