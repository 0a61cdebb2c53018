//! [`RunQuery`] (`run_postgres_query`) and the [`QueryResult`] it returns.

use std::borrow::Cow;
use std::future::Future;
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::Row;

use deadpool_postgres::Transaction;

use super::error::QueryError;
use super::types::{Cuts, Raw, to_json};
use super::{Database, Job, Limits};
use crate::tool::Tool;

/// The most rows one portal fetch asks for.
const MAX_BATCH: usize = 256;

/// Arguments of `run_postgres_query`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct QueryArgs {
    /// The SQL SELECT statement to execute.
    pub sql_query: String,
}

/// The `run_postgres_query` tool: one read-only query, results capped.
///
/// Made by [`Database::query_tool`]; see [the module docs](super) for what
/// keeps it read-only.
#[derive(Debug, Clone)]
pub struct RunQuery {
    db: Database,
}

impl RunQuery {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database it queries.
    #[must_use]
    pub fn get_ref(&self) -> &Database {
        &self.db
    }
}

impl Tool for RunQuery {
    const NAME: &'static str = "run_postgres_query";
    type Args = QueryArgs;
    type Output = QueryResult;
    type Error = QueryError;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Read-only SQL query")
    }

    fn description(&self) -> Cow<'static, str> {
        "Executes a read-only SQL query against the PostgreSQL database.".into()
    }

    async fn call(&self, args: QueryArgs) -> Result<QueryResult, QueryError> {
        self.db.query(&args.sql_query).await
    }
}

/// A result column: its name and PostgreSQL type name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Column {
    /// The column name (as the query labels it).
    pub name: String,
    /// The type name, e.g. `int4`, `numeric`, `_text` (an array of text).
    #[serde(rename = "type")]
    pub type_name: String,
}

/// What a query returned, shaped for a model to read.
///
/// Serialized compactly as
/// `{"columns":[{"name":"id","type":"int4"}],"rows":[[1]],"row_count":1,"truncated":false,"elapsed_ms":2}`.
/// Values: integers and floats as numbers, `numeric` and `money` as exact
/// strings, `json`/`jsonb` as JSON, timestamps in ISO 8601 (`timestamptz` in
/// UTC with `Z`), intervals in ISO 8601 (`P1DT2H`), arrays as arrays, `bytea`
/// as shortened hex, NULL as `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct QueryResult {
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// The rows read, each an array of values in column order.
    pub rows: Vec<Vec<Value>>,
    /// How many rows are in `rows`.
    pub row_count: usize,
    /// Whether the result is incomplete: the query had more rows than the
    /// caps let through, or a value was shortened.
    pub truncated: bool,
    /// Why the result is incomplete, when it is: which cap stopped the read,
    /// and which columns had values cut and by how much.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Time spent on the call, in milliseconds.
    pub elapsed_ms: u64,
    /// The columns whose values were shortened (also said in `note`; not
    /// serialized).
    #[serde(skip)]
    pub cut_columns: Vec<CutColumn>,
}

/// A column some of whose values were shortened in a [`QueryResult`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CutColumn {
    /// The column name.
    pub name: String,
    /// How many text values were cut at `max_value_chars` characters.
    pub text_values: usize,
    /// How many `bytea` values were shown as their first 32 bytes.
    pub bytea_values: usize,
    /// The size of the largest value cut, in bytes.
    pub largest_bytes: usize,
}

/// The `run_postgres_query` job: the query, already checked.
pub(crate) struct Fetch<'s>(pub(crate) &'s str);

impl Job for Fetch<'_> {
    type Output = QueryResult;

    fn run<'a>(
        &'a self,
        tx: &'a Transaction<'_>,
        limits: &'a Limits,
        started: Instant,
    ) -> impl Future<Output = Result<QueryResult, QueryError>> + Send + 'a {
        fetch(tx, self.0, limits, started)
    }
}

