-- A new confirmed memory is indexed for search by the core's insert (core/store/search_index.ts),
-- no longer by this trigger: with a trigger that writes the index on `memories`, SQLite opens a
-- statement journal for every insert, and FTS5 writes out its in-memory terms at each one, so
-- every memory became a segment of its own (about half the cost of POST /memories). The
-- triggers for edits, deletions and tags (migration 013) stay.
DROP TRIGGER IF EXISTS memories_fts_after_insert;
