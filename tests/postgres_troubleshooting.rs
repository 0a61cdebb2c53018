//! The Postgres troubleshooting tools (activity, locks, explain, health), the
//! start-up warnings and the documented read-only role, against a real,
//! throwaway PostgreSQL server.
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

use serde_json::{Value, json};
use toolcall::tools::postgres::{
    ActivityArgs, ActivityReport, Database, HealthArgs, LocksArgs, LocksReport, QueryError,
};

use pg_support::server;

/// A role with `pg_monitor`, which sees every session's state and query.
async fn monitor() -> Database {
    Database::builder(&server().url("app_monitor"))
        .pool_size(1)
        .connect()
        .await
        .unwrap()
}

async fn pid(client: &tokio_postgres::Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

/// Polls until `done` holds for the tool's answer (at most 10 s: a margin, not a timing).
async fn until<T, F, Fut>(mut call: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    for _ in 0..200 {
        let value = call().await;
        if done(&value) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server never reached the expected state");
}

/// One session holds an exclusive lock on `shop.orders` in an open
/// transaction; a second one waits for it.
struct Blocked {
    holder: tokio_postgres::Client,
    holder_pid: i32,
    waiter_pid: i32,
    waiter: tokio::task::JoinHandle<Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>>,
}

impl Blocked {
    async fn start() -> Self {
        let holder = server().admin().await;
        let holder_pid = pid(&holder).await;
        holder
            .batch_execute("BEGIN; LOCK TABLE shop.orders IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        let waiter_client = server().client("app_reader").await;
        let waiter_pid = pid(&waiter_client).await;
        let waiter = tokio::spawn(async move {
            waiter_client
                .query("SELECT count(*) FROM shop.orders /* blocked-marker */", &[])
                .await
        });
        Self {
            holder,
            holder_pid,
            waiter_pid,
            waiter,
        }
    }

    async fn release(self) {
        self.holder.batch_execute("ROLLBACK").await.unwrap();
        let rows = self.waiter.await.unwrap().unwrap();
        assert_eq!(rows[0].get::<_, i64>(0), 1000);
    }
}

#[tokio::test]
async fn activity_names_the_blocker() {
    let blocked = Blocked::start().await;
    let (holder, waiter) = (blocked.holder_pid, blocked.waiter_pid);
    let db = monitor().await;
    let report: ActivityReport = until(
        || async { db.activity(&ActivityArgs::default()).await.unwrap() },
        |r: &ActivityReport| {
            r.sessions
                .iter()
                .any(|s| s.pid == waiter && s.blocked_by == vec![holder])
        },
    )
    .await;
    let w = report.sessions.iter().find(|s| s.pid == waiter).unwrap();
    assert_eq!(w.user.as_deref(), Some("app_reader"));
    assert_eq!(w.state.as_deref(), Some("active"));
    assert_eq!(w.wait.as_deref(), Some("Lock/relation"));
    assert!(w.query.as_deref().unwrap().contains("blocked-marker"));
    assert!(w.transaction_age_s.is_some() && w.query_age_s.is_some());
    let h = report.sessions.iter().find(|s| s.pid == holder).unwrap();
    assert_eq!(h.state.as_deref(), Some("idle in transaction"));
    assert_eq!(h.user.as_deref(), Some(server().superuser.as_str()));
    assert!(h.blocked_by.is_empty());
    let line = report
        .summary
        .iter()
        .find(|l| l.starts_with(&format!("pid {waiter} (app_reader) has waited")))
        .unwrap_or_else(|| panic!("{:?}", report.summary));
    assert!(line.contains("(Lock/relation)"), "{line}");
    assert!(
        line.contains(&format!(
            "blocked by pid {holder} ({}, idle in transaction for",
            server().superuser
        )),
        "{line}"
    );
    assert!(
        line.ends_with("SELECT count(*) FROM shop.orders /* blocked-marker */"),
        "{line}"
    );
    // The tool's own session is not listed.
    assert!(
        report.sessions.iter().all(|s| !s
            .query
            .as_deref()
            .unwrap_or("")
            .contains("pg_blocking_pids")),
        "{:?}",
        report.sessions
    );

    // Through the registry: the JSON the model reads.
    let out = db
        .tools()
        .dispatch("get_postgres_activity", r#"{"include_idle": true}"#)
        .await
        .unwrap()
        .text;
    let v: Value = serde_json::from_str(&out).unwrap();
    let w = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["pid"] == waiter)
        .unwrap();
    assert_eq!(w["blocked_by"], json!([holder]));
    assert_eq!(w["wait"], "Lock/relation");

    // A role without pg_monitor still learns who blocks it.
    let reader = Database::builder(&server().url("app_reader"))
        .connect()
        .await
        .unwrap();
    let r = reader.activity(&ActivityArgs::default()).await.unwrap();
    let w = r.sessions.iter().find(|s| s.pid == waiter).unwrap();
    assert_eq!(w.blocked_by, vec![holder]);
    let h = r.sessions.iter().find(|s| s.pid == holder).unwrap();
    assert_eq!(h.state, None, "another role's state is hidden");

    blocked.release().await;
    let r = db.activity(&ActivityArgs::default()).await.unwrap();
    assert!(r.summary.is_empty(), "{:?}", r.summary);
}

#[tokio::test]
async fn locks_name_the_blocker_and_the_lock() {
    let blocked = Blocked::start().await;
    let (holder, waiter) = (blocked.holder_pid, blocked.waiter_pid);
    let db = monitor().await;
    let report: LocksReport = until(
        || async { db.locks(&LocksArgs::default()).await.unwrap() },
        |r: &LocksReport| r.locks.iter().any(|l| l.pid == waiter && !l.granted),
    )
    .await;
    let wanted = report
        .locks
        .iter()
        .find(|l| l.pid == waiter && !l.granted)
        .unwrap();
    assert_eq!(wanted.lock_type, "relation");
    assert_eq!(wanted.mode, "AccessShareLock");
    assert_eq!(wanted.object.as_deref(), Some("shop.orders"));
    assert_eq!(wanted.blocked_by, vec![holder]);
    assert!(wanted.waiting_s.is_some_and(|s| s >= 0.0));
    // Waiting locks first.
    assert!(!report.locks[0].granted);
    let held = report
        .locks
        .iter()
        .find(|l| l.pid == holder && l.object.as_deref() == Some("shop.orders"))
        .unwrap();
    assert!(held.granted);
    assert_eq!(held.mode, "AccessExclusiveLock");
    assert_eq!(held.state.as_deref(), Some("idle in transaction"));
    let line = &report.summary[0];
    assert!(
        line.starts_with(&format!("pid {waiter} (app_reader) has waited")),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "for AccessShareLock on shop.orders, blocked by pid {holder} (holds AccessExclusiveLock; idle in transaction)"
        )),
        "{line}"
    );
    // Only the waiting lock and its blocker's locks: no session's own virtualxid.
    assert!(report.locks.iter().all(|l| l.lock_type != "virtualxid"));
    assert!(
        report
            .locks
            .iter()
            .all(|l| l.pid == holder || l.pid == waiter)
    );
    // Filtered on another table: nothing about these sessions.
    let other = db
        .locks(&LocksArgs {
            relation: Some("shop.customers".into()),
            include_granted: Some(true),
        })
        .await
        .unwrap();
    assert!(other.locks.is_empty(), "{:?}", other.locks);
    let out = db
        .tools()
        .dispatch("get_postgres_locks", r#"{"relation": "shop.orders"}"#)
        .await
        .unwrap()
        .text;
    assert!(out.contains(&format!("\"blocked_by\":[{holder}]")), "{out}");
    blocked.release().await;
    let r = db.locks(&LocksArgs::default()).await.unwrap();
    assert!(r.locks.is_empty() && r.summary.is_empty(), "{r:?}");
}

#[tokio::test]
async fn explain_returns_the_json_plan_of_a_checked_query() {
    let db = Database::builder(&server().url("app_reader"))
        .connect()
        .await
        .unwrap();
    let plan = db
        .explain(
            "SELECT c.name, sum(o.total) FROM shop.orders o JOIN shop.customers c ON c.id = o.customer_id \
             WHERE o.total > 100 GROUP BY c.name;",
            false,
        )
        .await
        .unwrap();
    assert!(!plan.analyzed && !plan.truncated);
    let root = &plan.plan["Plan"];
    assert!(root["Node Type"].is_string(), "{}", plan.plan);
    assert!(root["Total Cost"].is_number());
    assert!(plan.plan.get("Execution Time").is_none());
    let text = plan.plan.to_string();
    assert!(text.contains("\"Relation Name\":\"orders\""), "{text}");
    assert!(
        !text.contains("Parallel Aware") && !text.contains("Actual Rows"),
        "{text}"
    );
    // A trailing comment does not swallow anything.
    db.explain("SELECT 1 -- a comment", false).await.unwrap();

    for (sql, why) in [
        ("DELETE FROM shop.orders", "data-modifying"),
        ("EXPLAIN SELECT 1", "without EXPLAIN"),
        ("SHOW search_path", "without EXPLAIN"),
        ("SELECT 1; DROP TABLE shop.orders", "one statement"),
        (
            "SELECT lo_export(oid, '/tmp/x') FROM pg_largeobject_metadata",
            "large objects",
        ),
        (
            "SELECT dblink_exec('dbname=app', 'DROP TABLE shop.orders')",
            "dblink_exec",
        ),
    ] {
        let err = db.explain(sql, false).await.unwrap_err();
        assert!(matches!(err, QueryError::Refused(_)), "{sql}: {err}");
        assert!(err.to_string().contains(why), "{sql}: {err}");
    }
    let err = db.explain("SELECT 1", true).await.unwrap_err();
    assert!(
        matches!(&err, QueryError::Refused(m) if m.contains("not enabled")),
        "{err}"
    );
    let err = db
        .explain("SELECT * FROM shop.secrets", false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");

    // Through the registry, as the model calls it.
    let out = db
        .tools()
        .dispatch(
            "explain_postgres_query",
            r#"{"sql_query": "SELECT * FROM shop.customers WHERE id = 7"}"#,
        )
        .await
        .unwrap()
        .text;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plan"]["Plan"]["Node Type"], "Index Scan", "{out}");
    assert_eq!(v["analyzed"], false);

    // A plan larger than the cap loses its deepest nodes, and says so.
    let small = Database::builder(&server().url("app_reader"))
        .max_bytes(600)
        .connect()
        .await
        .unwrap();
    let plan = small
        .explain(
            "SELECT * FROM shop.orders o JOIN shop.customers c ON c.id = o.customer_id \
             JOIN shop.big b ON b.id = o.id JOIN shop.orders o2 ON o2.id = b.id",
            false,
        )
        .await
        .unwrap();
    assert!(plan.truncated);
    assert!(
        plan.note
            .as_deref()
            .unwrap()
            .contains("plan nodes deeper than level")
    );
    assert!(plan.plan.to_string().contains("Plans Not Shown"));
}

#[tokio::test]
async fn explain_analyze_runs_only_when_enabled_inside_the_read_only_transaction() {
    let db = Database::builder(&server().url("app_reader"))
        .allow_explain_analyze(true)
        .statement_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let plan = db
        .explain("SELECT count(*) FROM shop.orders WHERE total > 100", true)
        .await
        .unwrap();
    assert!(plan.analyzed);
    assert!(plan.plan["Execution Time"].is_number(), "{}", plan.plan);
    assert!(
        plan.plan["Plan"]["Actual Rows"].is_number(),
        "{}",
        plan.plan
    );
    // Not analyzing unless asked, even when allowed.
    let plain = db.explain("SELECT 1", false).await.unwrap();
    assert!(!plain.analyzed && plain.plan.get("Execution Time").is_none());
    // The query really runs, so it is timed…
    let err = db.explain("SELECT pg_sleep(5)", true).await.unwrap_err();
    assert!(matches!(err, QueryError::Timeout(_)), "{err:?}");
    // …and read-only: a function of the database that writes is stopped,
    // whoever owns it, and nothing changes.
    let admin = server().admin().await;
    let sum = "SELECT sum(total)::text FROM shop.orders";
    let before: String = admin.query_one(sum, &[]).await.unwrap().get(0);
    let owner = Database::builder(&server().url("app_owner"))
        .allow_privileged(true)
        .allow_explain_analyze(true)
        .connect()
        .await
        .unwrap();
    let err = owner
        .explain("SELECT shop.reprice()", true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("read-only transaction"), "{err}");
    let after: String = admin.query_one(sum, &[]).await.unwrap().get(0);
    assert_eq!(before, after);
    // The dangerous-function guard holds under ANALYZE too.
    let err = owner
        .explain("SELECT lo_unlink(oid) FROM pg_largeobject_metadata", true)
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::Refused(_)), "{err}");
}

#[tokio::test]
async fn health_reports_connections_open_transactions_and_lock_waits() {
    let blocked = Blocked::start().await;
    let (holder, waiter) = (blocked.holder_pid, blocked.waiter_pid);
    let db = monitor().await;
    let args = HealthArgs {
        long_transaction_seconds: Some(0),
    };
    let report = until(
        || async { db.health(&args).await.unwrap() },
        |r| r.connections.waiting_for_lock >= 1,
    )
    .await;
    let c = &report.connections;
    if std::env::var_os("DATABASE_URL").is_none() {
        assert_eq!(c.max, 60, "the test server runs with max_connections=60");
    }
    assert!(c.reserved >= 0 && c.total >= 2 && c.idle_in_transaction >= 1 && c.active >= 1);
    assert_eq!(c.hidden, 0, "pg_monitor sees every session");
    assert!(
        report
            .cache_hit_ratio
            .is_some_and(|r| (0.0..=1.0).contains(&r)),
        "{:?}",
        report.cache_hit_ratio
    );
    assert!(report.oldest_xid_age.is_some_and(|a| a > 0));
    assert!(!report.replication.is_replica);
    assert!(report.replication.replicas.is_empty());
    let idle = report
        .idle_in_transaction
        .iter()
        .find(|t| t.pid == holder)
        .unwrap();
    assert!(
        idle.query
            .as_deref()
            .unwrap()
            .contains("LOCK TABLE shop.orders")
    );
    let long = report
        .long_transactions
        .iter()
        .find(|t| t.pid == waiter)
        .unwrap();
    assert_eq!(long.state.as_deref(), Some("active"));
    let findings = report.findings.join("\n");
    assert!(
        findings.contains("waiting for a lock (get_postgres_locks names the blockers)"),
        "{findings}"
    );
    assert!(
        findings.contains(&format!("idle in transaction; the oldest, pid {holder}")),
        "{findings}"
    );
    assert!(
        findings.contains(&format!("in pid {waiter}, active")),
        "{findings}"
    );
    // Not installed: no top queries and nothing to say about them.
    assert_eq!(report.top_queries, None);
    assert!(report.notes.is_empty(), "{:?}", report.notes);

    // A role without pg_monitor is told what it cannot see.
    let reader = Database::builder(&server().url("app_reader"))
        .connect()
        .await
        .unwrap();
    let r = reader.health(&HealthArgs::default()).await.unwrap();
    assert!(r.connections.hidden >= 1);
    assert!(
        r.notes.iter().any(|n| n.contains("grant it pg_monitor")),
        "{:?}",
        r.notes
    );
    blocked.release().await;

    // pg_stat_statements installed but not loaded: said, and the call still answers.
    server()
        .admin()
        .await
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .unwrap();
    let out = db
        .tools()
        .dispatch("get_postgres_health", "{}")
        .await
        .unwrap()
        .text;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v.get("top_queries").is_none(), "{out}");
    assert!(
        v["notes"][0]
            .as_str()
            .unwrap()
            .contains("pg_stat_statements is installed but cannot be read"),
        "{out}"
    );
    assert!(v["connections"]["max"].is_i64());
}

