-- An audit list filtered by a rare entity_type, read from an index. Since migration 018 a list of
-- one entity_type and nothing else walks the log newest first: quick for the types most entries
-- have, but a type with few entries (user_settings, tag, dead_letter) is looked for through the
-- whole log: ~300 ms in a log of 1,000,000 entries, on the core's main thread. This index holds
-- every type but the two that most writes log (a new memory, a job and its updates), so those
-- writes cost what they did; core/store/audit.ts repeats its WHERE in the query word for word
-- (AUDIT_TYPE_INDEX_WHERE), which is what lets SQLite use a partial index.
CREATE INDEX idx_audit_type ON audit_log(entity_type, created_at)
    WHERE entity_type NOT IN ('memory', 'llm_job');
