//! Read-only PostgreSQL tools over one [`Database`]: [`RunQuery`]
//! (`run_postgres_query`), [`DescribeSchema`] (`get_postgres_schema`), and the
//! troubleshooting tools [`GetActivity`] (`get_postgres_activity`),
//! [`GetLocks`] (`get_postgres_locks`), [`ExplainQuery`]
//! (`explain_postgres_query`) and [`GetHealth`] (`get_postgres_health`).
//!
//! ```no_run
//! use toolcall::ToolRegistry;
//! use toolcall::tools::postgres::Database;
//!
//! # async fn example() -> toolcall::Result<()> {
//! let db = Database::from_env().max_rows(100).connect().await?;
//! // Every read-only tool at once…
//! let registry: ToolRegistry = db.tools();
//! // …or only some.
//! let registry = ToolRegistry::new()
//!     .with(db.query_tool())
//!     .with(db.schema_tool());
//! # Ok(()) }
//! ```
//!
#![doc = include_str!("../../docs/postgres.md")]

mod activity;
mod error;
mod explain;
mod functions;
mod guard;
mod health;
mod output;
mod privileges;
mod query;
mod schema;
mod session;
mod tls;
mod types;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Pool, Runtime, Transaction};
use tokio_postgres::Config;

pub use activity::{
    ActivityArgs, ActivityReport, GetActivity, GetLocks, Lock, LocksArgs, LocksReport, Session,
};
pub use error::{DbError, QueryError, SetupError};
pub use explain::{ExplainArgs, ExplainQuery, Plan};
pub use health::{
    Connections, GetHealth, HealthArgs, HealthReport, OpenTransaction, ReplicaLag, Replication,
    TopQuery,
};
pub use query::{Column, CutColumn, QueryArgs, QueryResult, RunQuery};
pub use schema::{DescribeSchema, SchemaArgs};

use crate::ToolRegistry;
use crate::error::{Error, Result};
use session::Lease;
use tls::{Connector, SslMode};

/// The caps and timeouts of every call.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) max_rows: usize,
    pub(crate) max_bytes: usize,
    pub(crate) max_value_chars: usize,
    pub(crate) statement_timeout: Duration,
    pub(crate) lock_timeout: Duration,
    pub(crate) deadline: Option<Duration>,
    pub(crate) explain_analyze: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_rows: 200,
            max_bytes: 32 * 1024,
            max_value_chars: 2_000,
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(1),
            deadline: None,
            explain_analyze: false,
        }
    }
}

impl Limits {
    /// The client deadline: given, or the statement timeout plus a second.
    fn deadline(&self) -> Duration {
        self.deadline
            .unwrap_or(self.statement_timeout + Duration::from_secs(1))
    }

    /// The `SET LOCAL` lines run at the start of every transaction (crate SQL).
    fn settings(&self) -> String {
        let ms = |d: Duration| d.as_millis().max(1);
        format!(
            "SET LOCAL statement_timeout = {}; SET LOCAL lock_timeout = {}; \
             SET LOCAL idle_in_transaction_session_timeout = {}",
            ms(self.statement_timeout),
            ms(self.lock_timeout),
            ms(self.deadline() + Duration::from_secs(5)),
        )
    }

    pub(crate) fn error(&self, e: &tokio_postgres::Error, sql: &str) -> QueryError {
        QueryError::from_pg(e, sql, self.statement_timeout, self.lock_timeout)
    }
}

/// A PostgreSQL database the tools query: a connection pool, the caps and the
/// timeouts. Cheap to clone (an `Arc` inside).
///
/// Made with [`Database::builder`], [`Database::from_env`] or
/// [`Database::from_config`], then [`Builder::connect`].
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    connector: Connector,
    limits: Limits,
    warnings: Vec<String>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("limits", &self.inner.limits)
            .field("tls", &self.inner.connector)
            .field("warnings", &self.inner.warnings)
            .finish_non_exhaustive()
    }
}

/// What one call runs inside its read-only transaction.
pub(crate) trait Job: Sync {
    /// What the call returns.
    type Output: Send;

    /// Runs inside `BEGIN READ ONLY` with the timeouts set; the transaction
    /// is rolled back afterwards whatever happens.
    fn run<'a>(
        &'a self,
        tx: &'a Transaction<'_>,
        limits: &'a Limits,
        started: Instant,
    ) -> impl Future<Output = Result<Self::Output, QueryError>> + Send + 'a;
}

