//! The Model Context Protocol, on rmcp: serve a [`ToolRegistry`](crate::ToolRegistry) to
//! any MCP host ([`McpServer`] over stdio, [`HttpServer`] over Streamable HTTP), and use
//! any MCP server's tools next to local ones ([`McpClient`]).
//!
#![doc = include_str!("../docs/mcp.md")]

mod client;
mod http;
#[cfg(feature = "metrics")]
mod metrics;
mod server;

pub use client::{DEFAULT_CALL_TIMEOUT, McpClient};
pub use http::{
    DEFAULT_DRAIN, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENCY, DEFAULT_READY_CACHE,
    DEFAULT_READY_TIMEOUT, HEALTH_PATH, HttpServer, MCP_PATH, READY_PATH,
};
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use metrics::{METRICS_CONTENT_TYPE, METRICS_PATH, Metrics};
pub use server::{DEFAULT_PAGE_SIZE, McpServer};
