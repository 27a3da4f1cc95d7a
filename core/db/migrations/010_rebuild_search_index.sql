-- The first version's memories_fts used external content with a "tags" column that memories
-- does not have, so SQLite could never rebuild or check it, and edits left it stale.
-- Replace it with a plain FTS5 table keyed by the memory's rowid and kept in step by triggers:
-- only confirmed memories are indexed, over their content and confirmed tags.
DROP TABLE IF EXISTS memories_fts;
CREATE VIRTUAL TABLE memories_fts USING fts5(
    content,
    tags,
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO memories_fts (rowid, content, tags)
SELECT m.rowid, coalesce(m.content, ''),
       coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                 WHERE t.memory_id = m.id AND t.status = 'confirmed'), '')
FROM memories m WHERE m.status = 'confirmed';

CREATE TRIGGER memories_fts_after_insert AFTER INSERT ON memories
WHEN new.status = 'confirmed' BEGIN
    INSERT INTO memories_fts (rowid, content, tags)
    VALUES (new.rowid, coalesce(new.content, ''),
            coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                      WHERE t.memory_id = new.id AND t.status = 'confirmed'), ''));
END;

CREATE TRIGGER memories_fts_after_delete AFTER DELETE ON memories BEGIN
    DELETE FROM memories_fts WHERE rowid = old.rowid;
END;

CREATE TRIGGER memories_fts_after_update AFTER UPDATE OF content, status ON memories BEGIN
    DELETE FROM memories_fts WHERE rowid = old.rowid;
    INSERT INTO memories_fts (rowid, content, tags)
    SELECT new.rowid, coalesce(new.content, ''),
           coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                     WHERE t.memory_id = new.id AND t.status = 'confirmed'), '')
    WHERE new.status = 'confirmed';
END;

CREATE TRIGGER memory_tags_fts_after_insert AFTER INSERT ON memory_tags BEGIN
    DELETE FROM memories_fts WHERE rowid = (SELECT rowid FROM memories WHERE id = new.memory_id);
    INSERT INTO memories_fts (rowid, content, tags)
    SELECT m.rowid, coalesce(m.content, ''),
           coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                     WHERE t.memory_id = m.id AND t.status = 'confirmed'), '')
    FROM memories m WHERE m.id = new.memory_id AND m.status = 'confirmed';
END;

CREATE TRIGGER memory_tags_fts_after_update AFTER UPDATE ON memory_tags BEGIN
    DELETE FROM memories_fts WHERE rowid = (SELECT rowid FROM memories WHERE id = new.memory_id);
    INSERT INTO memories_fts (rowid, content, tags)
    SELECT m.rowid, coalesce(m.content, ''),
           coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                     WHERE t.memory_id = m.id AND t.status = 'confirmed'), '')
    FROM memories m WHERE m.id = new.memory_id AND m.status = 'confirmed';
END;

CREATE TRIGGER memory_tags_fts_after_delete AFTER DELETE ON memory_tags BEGIN
    DELETE FROM memories_fts WHERE rowid = (SELECT rowid FROM memories WHERE id = old.memory_id);
    INSERT INTO memories_fts (rowid, content, tags)
    SELECT m.rowid, coalesce(m.content, ''),
           coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                     WHERE t.memory_id = m.id AND t.status = 'confirmed'), '')
    FROM memories m WHERE m.id = old.memory_id AND m.status = 'confirmed';
END;

CREATE INDEX idx_memories_owner_pinned ON memories(owner_user_id, is_pinned, created_at);
CREATE INDEX idx_memory_tags_status ON memory_tags(status, suggested_at);
