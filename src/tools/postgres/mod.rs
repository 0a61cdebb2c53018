//! Read-only PostgreSQL tools: [`RunQuery`] (`run_postgres_query`) and
//! [`DescribeSchema`] (`get_postgres_schema`), over one [`Database`].
//!
//! ```no_run
//! use toolcall::ToolRegistry;
//! use toolcall::tools::postgres::Database;
//!
//! # async fn example() -> toolcall::Result<()> {
//! let db = Database::from_env().max_rows(100).connect().await?;
//! let registry = ToolRegistry::new()
//!     .with(db.query_tool())
//!     .with(db.schema_tool());
//! # Ok(()) }
//! ```
//!
#![doc = include_str!("../../docs/postgres.md")]

mod error;
mod guard;
mod output;
mod privileges;
mod query;
mod schema;
mod session;
mod tls;
mod types;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Pool, Runtime};
use tokio_postgres::Config;

pub use error::{DbError, QueryError};
pub use query::{Column, QueryArgs, QueryResult, RunQuery};
pub use schema::{DescribeSchema, SchemaArgs};

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
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("limits", &self.inner.limits)
            .field("tls", &self.inner.connector)
            .finish_non_exhaustive()
    }
}

/// What one call runs inside its read-only transaction.
enum Job<'a> {
    Query(&'a str),
    Schema(Option<&'a str>),
}

enum Output {
    Query(QueryResult),
    Schema(String),
}

impl Database {
    /// Starts a builder from a connection string: a URL
    /// (`postgres://user:password@host:5432/db?sslmode=require`) or libpq
    /// key=value pairs (`host=… user=… dbname=…`).
    #[must_use]
    pub fn builder(conninfo: &str) -> Builder {
        let (conninfo, mode) = tls::split_sslmode(conninfo);
        let source = Config::from_str(&conninfo)
            .map(|config| (config, mode))
            .map_err(|e| format!("invalid connection string: {e}"));
        Builder::new(source)
    }

    /// Starts a builder from the `DATABASE_URL` environment variable.
    #[must_use]
    pub fn from_env() -> Builder {
        match std::env::var("DATABASE_URL") {
            Ok(url) => Self::builder(&url),
            Err(_) => Builder::new(Err("DATABASE_URL is not set".into())),
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

    /// Runs one read-only query, as the `run_postgres_query` tool does.
    ///
    /// # Errors
    /// A [`QueryError`] for the model: refused, database error, timeout,
    /// lock timeout, or database unavailable.
    pub async fn query(&self, sql: &str) -> Result<QueryResult, QueryError> {
        guard::check(sql).map_err(QueryError::Refused)?;
        match self.run(Job::Query(sql)).await? {
            Output::Query(result) => Ok(result),
            Output::Schema(_) => Err(QueryError::Unavailable("internal mix-up".into())),
        }
    }

    /// Describes the readable tables and views, as the `get_postgres_schema` tool does.
    ///
    /// # Errors
    /// A [`QueryError`], as for [`Database::query`].
    pub async fn schema(&self, only: Option<&str>) -> Result<String, QueryError> {
        match self.run(Job::Schema(only)).await? {
            Output::Schema(text) => Ok(text),
            Output::Query(_) => Err(QueryError::Unavailable("internal mix-up".into())),
        }
    }

    /// Takes a connection, runs the job under the client deadline, and leaves
    /// the connection clean (or closes it).
    async fn run(&self, job: Job<'_>) -> Result<Output, QueryError> {
        let started = Instant::now();
        let inner = &self.inner;
        let deadline = inner.limits.deadline();
        let mut lease = Lease::acquire(&inner.pool, &inner.connector).await?;
        let outcome = match lease.client() {
            Some(client) => {
                tokio::time::timeout(deadline, in_read_only(client, &job, &inner.limits, started))
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
async fn in_read_only(
    client: &mut deadpool_postgres::ClientWrapper,
    job: &Job<'_>,
    limits: &Limits,
    started: Instant,
) -> Result<Output, QueryError> {
    let pg = |e: tokio_postgres::Error| limits.error(&e, "");
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(pg)?;
    tx.batch_execute(&limits.settings()).await.map_err(pg)?;
    let outcome = match job {
        Job::Query(sql) => query::fetch(&tx, sql, limits, started)
            .await
            .map(Output::Query),
        Job::Schema(only) => schema::describe(&tx, *only, limits)
            .await
            .map(Output::Schema),
    };
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
    source: std::result::Result<(Config, SslMode), String>,
    limits: Limits,
    pool_size: usize,
    connect_timeout: Duration,
    allow_privileged: bool,
}

impl Builder {
    fn new(source: std::result::Result<(Config, SslMode), String>) -> Self {
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

    /// Allows a role that is a superuser, may write to tables, or belongs to
    /// `pg_write_server_files`, `pg_execute_server_program`,
    /// `pg_read_server_files` or `pg_signal_backend` (default: refused).
    ///
    /// Some attacks are stopped only by privileges: with this on, a model can
    /// read server files, run programs or stop other sessions.
    #[must_use]
    pub fn allow_privileged(mut self, allow: bool) -> Self {
        self.allow_privileged = allow;
        self
    }

    /// Builds the pool, connects once and checks the role's privileges.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad connection string or TLS setting;
    /// [`Error::Postgres`] when the database cannot be reached or the role is
    /// privileged (and that was not allowed).
    pub async fn connect(self) -> Result<Database> {
        let (mut config, mode) = self.source.map_err(Error::Config)?;
        let connector = Connector::for_mode(mode).map_err(Error::Config)?;
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
            .map_err(|e| Error::Postgres(format!("could not build the pool: {e}")))?;
        let client = pool.get().await.map_err(|e| {
            Error::Postgres(format!("could not connect: {}", error::short_cause(&e)))
        })?;
        let problems = privileges::problems(&client).await.map_err(|e| {
            Error::Postgres(format!(
                "privilege check failed: {}",
                error::short_cause(&e)
            ))
        })?;
        drop(client);
        if !problems.is_empty() {
            if !self.allow_privileged {
                return Err(Error::Postgres(format!(
                    "refusing a privileged role for a read-only tool: {}; connect as a read-only role \
                     or call `allow_privileged(true)`",
                    problems.join("; ")
                )));
            }
            tracing::warn!(problems = %problems.join("; "), "postgres: privileged role allowed");
        }
        Ok(Database {
            inner: Arc::new(Inner {
                pool,
                connector,
                limits: self.limits,
            }),
        })
    }
}
