//! Read-only PostgreSQL tools.
