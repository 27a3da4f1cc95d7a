-- Two speed-ups of the search index (measured with 100,000 memories, see bench/RESULTS.md).
--
-- 1. A memory's confirmed tags are read by every index trigger with
--    `WHERE memory_id = ? AND status = 'confirmed'`. Without statistics SQLite answered that
--    from idx_memory_tags_status (status, suggested_at), i.e. by reading every confirmed tag in
--    the database on each memory insert or edit and each tag change (with 20,000 confirmed tags
--    POST /memories managed 338 requests/s). That index only served the scheduler's expiry of
--    old suggestions; a partial index over suggestions, in the order that pass pages through
--    them, serves it better and is never a candidate for confirmed-tag lookups, which use the
--    primary key (memory_id, tag) again.
--
-- 2. Search filtered by owner after matching: a word found in most memories meant walking all
--    of its matches and looking each one up in `memories`. The index now holds, in a `meta`
--    column, the token `o<owner>` and, for a pinned memory, `p<owner>` (a minus sign written as
--    `n`), so the owner and the pinned filter are part of the MATCH. User words are matched in
--    {content tags} only (core/search_query.ts), so they never reach these tokens, and bm25
--    gives the column weight 0, so scores are what they were.
DROP INDEX IF EXISTS idx_memory_tags_status;
CREATE INDEX idx_memory_tags_suggested ON memory_tags(memory_id, tag) WHERE status = 'suggested';

DROP TRIGGER IF EXISTS memories_fts_after_insert;
DROP TRIGGER IF EXISTS memories_fts_after_delete;
DROP TRIGGER IF EXISTS memories_fts_after_update;
DROP TRIGGER IF EXISTS memory_tags_fts_after_insert;
DROP TRIGGER IF EXISTS memory_tags_fts_after_update;
DROP TRIGGER IF EXISTS memory_tags_fts_after_delete;
DROP TABLE IF EXISTS memories_fts;
CREATE VIRTUAL TABLE memories_fts USING fts5(
    content,
    tags,
    meta,
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO memories_fts (rowid, content, tags, meta)
SELECT m.rowid, coalesce(m.content, ''),
       coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                 WHERE t.memory_id = m.id AND t.status = 'confirmed'), ''),
       'o' || replace(m.owner_user_id, '-', 'n') ||
       CASE WHEN m.is_pinned THEN ' p' || replace(m.owner_user_id, '-', 'n') ELSE '' END
FROM memories m WHERE m.status = 'confirmed';

CREATE TRIGGER memories_fts_after_insert AFTER INSERT ON memories
WHEN new.status = 'confirmed' BEGIN
    INSERT INTO memories_fts (rowid, content, tags, meta)
    VALUES (new.rowid, coalesce(new.content, ''),
            coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                      WHERE t.memory_id = new.id AND t.status = 'confirmed'), ''),
            'o' || replace(new.owner_user_id, '-', 'n') ||
            CASE WHEN new.is_pinned THEN ' p' || replace(new.owner_user_id, '-', 'n') ELSE '' END);
END;

CREATE TRIGGER memories_fts_after_delete AFTER DELETE ON memories BEGIN
    DELETE FROM memories_fts WHERE rowid = old.rowid;
END;

CREATE TRIGGER memories_fts_after_update
AFTER UPDATE OF content, status, is_pinned, owner_user_id ON memories BEGIN
    DELETE FROM memories_fts WHERE rowid = old.rowid;
    INSERT INTO memories_fts (rowid, content, tags, meta)
    SELECT new.rowid, coalesce(new.content, ''),
           coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                     WHERE t.memory_id = new.id AND t.status = 'confirmed'), ''),
           'o' || replace(new.owner_user_id, '-', 'n') ||
           CASE WHEN new.is_pinned THEN ' p' || replace(new.owner_user_id, '-', 'n') ELSE '' END
    WHERE new.status = 'confirmed';
END;

CREATE TRIGGER memory_tags_fts_after_insert AFTER INSERT ON memory_tags BEGIN
    DELETE FROM memories_fts WHERE rowid = (SELECT rowid FROM memories WHERE id = new.memory_id);
    INSERT INTO memories_fts (rowid, content, tags, meta)
    SELECT m.rowid, coalesce(m.content, ''),
           coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                     WHERE t.memory_id = m.id AND t.status = 'confirmed'), ''),
           'o' || replace(m.owner_user_id, '-', 'n') ||
           CASE WHEN m.is_pinned THEN ' p' || replace(m.owner_user_id, '-', 'n') ELSE '' END
    FROM memories m WHERE m.id = new.memory_id AND m.status = 'confirmed';
END;

CREATE TRIGGER memory_tags_fts_after_update AFTER UPDATE ON memory_tags BEGIN
    DELETE FROM memories_fts WHERE rowid = (SELECT rowid FROM memories WHERE id = new.memory_id);
    INSERT INTO memories_fts (rowid, content, tags, meta)
    SELECT m.rowid, coalesce(m.content, ''),
           coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                     WHERE t.memory_id = m.id AND t.status = 'confirmed'), ''),
           'o' || replace(m.owner_user_id, '-', 'n') ||
           CASE WHEN m.is_pinned THEN ' p' || replace(m.owner_user_id, '-', 'n') ELSE '' END
    FROM memories m WHERE m.id = new.memory_id AND m.status = 'confirmed';
END;

CREATE TRIGGER memory_tags_fts_after_delete AFTER DELETE ON memory_tags BEGIN
    DELETE FROM memories_fts WHERE rowid = (SELECT rowid FROM memories WHERE id = old.memory_id);
    INSERT INTO memories_fts (rowid, content, tags, meta)
    SELECT m.rowid, coalesce(m.content, ''),
           coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                     WHERE t.memory_id = m.id AND t.status = 'confirmed'), ''),
           'o' || replace(m.owner_user_id, '-', 'n') ||
           CASE WHEN m.is_pinned THEN ' p' || replace(m.owner_user_id, '-', 'n') ELSE '' END
    FROM memories m WHERE m.id = old.memory_id AND m.status = 'confirmed';
END;