#[tokio::test]
async fn health_lists_the_top_queries_when_pg_stat_statements_is_loaded() {
    if std::env::var_os("DATABASE_URL").is_some() {
        eprintln!("skipped: needs a server of its own (shared_preload_libraries)");
        return;
    }
    let lib = pg_support::bin_dir()
        .and_then(|bin| bin.parent().map(|v| v.join("lib/pg_stat_statements.so")));
    if !lib.is_some_and(|l| l.exists()) {
        eprintln!("skipped: pg_stat_statements is not installed with the server binaries");
        return;
    }
    let private = pg_support::Server::start_private_with_options(
        "-c shared_preload_libraries=pg_stat_statements",
    );
    let admin = private.admin().await;
    admin
        .batch_execute("CREATE EXTENSION pg_stat_statements")
        .await
        .unwrap();
    for _ in 0..7 {
        admin
            .query(
                "SELECT count(*) FROM shop.orders WHERE total > 3 /* top-marker */",
                &[],
            )
            .await
            .unwrap();
    }
    let db = Database::builder(&private.url("app_monitor"))
        .connect()
        .await
        .unwrap();
    let report = db.health(&HealthArgs::default()).await.unwrap();
    let top = report.top_queries.expect("top queries");
    let marked = top
        .iter()
        .find(|q| q.query.contains("top-marker"))
        .unwrap_or_else(|| panic!("{top:?}"));
    assert_eq!(marked.calls, 7);
    assert_eq!(marked.rows, 7);
    assert!(marked.total_ms >= marked.mean_ms && marked.mean_ms >= 0.0);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    private.stop();
}

