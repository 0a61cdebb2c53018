//! The Postgres tools against a real, throwaway PostgreSQL server.
#![recursion_limit = "256"]
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

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use toolcall::tools::postgres::{Database, QueryError, SetupError};
use toolcall::{Error, ToolRegistry};

use pg_support::server;

async fn reader() -> Database {
    Database::builder(&server().url("app_reader"))
        .connect()
        .await
        .unwrap()
}

async fn superuser() -> toolcall::tools::postgres::Builder {
    Database::builder(&server().url(&server().superuser)).allow_privileged(true)
}

#[tokio::test]
async fn definition_matches_the_seed() {
    // The 4th tool of the seed's request-1.json (`fixtures/seed/request-1.json`).
    let seed = json!({
        "type": "function",
        "function": {
            "name": "run_postgres_query",
            "description": "Executes a read-only SQL query against the PostgreSQL database.",
            "parameters": {
                "type": "object",
                "properties": {
                    "sql_query": {"type": "string", "description": "The SQL SELECT statement to execute."}
                },
                "required": ["sql_query"]
            }
        }
    });
    let db = reader().await;
    let registry = ToolRegistry::new()
        .with(db.query_tool())
        .with(db.schema_tool());
    registry.check().unwrap();
    let defs = registry.definitions();
    assert_eq!(defs[0], seed);
    assert_eq!(defs[1]["function"]["name"], "get_postgres_schema");
    assert!(defs[1]["function"]["parameters"]["required"].is_null());
}

#[tokio::test]
async fn registry_dispatch_returns_compact_json() {
    let db = reader().await;
    let registry = ToolRegistry::new().with(db.query_tool());
    let out = registry
        .dispatch(
            "run_postgres_query",
            r#"{"sql_query": "SELECT id, name FROM shop.customers ORDER BY id LIMIT 2"}"#,
        )
        .await
        .unwrap()
        .text;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["columns"],
        json!([{"name": "id", "type": "int4"}, {"name": "name", "type": "text"}])
    );
    assert_eq!(v["rows"], json!([[1, "customer 1"], [2, "customer 2"]]));
    assert_eq!(v["row_count"], 2);
    assert_eq!(v["truncated"], false);
    assert!(v["elapsed_ms"].is_u64());
    assert!(v.get("note").is_none());
    assert!(!out.contains(": "), "compact JSON: {out}");

    let err = registry
        .dispatch(
            "run_postgres_query",
            r#"{"sql_query": "SELECT 1", "limit": 5}"#,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    let err = registry
        .dispatch(
            "run_postgres_query",
            r#"{"sql_query": "DROP TABLE shop.orders"}"#,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_model_text()
            .starts_with("error: `run_postgres_query` failed: refused:"),
        "{}",
        err.to_model_text()
    );
}

