#![doc = include_str!("docs/crate.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod agent;
pub mod chat;
mod error;
#[cfg(feature = "mcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
pub mod mcp;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
pub mod registry;
pub mod schema;
pub mod tool;
pub mod tools;

pub use agent::Agent;
pub use chat::{ChatBackend, OpenAiCompatible};
pub use error::{ApiError, Error, Result};
pub use registry::ToolRegistry;
#[doc(no_inline)]
pub use schemars;
pub use tool::{DynamicTool, Tool, ToolError, ToolOutput};

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ToolRegistry>();
    assert_send_sync::<OpenAiCompatible>();
    assert_send_sync::<Agent<OpenAiCompatible>>();
    assert_send_sync::<Error>();
};