impl Database {
    /// Starts a builder from a connection string: a URL
    /// (`postgres://user:password@host:5432/db?sslmode=require`) or libpq
    /// key=value pairs (`host=… user=… dbname=…`).
    #[must_use]
    pub fn builder(conninfo: &str) -> Builder {
        Builder::new(tls::parse(conninfo))
    }

    /// Starts a builder from the `DATABASE_URL` environment variable.
    #[must_use]
    pub fn from_env() -> Builder {
        match std::env::var("DATABASE_URL") {
            Ok(url) => Self::builder(&url),
            Err(_) => Builder::new(Err(SetupError::MissingUrl)),
        }
    }

    /// Starts a builder from a tokio-postgres configuration (its `ssl_mode` is
    /// honoured; `verify-full` needs a connection string).
    #[must_use]
    pub fn from_config(config: Config) -> Builder {
        let mode = tls::mode_of(&config);
        Builder::new(Ok((config, mode)))
    }

    /// The `run_postgres_query` tool over this database.
    #[must_use]
    pub fn query_tool(&self) -> RunQuery {
        RunQuery::new(self.clone())
    }

    /// The `get_postgres_schema` tool over this database.
    #[must_use]
    pub fn schema_tool(&self) -> DescribeSchema {
        DescribeSchema::new(self.clone())
    }

    /// The `get_postgres_activity` tool over this database.
    #[must_use]
    pub fn activity_tool(&self) -> GetActivity {
        GetActivity::new(self.clone())
    }

    /// The `get_postgres_locks` tool over this database.
    #[must_use]
    pub fn locks_tool(&self) -> GetLocks {
        GetLocks::new(self.clone())
    }

    /// The `explain_postgres_query` tool over this database.
    #[must_use]
    pub fn explain_tool(&self) -> ExplainQuery {
        ExplainQuery::new(self.clone())
    }

    /// The `get_postgres_health` tool over this database.
    #[must_use]
    pub fn health_tool(&self) -> GetHealth {
        GetHealth::new(self.clone())
    }

    /// A registry of every read-only tool over this database: query, schema,
    /// activity, locks, explain and health.
    #[must_use]
    pub fn tools(&self) -> ToolRegistry {
        ToolRegistry::new()
            .with(self.query_tool())
            .with(self.schema_tool())
            .with(self.activity_tool())
            .with(self.locks_tool())
            .with(self.explain_tool())
            .with(self.health_tool())
    }

    /// Every read-only tool ([`Database::tools`]) on a database connected on first use:
    /// `builder` makes the builder (e.g. `Database::from_env`) when a call needs a
    /// connection, and the connection goes through [`Builder::connect`]'s checks. A
    /// server can so start at once and always list its tools; a missing or refused
    /// configuration (no `DATABASE_URL`, a superuser, a server that is down) is that
    /// call's answer, saying what to set, and the next call tries again.
    ///
    /// ```
    /// use toolcall::tools::postgres::Database;
    ///
    /// let tools = Database::lazy_tools(Database::from_env);
    /// assert!(tools.get("run_postgres_query").is_some());
    /// ```
    #[must_use]
    pub fn lazy_tools<F>(builder: F) -> ToolRegistry
    where
        F: Fn() -> Builder + Send + Sync + 'static,
    {
        // A pool that is never used (deadpool connects on first use): it only
        // describes the tools.
        let template = Pool::builder(Connector::Plain.manager(Config::new()))
            .runtime(Runtime::Tokio1)
            .build()
            .map(|pool| {
                Database {
                    inner: Arc::new(Inner {
                        pool,
                        connector: Connector::Plain,
                        limits: Limits::default(),
                        warnings: Vec::new(),
                    }),
                }
                .tools()
            })
            .unwrap_or_default();
        ToolRegistry::lazy(template, move || {
            let connecting = builder().connect();
            async move {
                connecting.await.map(|db| db.tools()).map_err(|e| {
                    format!(
                        "the database is not available ({}); set DATABASE_URL to the connection \
                         string of a read-only role (see the role recipe in the docs)",
                        crate::error::chain(&e)
                    )
                })
            }
        })
    }

