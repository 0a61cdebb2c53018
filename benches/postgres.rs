//! `SELECT *` over a 10-million-row table: through `run_postgres_query` (portal,
//! row cap) versus the naive `client.query` of the same statement, which buffers
//! every row. Reports time (criterion) and the peak memory each path adds
//! (`VmHWM` from `/proc/self/status`, measured on one run of each, capped first).
//!
//! Run with `cargo bench --features postgres --bench postgres`. Starts a throwaway
//! server (see `tests/support/postgres.rs`) or uses `DATABASE_URL`; building the
//! table takes a while. `TOOLCALL_BENCH_ROWS` changes the row count.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/support/postgres.rs"]
mod pg_support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use toolcall::tools::postgres::Database;

const QUERY: &str = "SELECT * FROM public.events";

/// Peak resident set size of this process so far, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn rows() -> i64 {
    std::env::var("TOOLCALL_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = pg_support::server();
    let (db, client) = rt.block_on(async {
        let admin = server.admin().await;
        let started = Instant::now();
        admin
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS public.events;
                 CREATE TABLE public.events AS
                   SELECT g AS id, md5(g::text) AS payload,
                          timestamptz '2024-01-01' + g * interval '1 second' AS at
                   FROM generate_series(1, {}) g;
                 GRANT SELECT ON public.events TO app_reader;",
                rows()
            ))
            .await
            .unwrap();
        admin
            .batch_execute("VACUUM ANALYZE public.events")
            .await
            .unwrap();
        eprintln!(
            "built public.events ({} rows) in {:?}",
            rows(),
            started.elapsed()
        );
        let db = Database::builder(&server.url("app_reader"))
            .statement_timeout(Duration::from_secs(120))
            .connect()
            .await
            .unwrap();
        (db, server.client("app_reader").await)
    });

    // Peak memory: one run of each, the capped path first (VmHWM only grows).
    let base = peak_kib();
    let started = Instant::now();
    let capped = rt.block_on(db.query(QUERY)).unwrap();
    let capped_time = started.elapsed();
    let capped_peak = peak_kib().saturating_sub(base);
    assert!(capped.truncated);
    let base = peak_kib();
    let started = Instant::now();
    let all = rt.block_on(client.query(QUERY, &[])).unwrap();
    let naive_time = started.elapsed();
    let naive_rows = all.len();
    drop(all);
    let naive_peak = peak_kib().saturating_sub(base);
    eprintln!(
        "one run: tool (cap {} rows, truncated) {capped_time:?}, +{capped_peak} KiB peak; \
         naive client.query ({naive_rows} rows) {naive_time:?}, +{naive_peak} KiB peak",
        capped.row_count
    );

    let mut group = c.benchmark_group("select_star_10m");
    group.bench_function("run_postgres_query (capped)", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(db.query(QUERY).await.unwrap()) });
    });
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(100));
    group.measurement_time(Duration::from_secs(1));
    group.bench_function("client.query (naive)", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(client.query(QUERY, &[]).await.unwrap().len()) });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
