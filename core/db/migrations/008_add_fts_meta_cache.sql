-- First version: cache of what was last indexed per memory (unused since migration 010).
CREATE TABLE IF NOT EXISTS memories_fts_meta (
    memory_id  TEXT PRIMARY KEY,
    content    TEXT NOT NULL DEFAULT '',
    tags       TEXT NOT NULL DEFAULT ''
);