    /// What the start-up check reported without refusing the role: side-effect
    /// functions (`dblink*`, the large-object writers) it may still execute.
    /// The tools refuse those calls by name; revoking `EXECUTE` closes the
    /// path through the database's own functions too. Each is also logged with
    /// `tracing` at `warn` level.
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// Runs one read-only query, as the `run_postgres_query` tool does.
    ///
    /// # Errors
    /// A [`QueryError`] for the model: refused, database error, timeout,
    /// lock timeout, or database unavailable.
    pub async fn query(&self, sql: &str) -> Result<QueryResult, QueryError> {
        guard::check(sql).map_err(QueryError::Refused)?;
        self.run(&query::Fetch(sql)).await
    }

    /// Describes the readable tables and views, as the `get_postgres_schema` tool does.
    ///
    /// # Errors
    /// A [`QueryError`], as for [`Database::query`].
    pub async fn schema(&self, only: Option<&str>) -> Result<String, QueryError> {
        self.run(&schema::Describe(only)).await
    }

    /// The sessions and who blocks whom, as the `get_postgres_activity` tool does.
    ///
    /// # Errors
    /// A [`QueryError`], as for [`Database::query`].
    pub async fn activity(&self, args: &ActivityArgs) -> Result<ActivityReport, QueryError> {
        self.run(&activity::ReadActivity(args)).await
    }

    /// The locks waited for and held, as the `get_postgres_locks` tool does.
    ///
    /// # Errors
    /// A [`QueryError`], as for [`Database::query`].
    pub async fn locks(&self, args: &LocksArgs) -> Result<LocksReport, QueryError> {
        self.run(&activity::ReadLocks(args)).await
    }

    /// The plan of one query, as the `explain_postgres_query` tool does.
    ///
    /// # Errors
    /// A [`QueryError`], as for [`Database::query`]; refused when `analyze`
    /// is asked for and [`Builder::allow_explain_analyze`] was not given.
    pub async fn explain(&self, sql: &str, analyze: bool) -> Result<Plan, QueryError> {
        let job = explain::Explain::checked(sql, analyze, &self.inner.limits)?;
        self.run(&job).await
    }

    /// A health summary, as the `get_postgres_health` tool does.
    ///
    /// # Errors
    /// A [`QueryError`], as for [`Database::query`].
    pub async fn health(&self, args: &HealthArgs) -> Result<HealthReport, QueryError> {
        self.run(&health::ReadHealth(args)).await
    }

    /// Takes a connection, runs the job under the client deadline, and leaves
    /// the connection clean (or closes it).
    async fn run<J: Job>(&self, job: &J) -> Result<J::Output, QueryError> {
        let started = Instant::now();
        let inner = &self.inner;
        let deadline = inner.limits.deadline();
        let mut lease = Lease::acquire(&inner.pool, &inner.connector).await?;
        let outcome = match lease.client() {
            Some(client) => {
                tokio::time::timeout(deadline, in_read_only(client, job, &inner.limits, started))
                    .await
            }
            None => Ok(Err(QueryError::Unavailable("no connection".into()))),
        };
        match outcome {
            Err(_) => {
                lease.cancel_and_discard().await;
                Err(QueryError::Timeout(deadline))
            }
            Ok(Err(e @ QueryError::Unavailable(_))) => {
                lease.discard();
                Err(e)
            }
            Ok(result) => {
                lease.release().await;
                result
            }
        }
    }
}

/// `BEGIN READ ONLY`, the `SET LOCAL` timeouts, the job, and always `ROLLBACK`.
async fn in_read_only<J: Job>(
    client: &mut deadpool_postgres::ClientWrapper,
    job: &J,
    limits: &Limits,
    started: Instant,
) -> Result<J::Output, QueryError> {
    let pg = |e: tokio_postgres::Error| limits.error(&e, "");
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(pg)?;
    tx.batch_execute(&limits.settings()).await.map_err(pg)?;
    let outcome = job.run(&tx, limits, started).await;
    let rolled_back = tx.rollback().await.map_err(pg);
    match (outcome, rolled_back) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
        (Ok(output), Ok(())) => Ok(output),
    }
}

/// Builds a [`Database`]: connection, caps, timeouts, pool size, and whether a
/// privileged role is allowed.
#[derive(Debug)]
pub struct Builder {
    source: std::result::Result<(Config, SslMode), SetupError>,
    limits: Limits,
    pool_size: usize,
    connect_timeout: Duration,
    allow_privileged: bool,
}