#[tokio::test]
async fn types_map_to_json_values() {
    let admin = server().admin().await;
    admin
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('sad', 'happy');
             CREATE TYPE pair AS (a integer, b text);
             CREATE TABLE public.every_type AS SELECT
               1::int2 AS i2, 2::int4 AS i4, 9007199254740993::int8 AS i8, 1.5::float4 AS f4,
               'NaN'::float8 AS f8,
               12345678901234567890.123456789012345678901234567890::numeric AS num,
               (-0.000012)::numeric(10,6) AS num_small, 'NaN'::numeric AS num_nan,
               42.5::money AS cash, true AS flag, 'text'::text AS t, 'vc'::varchar(5) AS vc,
               'c'::char(3) AS bp, 'nm'::name AS nm, '{\"a\": [1, 2.5, null]}'::json AS j,
               '{\"b\": {\"c\": true}}'::jsonb AS jb, '\\xdeadbeef'::bytea AS small_bytes,
               decode(repeat('ab', 100), 'hex') AS big_bytes,
               '2024-05-01 12:34:56.789'::timestamp AS ts,
               '2024-05-01 12:34:56+02'::timestamptz AS tstz, 'infinity'::timestamp AS ts_inf,
               '2024-02-29'::date AS d, '0044-03-15 BC'::date AS d_bc, '23:59:59.5'::time AS tm,
               '10:00:00+05:30'::timetz AS tmtz,
               '1 year 2 months 3 days 04:05:06.5'::interval AS iv, '-1 day'::interval AS iv_neg,
               'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id,
               '{1,2,NULL}'::int4[] AS ints, '{{a,b},{c,d}}'::text[] AS matrix, '{}'::int4[] AS empty,
               '192.168.0.1'::inet AS host, '10.0.0.0/8'::cidr AS net, '::1'::inet AS host6,
               '08:00:2b:01:02:03'::macaddr AS mac, B'1011'::bit(4) AS bits,
               '[1,10)'::int4range AS rng, 'happy'::mood AS enum_value, ROW(1, 'x')::pair AS composite,
               'a fat cat'::tsvector AS tsv, '(1,2)'::point AS pt, NULL::text AS nothing;
             GRANT SELECT ON public.every_type TO app_reader;",
        )
        .await
        .unwrap();
    let db = reader().await;
    let result = db.query("SELECT * FROM public.every_type").await.unwrap();
    let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
    let row: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| (*n).to_owned())
        .zip(result.rows[0].iter().cloned())
        .collect();
    let expected = json!({
        "i2": 1, "i4": 2, "i8": 9007199254740993_i64, "f4": 1.5, "f8": "NaN",
        "num": "12345678901234567890.123456789012345678901234567890",
        "num_small": "-0.000012", "num_nan": "NaN", "cash": "42.50", "flag": true,
        "t": "text", "vc": "vc", "bp": "c  ", "nm": "nm",
        "j": {"a": [1, 2.5, null]}, "jb": {"b": {"c": true}},
        "small_bytes": "\\xdeadbeef",
        "big_bytes": format!("\\x{}…[100 bytes in all]", "ab".repeat(32)),
        "ts": "2024-05-01T12:34:56.789", "tstz": "2024-05-01T10:34:56Z", "ts_inf": "infinity",
        "d": "2024-02-29", "d_bc": "0044-03-15 BC", "tm": "23:59:59.5", "tmtz": "10:00:00+05:30",
        "iv": "P1Y2M3DT4H5M6.5S", "iv_neg": "P-1D",
        "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "ints": [1, 2, null], "matrix": [["a", "b"], ["c", "d"]], "empty": [],
        "host": "192.168.0.1", "net": "10.0.0.0/8", "host6": "::1",
        "mac": "08:00:2b:01:02:03", "bits": "1011", "rng": "[1,10)",
        "enum_value": "happy", "composite": {"a": 1, "b": "x"},
        "pt": "(1,2)", "nothing": null,
    });
    for (key, want) in expected.as_object().unwrap() {
        assert_eq!(&row[key], want, "column {key}");
    }
    // An unknown binary type is a placeholder, not an error.
    let tsv = row["tsv"].as_str().unwrap();
    assert!(
        tsv.starts_with("<tsvector value") && tsv.contains("::text"),
        "{tsv}"
    );
    let types: Vec<&str> = result
        .columns
        .iter()
        .map(|c| c.type_name.as_str())
        .collect();
    assert!(types.contains(&"numeric") && types.contains(&"_int4") && types.contains(&"mood"));
    // Long text is cut and says so.
    let db = Database::builder(&server().url("app_reader"))
        .max_value_chars(20)
        .connect()
        .await
        .unwrap();
    let r = db.query("SELECT repeat('x', 100) AS long").await.unwrap();
    assert_eq!(
        r.rows[0][0],
        json!(format!("{}…[cut: 100 bytes in all]", "x".repeat(20)))
    );
    assert!(r.truncated);
    assert_eq!(
        r.note.as_deref(),
        Some(
            "values were cut: column `long`: 1 value to 20 characters (the largest was 100 bytes); \
             select substr(…) or length(…) of the column to read the rest"
        )
    );
}

