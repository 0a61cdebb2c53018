//! The attack suite: SQL a hostile model might send, run through `run_postgres_query`
//! as a superuser (explicitly allowed), the table owner (explicitly allowed) and a
//! read-only role, on a real throwaway PostgreSQL.
//!
//! Each case asserts the statement is refused or stopped with a clear message,
//! that the database is unchanged (a `pg_dump` of the test
//! database with sequence values and large objects, the roles, advisory locks —
//! compared with the snapshot taken before), that no file appeared on the server,
//! and that the pooled connection carries nothing over to the next call
//! (prepared statements, cursors, `LISTEN`, advisory locks, role, `search_path`).
//!
//! Cases per family (each run for every role listed with it):
//!
//! | family | cases |
//! |---|---|
//! | stacked statements | 15 |
//! | transaction control | 11 |
//! | session settings (`SET`, `RESET`, `set_config`, roles) | 11 |
//! | DDL / DML / `SELECT INTO` / `MERGE` / CTE with DML / nested query strings | 20 |
//! | side-effect functions (`dblink`, large objects, locks, signals, server control…) | 29 |
//! | the same, spelled to hide (case, schema, quotes, `U&"…"`, `UESCAPE`, comments, nesting) | 19 |
//! | server files and programs | 11 |
//! | `PREPARE` and other session leaks | 9 |
//! | runaway work | 9 |
//! | lock waits against a concurrent writer | 6 |
//! | **total** | **140** |
//!
//! Each case also goes through `explain_postgres_query` with `analyze: true`
//! (allowed on these databases; runaway and lock-wait cases without), which
//! runs the query: what the query tool
//! refuses must be refused there too, and the snapshot covers the rest.
//!
//! With the `mcp` feature, every case also runs once through the MCP server over stdio
//! (the `mcp_server` example as a child process, its `DATABASE_URL` the read-only role,
//! `tools/call run_postgres_query`): the same refusals and stops hold over the protocol,
//! and the same snapshot proves nothing changed.
//!
//! Every side-effect function is refused for every role, an allowed superuser
//! included; `allowed_superuser_changes_nothing_through_dblink_exec_or_lo_export`
//! first shows that a superuser's READ ONLY transaction alone stops neither
//! `dblink_exec` nor `lo_export`, then that the tool changes nothing.
#![cfg(feature = "postgres")]
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[cfg(feature = "mcp")]
#[path = "support/mcp.rs"]
mod mcp_support;
#[path = "support/postgres.rs"]
mod pg_support;

use std::time::Duration;

use serde_json::json;
use toolcall::tools::postgres::{Database, QueryError};

use pg_support::server;

/// Who runs the attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// `postgres`, with `allow_privileged(true)`.
    Superuser,
    /// `app_owner`, owner of every table, with `allow_privileged(true)`.
    Owner,
    /// `app_reader`: `SELECT` on some tables only.
    Reader,
}

use Role::{Owner, Reader, Superuser};

const ALL: &[Role] = &[Superuser, Owner, Reader];

/// What must happen.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Refused before reaching the database; the message contains this.
    Refused(&'static str),
    /// The database refused it (read-only transaction, permissions…).
    Blocked,
    /// Cancelled for running too long.
    Timeout,
    /// Cancelled for waiting on a lock.
    LockWait,
    /// Stopped by a cap (`truncated`) or by the timeout.
    Capped,
}

struct Attack {
    sql: &'static str,
    roles: &'static [Role],
    expect: Expect,
}

const fn a(sql: &'static str, roles: &'static [Role], expect: Expect) -> Attack {
    Attack { sql, roles, expect }
}

/// Words of a database refusal the model can understand.
const BLOCKED_WORDS: &[&str] = &[
    "read-only transaction",
    "permission denied",
    "must be superuser",
    "must be a superuser",
    "password or GSSAPI",
    "password is required",
    "not allowed in a non-volatile function",
    "read-write mode must be set before any query",
    "cannot set transaction read-write mode",
];

const PWNED: &str = "/tmp/toolcall-attack-pwned";

