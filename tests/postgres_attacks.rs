//! The attack suite: SQL a hostile model might send, run through `run_postgres_query`
//! as a superuser (explicitly allowed), the table owner (explicitly allowed) and a
//! read-only role, on a real throwaway PostgreSQL.
//!
//! Each case asserts the statement is refused or stopped with a clear message
//! (or, for `RolledBack` cases, that it ran inside the read-only transaction and
//! left nothing behind), that the database is unchanged (a `pg_dump` of the test
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
//! | DDL / DML / `SELECT INTO` / `MERGE` / CTE with DML | 18 |
//! | side-effect functions (incl. signalling other sessions) | 14 |
//! | server files and programs | 10 |
//! | `PREPARE` and other session leaks | 9 |
//! | runaway work | 8 |
//! | lock waits against a concurrent writer | 6 |
//! | **total** | **102** |
#![cfg(feature = "postgres")]
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

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
/// Attacks only privileges stop: an allowed superuser is not stopped by them,
/// which is why the privilege check refuses superusers by default.
const UNPRIVILEGED: &[Role] = &[Owner, Reader];

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
    /// Ran, or was refused by the database, inside the read-only transaction;
    /// the snapshot and the session check prove it left nothing behind.
    RolledBack,
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
    baseline: String,
    _turn: tokio::sync::MutexGuard<'static, ()>,
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
                .connect()
                .await
                .unwrap();
            dbs.push((role, db));
        }
        let baseline = server().snapshot().await;
        Self {
            dbs,
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
        (Expect::RolledBack, Ok(_) | Err(QueryError::Database(_))) => true,
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
    let attacks = [
        a("SET ROLE postgres", ALL, SET),
        a("SET SESSION AUTHORIZATION postgres", ALL, SET),
        a("RESET ALL", ALL, SET),
        a("SET search_path = evil, public", ALL, SET),
        a("SET default_transaction_read_only = off", ALL, SET),
        a(
            "SELECT set_config('transaction_read_only', 'off', true)",
            ALL,
            Expect::Blocked,
        ),
        a(
            "SELECT set_config('transaction_read_only', 'off', false)",
            ALL,
            Expect::Blocked,
        ),
        a(
            "SELECT set_config('role', 'app_owner', false)",
            &[Reader],
            Expect::Blocked,
        ),
        a(
            "SELECT set_config('role', 'app_reader', false)",
            &[Superuser, Owner],
            Expect::RolledBack,
        ),
        a(
            "SELECT set_config('search_path', 'pg_temp', false)",
            ALL,
            Expect::RolledBack,
        ),
        a(
            "SELECT set_config('session_authorization', 'app_reader', false)",
            ALL,
            Expect::RolledBack,
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
        // Past the lexer (the DML is in a string): the read-only transaction stops it.
        a(
            "SELECT query_to_xml('DELETE FROM shop.orders RETURNING 1', true, true, '')",
            ALL,
            Expect::Blocked,
        ),
        a(
            "SELECT query_to_xml('DROP TABLE shop.orders', true, true, '')",
            ALL,
            Expect::Blocked,
        ),
        a("SELECT nextval('shop.orders_id_seq')", ALL, Expect::Blocked),
    ];
    let h = Harness::new().await;
    assert_none(h.run("ddl/dml", &attacks).await);
}

#[tokio::test]
async fn attacks_side_effect_functions() {
    const SIGNALS: Expect = Expect::Refused("signals other database sessions");
    let attacks = [
        // Large objects: created or removed inside the transaction, then rolled back.
        a("SELECT lo_create(0)", ALL, Expect::RolledBack),
        a("SELECT lo_from_bytea(0, 'x')", ALL, Expect::RolledBack),
        a(
            "SELECT lo_unlink(oid) FROM pg_largeobject_metadata",
            ALL,
            Expect::RolledBack,
        ),
        a(
            "SELECT lo_put(oid, 0, 'overwritten') FROM pg_largeobject_metadata",
            ALL,
            Expect::RolledBack,
        ),
        a(
            "SELECT setval('shop.orders_id_seq', 1)",
            ALL,
            Expect::Blocked,
        ),
        a(
            "SELECT nextval('shop.orders_id_seq') FROM generate_series(1, 10)",
            ALL,
            Expect::Blocked,
        ),
        // A notification sent in a rolled-back transaction is never delivered.
        a(
            "SELECT pg_notify('orders', 'forged')",
            ALL,
            Expect::RolledBack,
        ),
        // Session-level advisory locks survive ROLLBACK: DISCARD ALL releases them.
        a("SELECT pg_advisory_lock(4242)", ALL, Expect::RolledBack),
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
        a("SELECT pg_reload_conf()", UNPRIVILEGED, Expect::Blocked),
        a(
            "SELECT dblink_exec('dbname=' || current_database(), 'DROP TABLE shop.orders')",
            UNPRIVILEGED,
            Expect::Blocked,
        ),
    ];
    let h = Harness::new().await;
    assert_none(h.run("side effects", &attacks).await);
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
        a(
            "SELECT pg_read_file('/etc/passwd')",
            UNPRIVILEGED,
            Expect::Blocked,
        ),
        a(
            "SELECT pg_read_binary_file('/etc/hostname')",
            UNPRIVILEGED,
            Expect::Blocked,
        ),
        a("SELECT pg_ls_dir('.')", UNPRIVILEGED, Expect::Blocked),
        a(
            "SELECT pg_stat_file('postgresql.conf')",
            UNPRIVILEGED,
            Expect::Blocked,
        ),
        a(
            "SELECT lo_export(oid, '/tmp/toolcall-attack-pwned') FROM pg_largeobject_metadata",
            UNPRIVILEGED,
            Expect::Blocked,
        ),
        a(
            "SELECT lo_import('/etc/passwd')",
            UNPRIVILEGED,
            Expect::Blocked,
        ),
        a(
            "SELECT * FROM dblink('dbname=' || current_database(), 'SELECT secret FROM shop.secrets') AS t(s text)",
            UNPRIVILEGED,
            Expect::Blocked,
        ),
    ];
    let h = Harness::new().await;
    assert_none(h.run("files", &attacks).await);
}

