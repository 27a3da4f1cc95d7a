-- The indexes of `memories`: fewer pages written by each new memory, and one lookup that read
-- the whole table. Measured on the 100,000-memory bench store.
--
-- A group commit of POST /memories writes every page it changed into the WAL whole: a group of
-- 11 memories from 5 owners wrote ~41 pages (~15 KB a memory), and the COMMIT's cost follows
-- the pages.
-- 1. idx_memories_owner_pinned (owner_user_id, is_pinned, created_at) served one query: an
--    owner's pinned memories, newest first (core/store/search_query.ts). Every memory was in it,
--    and each owner's newest end is a spot in the middle of the tree, so a group wrote one leaf
--    per owner plus the splits: ~8.6 pages a group. A partial index over pinned memories serves
--    that query the same way and is written only when a memory is pinned or unpinned.
-- 2. idx_memories_status (status) was used by no query: the expiry of pending image memories
--    reads idx_memories_pending_expires, which holds exactly those. ~1.9 pages a group.
-- idx_memories_owner stays: the search looks each match up in it by (owner, rowid).
--
-- 3. Before an image file is deleted, the core checks that no other memory names it
--    (core/routes/memory_common.ts). With no index on the path that read every memory, on the
--    main thread: 17 ms at 100,000 memories, 150-750 ms at 1,000,000, stalling every request.
--    Only image memories have a path, so a partial index over them costs text memories nothing.
DROP INDEX IF EXISTS idx_memories_owner_pinned;
DROP INDEX IF EXISTS idx_memories_status;
CREATE INDEX idx_memories_pinned ON memories(owner_user_id, created_at) WHERE is_pinned = 1;
CREATE INDEX idx_memories_image ON memories(media_local_path) WHERE media_local_path IS NOT NULL;