/// Prepares `sql`, binds a portal and reads it in batches until it ends or a
/// cap is hit, so memory stays flat whatever the table holds.
pub(crate) async fn fetch(
    tx: &Transaction<'_>,
    sql: &str,
    limits: &Limits,
    started: Instant,
) -> Result<QueryResult, QueryError> {
    let pg = |e: tokio_postgres::Error| limits.error(&e, sql);
    // Parse: one statement only, extended protocol.
    let statement = tx.prepare(sql).await.map_err(pg)?;
    if !statement.params().is_empty() {
        return Err(QueryError::Refused(format!(
            "the query has {} parameter placeholder(s) ($1 …); write the values into the SQL",
            statement.params().len()
        )));
    }
    let columns: Vec<Column> = statement
        .columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            type_name: c.type_().name().to_owned(),
        })
        .collect();
    let portal = tx.bind(&statement, &[]).await.map_err(pg)?;
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let mut bytes = 0usize;
    let mut note = None;
    let mut cuts = vec![Cuts::default(); columns.len()];
    'fetch: loop {
        let want = batch_size(limits, rows.len(), bytes);
        let batch = tx
            .query_portal(&portal, i32::try_from(want).unwrap_or(i32::MAX))
            .await
            .map_err(pg)?;
        let got = batch.len();
        for row in batch {
            if rows.len() >= limits.max_rows {
                note = Some(format!(
                    "stopped at the row cap ({} rows); add a WHERE, a LIMIT or an aggregate to see the rest",
                    limits.max_rows
                ));
                break 'fetch;
            }
            let mut row_cuts = vec![Cuts::default(); columns.len()];
            let values = render(&row, limits.max_value_chars, &mut row_cuts);
            let size = serde_json::to_string(&values).map_or(0, |s| s.len()) + 1;
            if bytes + size > limits.max_bytes {
                note = Some(format!(
                    "stopped at the size cap ({} bytes of rows){}; select fewer or narrower columns, or add a LIMIT",
                    limits.max_bytes,
                    if rows.is_empty() {
                        ": the first row alone is larger"
                    } else {
                        ""
                    }
                ));
                break 'fetch;
            }
            bytes += size;
            rows.push(values);
            for (total, more) in cuts.iter_mut().zip(row_cuts) {
                total.add(more);
            }
        }
        if got < want {
            break;
        }
    }
    let cut_columns: Vec<CutColumn> = columns
        .iter()
        .zip(&cuts)
        .filter(|(_, c)| !c.is_empty())
        .map(|(column, c)| CutColumn {
            name: column.name.clone(),
            text_values: c.text,
            bytea_values: c.bytes,
            largest_bytes: c.largest,
        })
        .collect();
    if !cut_columns.is_empty() {
        let cut = cut_note(&cut_columns, limits.max_value_chars);
        note = Some(match note {
            Some(cap) => format!("{cap}; {cut}"),
            None => cut,
        });
    }
    Ok(QueryResult {
        columns,
        row_count: rows.len(),
        rows,
        truncated: note.is_some(),
        note,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        cut_columns,
    })
}

/// Says which columns had values cut and how much, e.g. "values were cut:
/// column `body`: 3 values to 2000 characters (the largest was 48213 bytes)".
fn cut_note(columns: &[CutColumn], max_chars: usize) -> String {
    let parts: Vec<String> = columns
        .iter()
        .map(|c| {
            let mut what = Vec::new();
            if c.text_values > 0 {
                what.push(format!(
                    "{} value{} to {max_chars} characters",
                    c.text_values,
                    if c.text_values == 1 { "" } else { "s" }
                ));
            }
            if c.bytea_values > 0 {
                what.push(format!(
                    "{} bytea value{} to their first 32 bytes",
                    c.bytea_values,
                    if c.bytea_values == 1 { "" } else { "s" }
                ));
            }
            format!(
                "column `{}`: {} (the largest was {} bytes)",
                c.name,
                what.join(" and "),
                c.largest_bytes
            )
        })
        .collect();
    format!(
        "values were cut: {}; select substr(…) or length(…) of the column to read the rest",
        parts.join("; ")
    )
}

/// How many rows to ask for next: enough to reach the caps (plus one, to know
/// whether more exist), fewer when rows are large, never more than [`MAX_BATCH`].
fn batch_size(limits: &Limits, rows: usize, bytes: usize) -> usize {
    let by_rows = limits.max_rows.saturating_sub(rows) + 1;
    let by_bytes = match bytes.checked_div(rows) {
        Some(average) if average > 0 => limits.max_bytes.saturating_sub(bytes) / average + 1,
        _ => 64,
    };
    by_rows.min(by_bytes).clamp(1, MAX_BATCH)
}

fn render(row: &Row, max_chars: usize, cuts: &mut [Cuts]) -> Vec<Value> {
    row.columns()
        .iter()
        .zip(cuts.iter_mut())
        .enumerate()
        .map(|(i, (column, cuts))| match row.try_get::<_, Raw<'_>>(i) {
            Ok(Raw(bytes)) => to_json(column.type_(), bytes, max_chars, cuts),
            Err(_) => Value::String(format!("<{} value: unreadable>", column.type_().name())),
        })
        .collect()
}
