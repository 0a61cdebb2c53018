//! [`ExplainQuery`] (`explain_postgres_query`): a query's plan, in JSON.

use std::borrow::Cow;
use std::time::Instant;

use deadpool_postgres::Transaction;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::QueryError;
use super::guard;
use super::types::Raw;
use super::{Database, Job, Limits};
use crate::tool::Tool;

/// Keys of a plan node that say little to a reader and cost space.
const NOISE: [&str; 4] = [
    "Parallel Aware",
    "Async Capable",
    "Inner Unique",
    "Disabled",
];

/// Arguments of `explain_postgres_query`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ExplainArgs {
    /// The SQL query to explain: SELECT, WITH … SELECT, VALUES or TABLE (without EXPLAIN).
    pub sql_query: String,
    /// Also run the query and report actual times and row counts (EXPLAIN ANALYZE); only where the database allows it.
    pub analyze: Option<bool>,
}

/// The `explain_postgres_query` tool: the plan PostgreSQL chooses for a
/// query (`EXPLAIN (FORMAT JSON)`), the query checked as for
/// `run_postgres_query`.
///
/// `analyze: true` runs the query (`EXPLAIN (ANALYZE, BUFFERS)`) only when
/// [`Builder::allow_explain_analyze`](super::Builder::allow_explain_analyze)
/// is on, inside the same read-only, timed, rolled-back transaction as every
/// call; otherwise it is refused.
#[derive(Debug, Clone)]
pub struct ExplainQuery {
    db: Database,
}

impl ExplainQuery {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database it asks.
    #[must_use]
    pub fn get_ref(&self) -> &Database {
        &self.db
    }
}

impl Tool for ExplainQuery {
    const NAME: &'static str = "explain_postgres_query";
    type Args = ExplainArgs;
    type Output = Plan;
    type Error = QueryError;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Query plan")
    }

    fn description(&self) -> Cow<'static, str> {
        "Shows the PostgreSQL execution plan of a read-only query as JSON (EXPLAIN), \
         with actual times and rows when analyze is true and allowed."
            .into()
    }

    async fn call(&self, args: ExplainArgs) -> Result<Plan, QueryError> {
        self.db
            .explain(&args.sql_query, args.analyze.unwrap_or(false))
            .await
    }
}

/// What `explain_postgres_query` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// The server's plan: the object of `EXPLAIN (FORMAT JSON)`, with `Plan`
    /// (nested nodes under `Plans`) and, when analyzed, `Planning Time` and
    /// `Execution Time` in milliseconds.
    pub plan: Value,
    /// Whether the query was run (`ANALYZE`).
    pub analyzed: bool,
    /// Whether deep nodes were left out to fit the size cap.
    pub truncated: bool,
    /// What was left out, when something was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The `explain_postgres_query` job: a checked query.
pub(crate) struct Explain<'s> {
    sql: &'s str,
    analyze: bool,
}

impl<'s> Explain<'s> {
    /// Checks the query as `run_postgres_query` does, and `analyze` against the builder.
    pub(crate) fn checked(
        sql: &'s str,
        analyze: bool,
        limits: &Limits,
    ) -> Result<Self, QueryError> {
        guard::check_explainable(sql).map_err(QueryError::Refused)?;
        if analyze && !limits.explain_analyze {
            return Err(QueryError::Refused(
                "EXPLAIN ANALYZE runs the query and is not enabled for this database; ask without `analyze`"
                    .into(),
            ));
        }
        let sql = sql.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
        Ok(Self { sql, analyze })
    }
}

impl Job for Explain<'_> {
    type Output = Plan;

    async fn run(
        &self,
        tx: &Transaction<'_>,
        limits: &Limits,
        _: Instant,
    ) -> Result<Plan, QueryError> {
        let options = if self.analyze {
            "ANALYZE, BUFFERS, FORMAT JSON"
        } else {
            "FORMAT JSON"
        };
        // A line break ends a trailing `--` comment of the query.
        let sql = format!("EXPLAIN ({options}) {}\n", self.sql);
        let pg = |e: tokio_postgres::Error| limits.error(&e, self.sql);
        let statement = tx.prepare(&sql).await.map_err(pg)?;
        if !statement.params().is_empty() {
            return Err(QueryError::Refused(
                "the query has parameter placeholders ($1 …); write the values into the SQL".into(),
            ));
        }
        let row = tx.query_one(&statement, &[]).await.map_err(pg)?;
        let text = row
            .try_get::<_, Raw<'_>>(0)
            .ok()
            .and_then(|Raw(b)| b)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("[]");
        let parsed: Value = serde_json::from_str(text)
            .map_err(|e| QueryError::Unavailable(format!("unreadable plan: {e}")))?;
        let mut plan = match parsed {
            Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
            other => other,
        };
        strip_noise(&mut plan);
        let (truncated, note) = fit(&mut plan, limits.max_bytes);
        Ok(Plan {
            plan,
            analyzed: self.analyze,
            truncated,
            note,
        })
    }
}

fn strip_noise(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in NOISE {
                map.remove(key);
            }
            map.values_mut().for_each(strip_noise);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_noise),
        _ => {}
    }
}

/// Leaves out the deepest plan nodes until the plan fits in `max_bytes`.
fn fit(plan: &mut Value, max_bytes: usize) -> (bool, Option<String>) {
    let size = |v: &Value| serde_json::to_string(v).map_or(0, |s| s.len());
    if size(plan) <= max_bytes {
        return (false, None);
    }
    for depth in (1..=12).rev() {
        let mut cut = plan.clone();
        let hidden = prune(cut.get_mut("Plan").unwrap_or(&mut Value::Null), depth);
        if size(&cut) <= max_bytes || depth == 1 {
            *plan = cut;
            return (
                true,
                Some(format!(
                    "{hidden} plan nodes deeper than level {depth} were left out to fit {max_bytes} bytes; \
                     explain a smaller part of the query to see them"
                )),
            );
        }
    }
    (false, None)
}

/// Replaces the children of nodes at `depth` by a count; returns how many
/// nodes were left out.
fn prune(node: &mut Value, depth: usize) -> usize {
    let Some(children) = node.get_mut("Plans").and_then(Value::as_array_mut) else {
        return 0;
    };
    if depth <= 1 {
        let hidden = children.iter().map(count).sum::<usize>();
        if let Some(map) = node.as_object_mut() {
            map.remove("Plans");
            map.insert("Plans Not Shown".into(), hidden.into());
        }
        return hidden;
    }
    children.iter_mut().map(|c| prune(c, depth - 1)).sum()
}

fn count(node: &Value) -> usize {
    1 + node
        .get("Plans")
        .and_then(Value::as_array)
        .map_or(0, |c| c.iter().map(count).sum())
}
