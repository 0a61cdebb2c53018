//! Tools: the [`Tool`] trait, what they answer ([`ToolOutput`], [`Json`]), what they do to
//! the world ([`ToolAnnotations`]), [`ToolError`] (what the model is told) and
//! [`DynamicTool`] for tools known only at run time.

mod annotations;
mod dynamic;
mod output;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

pub use annotations::ToolAnnotations;
pub use dynamic::DynamicTool;
pub use output::{IntoToolOutput, Json, OutputError, ToolOutput};

/// A function the model may call, with typed arguments and output.
///
/// The JSON Schema of [`Tool::Args`] is made by schemars and reshaped the way
/// OpenAI-compatible servers accept it (see [`crate::schema`]): each field's doc
/// comment becomes its `description`, an `Option<T>` field is optional.
///
/// The output converts through [`IntoToolOutput`]: a `String` is sent as it is
/// (pre-rendered text); [`Json<T>`] is sent as compact JSON and, over MCP, as
/// structured content with `T`'s schema as the tool's output schema.
///
/// ```
/// use toolcall::{schemars::JsonSchema, Tool};
/// use serde::Deserialize;
///
/// /// Arguments of `add`.
/// #[derive(Deserialize, JsonSchema)]
/// struct AddArgs {
///     /// The first number.
///     a: i64,
///     /// The second number.
///     b: i64,
/// }
///
/// struct Add;
///
/// impl Tool for Add {
///     const NAME: &'static str = "add";
///     type Args = AddArgs;
///     type Output = i64;
///     type Error = std::convert::Infallible;
///
///     fn description(&self) -> std::borrow::Cow<'static, str> {
///         "Adds two integers.".into()
///     }
///
///     fn annotations(&self) -> toolcall::tool::ToolAnnotations {
///         toolcall::tool::ToolAnnotations::read_only().title("Add")
///     }
///
///     async fn call(&self, args: AddArgs) -> Result<i64, Self::Error> {
///         Ok(args.a + args.b)
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a toolcall `Tool`",
    note = "implement `toolcall::Tool` for it (NAME, Args, Output, Error, description, call), or build a `toolcall::DynamicTool`"
)]
pub trait Tool: Send + Sync + 'static {
    /// The name the model calls the tool by (snake_case, unique in a registry).
    const NAME: &'static str;

    /// The arguments, read from the model's JSON. Unknown keys are refused.
    type Args: DeserializeOwned + JsonSchema + Send + 'static;

    /// The result: a `String` (text), a [`Json<T>`] (JSON text and structured content),
    /// a [`ToolOutput`], or anything else that is [`IntoToolOutput`].
    type Output: IntoToolOutput;

    /// The tool's own failure. Its `Display` text is what the model is told.
    type Error: fmt::Display + Send + 'static;

    /// What the tool does, for the model.
    fn description(&self) -> Cow<'static, str>;

    /// Whether to emit the schema in OpenAI's strict mode (every property
    /// required, `Option<T>` typed `["T","null"]`, `additionalProperties: false`,
    /// and `"strict": true` on the function). Off by default.
    fn strict(&self) -> bool {
        false
    }

    /// What the tool does to the world (read-only, destructive, …). Nothing said by default.
    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::default()
    }

    /// Whether an operator must approve each call before it runs (off by default). An
    /// [`Agent`](crate::Agent) then stops before running it and returns an
    /// [`Interruption`](crate::agent::Interruption); see [`crate::agent::ApprovalPolicy`]
    /// for rules over many tools.
    fn requires_approval(&self) -> bool {
        false
    }

    /// Runs the tool.
    fn call(
        &self,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// Why a tool call produced no result. Never ends a run: its text goes back to
/// the model in the `role: tool` message so it can correct itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The model called a tool that is not registered.
    #[error("unknown tool `{name}`; available tools: {}", .available.join(", "))]
    UnknownTool {
        /// The name the model used.
        name: String,
        /// The registered names.
        available: Vec<String>,
    },

    /// The call's `arguments` were not JSON.
    #[error("the arguments for `{tool}` are not valid JSON ({message}); send one JSON object")]
    InvalidJson {
        /// The tool called.
        tool: String,
        /// The parser's message.
        message: String,
    },

    /// The arguments were JSON but did not fit the tool's schema.
    #[error("invalid arguments for `{tool}`: {message}")]
    InvalidArguments {
        /// The tool called.
        tool: String,
        /// Every mismatch, with where it is, and the parameters expected.
        message: String,
    },

    /// The tool ran and failed.
    #[error("`{tool}` failed: {message}")]
    Failed {
        /// The tool called.
        tool: String,
        /// The tool's own error text.
        message: String,
    },

    /// The tool did not finish within the per-call timeout.
    #[error("`{tool}` did not finish within {after:?}")]
    Timeout {
        /// The tool called.
        tool: String,
        /// The timeout.
        after: Duration,
    },

    /// An operator refused the call (see [`crate::agent::Decision::reject`]); it never ran.
    /// The model is told `rejected by the operator: {reason}`.
    #[error("`{tool}` was rejected by the operator: {reason}")]
    Rejected {
        /// The tool called.
        tool: String,
        /// The operator's reason, told to the model.
        reason: String,
    },

    /// The call was left unanswered in a history that was resumed, and the agent was told
    /// to skip such calls ([`crate::agent::Unanswered::Skip`]); it never ran.
    #[error("`{tool}` was skipped: the run was resumed without running it")]
    Skipped {
        /// The tool called.
        tool: String,
    },
}

impl ToolError {
    /// The text the model reads in the `role: tool` message.
    #[must_use]
    pub fn to_model_text(&self) -> String {
        match self {
            Self::Rejected { reason, .. } => format!("rejected by the operator: {reason}"),
            _ => format!("error: {self}"),
        }
    }

    /// A short, stable name of the kind of failure (`unknown_tool`, `invalid_json`,
    /// `invalid_arguments`, `failed`, `timeout`, `rejected`, `skipped`), as traces record it
    /// in `error.type`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownTool { .. } => "unknown_tool",
            Self::InvalidJson { .. } => "invalid_json",
            Self::InvalidArguments { .. } => "invalid_arguments",
            Self::Failed { .. } => "failed",
            Self::Timeout { .. } => "timeout",
            Self::Rejected { .. } => "rejected",
            Self::Skipped { .. } => "skipped",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_tool_names_the_alternatives() {
        let e = ToolError::UnknownTool {
            name: "get_logs".into(),
            available: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            e.to_model_text(),
            "error: unknown tool `get_logs`; available tools: a, b"
        );
    }
}