impl Builder {
    fn new(source: std::result::Result<(Config, SslMode), SetupError>) -> Self {
        Self {
            source,
            limits: Limits::default(),
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            allow_privileged: false,
        }
    }

    /// The most rows one call returns (default 200); more set `truncated`.
    #[must_use]
    pub fn max_rows(mut self, rows: usize) -> Self {
        self.limits.max_rows = rows.max(1);
        self
    }

    /// The most bytes of rendered rows one call returns (default 32 KiB).
    #[must_use]
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_bytes = bytes.max(64);
        self
    }

    /// The most characters of one text value shown (default 2000); longer
    /// values are cut and say so.
    #[must_use]
    pub fn max_value_chars(mut self, chars: usize) -> Self {
        self.limits.max_value_chars = chars.max(16);
        self
    }

    /// The server-side `statement_timeout` of every query (default 5 s).
    #[must_use]
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.limits.statement_timeout = timeout;
        self
    }

    /// The server-side `lock_timeout` of every query (default 1 s).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.limits.lock_timeout = timeout;
        self
    }

    /// The client deadline of every call, after which a cancel request is sent
    /// and the connection closed (default: the statement timeout plus 1 s).
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.limits.deadline = Some(deadline);
        self
    }

    /// The most connections the pool opens (default 4).
    #[must_use]
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// The TCP connect timeout (default 5 s), unless the connection string sets one.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Lets `explain_postgres_query` run `EXPLAIN ANALYZE` when the model asks
    /// for it (default: off). The query then really runs, inside the same
    /// read-only, timed, rolled-back transaction as every call, after the
    /// same checks as `run_postgres_query`.
    #[must_use]
    pub fn allow_explain_analyze(mut self, allow: bool) -> Self {
        self.limits.explain_analyze = allow;
        self
    }

    /// Allows a role that is a superuser, may write to tables, or belongs to
    /// `pg_write_server_files`, `pg_execute_server_program`,
    /// `pg_read_server_files` or `pg_signal_backend` (default: refused).
    ///
    /// Some attacks are stopped only by privileges: with this on, a model can
    /// read whatever the role can (password hashes, for a superuser), and a
    /// function of the database that calls a side-effect function runs with
    /// the role's rights. The side-effect functions themselves (`dblink*`,
    /// large objects, server files, `set_config`, advisory locks, signals…)
    /// stay refused by name, whatever the role.
    #[must_use]
    pub fn allow_privileged(mut self, allow: bool) -> Self {
        self.allow_privileged = allow;
        self
    }

    /// Builds the pool, connects once and checks the role's privileges.
    ///
    /// # Errors
    /// [`Error::Postgres`] with a [`SetupError`] saying what failed: the
    /// connection string, TLS, reaching the server (unreachable, refused, a
    /// certificate refused in the handshake), or a privileged role that was
    /// not allowed (its problems listed).
    pub async fn connect(self) -> Result<Database> {
        let setup = |e: SetupError| Error::Postgres(Box::new(e));
        let (mut config, mode) = self.source.map_err(setup)?;
        let connector = Connector::for_mode(mode).await.map_err(setup)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("toolcall");
        }
        let pool = Pool::builder(connector.manager(config))
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.connect_timeout + self.limits.deadline()))
            .create_timeout(Some(self.connect_timeout))
            .build()
            .map_err(|e| setup(SetupError::PoolBuild(e)))?;
        let client = pool
            .get()
            .await
            .map_err(|e| setup(SetupError::pool(e, self.connect_timeout)))?;
        let findings = privileges::check(&client)
            .await
            .map_err(|e| setup(SetupError::PrivilegeCheck(e)))?;
        drop(client);
        if !findings.problems.is_empty() {
            if !self.allow_privileged {
                return Err(setup(SetupError::PrivilegedRole {
                    role: findings.role,
                    problems: findings.problems,
                }));
            }
            tracing::warn!(problems = %findings.problems.join("; "), "postgres: privileged role allowed");
        }
        for warning in &findings.warnings {
            tracing::warn!(%warning, "postgres: the role may execute side-effect functions");
        }
        Ok(Database {
            inner: Arc::new(Inner {
                pool,
                connector,
                limits: self.limits,
                warnings: findings.warnings,
            }),
        })
    }
}
