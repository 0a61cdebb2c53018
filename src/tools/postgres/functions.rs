//! Functions with side effects, refused by name whatever the role.
//!
//! A read-only transaction does not stop all of them (`dblink_exec` opens a
//! second session that may write, `lo_export` writes a server file,
//! `pg_import_system_collations` writes the catalogue, advisory locks and
//! signals outlive the transaction), and a role allowed with
//! `allow_privileged(true)` may hold the privileges that would. So the guard
//! refuses every call of these names, in any schema, before the database sees
//! the query.

/// Why a class of functions is refused, told to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// `dblink*`: a second connection that may write or run anything.
    Dblink,
    /// Large-object functions.
    LargeObject,
    /// Server files and directories.
    Files,
    /// Session or server settings (`set_config`).
    Settings,
    /// `pg_notify`.
    Notify,
    /// Advisory locks, which outlive the transaction.
    AdvisoryLock,
    /// Other sessions: cancel, terminate, memory-context dumps.
    Signal,
    /// The server itself: reload, log rotation, WAL, backups, promotion, collations.
    Server,
    /// Replication slots and origins, logical decoding.
    Replication,
    /// Sequence and transaction-ID writers (`nextval`, `setval`, `txid_current`).
    Counter,
    /// Functions that run a query given as a string, past the guard.
    NestedQuery,
    /// Statistics resets and index maintenance.
    Maintenance,
}

impl Class {
    /// What the model is told.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Dblink => "opens a connection of its own, which may write or run anything",
            Self::LargeObject => "works on large objects (it may create, change or export them)",
            Self::Files => "reads or writes files on the database server",
            Self::Settings => "changes settings (write the value into the query instead)",
            Self::Notify => "sends a notification to other sessions",
            Self::AdvisoryLock => "takes or releases an advisory lock that outlives the query",
            Self::Signal => "signals other database sessions",
            Self::Server => "acts on the database server itself",
            Self::Replication => "acts on replication slots or origins",
            Self::Counter => "advances a sequence or assigns a transaction ID",
            Self::NestedQuery => "runs a query given as a string",
            Self::Maintenance => "resets statistics or changes an index",
        }
    }
}

/// Exact names (lower case).
const NAMES: &[(&str, Class)] = &[
    ("lowrite", Class::LargeObject),
    ("loread", Class::LargeObject),
    ("pg_read_file", Class::Files),
    ("pg_read_binary_file", Class::Files),
    ("pg_stat_file", Class::Files),
    ("pg_logdir_ls", Class::Files),
    ("set_config", Class::Settings),
    ("setseed", Class::Settings),
    ("pg_notify", Class::Notify),
    ("pg_cancel_backend", Class::Signal),
    ("pg_terminate_backend", Class::Signal),
    ("pg_log_backend_memory_contexts", Class::Signal),
    ("pg_reload_conf", Class::Server),
    ("pg_rotate_logfile", Class::Server),
    ("pg_rotate_logfile_old", Class::Server),
    ("pg_import_system_collations", Class::Server),
    ("pg_create_restore_point", Class::Server),
    ("pg_switch_wal", Class::Server),
    ("pg_switch_xlog", Class::Server),
    ("pg_promote", Class::Server),
    ("pg_wal_replay_pause", Class::Server),
    ("pg_wal_replay_resume", Class::Server),
    ("pg_xlog_replay_pause", Class::Server),
    ("pg_xlog_replay_resume", Class::Server),
    ("pg_start_backup", Class::Server),
    ("pg_stop_backup", Class::Server),
    ("pg_backup_start", Class::Server),
    ("pg_backup_stop", Class::Server),
    ("pg_export_snapshot", Class::Server),
    ("pg_log_standby_snapshot", Class::Server),
    ("pg_nextoid", Class::Server),
    ("pg_sync_replication_slots", Class::Replication),
    ("nextval", Class::Counter),
    ("setval", Class::Counter),
    ("txid_current", Class::Counter),
    ("pg_current_xact_id", Class::Counter),
    ("query_to_xml", Class::NestedQuery),
    ("query_to_xmlschema", Class::NestedQuery),
    ("query_to_xml_and_xmlschema", Class::NestedQuery),
    ("cursor_to_xml", Class::NestedQuery),
    ("cursor_to_xmlschema", Class::NestedQuery),
    ("ts_stat", Class::NestedQuery),
    ("ts_rewrite", Class::NestedQuery),
    ("connectby", Class::NestedQuery),
    ("xpath_table", Class::NestedQuery),
    ("brin_desummarize_range", Class::Maintenance),
    ("gin_clean_pending_list", Class::Maintenance),
    ("pg_truncate_visibility_map", Class::Maintenance),
    ("postgres_fdw_disconnect", Class::Dblink),
    ("postgres_fdw_disconnect_all", Class::Dblink),
];

/// Name prefixes (lower case): whole families, including members added by
/// later server versions or extensions.
const PREFIXES: &[(&str, Class)] = &[
    ("dblink", Class::Dblink),
    ("lo_", Class::LargeObject),
    ("pg_ls_", Class::Files),
    ("pg_file_", Class::Files),
    ("pg_advisory_", Class::AdvisoryLock),
    ("pg_try_advisory_", Class::AdvisoryLock),
    ("pg_create_", Class::Replication),
    ("pg_drop_replication", Class::Replication),
    ("pg_copy_", Class::Replication),
    ("pg_replication_", Class::Replication),
    ("pg_logical_", Class::Replication),
    ("binary_upgrade_", Class::Server),
    ("crosstab", Class::NestedQuery),
    ("pg_background_", Class::NestedQuery),
    ("pg_stat_reset", Class::Maintenance),
    ("pg_stat_statements_reset", Class::Maintenance),
    ("brin_summarize_", Class::Maintenance),
];

/// The class of a refused function, by its name as PostgreSQL resolves it
/// (unquoted names folded to lower case, without the schema).
pub(crate) fn refused(name: &str) -> Option<Class> {
    let name = name.to_ascii_lowercase();
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .or_else(|| PREFIXES.iter().find(|(p, _)| name.starts_with(p)))
        .map(|(_, class)| *class)
}

/// The large-object writers and `dblink` functions the start-up check looks
/// for (those the read-only role recipe revokes from `PUBLIC`).
pub(crate) const REVOKED_IN_RECIPE: &[&str] = &[
    "lo_import",
    "lo_export",
    "lo_create",
    "lo_creat",
    "lo_unlink",
    "lo_put",
    "lo_from_bytea",
    "lowrite",
    "lo_truncate",
    "lo_truncate64",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_names() {
        for name in [
            "dblink",
            "dblink_exec",
            "DBLINK_CONNECT_U",
            "lo_export",
            "lo_creat",
            "lo_truncate64",
            "lowrite",
            "pg_ls_waldir",
            "pg_advisory_xact_lock_shared",
            "pg_try_advisory_lock",
            "pg_create_logical_replication_slot",
            "pg_replication_slot_advance",
            "pg_logical_emit_message",
            "nextval",
            "pg_stat_reset_shared",
            "xpath_table",
            "pg_background_launch",
            "crosstab3",
            "setseed",
        ] {
            assert!(refused(name).is_some(), "{name}");
        }
        for name in [
            "pg_sleep",
            "now",
            "currval",
            "lastval",
            "pg_blocking_pids",
            "pg_wal_lsn_diff",
            "local_time",
            "txid_current_if_assigned",
            "table_to_xml",
            "pg_stat_get_activity",
        ] {
            assert_eq!(refused(name), None, "{name}");
        }
    }
}