#[tokio::test]
async fn a_cut_value_makes_the_result_truncated_and_says_where() {
    let db = Database::builder(&server().url("app_reader"))
        .max_value_chars(50)
        .connect()
        .await
        .unwrap();
    let r = db
        .query(
            "SELECT g AS n, repeat('a', 40 * g) AS body, decode(repeat('ff', 10 * g), 'hex') AS raw, \
                    ARRAY[repeat('b', 60)] AS tags, 'short' AS fine \
             FROM generate_series(1, 4) g",
        )
        .await
        .unwrap();
    assert_eq!(r.row_count, 4);
    assert!(r.truncated);
    let names: Vec<(&str, usize, usize, usize)> = r
        .cut_columns
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.text_values,
                c.bytea_values,
                c.largest_bytes,
            )
        })
        .collect();
    // body: 80, 120, 160 characters are over 50 (40 is not); raw: 40 bytes is over 32 from g = 4 only;
    // tags: the element inside the array.
    assert_eq!(
        names,
        vec![("body", 3, 0, 160), ("raw", 0, 1, 40), ("tags", 4, 0, 60)]
    );
    let note = r.note.as_deref().unwrap();
    assert!(
        note.contains("column `body`: 3 values to 50 characters (the largest was 160 bytes)"),
        "{note}"
    );
    assert!(
        note.contains(
            "column `raw`: 1 bytea value to their first 32 bytes (the largest was 40 bytes)"
        ),
        "{note}"
    );
    assert!(!note.contains("`fine`") && !note.contains("`n`"), "{note}");
    // The model sees `truncated` and the note, not the structured list.
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["truncated"], true);
    assert_eq!(v["note"], note);
    assert!(v.get("cut_columns").is_none());
    // Values under the limit: nothing said.
    let r = db.query("SELECT repeat('a', 50) AS exact").await.unwrap();
    assert!(!r.truncated && r.note.is_none() && r.cut_columns.is_empty());
    // A row cap and a cut at once: both in the note.
    let db = Database::builder(&server().url("app_reader"))
        .max_value_chars(16)
        .max_rows(2)
        .connect()
        .await
        .unwrap();
    let r = db.query("SELECT payload FROM shop.big").await.unwrap();
    let note = r.note.as_deref().unwrap();
    assert!(
        note.starts_with("stopped at the row cap (2 rows)")
            && note.contains("column `payload`: 2 values to 16 characters"),
        "{note}"
    );
}

#[tokio::test]
async fn results_stop_at_the_row_cap_and_say_truncated() {
    let db = Database::builder(&server().url("app_reader"))
        .max_rows(10)
        .connect()
        .await
        .unwrap();
    let r = db.query("SELECT * FROM shop.big").await.unwrap();
    assert_eq!(r.row_count, 10);
    assert!(r.truncated);
    assert!(r.note.as_deref().unwrap().contains("row cap (10 rows)"));
    // Exactly at the cap: not truncated.
    let r = db.query("SELECT * FROM shop.big LIMIT 10").await.unwrap();
    assert_eq!((r.row_count, r.truncated), (10, false));
}

#[tokio::test]
async fn results_stop_at_the_byte_cap() {
    let db = Database::builder(&server().url("app_reader"))
        .max_bytes(4096)
        .connect()
        .await
        .unwrap();
    let r = db.query("SELECT id, payload FROM shop.big").await.unwrap();
    assert!(r.truncated);
    assert!(r.row_count > 10 && r.row_count < 200, "{}", r.row_count);
    assert!(serde_json::to_string(&r.rows).unwrap().len() <= 4096);
    assert!(r.note.as_deref().unwrap().contains("size cap"));
    let r = db
        .query("SELECT repeat('x', 1900), repeat('y', 1900), repeat('z', 1900)")
        .await
        .unwrap();
    assert_eq!(r.row_count, 0);
    assert!(r.note.as_deref().unwrap().contains("first row alone"));
}

#[tokio::test]
async fn errors_carry_sqlstate_position_and_hint() {
    let db = reader().await;
    let err = db
        .query("SELECT nme FROM shop.customers")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "database error 42703: column \"nme\" does not exist (at character 8, near `nme FROM"
        ),
        "{text}"
    );
    assert!(
        text.contains("hint: Perhaps you meant to reference the column \"customers.name\""),
        "{text}"
    );
    match err {
        QueryError::Database(e) => {
            assert_eq!(e.code, "42703");
            assert_eq!(e.position, Some(8));
        }
        other => panic!("{other:?}"),
    }
    let err = db.query("SELECT * FROM shop.secrets").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("42501: permission denied for table secrets"),
        "{err}"
    );
    let err = db.query("SELEC 1").await.unwrap_err();
    assert!(err.to_string().starts_with("refused:"), "{err}");
    let err = db.query("SELECT $1::int").await.unwrap_err();
    assert!(err.to_string().contains("placeholder"), "{err}");
    // The connection is fine afterwards.
    assert_eq!(
        db.query("SELECT 1").await.unwrap().rows,
        vec![vec![json!(1)]]
    );
}