/// One family at a time per process: under `cargo test` the families share a
/// server, and one family's writer (locks) would show in another's snapshot.
static ONE_FAMILY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Harness {
    dbs: Vec<(Role, Database)>,
    /// The `mcp_server` example over stdio, its database the read-only role: every
    /// case runs once through MCP too (`tools/call run_postgres_query`).
    #[cfg(feature = "mcp")]
    mcp: (toolcall::mcp::McpClient, toolcall::ToolRegistry),
    baseline: String,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// The example MCP server over stdio, with `DATABASE_URL` the read-only role.
#[cfg(feature = "mcp")]
async fn mcp_server() -> (toolcall::mcp::McpClient, toolcall::ToolRegistry) {
    let mut cmd = tokio::process::Command::new(mcp_support::example_server());
    cmd.arg("stdio")
        .env("DATABASE_URL", server().url("app_reader"))
        .env("KUBECONFIG", "/nonexistent")
        .env_remove("KUBERNETES_SERVICE_HOST");
    let client = toolcall::mcp::McpClient::stdio(cmd).await.unwrap();
    let tools = client.tools().await.unwrap();
    (client, tools)
}

/// What a call through MCP came to, as the model reads it.
#[cfg(feature = "mcp")]
fn check_over_mcp(
    expect: Expect,
    outcome: &Result<toolcall::ToolOutput, toolcall::ToolError>,
) -> Result<(), String> {
    let error = match outcome {
        Err(toolcall::ToolError::Failed { message, .. }) => Some(message.as_str()),
        Err(other) => return Err(format!("not the tool's own failure: {other:?}")),
        Ok(_) => None,
    };
    let truncated = match outcome {
        Ok(out) => out
            .structured
            .as_ref()
            .and_then(|v| v.get("truncated"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        Err(_) => false,
    };
    let timed_out = error.is_some_and(|m| m.contains("cancelled after running longer"));
    let fine = match expect {
        Expect::Refused(word) => {
            error.is_some_and(|m| m.starts_with("refused: ") && m.contains(word))
        }
        Expect::Blocked => error.is_some_and(|m| BLOCKED_WORDS.iter().any(|w| m.contains(w))),
        Expect::Timeout => timed_out,
        Expect::LockWait => {
            error.is_some_and(|m| m.contains("for a lock held by another transaction"))
        }
        Expect::Capped => truncated || timed_out,
    };
    if fine {
        Ok(())
    } else {
        Err(format!("over MCP: expected {expect:?}, got {outcome:?}"))
    }
}

impl Harness {
    async fn new() -> Self {
        let turn = ONE_FAMILY.lock().await;
        let mut dbs = Vec::new();
        for (role, name) in [
            (Superuser, server().superuser.clone()),
            (Owner, "app_owner".to_owned()),
            (Reader, "app_reader".to_owned()),
        ] {
            let db = Database::builder(&server().url(&name))
                .allow_privileged(role != Reader)
                .pool_size(1)
                .max_rows(50)
                .statement_timeout(Duration::from_millis(1000))
                .lock_timeout(Duration::from_millis(300))
                .deadline(Duration::from_secs(3))
                .allow_explain_analyze(true)
                .connect()
                .await
                .unwrap();
            dbs.push((role, db));
        }
        #[cfg(feature = "mcp")]
        let mcp = mcp_server().await;
        let baseline = server().snapshot().await;
        Self {
            dbs,
            #[cfg(feature = "mcp")]
            mcp,
            baseline,
            _turn: turn,
        }
    }

    fn db(&self, role: Role) -> &Database {
        &self.dbs.iter().find(|(r, _)| *r == role).unwrap().1
    }

    /// Runs every attack for its roles; returns the failures.
    async fn run(&self, family: &str, attacks: &[Attack]) -> Vec<String> {
        self.run_with(family, attacks, true).await
    }

    /// As [`Harness::run`]; without `snapshot` the caller compares the database itself.
    async fn run_with(&self, family: &str, attacks: &[Attack], snapshot: bool) -> Vec<String> {
        let mut failures = Vec::new();
        for attack in attacks {
            for &role in attack.roles {
                let outcome = self.db(role).query(attack.sql).await;
                if std::env::var_os("TOOLCALL_ATTACK_LOG").is_some() {
                    let said = match &outcome {
                        Ok(r) => format!("ok rows={} truncated={}", r.row_count, r.truncated),
                        Err(e) => e.to_string(),
                    };
                    eprintln!("[{family}] {role:?} `{}` -> {said}", attack.sql);
                }
                if let Err(why) = check(attack.expect, &outcome) {
                    failures.push(format!("[{family}] {role:?} `{}`: {why}", attack.sql));
                }
                // The same SQL through `explain_postgres_query`, with ANALYZE (it
                // runs): what the query tool refuses is refused there too, and
                // the snapshot below proves that the rest changed nothing.
                // (Runaway and lock-wait cases are planned, not run: running them
                // only waits for the same timeouts again.)
                let analyze = !matches!(
                    attack.expect,
                    Expect::Timeout | Expect::Capped | Expect::LockWait
                );
                let explained = self.db(role).explain(attack.sql, analyze).await;
                if matches!(attack.expect, Expect::Refused(_))
                    && !matches!(explained, Err(QueryError::Refused(_)))
                {
                    failures.push(format!(
                        "[{family}] {role:?} `{}`: explain did not refuse it: {explained:?}",
                        attack.sql
                    ));
                }
                #[cfg(feature = "mcp")]
                if role == Reader {
                    let args = json!({"sql_query": attack.sql});
                    let over_mcp = self.mcp.1.dispatch_value("run_postgres_query", args).await;
                    if let Err(why) = check_over_mcp(attack.expect, &over_mcp) {
                        failures.push(format!("[{family}] {role:?} `{}`: {why}", attack.sql));
                    }
                }
                if let Err(why) = self.session_is_clean(role).await {
                    failures.push(format!(
                        "[{family}] {role:?} `{}`: session leak: {why}",
                        attack.sql
                    ));
                }
            }
            self.wait_for_idle_backends().await;
            if !snapshot {
                continue;
            }
            let now = server().snapshot().await;
            if now != self.baseline {
                failures.push(format!(
                    "[{family}] `{}`: database changed:\n{}",
                    attack.sql,
                    diff(&self.baseline, &now)
                ));
            }
            if std::path::Path::new(PWNED).exists() {
                failures.push(format!(
                    "[{family}] `{}`: a file appeared on the server",
                    attack.sql
                ));
            }
        }
        failures
    }

    /// Nothing of the previous call is visible on the (single) pooled connection.
    async fn session_is_clean(&self, role: Role) -> Result<(), String> {
        let r = self
            .db(role)
            .query(
                "SELECT (SELECT count(*) FROM pg_prepared_statements WHERE from_sql)::int AS prepared, \
                        (SELECT count(*) FROM pg_cursors WHERE is_holdable)::int AS cursors, \
                        (SELECT count(*) FROM pg_listening_channels())::int AS listening, \
                        (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                           AND pid = pg_backend_pid())::int AS advisory, \
                        current_user = session_user AS same_user, \
                        current_setting('search_path') AS search_path, \
                        current_setting('transaction_read_only') AS read_only",
            )
            .await
            .map_err(|e| format!("check query failed: {e}"))?;
        let want = vec![
            json!(0),
            json!(0),
            json!(0),
            json!(0),
            json!(true),
            json!("\"$user\", public"),
            json!("on"),
        ];
        if r.rows.first() != Some(&want) {
            return Err(format!("{:?}", r.rows));
        }
        Ok(())
    }

    /// Cancelled queries end on the server before the snapshot.
    async fn wait_for_idle_backends(&self) {
        let admin = server().admin().await;
        for _ in 0..100 {
            let busy: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'toolcall' \
                     AND state = 'active'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if busy == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("a cancelled query is still running on the server");
    }
}

fn check(
    expect: Expect,
    outcome: &Result<toolcall::tools::postgres::QueryResult, QueryError>,
) -> Result<(), String> {
    let text = match outcome {
        Ok(r) => format!("ok: {} rows, truncated={}", r.row_count, r.truncated),
        Err(e) => format!("error: {e}"),
    };
    let fine = match (expect, outcome) {
        (Expect::Refused(word), Err(QueryError::Refused(m))) => m.contains(word),
        (Expect::Blocked, Err(QueryError::Database(e))) => {
            BLOCKED_WORDS.iter().any(|w| e.message.contains(w))
        }
        (Expect::Timeout | Expect::Capped, Err(QueryError::Timeout(_))) => true,
        (Expect::LockWait, Err(QueryError::LockTimeout(_))) => true,
        (Expect::Capped, Ok(r)) => r.truncated,
        _ => false,
    };
    if fine {
        Ok(())
    } else {
        Err(format!("expected {expect:?}, got {text}"))
    }
}

fn diff(before: &str, after: &str) -> String {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    let mut out = String::new();
    for line in &b {
        if !a.contains(line) {
            out.push_str(&format!("- {line}\n"));
        }
    }
    for line in &a {
        if !b.contains(line) {
            out.push_str(&format!("+ {line}\n"));
        }
    }
    out
}

fn assert_none(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn attacks_stacked_statements() {
    const ONE: Expect = Expect::Refused("only one statement");
    let attacks = [
        a("SELECT 1; DROP TABLE shop.orders", ALL, ONE),
        a("SELECT 1;COMMIT;DROP TABLE shop.orders", ALL, ONE),
        a("SELECT 1; COMMIT; DROP TABLE shop.orders; --", ALL, ONE),
        a("SELECT 1 -- c\n; DELETE FROM shop.orders", ALL, ONE),
        a("SELECT 1 /* ; */ ; DELETE FROM shop.orders", ALL, ONE),
        a("SELECT ';' ; DELETE FROM shop.orders", ALL, ONE),
        a("SELECT $$;$$; DELETE FROM shop.orders", ALL, ONE),
        a("SELECT $x$ $$ ; $x$; TRUNCATE shop.orders", ALL, ONE),
        a("SELECT E'\\';'; DROP TABLE shop.orders", ALL, ONE),
        a(
            "SELECT \"a;b\" FROM (SELECT 1 AS \"a;b\") t; DROP TABLE shop.orders",
            ALL,
            ONE,
        ),
        a(
            "SELECT 1\n;\nCOMMIT;\nINSERT INTO shop.orders (customer_id, total) VALUES (1, 1)",
            ALL,
            ONE,
        ),
        a("SELECT 1;;;DROP TABLE shop.orders", ALL, ONE),
        a(
            "/* a /* nested */ comment */ SELECT 1; END; DROP SCHEMA shop CASCADE",
            ALL,
            ONE,
        ),
        a("SELECT U&'\\0061;'; DROP TABLE shop.orders", ALL, ONE),
        a(
            "COMMIT; DROP TABLE shop.orders",
            ALL,
            Expect::Refused("one statement"),
        ),
    ];
    let h = Harness::new().await;
    assert_none(h.run("stacked", &attacks).await);
}

#[tokio::test]
async fn attacks_transaction_control() {
    const TX: Expect = Expect::Refused("transaction control");
    let attacks = [
        a("COMMIT", ALL, TX),
        a("ROLLBACK", ALL, TX),
        a("BEGIN", ALL, TX),
        a("START TRANSACTION READ WRITE", ALL, TX),
        a("END", ALL, TX),
        a("ABORT", ALL, TX),
        a("SAVEPOINT s", ALL, TX),
        a("RELEASE SAVEPOINT s", ALL, TX),
        a(
            "SET TRANSACTION READ WRITE",
            ALL,
            Expect::Refused("session settings"),
        ),
        a(
            "PREPARE TRANSACTION 'x'",
            ALL,
            Expect::Refused("prepared statements"),
        ),
        a("COMMIT PREPARED 'x'", ALL, TX),
    ];
    let h = Harness::new().await;
    assert_none(h.run("transaction control", &attacks).await);
}

#[tokio::test]
async fn attacks_session_settings_and_roles() {
    const SET: Expect = Expect::Refused("session settings");
    const SET_CONFIG: Expect = Expect::Refused("`set_config` changes settings");
    let attacks = [
        a("SET ROLE postgres", ALL, SET),
        a("SET SESSION AUTHORIZATION postgres", ALL, SET),
        a("RESET ALL", ALL, SET),
        a("SET search_path = evil, public", ALL, SET),
        a("SET default_transaction_read_only = off", ALL, SET),
        // The function form of SET is refused by name, whatever the role.
        a(
            "SELECT set_config('transaction_read_only', 'off', true)",
            ALL,
            SET_CONFIG,
        ),
        a(
            "SELECT set_config('transaction_read_only', 'off', false)",
            ALL,
            SET_CONFIG,
        ),
        a(
            "SELECT set_config('role', 'app_owner', false)",
            ALL,
            SET_CONFIG,
        ),
        a(
            "SELECT pg_catalog.set_config('role', 'postgres', false)",
            ALL,
            SET_CONFIG,
        ),
        a(
            "SELECT \"set_config\"('search_path', 'pg_temp', false)",
            ALL,
            SET_CONFIG,
        ),
        a(
            "SELECT * FROM SET_CONFIG('session_authorization', 'app_reader', false)",
            ALL,
            SET_CONFIG,
        ),
    ];
    let h = Harness::new().await;
    assert_none(h.run("session settings", &attacks).await);
}

#[tokio::test]
async fn attacks_ddl_dml_select_into_merge_and_cte() {
    const DML: Expect = Expect::Refused("data-modifying");
    const DDL: Expect = Expect::Refused("DDL");
    let attacks = [
        a("DROP TABLE shop.orders", ALL, DDL),
        a("CREATE TABLE shop.x (id int)", ALL, DDL),
        a("ALTER TABLE shop.orders ADD COLUMN x int", ALL, DDL),
        a("GRANT ALL ON shop.secrets TO app_reader", ALL, DDL),
        a("TRUNCATE shop.orders", ALL, DML),
        a(
            "INSERT INTO shop.orders (customer_id, total) VALUES (1, 1)",
            ALL,
            DML,
        ),
        a("UPDATE shop.orders SET total = 0", ALL, DML),
        a("DELETE FROM shop.orders", ALL, DML),
        a(
            "MERGE INTO shop.orders o USING shop.customers c ON o.id = c.id WHEN MATCHED THEN DELETE",
            ALL,
            DML,
        ),
        a(
            "SELECT * INTO shop.stolen FROM shop.orders",
            ALL,
            Expect::Refused("INTO"),
        ),
        a(
            "WITH d AS (DELETE FROM shop.orders RETURNING *) SELECT count(*) FROM d",
            ALL,
            DML,
        ),
        a(
            "WITH u AS (UPDATE shop.orders SET total = 0 RETURNING 1) SELECT 1",
            ALL,
            DML,
        ),
        a(
            "SELECT * FROM shop.orders FOR UPDATE",
            ALL,
            Expect::Refused("row locks"),
        ),
        a(
            "EXPLAIN ANALYZE DELETE FROM shop.orders",
            ALL,
            Expect::Refused("ANALYZE"),
        ),
        a(
            "DO $$ BEGIN DELETE FROM shop.orders; END $$",
            ALL,
            Expect::Refused("DO blocks"),
        ),
        // A query in a string would get past the lexer: such functions are refused.
        a(
            "SELECT query_to_xml('DELETE FROM shop.orders RETURNING 1', true, true, '')",
            ALL,
            NESTED,
        ),
        a(
            "SELECT query_to_xml_and_xmlschema('DROP TABLE shop.orders', true, true, '')",
            ALL,
            NESTED,
        ),
        a(
            "SELECT nextval('shop.orders_id_seq')",
            ALL,
            Expect::Refused("advances a sequence"),
        ),
        // A function of the database that writes: no name list can see inside it,
        // the read-only transaction stops it.
        a("SELECT shop.reprice()", ALL, Expect::Blocked),
        a(
            "SELECT * FROM shop.orders WHERE shop.reprice() > 0",
            ALL,
            Expect::Blocked,
        ),
    ];
    let h = Harness::new().await;
    assert_none(h.run("ddl/dml", &attacks).await);
}

/// Refusals of side-effect functions, by name (see `src/tools/postgres/functions.rs`).
const LO: Expect = Expect::Refused("works on large objects");
const DBLINK: Expect = Expect::Refused("opens a connection of its own");
const FILES: Expect = Expect::Refused("files on the database server");
const SERVER: Expect = Expect::Refused("acts on the database server itself");
const NESTED: Expect = Expect::Refused("runs a query given as a string");

#[tokio::test]
async fn attacks_side_effect_functions() {
    // Refused for every role, an allowed superuser included: a read-only
    // transaction does not stop all of them, and an allowed superuser holds
    // every privilege that would.
    const SIGNALS: Expect = Expect::Refused("signals other database sessions");
    const COUNTER: Expect = Expect::Refused("advances a sequence or assigns a transaction ID");
    const ADVISORY: Expect = Expect::Refused("advisory lock");
    let attacks = [
        a("SELECT lo_create(0)", ALL, LO),
        a("SELECT lo_creat(-1)", ALL, LO),
        a("SELECT lo_from_bytea(0, 'x')", ALL, LO),
        a(
            "SELECT lo_unlink(oid) FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT lo_put(oid, 0, 'overwritten') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT lo_truncate(lo_open(oid, 131072), 0) FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT lowrite(lo_open(oid, 131072), 'x') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a("SELECT setval('shop.orders_id_seq', 1)", ALL, COUNTER),
        a(
            "SELECT nextval('shop.orders_id_seq') FROM generate_series(1, 10)",
            ALL,
            COUNTER,
        ),
        a("SELECT txid_current()", ALL, COUNTER),
        a(
            "SELECT pg_notify('orders', 'forged')",
            ALL,
            Expect::Refused("sends a notification"),
        ),
        a("SELECT pg_advisory_lock(4242)", ALL, ADVISORY),
        a("SELECT pg_advisory_xact_lock_shared(4242)", ALL, ADVISORY),
        a("SELECT pg_advisory_unlock_all()", ALL, ADVISORY),
        a(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usesysid IN (SELECT oid FROM pg_roles WHERE rolsuper)",
            ALL,
            SIGNALS,
        ),
        a(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
             WHERE usesysid IN (SELECT oid FROM pg_roles WHERE rolsuper)",
            ALL,
            SIGNALS,
        ),
        // Any role may signal its own role's backends: no privilege stops this one,
        // which would end the pool's other connections. The guard does.
        a(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = current_user AND pid <> pg_backend_pid()",
            ALL,
            SIGNALS,
        ),
        a(
            "SELECT \"pg_catalog\".\"pg_cancel_backend\"(pid) FROM pg_stat_activity \
             WHERE usename = current_user",
            ALL,
            SIGNALS,
        ),
        a(
            "SELECT pg_log_backend_memory_contexts(pg_backend_pid())",
            ALL,
            SIGNALS,
        ),
        a("SELECT pg_reload_conf()", ALL, SERVER),
        a("SELECT pg_rotate_logfile()", ALL, SERVER),
        // Writes the catalogue even inside a READ ONLY transaction.
        a(
            "SELECT pg_import_system_collations('pg_catalog')",
            ALL,
            SERVER,
        ),
        a("SELECT pg_create_restore_point('evil')", ALL, SERVER),
        a("SELECT pg_switch_wal()", ALL, SERVER),
        a(
            "SELECT pg_create_physical_replication_slot('evil')",
            ALL,
            Expect::Refused("replication slots"),
        ),
        a(
            "SELECT pg_stat_reset()",
            ALL,
            Expect::Refused("resets statistics"),
        ),
        a(
            "SELECT dblink_exec('dbname=' || current_database(), 'DROP TABLE shop.orders')",
            ALL,
            DBLINK,
        ),
        a("SELECT dblink_connect('evil', 'dbname=app')", ALL, DBLINK),
        a(
            "SELECT * FROM dblink('dbname=app', 'DELETE FROM shop.orders RETURNING 1') AS t(x int)",
            ALL,
            DBLINK,
        ),
    ];
    let h = Harness::new().await;
    assert_none(h.run("side effects", &attacks).await);
}

#[tokio::test]
async fn attacks_side_effect_functions_spelled_to_hide() {
    let attacks = [
        a(
            "SELECT PG_CATALOG.LO_EXPORT(oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT \"lo_export\"(oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT \"pg_catalog\" . \"lo_export\" (oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT lo_export/**/(oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT lo_export -- a comment\n(oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT U&\"lo\\005Fexport\"(oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT U&\"\\+00006Co_export\"(oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT U&\"lo!005Fexport\" UESCAPE '!' (oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT * FROM pg_largeobject_metadata m, LATERAL lo_export(m.oid, '/tmp/toolcall-attack-pwned') x",
            ALL,
            LO,
        ),
        a(
            "SELECT (SELECT lo_export(oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata LIMIT 1)",
            ALL,
            LO,
        ),
        a(
            "WITH x AS (SELECT lo_export(oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata) SELECT * FROM x",
            ALL,
            LO,
        ),
        a(
            "EXPLAIN SELECT lo_export(oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a(
            "SELECT * FROM ROWS FROM (dblink('dbname=app', 'DROP TABLE shop.orders') AS (x text))",
            ALL,
            DBLINK,
        ),
        a(
            "SELECT public.DBLINK_EXEC('dbname=app', 'DROP TABLE shop.orders')",
            ALL,
            DBLINK,
        ),
        a(
            "SELECT U&\"dblink\\005fexec\"('dbname=app', 'DROP TABLE shop.orders')",
            ALL,
            DBLINK,
        ),
        a(
            "VALUES (dblink_exec('dbname=app', 'DROP TABLE shop.orders'))",
            ALL,
            DBLINK,
        ),
        a(
            "SELECT CASE WHEN random() < 2 THEN dblink_exec('dbname=app', 'DROP TABLE shop.orders') END",
            ALL,
            DBLINK,
        ),
        // The same calls hidden in a query string.
        a(
            "SELECT query_to_xml('SELECT lo_export(oid, ''/tmp/toolcall-attack-pwned'') FROM pg_largeobject_metadata', true, true, '')",
            ALL,
            NESTED,
        ),
        a(
            "SELECT * FROM ts_stat('SELECT to_tsvector(dblink_exec(''dbname=app'', ''DROP TABLE shop.orders''))')",
            ALL,
            NESTED,
        ),
    ];
    let h = Harness::new().await;
    assert_none(h.run("spellings", &attacks).await);
}

#[tokio::test]
async fn attacks_server_files_and_programs() {
    let attacks = [
        a(
            "COPY (SELECT 1) TO PROGRAM 'touch /tmp/toolcall-attack-pwned'",
            ALL,
            Expect::Refused("COPY"),
        ),
        a(
            "COPY shop.orders TO '/tmp/toolcall-attack-pwned'",
            ALL,
            Expect::Refused("COPY"),
        ),
        a(
            "COPY shop.orders FROM '/etc/passwd'",
            ALL,
            Expect::Refused("COPY"),
        ),
        a("SELECT pg_read_file('/etc/passwd')", ALL, FILES),
        a("SELECT pg_read_binary_file('/etc/hostname')", ALL, FILES),
        a("SELECT pg_ls_dir('.')", ALL, FILES),
        a("SELECT * FROM pg_ls_waldir()", ALL, FILES),
        a("SELECT pg_stat_file('postgresql.conf')", ALL, FILES),
        a(
            "SELECT lo_export(oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata",
            ALL,
            LO,
        ),
        a("SELECT lo_import('/etc/passwd')", ALL, LO),
        a(
            "SELECT * FROM dblink('dbname=' || current_database(), 'SELECT secret FROM shop.secrets') AS t(s text)",
            ALL,
            DBLINK,
        ),
    ];
    let h = Harness::new().await;
    assert_none(h.run("files", &attacks).await);
}

#[tokio::test]
async fn allowed_superuser_changes_nothing_through_dblink_exec_or_lo_export() {
    let h = Harness::new().await;
    let admin = server().admin().await;
    let has_dblink: bool = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'dblink')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let target = format!(
        "host={} port={} dbname={} user={}",
        server().host(),
        server().port(),
        server().dbname,
        server().superuser
    );
    let canary_file = format!("/tmp/toolcall-lo-export-canary-{}", std::process::id());
    let canary_table = "public.dblink_canary";

    // Control: without the guard, a superuser's READ ONLY transaction stops neither.
    admin.batch_execute("BEGIN READ ONLY").await.unwrap();
    admin
        .query(
            &format!("SELECT lo_export(oid, '{canary_file}') FROM pg_largeobject_metadata LIMIT 1"),
            &[],
        )
        .await
        .unwrap();
    if has_dblink {
        admin
            .query(
                &format!("SELECT dblink_exec($1, 'CREATE TABLE {canary_table} ()')"),
                &[&target],
            )
            .await
            .unwrap();
    }
    admin.batch_execute("ROLLBACK").await.unwrap();
    assert!(
        std::path::Path::new(&canary_file).exists(),
        "lo_export wrote no file"
    );
    std::fs::remove_file(&canary_file).unwrap();
    if has_dblink {
        let made: bool = admin
            .query_one(
                &format!("SELECT to_regclass('{canary_table}') IS NOT NULL"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            made,
            "dblink_exec did not write through the read-only transaction"
        );
        admin
            .batch_execute(&format!("DROP TABLE {canary_table}"))
            .await
            .unwrap();
    } else {
        eprintln!("dblink is not installed: only the refusal of dblink_exec is checked");
    }

    // The tool, as that superuser allowed with `allow_privileged(true)`: refused.
    let db = h.db(Superuser);
    for sql in [
        format!("SELECT lo_export(oid, '{canary_file}') FROM pg_largeobject_metadata"),
        format!(
            "SELECT pg_catalog.\"lo_export\"(oid, '{canary_file}') FROM pg_largeobject_metadata"
        ),
        format!("SELECT dblink_exec('{target}', 'CREATE TABLE {canary_table} ()')"),
        format!("SELECT * FROM dblink('{target}', 'CREATE TABLE {canary_table} ()') AS t(x text)"),
        format!("SELECT U&\"dblink\\005Fexec\"('{target}', 'CREATE TABLE {canary_table} ()')"),
    ] {
        let err = db.query(&sql).await.unwrap_err();
        assert!(matches!(err, QueryError::Refused(_)), "{sql}: {err}");
        assert!(err.to_string().contains("whatever the role"), "{err}");
    }
    assert!(!std::path::Path::new(&canary_file).exists());
    let made: bool = admin
        .query_one(
            &format!("SELECT to_regclass('{canary_table}') IS NOT NULL"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!made);
    let now = server().snapshot().await;
    assert!(now == h.baseline, "{}", diff(&h.baseline, &now));
}

#[tokio::test]
async fn allowed_superuser_is_stopped_by_nothing_but_privileges() {
    // Why `connect` refuses superusers by default: with the explicit allow,
    // nothing but privileges keeps it from reading password hashes.
    let db = Database::builder(&server().url(&server().superuser))
        .allow_privileged(true)
        .connect()
        .await
        .unwrap();
    let r = db
        .query("SELECT count(*) > 0 FROM pg_authid WHERE rolname = 'postgres'")
        .await
        .unwrap();
    assert_eq!(r.rows, vec![vec![json!(true)]]);
    let err = Database::builder(&server().url("app_reader"))
        .connect()
        .await
        .unwrap()
        .query("SELECT count(*) FROM pg_authid")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[tokio::test]
async fn attacks_prepare_and_session_leaks() {
    let attacks = [
        a(
            "PREPARE p AS SELECT secret FROM shop.secrets",
            ALL,
            Expect::Refused("prepared statements"),
        ),
        a("EXECUTE p", ALL, Expect::Refused("prepared statements")),
        a(
            "DEALLOCATE ALL",
            ALL,
            Expect::Refused("prepared statements"),
        ),
        a(
            "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
            ALL,
            Expect::Refused("cursors"),
        ),
        a("LISTEN orders", ALL, Expect::Refused("LISTEN")),
        a("DISCARD ALL", ALL, Expect::Refused("session settings")),
        // Session state that would survive ROLLBACK, reached through functions.
        a(
            "SELECT pg_advisory_lock(7), pg_advisory_lock_shared(8)",
            ALL,
            Expect::Refused("advisory lock"),
        ),
        a(
            "SELECT pg_try_advisory_lock(9)",
            ALL,
            Expect::Refused("advisory lock"),
        ),
        a(
            "SELECT set_config('search_path', 'shop', false)",
            ALL,
            Expect::Refused("changes settings"),
        ),
    ];
    let h = Harness::new().await;
    assert_none(h.run("leaks", &attacks).await);
}

#[tokio::test]
async fn attacks_runaway_work() {
    let attacks = [
        a("SELECT pg_sleep(30)", ALL, Expect::Timeout),
        a(
            "SELECT count(*) FROM generate_series(1, 10000000000)",
            ALL,
            Expect::Timeout,
        ),
        a(
            "SELECT * FROM generate_series(1, 1000000000)",
            ALL,
            Expect::Capped,
        ),
        a(
            "SELECT count(*) FROM shop.big a, shop.big b",
            ALL,
            Expect::Timeout,
        ),
        a("SELECT * FROM shop.big a, shop.big b", ALL, Expect::Capped),
        a(
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
            ALL,
            Expect::Timeout,
        ),
        a(
            "SELECT repeat('x', 1000000) FROM generate_series(1, 1000)",
            ALL,
            Expect::Capped,
        ),
        // Lifting the server timeout from inside the query is refused by name.
        a(
            "SELECT set_config('statement_timeout', '0', false), pg_sleep(30)",
            ALL,
            Expect::Refused("changes settings"),
        ),
        a("SELECT pg_sleep_for('30 seconds')", ALL, Expect::Timeout),
    ];
    let h = Harness::new().await;
    assert_none(h.run("runaway", &attacks).await);
}

#[tokio::test]
async fn attacks_lock_waits_against_a_concurrent_writer() {
    let h = Harness::new().await;
    let writer = server().admin().await;
    let mut failures = Vec::new();
    let cases: [(&str, Attack); 6] = [
        (
            "LOCK TABLE shop.orders IN ACCESS EXCLUSIVE MODE",
            a("SELECT count(*) FROM shop.orders", ALL, Expect::LockWait),
        ),
        (
            "LOCK TABLE shop.orders IN ACCESS EXCLUSIVE MODE",
            a("TABLE shop.orders", ALL, Expect::LockWait),
        ),
        (
            "ALTER TABLE shop.customers ADD COLUMN pending int",
            a("SELECT * FROM shop.customers", ALL, Expect::LockWait),
        ),
        (
            "TRUNCATE shop.big",
            a("SELECT count(*) FROM shop.big", ALL, Expect::LockWait),
        ),
        (
            "ALTER TABLE shop.orders ADD COLUMN pending int",
            a("EXPLAIN SELECT * FROM shop.orders", ALL, Expect::LockWait),
        ),
        (
            "LOCK TABLE shop.customers IN ACCESS EXCLUSIVE MODE",
            a(
                "SELECT o.id FROM shop.orders o JOIN shop.customers c ON c.id = o.customer_id",
                ALL,
                Expect::LockWait,
            ),
        ),
    ];
    for (hold, attack) in &cases {
        writer.batch_execute("BEGIN").await.unwrap();
        writer.batch_execute(hold).await.unwrap();
        failures.extend(
            h.run_with("locks", std::slice::from_ref(attack), false)
                .await,
        );
        writer
            .batch_execute("ROLLBACK; SELECT pg_advisory_unlock_all()")
            .await
            .unwrap();
        if server().snapshot().await != h.baseline {
            failures.push(format!("[locks] `{}`: database changed", attack.sql));
        }
    }
    // The tool's own locks end with its call: a writer right after is not blocked.
    for (_, db) in &h.dbs {
        db.query("SELECT count(*) FROM shop.orders").await.unwrap();
        writer
            .batch_execute(
                "BEGIN; LOCK TABLE shop.orders IN ACCESS EXCLUSIVE MODE NOWAIT; ROLLBACK",
            )
            .await
            .unwrap();
    }
    assert_none(failures);
}

/// The MCP server starts with a superuser `DATABASE_URL` and still lists its tools; each
/// call answers that the role is refused and what to set, and the server stays up.
#[cfg(feature = "mcp")]
#[tokio::test]
async fn over_mcp_a_superuser_database_url_is_a_tool_error() {
    let mut cmd = tokio::process::Command::new(mcp_support::example_server());
    cmd.arg("stdio")
        .env("DATABASE_URL", server().url(&server().superuser))
        .env("KUBECONFIG", "/nonexistent")
        .env_remove("KUBERNETES_SERVICE_HOST");
    let client = toolcall::mcp::McpClient::stdio(cmd).await.unwrap();
    let tools = client.tools().await.unwrap();
    assert!(tools.get("run_postgres_query").is_some());
    for _ in 0..2 {
        let err = tools
            .dispatch_value("run_postgres_query", json!({"sql_query": "SELECT 1"}))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("refusing a privileged role") && err.contains("set DATABASE_URL"),
            "{err}"
        );
    }
    // No DATABASE_URL at all: said just as plainly.
    let mut cmd = tokio::process::Command::new(mcp_support::example_server());
    cmd.arg("stdio")
        .env_remove("DATABASE_URL")
        .env("KUBECONFIG", "/nonexistent");
    let client = toolcall::mcp::McpClient::stdio(cmd).await.unwrap();
    let err = client
        .tools()
        .await
        .unwrap()
        .dispatch_value("get_postgres_health", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("DATABASE_URL is not set"), "{err}");
}