#[tokio::test]
async fn health_reports_replication_on_the_primary_and_on_a_replica() {
    if std::env::var_os("DATABASE_URL").is_some() {
        eprintln!("skipped: needs servers of its own (a primary and a replica)");
        return;
    }
    let primary = pg_support::Server::start_private();
    let replica = primary.start_replica();
    // Something to replay.
    primary
        .admin()
        .await
        .batch_execute("CREATE TABLE public.replicated AS SELECT 1 AS x")
        .await
        .unwrap();
    let on_primary = Database::builder(&primary.url("app_monitor"))
        .connect()
        .await
        .unwrap();
    let report = until(
        || async { on_primary.health(&HealthArgs::default()).await.unwrap() },
        |r| {
            r.replication
                .replicas
                .iter()
                .any(|x| x.state.as_deref() == Some("streaming") && x.replay_lag_bytes == Some(0.0))
        },
    )
    .await;
    assert!(!report.replication.is_replica);
    let streaming = &report.replication.replicas[0];
    assert_eq!(streaming.sync_state.as_deref(), Some("async"));
    assert_eq!(streaming.client.as_deref(), Some("127.0.0.1"));
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["replication"]["replicas"][0]["state"], "streaming");

    let on_replica = Database::builder(&replica.url("app_monitor"))
        .connect()
        .await
        .unwrap();
    let report = until(
        || async { on_replica.health(&HealthArgs::default()).await.unwrap() },
        |r| r.replication.replay_delay_s.is_some(),
    )
    .await;
    assert!(report.replication.is_replica);
    assert!(report.replication.replicas.is_empty());
    assert!(
        report
            .replication
            .replay_backlog_bytes
            .is_some_and(|b| b >= 0.0)
    );
    // The other tools work on a replica too.
    on_replica.activity(&ActivityArgs::default()).await.unwrap();
    on_replica.locks(&LocksArgs::default()).await.unwrap();
    on_replica
        .explain("SELECT count(*) FROM shop.orders", false)
        .await
        .unwrap();
    replica.stop();
    primary.stop();
}

