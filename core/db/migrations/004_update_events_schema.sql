-- First version: events column names as the API spells them.
ALTER TABLE events RENAME COLUMN event_date TO event_time;
ALTER TABLE events RENAME COLUMN source_ref TO source_detail;
ALTER TABLE events ADD COLUMN confirmed_at TEXT;
ALTER TABLE events ADD COLUMN updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
