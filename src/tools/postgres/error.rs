//! [`QueryError`]: why a query gave no result, in words the model can act on;
//! [`SetupError`]: why a [`Database`](super::Database) could not be made.

use std::fmt;
use std::time::Duration;

/// Why a query or schema call produced no result. Its `Display` text is what
/// the model is told; none of these ends an agent run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The statement was refused before it reached the database (not one
    /// read-only query). Says what is allowed instead.
    #[error("refused: {0}")]
    Refused(String),

    /// The database answered with an error (syntax, unknown column,
    /// permission denied, read-only transaction…), in its own words.
    #[error("{0}")]
    Database(Box<DbError>),

    /// The query ran longer than the time allowed and was cancelled
    /// (server `statement_timeout` or the client deadline).
    #[error(
        "the query was cancelled after running longer than {0:?}; make it cheaper (filter with WHERE, add LIMIT, aggregate) and try again"
    )]
    Timeout(Duration),

    /// The query waited longer than `lock_timeout` for a lock another
    /// transaction holds.
    #[error(
        "the query was cancelled after waiting {0:?} for a lock held by another transaction; try again later or read another table"
    )]
    LockTimeout(Duration),

    /// The database could not be reached, or the connection broke.
    #[error("the database is unavailable ({0}); try again later")]
    Unavailable(String),
}