#[tokio::test]
async fn tools_registry_holds_every_read_only_tool() {
    let db = Database::builder(&server().url("app_reader"))
        .connect()
        .await
        .unwrap();
    let registry = db.tools();
    registry.check().unwrap();
    let names: Vec<&str> = registry.names().collect();
    for name in [
        "run_postgres_query",
        "get_postgres_schema",
        "get_postgres_activity",
        "get_postgres_locks",
        "explain_postgres_query",
        "get_postgres_health",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }
    assert_eq!(registry.len(), 6);
    let defs = registry.definitions();
    let explain = defs
        .iter()
        .find(|d| d["function"]["name"] == "explain_postgres_query")
        .unwrap();
    assert_eq!(
        explain["function"]["parameters"]["required"],
        json!(["sql_query"])
    );
    assert!(explain["function"]["parameters"]["properties"]["analyze"].is_object());
    // Unknown arguments are refused, as for every tool.
    let err = registry
        .dispatch("get_postgres_locks", r#"{"table": "x"}"#)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("table"), "{err}");
}

/// The SQL of the "A proper read-only role" recipe in the docs.
fn recipe() -> String {
    let docs = include_str!("../src/docs/postgres.md");
    let section = docs.split("## A proper read-only role").nth(1).unwrap();
    let start = section.find("```sql\n").unwrap() + "```sql\n".len();
    let end = section[start..].find("```").unwrap();
    section[start..start + end].to_owned()
}

#[tokio::test]
async fn startup_reports_side_effect_functions_and_the_recipe_clears_them() {
    if std::env::var_os("DATABASE_URL").is_some() {
        eprintln!("skipped: changes function privileges, needs a server of its own");
        return;
    }
    let private = pg_support::Server::start_private();
    let admin = private.admin().await;
    let has_dblink: bool = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'dblink')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // A default role: reported, not refused.
    let db = Database::builder(&private.url("app_reader"))
        .connect()
        .await
        .unwrap();
    let warnings = db.warnings().join("\n");
    assert!(
        warnings.contains(
            "role `app_reader` may execute the large-object writer functions lo_creat, lo_create, lo_from_bytea"
        ),
        "{warnings}"
    );
    assert!(
        warnings.contains("lowrite") && warnings.contains("read-only role recipe"),
        "{warnings}"
    );
    // Revoked from PUBLIC by PostgreSQL itself: not listed.
    assert!(
        !warnings.contains("lo_export") && !warnings.contains("lo_import"),
        "{warnings}"
    );
    if has_dblink {
        assert!(
            warnings.contains("the dblink functions dblink, dblink_"),
            "{warnings}"
        );
    }
    // The documented recipe, run as written, leaves a role with neither
    // problems nor warnings (and takes the functions from every other role).
    admin.batch_execute(&recipe()).await.unwrap();
    let db = Database::builder(&private.url("llm_reader"))
        .connect()
        .await
        .unwrap();
    assert!(db.warnings().is_empty(), "{:?}", db.warnings());
    assert_eq!(
        db.query("SHOW transaction_read_only").await.unwrap().rows,
        vec![vec![json!("on")]]
    );
    let db = Database::builder(&private.url("app_reader"))
        .connect()
        .await
        .unwrap();
    assert!(db.warnings().is_empty(), "{:?}", db.warnings());
    // The README shows the same recipe.
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(&recipe()),
        "README and src/docs/postgres.md recipes differ"
    );
    private.stop();
}
