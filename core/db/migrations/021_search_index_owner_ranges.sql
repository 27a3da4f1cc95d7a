-- The search index's rows are numbered by owner, so a search reads only its owner's part.
--
-- Until now an index row's rowid was its memory's, and a search kept its owner's matches by
-- looking each match up in idx_memories_owner: a word found in many memories cost a lookup for
-- every memory of every owner holding it. Each owner now has a number (search_owners.part, given
-- when the user is created), and a memory's index row is numbered part * 2^40 + the memory's
-- rowid. An owner's rows are one range of rowids, which FTS5 reads directly (a rowid constraint
-- of the MATCH), newest last as before; no lookup in `memories` is left. bm25 does not depend
-- on rowids, so scores and order are what they were. The expression is core/store/search_index.ts's
-- (SEARCH_PART_SPAN); a memory's rowid stays below 2^40.
-- idx_memories_owner served only that lookup (migration 016 kept it for it): nothing reads it
-- now, and every group of new memories wrote a leaf of it per owner (WAL 159 -> 137 KB a group
-- of 11 memories from 5 owners without it). No user is ever deleted, so the foreign key of
-- memories.owner_user_id does not need it either.
DROP INDEX IF EXISTS idx_memories_owner;

CREATE TABLE search_owners (
    owner_user_id  INTEGER PRIMARY KEY,
    part           INTEGER NOT NULL UNIQUE CHECK (part > 0)
);
INSERT INTO search_owners (owner_user_id, part)
SELECT owner_user_id, row_number() OVER (ORDER BY owner_user_id)
FROM (SELECT telegram_user_id AS owner_user_id FROM users
      UNION SELECT owner_user_id FROM memories);

CREATE TRIGGER users_search_owner AFTER INSERT ON users BEGIN
    INSERT OR IGNORE INTO search_owners (owner_user_id, part)
    VALUES (new.telegram_user_id, (SELECT coalesce(max(part), 0) + 1 FROM search_owners));
END;

-- An index row as the triggers and the rebuild below write it, in one place: the rowid in the
-- owner's part, the text, the confirmed tags and the owner's tokens (core/store/search_index.ts
-- writes the same row for a new memory). `+t.status`: tags are looked up by memory id, the
-- primary key, whatever other index exists.
CREATE VIEW memories_fts_rows AS
SELECT m.id AS memory_id, s.part * 1099511627776 + m.rowid AS fts_rowid,
       coalesce(m.content, '') AS content,
       coalesce((SELECT group_concat(t.tag, ' ') FROM memory_tags t
                 WHERE t.memory_id = m.id AND +t.status = 'confirmed'), '') AS tags,
       'o' || replace(m.owner_user_id, '-', 'n') ||
       CASE WHEN m.is_pinned THEN ' p' || replace(m.owner_user_id, '-', 'n') ELSE '' END AS meta
FROM memories m JOIN search_owners s ON s.owner_user_id = m.owner_user_id
WHERE m.status = 'confirmed';

DROP TRIGGER IF EXISTS memories_fts_after_delete;
DROP TRIGGER IF EXISTS memories_fts_after_update;
DROP TRIGGER IF EXISTS memory_tags_fts_after_insert;
DROP TRIGGER IF EXISTS memory_tags_fts_after_update;
DROP TRIGGER IF EXISTS memory_tags_fts_after_delete;
DROP TABLE memories_fts;
CREATE VIRTUAL TABLE memories_fts USING fts5(
    content,
    tags,
    meta,
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO memories_fts (rowid, content, tags, meta)
SELECT fts_rowid, content, tags, meta FROM memories_fts_rows;
-- One transaction's inserts leave the index in many segments (14 at 100,000 memories), each
-- looked up by every search until FTS5's merges catch up: rare-word searches ~1.5x slower.
-- Merging them now costs ~0.3 s at 100,000 memories against ~4.5 s for the rebuild.
INSERT INTO memories_fts (memories_fts) VALUES ('optimize');

CREATE TRIGGER memories_fts_after_delete AFTER DELETE ON memories BEGIN
    DELETE FROM memories_fts WHERE rowid =
        (SELECT part FROM search_owners WHERE owner_user_id = old.owner_user_id)
        * 1099511627776 + old.rowid;
END;

CREATE TRIGGER memories_fts_after_update
AFTER UPDATE OF content, status, is_pinned, owner_user_id ON memories BEGIN
    DELETE FROM memories_fts WHERE rowid =
        (SELECT part FROM search_owners WHERE owner_user_id = old.owner_user_id)
        * 1099511627776 + old.rowid;
    INSERT INTO memories_fts (rowid, content, tags, meta)
    SELECT fts_rowid, content, tags, meta FROM memories_fts_rows WHERE memory_id = new.id;
END;

CREATE TRIGGER memory_tags_fts_after_insert AFTER INSERT ON memory_tags BEGIN
    DELETE FROM memories_fts WHERE rowid =
        (SELECT fts_rowid FROM memories_fts_rows WHERE memory_id = new.memory_id);
    INSERT INTO memories_fts (rowid, content, tags, meta)
    SELECT fts_rowid, content, tags, meta FROM memories_fts_rows WHERE memory_id = new.memory_id;
END;

CREATE TRIGGER memory_tags_fts_after_update AFTER UPDATE ON memory_tags BEGIN
    DELETE FROM memories_fts WHERE rowid =
        (SELECT fts_rowid FROM memories_fts_rows WHERE memory_id = new.memory_id);
    INSERT INTO memories_fts (rowid, content, tags, meta)
    SELECT fts_rowid, content, tags, meta FROM memories_fts_rows WHERE memory_id = new.memory_id;
END;

CREATE TRIGGER memory_tags_fts_after_delete AFTER DELETE ON memory_tags BEGIN
    DELETE FROM memories_fts WHERE rowid =
        (SELECT fts_rowid FROM memories_fts_rows WHERE memory_id = old.memory_id);
    INSERT INTO memories_fts (rowid, content, tags, meta)
    SELECT fts_rowid, content, tags, meta FROM memories_fts_rows WHERE memory_id = old.memory_id;
END;
