-- Clients that retry a create (the LLM worker after a crash) send an Idempotency-Key header;
-- the second request gets the entity the first one created instead of a duplicate.
CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    entity_type  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
