//! [`QueryError`]: why a query gave no result, in words the model can act on.

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