#[tokio::test]
async fn statement_timeout_is_said_plainly() {
    let db = Database::builder(&server().url("app_reader"))
        .statement_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let started = Instant::now();
    let err = db.query("SELECT pg_sleep(5)").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(err, QueryError::Timeout(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("the query was cancelled after running longer than 300ms"),
        "{err}"
    );
    assert_eq!(db.query("SELECT 1").await.unwrap().row_count, 1);
}

async fn sleeping_backends(marker: &str) -> i64 {
    let admin = server().admin().await;
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%{marker}%' \
         AND pid <> pg_backend_pid()"
    );
    admin.query_one(&sql, &[]).await.unwrap().get(0)
}

async fn wait_until_gone(marker: &str) {
    for _ in 0..40 {
        if sleeping_backends(marker).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server still runs the query marked {marker}");
}

#[tokio::test]
async fn client_deadline_sends_a_cancel_request() {
    // A server timeout far away: only the client deadline can stop it.
    let db = Database::builder(&server().url("app_reader"))
        .statement_timeout(Duration::from_secs(60))
        .deadline(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let started = Instant::now();
    let err = db
        .query("SELECT pg_sleep(30) AS deadline_marker")
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(err, QueryError::Timeout(d) if d == Duration::from_millis(500)),
        "{err:?}"
    );
    wait_until_gone("deadline_marker").await;
    assert_eq!(db.query("SELECT 1").await.unwrap().row_count, 1);
}

#[tokio::test]
async fn dropped_call_cancels_the_server_query() {
    let db = Database::builder(&server().url("app_reader"))
        .statement_timeout(Duration::from_secs(60))
        .deadline(Duration::from_secs(60))
        .connect()
        .await
        .unwrap();
    let call = db.query("SELECT pg_sleep(30) AS dropped_marker");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), call)
            .await
            .is_err()
    );
    wait_until_gone("dropped_marker").await;
    assert_eq!(db.query("SELECT 1").await.unwrap().row_count, 1);
}

#[tokio::test]
async fn privileged_roles_are_refused_at_start() {
    let cases = [
        (server().superuser.clone(), "is a superuser"),
        (
            "app_owner".to_owned(),
            "may write to tables (shop.big, shop.customers",
        ),
        ("app_writer".to_owned(), "may write to tables (shop.orders)"),
        ("app_signal".to_owned(), "is a member of pg_signal_backend"),
        (
            "app_files".to_owned(),
            "is a member of pg_read_server_files",
        ),
    ];
    for (role, why) in cases {
        let err = Database::builder(&server().url(&role))
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "postgres setup failed");
        let Error::Postgres(setup) = &err else {
            panic!("{err:?}")
        };
        let SetupError::PrivilegedRole {
            role: named,
            problems,
        } = setup.as_ref()
        else {
            panic!("{setup:?}")
        };
        assert_eq!(named, &role);
        assert!(
            problems.iter().any(|p| p.contains(why)),
            "{role}: {problems:?}"
        );
        let text = std::error::Error::source(&err).unwrap().to_string();
        assert!(
            text.contains(why) && text.contains("allow_privileged(true)"),
            "{text}"
        );
        Database::builder(&server().url(&role))
            .allow_privileged(true)
            .connect()
            .await
            .unwrap();
    }
    reader().await;
}

fn setup_error(err: Error) -> Box<SetupError> {
    match err {
        Error::Postgres(setup) => setup,
        other => panic!("not a postgres setup error: {other:?}"),
    }
}

