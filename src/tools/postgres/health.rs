//! [`GetHealth`] (`get_postgres_health`): connections, cache, long and idle
//! transactions, replication, wraparound and the top queries, in one call.

use std::borrow::Cow;
use std::time::Instant;

use deadpool_postgres::Transaction;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;

use super::error::QueryError;
use super::{Database, Job, Limits};
use crate::tool::Tool;

/// Default age, in seconds, from which a transaction is reported as long.
const LONG_TRANSACTION_S: u32 = 300;
/// At most this many long or idle transactions, replicas and top queries.
const LISTED: i32 = 10;

/// Arguments of `get_postgres_health`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct HealthArgs {
    /// Report transactions open longer than this many seconds (default 300).
    pub long_transaction_seconds: Option<u32>,
}

/// The `get_postgres_health` tool: connections against `max_connections`,
/// the cache hit ratio, long transactions, sessions idle in transaction,
/// sessions waiting for locks, replication lag (on a primary with replicas,
/// or on a replica), transaction-ID wraparound age, and the top queries from
/// `pg_stat_statements` when it is installed. Leads with findings in words.
///
/// Other roles' sessions and query texts are visible only to a role with
/// `pg_monitor` (or `pg_read_all_stats`); the report says how many were hidden.
#[derive(Debug, Clone)]
pub struct GetHealth {
    db: Database,
}

impl GetHealth {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database it checks.
    #[must_use]
    pub fn get_ref(&self) -> &Database {
        &self.db
    }
}

impl Tool for GetHealth {
    const NAME: &'static str = "get_postgres_health";
    type Args = HealthArgs;
    type Output = HealthReport;
    type Error = QueryError;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Database health")
    }

    fn description(&self) -> Cow<'static, str> {
        "Checks PostgreSQL health: connections against max_connections, cache hit ratio, long and \
         idle-in-transaction sessions, lock waits, replication lag, wraparound and the top queries \
         (read-only)."
            .into()
    }

    async fn call(&self, args: HealthArgs) -> Result<HealthReport, QueryError> {
        self.db.health(&args).await
    }
}

/// What `get_postgres_health` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HealthReport {
    /// What looks wrong, most pressing first ("no problems found" when nothing does).
    pub findings: Vec<String>,
    /// Client connections.
    pub connections: Connections,
    /// Share of block reads of this database served from shared buffers (0–1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_hit_ratio: Option<f64>,
    /// Transactions open longer than the threshold, oldest first.
    pub long_transactions: Vec<OpenTransaction>,
    /// Sessions idle inside an open transaction, oldest first.
    pub idle_in_transaction: Vec<OpenTransaction>,
    /// Whether this server is a primary or a replica, and the lag.
    pub replication: Replication,
    /// The age, in transactions, of the oldest unfrozen transaction ID of any
    /// database (wraparound comes at about 2 billion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_xid_age: Option<i64>,
    /// The queries with the most total execution time (`pg_stat_statements`),
    /// when installed and readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_queries: Option<Vec<TopQuery>>,
    /// Parts that could not be read, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Client connections of a [`HealthReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Connections {
    /// Client backends connected now.
    pub total: i64,
    /// The server's `max_connections`.
    pub max: i64,
    /// Slots kept for superusers (`superuser_reserved_connections`).
    pub reserved: i64,
    /// Sessions running a query.
    pub active: i64,
    /// Idle sessions.
    pub idle: i64,
    /// Sessions idle inside a transaction.
    pub idle_in_transaction: i64,
    /// Sessions waiting for a lock.
    pub waiting_for_lock: i64,
    /// Sessions of other roles whose state this role may not see.
    pub hidden: i64,
}

/// A session with an open transaction, in a [`HealthReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OpenTransaction {
    /// The backend's process ID.
    pub pid: i32,
    /// The role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The session state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Seconds since the transaction started.
    pub transaction_age_s: f64,
    /// Seconds since the state changed (how long it has been idle, for an idle one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_age_s: Option<f64>,
    /// The current or last query, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// Replication state of a [`HealthReport`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Replication {
    /// Whether this server is a replica (in recovery).
    pub is_replica: bool,
    /// On a replica: seconds since the last replayed transaction's commit on the primary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_delay_s: Option<f64>,
    /// On a replica: bytes received but not yet replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_backlog_bytes: Option<f64>,
    /// On a primary: its connected replicas.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaLag>,
}

