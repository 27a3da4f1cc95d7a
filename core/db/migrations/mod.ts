/** The numbered migrations, imported as text so the core needs no read access to its code. */

import m001 from "./001_initial_schema.sql" with { type: "text" };
import m002 from "./002_add_tasks_updated_at.sql" with { type: "text" };
import m003 from "./003_add_reminder_fields.sql" with { type: "text" };
import m004 from "./004_update_events_schema.sql" with { type: "text" };
import m005 from "./005_update_user_settings_schema.sql" with { type: "text" };
import m006 from "./006_update_llm_jobs_schema.sql" with { type: "text" };
import m007 from "./007_create_backup_jobs.sql" with { type: "text" };
import m008 from "./008_add_fts_meta_cache.sql" with { type: "text" };
import m009 from "./009_llm_job_publish_tracking.sql" with { type: "text" };
import m010 from "./010_rebuild_search_index.sql" with { type: "text" };
import m011 from "./011_idempotency_keys.sql" with { type: "text" };
import m012 from "./012_event_reprompt_tracking.sql" with { type: "text" };
import m013 from "./013_search_index_owner.sql" with { type: "text" };
import m014 from "./014_idempotency_request_hash.sql" with { type: "text" };
import m015 from "./015_index_new_memories_in_code.sql" with { type: "text" };
import m016 from "./016_memory_write_indexes.sql" with { type: "text" };
import m017 from "./017_job_list_indexes.sql" with { type: "text" };
import m018 from "./018_audit_entity_index.sql" with { type: "text" };
import m019 from "./019_finished_jobs_and_event_reminder_indexes.sql" with { type: "text" };
import m020 from "./020_audit_rare_type_index.sql" with { type: "text" };
import m021 from "./021_search_index_owner_ranges.sql" with { type: "text" };
import m022 from "./022_search_index_contentless.sql" with { type: "text" };

/** One migration: its number (the `user_version` it leaves) and its SQL. */
export interface Migration {
  /** Number from the file name. */
  version: number;
  /** File name, for logs. */
  name: string;
  /** The SQL script. */
  sql: string;
}

/** All migrations in order. Every `NNN_*.sql` file in this folder must be listed here. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "001_initial_schema.sql", sql: m001 },
  { version: 2, name: "002_add_tasks_updated_at.sql", sql: m002 },
  { version: 3, name: "003_add_reminder_fields.sql", sql: m003 },
  { version: 4, name: "004_update_events_schema.sql", sql: m004 },
  { version: 5, name: "005_update_user_settings_schema.sql", sql: m005 },
  { version: 6, name: "006_update_llm_jobs_schema.sql", sql: m006 },
  { version: 7, name: "007_create_backup_jobs.sql", sql: m007 },
  { version: 8, name: "008_add_fts_meta_cache.sql", sql: m008 },
  { version: 9, name: "009_llm_job_publish_tracking.sql", sql: m009 },
  { version: 10, name: "010_rebuild_search_index.sql", sql: m010 },
  { version: 11, name: "011_idempotency_keys.sql", sql: m011 },
  { version: 12, name: "012_event_reprompt_tracking.sql", sql: m012 },
  { version: 13, name: "013_search_index_owner.sql", sql: m013 },
  { version: 14, name: "014_idempotency_request_hash.sql", sql: m014 },
  { version: 15, name: "015_index_new_memories_in_code.sql", sql: m015 },
  { version: 16, name: "016_memory_write_indexes.sql", sql: m016 },
  { version: 17, name: "017_job_list_indexes.sql", sql: m017 },
  { version: 18, name: "018_audit_entity_index.sql", sql: m018 },
  { version: 19, name: "019_finished_jobs_and_event_reminder_indexes.sql", sql: m019 },
  { version: 20, name: "020_audit_rare_type_index.sql", sql: m020 },
  { version: 21, name: "021_search_index_owner_ranges.sql", sql: m021 },
  { version: 22, name: "022_search_index_contentless.sql", sql: m022 },
];