#[tokio::test]
async fn setup_errors_are_typed_with_their_sources() {
    // Nothing listens on port 1: unreachable, with the I/O error as the source.
    let err = Database::builder("postgres://nobody@127.0.0.1:1/none?sslmode=disable")
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    let setup = setup_error(err);
    let SetupError::Unreachable(pg) = setup.as_ref() else {
        panic!("{setup:?}")
    };
    let io = std::error::Error::source(pg)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("an io::Error source");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(setup.to_string(), "could not reach the database server");
    // The server answers and refuses: an unknown role.
    let setup = setup_error(
        Database::builder(&server().url("no_such_role"))
            .connect()
            .await
            .unwrap_err(),
    );
    let SetupError::Rejected(pg) = setup.as_ref() else {
        panic!("{setup:?}")
    };
    assert_eq!(pg.as_db_error().unwrap().code().code(), "28000");
    // Strings that cannot be read.
    for bad in [
        "postgres://h:notaport/db",
        "postgres://u@127.0.0.1/db?sslmode=bogus",
        "host=h port=",
    ] {
        let setup = setup_error(Database::builder(bad).connect().await.unwrap_err());
        assert!(
            matches!(setup.as_ref(), SetupError::ConnectionString(_)),
            "{bad}: {setup:?}"
        );
        assert!(std::error::Error::source(setup.as_ref()).is_some());
    }
    // No DATABASE_URL.
    if std::env::var_os("DATABASE_URL").is_none() {
        let setup = setup_error(Database::from_env().connect().await.unwrap_err());
        assert!(
            matches!(setup.as_ref(), SetupError::MissingUrl),
            "{setup:?}"
        );
    }
}

#[tokio::test]
async fn a_password_holding_sslmode_does_not_change_the_mode() {
    // `sslmode=require` without TLS support is refused at setup, whatever the
    // password says; with TLS support the server (no TLS) refuses the upgrade.
    let url = format!(
        "postgres://app_reader:pw%3Fsslmode=disable@{}:{}/{}?sslmode=require",
        server().host(),
        server().port(),
        server().dbname
    );
    let setup = setup_error(Database::builder(&url).connect().await.unwrap_err());
    #[cfg(not(feature = "postgres-rustls"))]
    assert!(
        matches!(setup.as_ref(), SetupError::TlsUnsupported(_)),
        "{setup:?}"
    );
    #[cfg(feature = "postgres-rustls")]
    assert!(
        matches!(setup.as_ref(), SetupError::Connect(_)),
        "{setup:?}"
    );
    // And the same password with no sslmode connects in plain TCP (the test
    // server trusts local connections, so the password is not checked).
    let url = format!(
        "postgres://app_reader:pw%3Fsslmode=disable@{}:{}/{}",
        server().host(),
        server().port(),
        server().dbname
    );
    if std::env::var_os("DATABASE_URL").is_none() {
        let db = Database::builder(&url).connect().await.unwrap();
        assert_eq!(db.query("SELECT 1").await.unwrap().row_count, 1);
    }
}

