-- The search index keeps no copy of the text it indexes.
--
-- memories_fts stored each memory's content, tags and owner tokens a second time (its _content
-- table), and nothing reads them back: a search reads rowids and bm25 (core/store/search_query.ts),
-- which use only the index and the sizes in _docsize. Since 021 the rows of a group of new
-- memories from several owners land in as many places of each table keyed by index rowid: a
-- group of 16 memories from 5 owners wrote ~196 KB of WAL against ~128 KB from one owner, and
-- POST /memories lost ~15% of its throughput. Without _content (and with the group's rows
-- written in order of rowid, core/db/held_writes.ts) it writes ~147 KB.
--
-- contentless_delete = 1 keeps DELETE by rowid, which the triggers of 021 use unchanged. A
-- contentless index does not refuse a second row with the same rowid: every write deletes the
-- row first (the triggers) or checks that there is none (core/store/search_index.ts).
DROP TABLE memories_fts;
CREATE VIRTUAL TABLE memories_fts USING fts5(
    content,
    tags,
    meta,
    tokenize = 'unicode61 remove_diacritics 2',
    content = '',
    contentless_delete = 1
);
INSERT INTO memories_fts (rowid, content, tags, meta)
SELECT fts_rowid, content, tags, meta FROM memories_fts_rows;
-- As in 021: one transaction's inserts leave many segments, each looked up by every search.
INSERT INTO memories_fts (memories_fts) VALUES ('optimize');