/// Why [`Builder::connect`](super::Builder::connect) made no
/// [`Database`](super::Database); carried by [`Error::Postgres`](crate::Error::Postgres).
///
/// The sources are tokio-postgres, deadpool and rustls errors, which are not
/// part of this crate's stable API. None of them holds the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// [`Database::from_env`](super::Database::from_env) found no `DATABASE_URL`.
    #[error("DATABASE_URL is not set")]
    MissingUrl,

    /// The connection string (URL or key=value pairs) could not be read, or
    /// holds an unknown setting or value.
    #[error("invalid connection string")]
    ConnectionString(#[source] tokio_postgres::Error),

    /// `sslmode` asks for TLS, but the crate was built without the
    /// `postgres-rustls` feature.
    #[error("sslmode={0} needs the `postgres-rustls` feature")]
    TlsUnsupported(&'static str),

    /// `sslmode=verify-ca` or `verify-full`, and the system has no trusted
    /// root certificate.
    #[error("no trusted root certificates found on this system for sslmode=verify-full")]
    NoRootCertificates,

    /// The TLS client could not be set up.
    #[error("TLS setup failed")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// The database server could not be reached: connection refused, timed
    /// out, unknown host, or closed before it answered.
    #[error("could not reach the database server")]
    Unreachable(#[source] tokio_postgres::Error),

    /// The TLS handshake failed, e.g. the server's certificate was refused
    /// (`sslmode=verify-full` against a self-signed certificate).
    #[error("the TLS handshake with the database server failed")]
    Handshake(#[source] tokio_postgres::Error),

    /// The server answered and refused the connection: failed
    /// authentication, unknown role or database, too many connections.
    #[error("the database server refused the connection")]
    Rejected(#[source] tokio_postgres::Error),

    /// Connecting failed for another reason (e.g. a password the server asks
    /// for was not given).
    #[error("could not connect to the database")]
    Connect(#[source] tokio_postgres::Error),

    /// No connection was made within the connect timeout.
    #[error("no connection to the database within {0:?}")]
    ConnectTimeout(Duration),

    /// The connection pool could not be built.
    #[error("could not build the connection pool")]
    PoolBuild(#[source] deadpool_postgres::BuildError),

    /// The pool failed for a reason of its own.
    #[error("the connection pool failed")]
    Pool(#[source] deadpool_postgres::PoolError),

    /// The query that checks the role's privileges failed.
    #[error("the privilege check failed")]
    PrivilegeCheck(#[source] tokio_postgres::Error),

    /// The role is a superuser, may write, or belongs to a role that reads
    /// server files, runs programs or signals other sessions, and
    /// [`Builder::allow_privileged`](super::Builder::allow_privileged) was
    /// not given.
    #[error(
        "refusing a privileged role for a read-only tool: {}; connect as a read-only role or call `allow_privileged(true)`",
        .problems.join("; ")
    )]
    PrivilegedRole {
        /// The role connected as.
        role: String,
        /// Each reason, e.g. "role `app` may write to tables (public.orders)".
        problems: Vec<String>,
    },
}

impl SetupError {
    /// Sorts a connection failure: refused by the server, TLS handshake,
    /// transport, or other.
    pub(crate) fn connect(e: tokio_postgres::Error) -> Self {
        if e.as_db_error().is_some() {
            return Self::Rejected(e);
        }
        let mut tls = false;
        let mut io = false;
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if let Some(io_error) = s.downcast_ref::<std::io::Error>() {
                io = true;
                tls |= io_error.get_ref().is_some_and(|inner| is_tls(inner));
            }
            tls |= is_tls(s);
            source = s.source();
        }
        if tls {
            Self::Handshake(e)
        } else if io {
            Self::Unreachable(e)
        } else {
            Self::Connect(e)
        }
    }

    /// Sorts a failure to get the first connection from the pool.
    pub(crate) fn pool(e: deadpool_postgres::PoolError, connect_timeout: Duration) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => Self::connect(e),
            deadpool_postgres::PoolError::Timeout(_) => Self::ConnectTimeout(connect_timeout),
            other => Self::Pool(other),
        }
    }
}

#[cfg(feature = "postgres-rustls")]
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    e.is::<rustls::Error>()
}

#[cfg(not(feature = "postgres-rustls"))]
fn is_tls(_: &(dyn std::error::Error + 'static)) -> bool {
    false
}

/// An error reported by the PostgreSQL server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DbError {
    /// The SQLSTATE code, e.g. `42703` (undefined column).
    pub code: String,
    /// The primary message, e.g. `column "foo" does not exist`.
    pub message: String,
    /// The optional detail line.
    pub detail: Option<String>,
    /// The optional hint, e.g. `Perhaps you meant to reference the column "t.food".`
    pub hint: Option<String>,
    /// The 1-based character position in the query the error points at.
    pub position: Option<u32>,
    /// A short piece of the query around `position`.
    pub near: Option<String>,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "database error {}: {}", self.code, self.message)?;
        if let Some(position) = self.position {
            write!(f, " (at character {position}")?;
            if let Some(near) = &self.near {
                write!(f, ", near `{near}`")?;
            }
            f.write_str(")")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "; detail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

impl QueryError {
    /// Maps a tokio-postgres error; `sql` is the query (for `near`).
    pub(crate) fn from_pg(
        e: &tokio_postgres::Error,
        sql: &str,
        statement_timeout: Duration,
        lock_timeout: Duration,
    ) -> Self {
        let Some(db) = e.as_db_error() else {
            return Self::Unavailable(short_cause(e));
        };
        match db.code().code() {
            "57014" => return Self::Timeout(statement_timeout),
            "55P03" if db.message().contains("lock timeout") => {
                return Self::LockTimeout(lock_timeout);
            }
            // admin_shutdown, crash_shutdown, cannot_connect_now, idle-in-transaction timeout.
            "57P01" | "57P02" | "57P03" | "25P03" => {
                return Self::Unavailable(db.message().to_owned());
            }
            _ => {}
        }
        let position = match db.position() {
            Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p),
            _ => None,
        };
        Self::Database(Box::new(DbError {
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            hint: db.hint().map(str::to_owned),
            position,
            near: position.and_then(|p| near(sql, p)),
        }))
    }
}

/// The error's own text and its innermost cause, without the password-bearing config.
pub(crate) fn short_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text = format!("{text}: {s_text}");
        }
        source = s.source();
    }
    text
}

/// Up to 20 characters of `sql` from the 1-based character `position`.
fn near(sql: &str, position: u32) -> Option<String> {
    let start = usize::try_from(position).ok()?.checked_sub(1)?;
    let piece: String = sql.chars().skip(start).take(20).collect();
    let piece = piece.split_whitespace().collect::<Vec<_>>().join(" ");
    (!piece.is_empty()).then_some(piece)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_error_reads_like_the_server() {
        let e = QueryError::Database(Box::new(DbError {
            code: "42703".into(),
            message: "column \"nme\" does not exist".into(),
            detail: None,
            hint: Some("Perhaps you meant to reference the column \"t.name\".".into()),
            position: Some(8),
            near: near("SELECT nme FROM t", 8),
        }));
        assert_eq!(
            e.to_string(),
            "database error 42703: column \"nme\" does not exist (at character 8, near `nme FROM t`); \
             hint: Perhaps you meant to reference the column \"t.name\"."
        );
    }

    #[test]
    fn query_error_stays_small() {
        assert!(std::mem::size_of::<QueryError>() <= 40);
    }
}