#[tokio::test]
async fn database_down_is_a_tool_error_and_the_pool_recovers() {
    if std::env::var("DATABASE_URL").is_ok() {
        eprintln!("skipped: needs a server of its own (DATABASE_URL is set)");
        return;
    }
    let private = pg_support::Server::start_private();
    let db = Database::builder(&private.url("app_reader"))
        .pool_size(2)
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let registry = ToolRegistry::new().with(db.query_tool());
    assert_eq!(db.query("SELECT 1").await.unwrap().row_count, 1);
    private.stop();
    let err = db.query("SELECT 1").await.unwrap_err();
    assert!(matches!(err, QueryError::Unavailable(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("the database is unavailable ("),
        "{err}"
    );
    let text = registry
        .dispatch("run_postgres_query", r#"{"sql_query": "SELECT 1"}"#)
        .await
        .unwrap_err()
        .to_model_text();
    assert!(text.contains("the database is unavailable"), "{text}");
    private.start();
    let r = db.query("SELECT 2 AS back").await.unwrap();
    assert_eq!(r.rows, vec![vec![json!(2)]]);
    private.stop();
}

#[tokio::test]
async fn model_sql_goes_only_through_the_extended_protocol() {
    if std::env::var("DATABASE_URL").is_ok() {
        eprintln!("skipped: reads the server log of a server of its own");
        return;
    }
    let db = reader().await;
    db.query("SELECT 'protocol-marker-7f3a' AS m")
        .await
        .unwrap();
    let log = server().log().unwrap();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("protocol-marker-7f3a"))
        .collect();
    assert!(!lines.is_empty(), "log_statement=all shows the query");
    for line in &lines {
        // Simple query: "LOG:  statement: …"; extended: "LOG:  execute s0: …" / "parse", "bind".
        assert!(
            !line.contains("statement: SELECT 'protocol-marker"),
            "{line}"
        );
    }
    assert!(lines.iter().any(|l| l.contains("execute ")), "{lines:?}");
    // The crate's own SQL (transaction, SET LOCAL, DISCARD ALL) may use simple queries.
    assert!(log.contains("statement: DISCARD ALL"));
}

#[tokio::test]
async fn schema_tool_lists_readable_tables_compactly() {
    let db = reader().await;
    let text = db.schema(Some("shop")).await.unwrap();
    assert!(text.contains("shop.customers (table): People who buy\n  id integer not null pk\n  name text not null\n  email text: Contact address\n"), "{text}");
    assert!(
        text.contains("  customer_id integer -> shop.customers.id\n"),
        "{text}"
    );
    assert!(text.contains("  total numeric(12,2) not null\n"), "{text}");
    // Not granted to the reader: not shown.
    assert!(!text.contains("secrets"), "{text}");
    let registry = ToolRegistry::new().with(db.schema_tool());
    let all = registry
        .dispatch("get_postgres_schema", "{}")
        .await
        .unwrap()
        .text;
    assert!(all.contains("shop.orders (table)"));
    let none = db.schema(Some("nope")).await.unwrap();
    assert_eq!(none, "no readable tables or views in schema `nope`");
}

#[tokio::test]
async fn allowed_superuser_runs_queries_read_only() {
    let db = superuser().await.connect().await.unwrap();
    let r = db.query("SHOW transaction_read_only").await.unwrap();
    assert_eq!(r.rows, vec![vec![json!("on")]]);
    let r = db.query("EXPLAIN SELECT * FROM shop.orders").await.unwrap();
    assert!(r.rows[0][0].as_str().unwrap().contains("Seq Scan"));
    let r = db.query("VALUES (1, 'a'), (2, 'b')").await.unwrap();
    assert_eq!(r.row_count, 2);
    let r = db.query("TABLE shop.customers").await.unwrap();
    assert_eq!(r.row_count, 100);
}

#[cfg(feature = "postgres-rustls")]
#[tokio::test]
async fn sslmode_is_honoured_with_rustls() {
    if std::env::var("DATABASE_URL").is_ok() {
        eprintln!("skipped: needs a TLS server of its own");
        return;
    }
    let private = pg_support::Server::start_private_tls();
    let ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    for (mode, encrypted) in [("require", true), ("prefer", true), ("disable", false)] {
        let db = Database::builder(&private.url_sslmode("app_reader", mode))
            .connect()
            .await
            .unwrap();
        let r = db.query(ssl).await.unwrap();
        assert_eq!(r.rows, vec![vec![json!(encrypted)]], "sslmode={mode}");
        // Cancel requests go through the same connector.
        let db = Database::builder(&private.url_sslmode("app_reader", mode))
            .statement_timeout(Duration::from_secs(60))
            .deadline(Duration::from_millis(300))
            .connect()
            .await
            .unwrap();
        let err = db
            .query("SELECT pg_sleep(30) AS tls_marker")
            .await
            .unwrap_err();
        assert!(matches!(err, QueryError::Timeout(_)), "{err:?}");
        let admin = private.admin().await;
        let mut gone = false;
        for _ in 0..40 {
            let n: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
                     AND query LIKE '%tls_marker%' AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if n == 0 {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            gone,
            "sslmode={mode}: the cancel request did not stop the query"
        );
    }
    // A self-signed certificate does not pass verification: a handshake
    // error carrying the rustls error, not a server that is down.
    let err = Database::builder(&private.url_sslmode("app_reader", "verify-full"))
        .connect()
        .await
        .unwrap_err();
    let setup = setup_error(err);
    match setup.as_ref() {
        SetupError::Handshake(pg) => {
            let io = std::error::Error::source(pg)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .expect("an io::Error source");
            let rustls_error = io
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>())
                .expect("a rustls error inside");
            assert!(
                matches!(rustls_error, rustls::Error::InvalidCertificate(_)),
                "{rustls_error:?}"
            );
        }
        // A machine without any root certificate stops before connecting.
        SetupError::NoRootCertificates => {}
        other => panic!("{other:?}"),
    }
    // The same server stopped: unreachable, not a handshake error.
    private.stop();
    let setup = setup_error(
        Database::builder(&private.url_sslmode("app_reader", "require"))
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(setup.as_ref(), SetupError::Unreachable(_)),
        "{setup:?}"
    );
}