/// One replica connected to this primary.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ReplicaLag {
    /// Its `application_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// `streaming`, `catchup`…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `async`, `sync`, `quorum`…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_state: Option<String>,
    /// Seconds behind in replaying (`replay_lag`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_lag_s: Option<f64>,
    /// Bytes of WAL not yet replayed there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_lag_bytes: Option<f64>,
}

/// One entry of `pg_stat_statements`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TopQuery {
    /// The normalized query text, shortened.
    pub query: String,
    /// How many times it ran.
    pub calls: i64,
    /// Total execution time, in milliseconds.
    pub total_ms: f64,
    /// Mean execution time, in milliseconds.
    pub mean_ms: f64,
    /// Rows returned or affected in all.
    pub rows: i64,
}

const CONNECTIONS: &str = "\
SELECT count(*),
       count(*) FILTER (WHERE state = 'active'),
       count(*) FILTER (WHERE state = 'idle'),
       count(*) FILTER (WHERE state LIKE 'idle in transaction%'),
       count(*) FILTER (WHERE wait_event_type = 'Lock'),
       count(*) FILTER (WHERE state IS NULL),
       current_setting('max_connections')::int8,
       current_setting('superuser_reserved_connections')::int8,
       (SELECT CASE WHEN blks_hit + blks_read > 0
                    THEN blks_hit::float8 / (blks_hit + blks_read) END
          FROM pg_stat_database WHERE datname = current_database()),
       (SELECT max(age(datfrozenxid))::int8 FROM pg_database),
       pg_is_in_recovery()
FROM pg_stat_activity
WHERE (backend_type = 'client backend' OR (backend_type IS NULL AND datname IS NOT NULL))
  AND pid <> pg_backend_pid()";

const OPEN_TRANSACTIONS: &str = "\
SELECT pid, usename::text, state,
       extract(epoch FROM clock_timestamp() - xact_start)::float8,
       extract(epoch FROM clock_timestamp() - state_change)::float8,
       left(query, 200)
FROM pg_stat_activity
WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
  AND (clock_timestamp() - xact_start > make_interval(secs => $1::float8)
       OR state LIKE 'idle in transaction%')
ORDER BY xact_start
LIMIT $2::int";

const REPLICAS: &str = "\
SELECT application_name, host(client_addr), state, sync_state,
       extract(epoch FROM replay_lag)::float8,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8
FROM pg_stat_replication
ORDER BY application_name
LIMIT $1::int";

const REPLICA_SELF: &str = "\
SELECT extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8";

const STATEMENTS_SCHEMA: &str = "\
SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'";

/// The `get_postgres_health` job.
pub(crate) struct ReadHealth<'a>(pub(crate) &'a HealthArgs);

