-- First version: user_settings keyed by user_id, with language and timestamps.
CREATE TABLE user_settings_new (
    user_id       INTEGER PRIMARY KEY REFERENCES users(telegram_user_id),
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    language      TEXT NOT NULL DEFAULT 'en',
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO user_settings_new (user_id, timezone, language, created_at, updated_at)
SELECT telegram_user_id, timezone, 'en', (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) FROM user_settings;
DROP TABLE user_settings;
ALTER TABLE user_settings_new RENAME TO user_settings;
