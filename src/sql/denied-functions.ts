/**
 * Functions a kinesql client may not call: they read or write the server's files, change server or
 * cluster state, execute SQL passed to them as a string (which the gate cannot see), or write data.
 *
 * Matched on the function's own name, case-insensitively, whatever schema it is called through. Clients
 * cannot create functions (CREATE FUNCTION is refused), so a name can only resolve to a built-in or to a
 * function of an extension the operator installed; matching the bare name also catches an extension such
 * as dblink installed in a schema of its own. Functions are therefore not refused for their schema.
 *
 * Operators cannot reach any of these: no built-in operator is implemented by one, and clients cannot
 * create operators. Casts and type input functions do not reach them either.
 *
 * Deliberately allowed:
 * - pg_sleep, pg_sleep_for, pg_sleep_until: they read and write nothing. A long sleep occupies the shared
 *   engine like any long query does, and is handled the same way (statement_timeout and cancel, which
 *   kinesql implements by restarting the engine); tests and clients use pg_sleep to exercise exactly that.
 * - txid_current, pg_current_xact_id and friends: they only assign a transaction id, which changes no
 *   data; drivers and monitoring queries call them.
 * - currval, lastval: reads (and nextval/setval are refused, so there is nothing to read).
 * - set_config: decided per call by the gate (only a constant name of an allowed setting).
 * - pg_advisory_unlock, pg_advisory_unlock_shared, pg_advisory_unlock_all: they release only session-level
 *   advisory locks of the calling session, and a client session cannot take any (the lock functions are
 *   refused), so they change nothing; connection pools (asyncpg) call pg_advisory_unlock_all on every reset.
 */

const DENIED_NAMES = new Set([
  // server files
  'pg_read_file',
  'pg_read_binary_file',
  'pg_stat_file',
  'pg_logdir_ls',
  'pg_show_all_file_settings',
  'pg_hba_file_rules',
  'pg_ident_file_mappings',
  'pg_export_snapshot',
  // server state and other sessions
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_promote',
  'pg_switch_wal',
  'pg_switch_xlog',
  'pg_create_restore_point',
  'pg_start_backup',
  'pg_stop_backup',
  'pg_log_backend_memory_contexts',
  'pg_log_standby_snapshot',
  'pg_import_system_collations',
  'pg_notify',
  'pg_drop_replication_slot',
  'pg_replication_slot_advance',
  'pg_sync_replication_slots',
  'pg_stat_statements_reset',
  'pg_nextoid',
  'pg_buffercache_evict',
  'pg_buffercache_evict_relation',
  'pg_buffercache_evict_all',
  // writes to data, sequences or indexes
  'nextval',
  'setval',
  'brin_summarize_new_values',
  'brin_summarize_range',
  'brin_desummarize_range',
  'gin_clean_pending_list',
  'pg_truncate_visibility_map',
  'loread',
  'lowrite',
  // run SQL given as a string
  'ts_stat',
]);

const DENIED_PREFIXES = [
  'pg_ls_', // pg_ls_dir, pg_ls_logdir, pg_ls_waldir, pg_ls_tmpdir, pg_ls_archive_statusdir, …
  'pg_file_', // adminpack: pg_file_write, pg_file_rename, pg_file_unlink, pg_file_sync
  'lo_', // large objects: lo_import, lo_export, lo_create, lo_unlink, lo_put, lo_from_bytea, …
  'pg_create_', // pg_create_physical_replication_slot, pg_create_logical_replication_slot, …
  'pg_copy_', // pg_copy_physical_replication_slot, pg_copy_logical_replication_slot
  'pg_replication_origin_',
  'pg_logical_', // pg_logical_slot_get_changes (consumes the slot), pg_logical_emit_message, …
  'pg_stat_reset',
  'pg_backup_', // pg_backup_start, pg_backup_stop
  'pg_wal_replay_',
  'pg_advisory_',
  'pg_try_advisory_',
  'binary_upgrade_',
  'dblink',
  'pg_restore_', // pg_restore_relation_stats, pg_restore_attribute_stats (write planner statistics)
  'pg_clear_', // pg_clear_relation_stats, pg_clear_attribute_stats
  // *_to_xml run queries they build or are given as a string
  'query_to_xml',
  'table_to_xml',
  'cursor_to_xml',
  'schema_to_xml',
  'database_to_xml',
];

/** Exceptions to DENIED_PREFIXES. */
const ALLOWED_NAMES = new Set(['pg_advisory_unlock', 'pg_advisory_unlock_shared', 'pg_advisory_unlock_all']);

/** Whether calling the function named `name` (unqualified, as the parser gives it) is refused. */
export function isDeniedFunction(name: string, argCount: number): boolean {
  const lower = name.toLowerCase();
  if (ALLOWED_NAMES.has(lower)) return false;
  if (DENIED_NAMES.has(lower)) return true;
  if (DENIED_PREFIXES.some((p) => lower.startsWith(p))) return true;
  // ts_rewrite(query tsquery, select text) runs its second argument as SQL; the 3-argument form does not.
  if (lower === 'ts_rewrite' && argCount === 2) return true;
  return false;
}