impl Job for ReadHealth<'_> {
    type Output = HealthReport;

    async fn run(
        &self,
        tx: &Transaction<'_>,
        limits: &Limits,
        _: Instant,
    ) -> Result<HealthReport, QueryError> {
        let pg = |sql: &'static str| move |e: tokio_postgres::Error| limits.error(&e, sql);
        let threshold = f64::from(
            self.0
                .long_transaction_seconds
                .unwrap_or(LONG_TRANSACTION_S),
        );
        let row = tx
            .query_one(CONNECTIONS, &[])
            .await
            .map_err(pg(CONNECTIONS))?;
        let int = |i: usize| row.try_get::<_, Option<i64>>(i).ok().flatten().unwrap_or(0);
        let connections = Connections {
            total: int(0),
            active: int(1),
            idle: int(2),
            idle_in_transaction: int(3),
            waiting_for_lock: int(4),
            hidden: int(5),
            max: int(6),
            reserved: int(7),
        };
        let cache_hit_ratio = row
            .try_get::<_, Option<f64>>(8)
            .ok()
            .flatten()
            .map(|r| (r * 10_000.0).round() / 10_000.0);
        let oldest_xid_age = row.try_get::<_, Option<i64>>(9).ok().flatten();
        let is_replica = row.try_get::<_, bool>(10).unwrap_or(false);

        let rows = tx
            .query(OPEN_TRANSACTIONS, &[&threshold, &(LISTED * 4)])
            .await
            .map_err(pg(OPEN_TRANSACTIONS))?;
        let open: Vec<OpenTransaction> = rows.iter().map(open_transaction).collect();
        let (idle_in_transaction, long_transactions): (Vec<_>, Vec<_>) =
            open.into_iter().partition(|t| {
                t.state
                    .as_deref()
                    .is_some_and(|s| s.starts_with("idle in transaction"))
            });
        // The query returns sessions idle in transaction and, of the others,
        // only those over the threshold.
        let long_transactions: Vec<_> = long_transactions.into_iter().take(10).collect();
        let idle_in_transaction: Vec<_> = idle_in_transaction.into_iter().take(10).collect();

        let mut replication = Replication {
            is_replica,
            ..Replication::default()
        };
        if is_replica {
            let row = tx
                .query_one(REPLICA_SELF, &[])
                .await
                .map_err(pg(REPLICA_SELF))?;
            replication.replay_delay_s = seconds(&row, 0);
            replication.replay_backlog_bytes = row.try_get::<_, Option<f64>>(1).ok().flatten();
        } else {
            let rows = tx.query(REPLICAS, &[&LISTED]).await.map_err(pg(REPLICAS))?;
            replication.replicas = rows.iter().map(replica).collect();
        }

        let mut notes = Vec::new();
        let top_queries = top_queries(tx, &mut notes).await;
        if connections.hidden > 0 {
            notes.push(format!(
                "{} sessions of other roles are hidden from this role; grant it pg_monitor to see them",
                connections.hidden
            ));
        }
        let mut report = HealthReport {
            findings: Vec::new(),
            connections,
            cache_hit_ratio,
            long_transactions,
            idle_in_transaction,
            replication,
            oldest_xid_age,
            top_queries,
            notes,
        };
        report.findings = findings(&report, threshold);
        Ok(report)
    }
}

