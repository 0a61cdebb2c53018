//! Postgres benchmark (work in progress).
fn main() {}
