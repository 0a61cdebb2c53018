//! [`DescribeSchema`] (`get_postgres_schema`): the tables the role may read, compactly.

use std::borrow::Cow;
use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Deserialize;

use std::future::Future;
use std::time::Instant;

use deadpool_postgres::Transaction;

use super::error::QueryError;
use super::{Database, Job, Limits};
use crate::tool::Tool;

/// Arguments of `get_postgres_schema`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct SchemaArgs {
    /// Only this schema (e.g. "public"); every schema the role may read when omitted.
    pub schema: Option<String>,
}

/// The `get_postgres_schema` tool: tables, views and their columns, types,
/// keys and comments, for the schemas the role may read.
///
/// The answer is plain text, one line per relation and per column:
///
/// ```text
/// public.orders (table): Customer orders
///   id integer not null pk
///   customer_id integer -> public.customers.id
/// ```
#[derive(Debug, Clone)]
pub struct DescribeSchema {
    db: Database,
}

impl DescribeSchema {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database it describes.
    #[must_use]
    pub fn get_ref(&self) -> &Database {
        &self.db
    }
}

impl Tool for DescribeSchema {
    const NAME: &'static str = "get_postgres_schema";
    type Args = SchemaArgs;
    type Output = String;
    type Error = QueryError;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Database schema")
    }

    fn description(&self) -> Cow<'static, str> {
        "Lists the tables and views of the PostgreSQL database that can be queried, with their columns, types, keys and comments."
            .into()
    }

    async fn call(&self, args: SchemaArgs) -> Result<String, QueryError> {
        self.db.schema(args.schema.as_deref()).await
    }
}

const SCHEMA: &str = "\
SELECT n.nspname::text, c.relname::text,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END,
       obj_description(c.oid, 'pg_class'),
       a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY (i.indkey)),
       (SELECT format('%s.%s', fc.oid::regclass::text, fa.attname)
          FROM pg_constraint k
          JOIN pg_class fc ON fc.oid = k.confrelid
          JOIN pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = k.confkey[1]
         WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.conkey = ARRAY[a.attnum]
         LIMIT 1),
       col_description(c.oid, a.attnum)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
  AND n.nspname NOT LIKE 'pg_temp%'
  AND has_schema_privilege(n.oid, 'USAGE')
  AND has_column_privilege(c.oid, a.attnum, 'SELECT')
  AND ($1::text IS NULL OR n.nspname = $1::text)
ORDER BY n.nspname, c.relname, a.attnum";

/// The `get_postgres_schema` job: one schema, or all.
pub(crate) struct Describe<'s>(pub(crate) Option<&'s str>);

impl Job for Describe<'_> {
    type Output = String;

    fn run<'a>(
        &'a self,
        tx: &'a Transaction<'_>,
        limits: &'a Limits,
        _: Instant,
    ) -> impl Future<Output = Result<String, QueryError>> + Send + 'a {
        describe(tx, self.0, limits)
    }
}

/// Reads the catalogue and renders it, within `limits.max_bytes`.
pub(crate) async fn describe(
    tx: &Transaction<'_>,
    only: Option<&str>,
    limits: &Limits,
) -> Result<String, QueryError> {
    let only = only.map(str::to_owned);
    let rows = tx
        .query(SCHEMA, &[&only])
        .await
        .map_err(|e| limits.error(&e, SCHEMA))?;
    let mut out = String::new();
    let mut current: Option<(String, String)> = None;
    let mut relations = 0usize;
    for row in &rows {
        let get = |i: usize| row.try_get::<_, Option<String>>(i).ok().flatten();
        let (Some(schema), Some(table), Some(kind), Some(column), Some(ty)) =
            (get(0), get(1), get(2), get(4), get(5))
        else {
            continue;
        };
        let key = (schema, table);
        if current.as_ref() != Some(&key) {
            if out.len() > limits.max_bytes {
                let _ = writeln!(
                    out,
                    "… more relations not shown; ask for one schema with the `schema` argument"
                );
                break;
            }
            let _ = write!(out, "{}.{} ({kind})", key.0, key.1);
            if let Some(comment) = get(3) {
                let _ = write!(out, ": {}", one_line(&comment));
            }
            out.push('\n');
            relations += 1;
            current = Some(key);
        }
        let _ = write!(out, "  {column} {ty}");
        if row.try_get::<_, bool>(6).unwrap_or(false) {
            out.push_str(" not null");
        }
        if row.try_get::<_, bool>(7).unwrap_or(false) {
            out.push_str(" pk");
        }
        if let Some(target) = get(8) {
            let _ = write!(out, " -> {target}");
        }
        if let Some(comment) = get(9) {
            let _ = write!(out, ": {}", one_line(&comment));
        }
        out.push('\n');
    }
    if relations == 0 {
        return Ok(match only {
            Some(s) => format!("no readable tables or views in schema `{s}`"),
            None => "no readable tables or views".to_owned(),
        });
    }
    Ok(out)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
