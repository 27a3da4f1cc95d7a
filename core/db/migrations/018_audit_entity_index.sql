-- The audit trail of one entity, read from an index. GET /audit?entity_id=... walked the whole
-- log newest first through idx_audit_created, looking each entry's row up to compare its
-- entity_id, because idx_audit_entity began with entity_type, which that filter may leave out.
-- An entity has a handful of entries, so that was nearly every entry of a log that only grows
-- (one entry per change). An index on (entity_id, created_at) serves that filter, with or
-- without entity_type, in order. It replaces idx_audit_entity, so writes cost the same (a second
-- index cost ~3 more pages a group of new memories); what that index served alone, a list of
-- one entity_type and nothing else, now walks the log newest first like the action and actor
-- filters do: quick for the common types, slow for a rare one (user_settings) in a large log.
DROP INDEX IF EXISTS idx_audit_entity;
CREATE INDEX idx_audit_entity ON audit_log(entity_id, created_at);
