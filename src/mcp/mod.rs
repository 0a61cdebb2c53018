//! The Model Context Protocol, on rmcp: serve a [`ToolRegistry`](crate::ToolRegistry) to
//! any MCP host ([`McpServer`] over stdio, [`HttpServer`] over Streamable HTTP), and use
//! any MCP server's tools next to local ones ([`McpClient`]).
//!
#![doc = include_str!("../docs/mcp.md")]

mod client;
mod http;
mod server;

pub use client::McpClient;
pub use http::{
    DEFAULT_DRAIN, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENCY, HEALTH_PATH, HttpServer,
    MCP_PATH,
};
pub use server::{DEFAULT_PAGE_SIZE, McpServer};