/// The top queries from `pg_stat_statements`, inside a savepoint: the
/// extension may be installed but not loaded, which fails the query.
async fn top_queries(tx: &Transaction<'_>, notes: &mut Vec<String>) -> Option<Vec<TopQuery>> {
    let schema: String = tx
        .query_opt(STATEMENTS_SCHEMA, &[])
        .await
        .ok()
        .flatten()?
        .try_get(0)
        .ok()?;
    let sql = format!(
        "SELECT left(s.query, 300), s.calls, \
                coalesce((to_jsonb(s) ->> 'total_exec_time')::float8, (to_jsonb(s) ->> 'total_time')::float8), \
                coalesce((to_jsonb(s) ->> 'mean_exec_time')::float8, (to_jsonb(s) ->> 'mean_time')::float8), \
                s.rows \
         FROM \"{}\".pg_stat_statements s \
         WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         ORDER BY 3 DESC NULLS LAST LIMIT {LISTED}",
        schema.replace('"', "\"\"")
    );
    if tx.batch_execute("SAVEPOINT toolcall_health").await.is_err() {
        return None;
    }
    match tx.query(&sql, &[]).await {
        Ok(rows) => {
            let _ = tx.batch_execute("RELEASE SAVEPOINT toolcall_health").await;
            Some(
                rows.iter()
                    .map(|r| TopQuery {
                        query: r
                            .try_get::<_, Option<String>>(0)
                            .ok()
                            .flatten()
                            .map(|q| one_line(&q))
                            .unwrap_or_default(),
                        calls: r.try_get(1).unwrap_or(0),
                        total_ms: round(
                            r.try_get::<_, Option<f64>>(2).ok().flatten().unwrap_or(0.0),
                        ),
                        mean_ms: round(
                            r.try_get::<_, Option<f64>>(3).ok().flatten().unwrap_or(0.0),
                        ),
                        rows: r.try_get(4).unwrap_or(0),
                    })
                    .collect(),
            )
        }
        Err(e) => {
            let _ = tx
                .batch_execute("ROLLBACK TO SAVEPOINT toolcall_health")
                .await;
            let why = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned());
            notes.push(format!(
                "pg_stat_statements is installed but cannot be read: {why}"
            ));
            None
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn seconds(row: &Row, i: usize) -> Option<f64> {
    row.try_get::<_, Option<f64>>(i)
        .ok()
        .flatten()
        .map(|s| (s * 10.0).round() / 10.0)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn open_transaction(row: &Row) -> OpenTransaction {
    OpenTransaction {
        pid: row.try_get(0).unwrap_or_default(),
        user: row.try_get(1).ok().flatten(),
        state: row.try_get(2).ok().flatten(),
        transaction_age_s: seconds(row, 3).unwrap_or(0.0),
        state_age_s: seconds(row, 4),
        query: row
            .try_get::<_, Option<String>>(5)
            .ok()
            .flatten()
            .map(|q| one_line(&q)),
    }
}

fn replica(row: &Row) -> ReplicaLag {
    ReplicaLag {
        name: row.try_get(0).ok().flatten(),
        client: row.try_get(1).ok().flatten(),
        state: row.try_get(2).ok().flatten(),
        sync_state: row.try_get(3).ok().flatten(),
        replay_lag_s: seconds(row, 4),
        replay_lag_bytes: row.try_get::<_, Option<f64>>(5).ok().flatten(),
    }
}

/// The findings, in words, most pressing first.
fn findings(r: &HealthReport, threshold: f64) -> Vec<String> {
    let mut out = Vec::new();
    let c = &r.connections;
    let usable = (c.max - c.reserved).max(1);
    if c.total * 100 >= usable * 80 {
        out.push(format!(
            "connections at {} of {} usable ({}%; max_connections {}, {} reserved for superusers)",
            c.total,
            usable,
            c.total * 100 / usable,
            c.max,
            c.reserved
        ));
    }
    if let Some(age) = r.oldest_xid_age.filter(|a| *a > 1_000_000_000) {
        out.push(format!(
            "transaction-ID age {age} of the oldest database: wraparound comes near 2 billion; check autovacuum and long transactions"
        ));
    }
    if c.waiting_for_lock > 0 {
        out.push(format!(
            "{} session{} waiting for a lock (get_postgres_locks names the blockers)",
            c.waiting_for_lock,
            if c.waiting_for_lock == 1 {
                " is"
            } else {
                "s are"
            }
        ));
    }
    if let Some(oldest) = r.idle_in_transaction.first() {
        out.push(format!(
            "{} session{} idle in transaction; the oldest, pid {}{}, has held its transaction open {:.1} s{}",
            r.idle_in_transaction.len(),
            if r.idle_in_transaction.len() == 1 { " is" } else { "s are" },
            oldest.pid,
            oldest
                .user
                .as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default(),
            oldest.transaction_age_s,
            oldest
                .query
                .as_deref()
                .map(|q| format!(", last query: {q}"))
                .unwrap_or_default()
        ));
    }
    for t in &r.long_transactions {
        out.push(format!(
            "transaction open {:.1} s (over {threshold} s) in pid {}{}{}",
            t.transaction_age_s,
            t.pid,
            t.state
                .as_deref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default(),
            t.query
                .as_deref()
                .map(|q| format!(": {q}"))
                .unwrap_or_default()
        ));
    }
    if let Some(delay) = r.replication.replay_delay_s.filter(|d| *d > 30.0) {
        out.push(format!(
            "this server is a replica and has replayed nothing from the last {delay:.1} s of the primary (or the primary is idle)"
        ));
    }
    for replica in &r.replication.replicas {
        let behind_s = replica.replay_lag_s.unwrap_or(0.0);
        let behind_bytes = replica.replay_lag_bytes.unwrap_or(0.0);
        if behind_s > 10.0 || behind_bytes > 64.0 * 1024.0 * 1024.0 {
            out.push(format!(
                "replica {} is {behind_s:.1} s / {behind_bytes:.0} bytes behind in replay",
                replica.name.as_deref().unwrap_or("?")
            ));
        }
    }
    if let Some(ratio) = r.cache_hit_ratio.filter(|r| *r < 0.99) {
        out.push(format!(
            "cache hit ratio {:.1}% (below 99%): the working set may not fit in shared_buffers",
            ratio * 100.0
        ));
    }
    if out.is_empty() {
        out.push("no problems found".into());
    }
    out
}