#[tokio::test]
async fn allowed_superuser_is_stopped_by_nothing_but_privileges() {
    // Why `connect` refuses superusers by default: with the explicit allow, the
    // read-only transaction does not stop reading server files.
    let db = Database::builder(&server().url(&server().superuser))
        .allow_privileged(true)
        .connect()
        .await
        .unwrap();
    let r = db
        .query("SELECT length(pg_read_file('PG_VERSION')) > 0")
        .await
        .unwrap();
    assert_eq!(r.rows, vec![vec![json!(true)]]);
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
        a(
            "SELECT pg_advisory_lock(7), pg_advisory_lock_shared(8)",
            ALL,
            Expect::RolledBack,
        ),
        a("SELECT pg_try_advisory_lock(9)", ALL, Expect::RolledBack),
        a(
            "SELECT set_config('search_path', 'shop', false)",
            ALL,
            Expect::RolledBack,
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
        // Lifting the server timeout from inside the query: the timer is already set,
        // and the client deadline stands behind it anyway.
        a(
            "SELECT set_config('statement_timeout', '0', false), pg_sleep(30)",
            ALL,
            Expect::Timeout,
        ),
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
            "SELECT pg_advisory_lock(42)",
            a("SELECT pg_advisory_lock(42)", ALL, Expect::LockWait),
        ),
        (
            "SELECT pg_advisory_lock(43)",
            a("SELECT pg_advisory_xact_lock(43)", ALL, Expect::LockWait),
        ),
        (
            "LOCK TABLE shop.orders IN ACCESS EXCLUSIVE MODE",
            a(
                "SELECT set_config('lock_timeout', '0', false), (SELECT count(*) FROM shop.orders)",
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
