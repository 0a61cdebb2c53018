//! [`Dispatcher`]: the rules every tool call keeps, whoever makes it (the agent, an MCP server).

use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::Instrument;

use super::ToolRegistry;
use crate::chat::ToolCall;
use crate::tool::{ToolError, ToolOutput};

/// The default time one tool call may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The default cap on a tool answer's text, in bytes.
pub const DEFAULT_MAX_OUTPUT: usize = 64 * 1024;

/// Runs tool calls from a [`ToolRegistry`] under per-call rules: a timeout, a cap on the
/// answer's text (cut with a visible marker) and an `execute_tool` tracing span named and
/// attributed as the OpenTelemetry GenAI conventions say (`gen_ai.tool.name`,
/// `gen_ai.tool.call.id`, `error.type`; the arguments and result only with
/// [`trace_content`](Self::trace_content)). The
/// [`Agent`](crate::Agent) and the MCP server both dispatch through one.
///
/// Cheap to clone (the registry is shared).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use toolcall::{DynamicTool, ToolRegistry};
/// use toolcall::registry::Dispatcher;
/// use serde_json::json;
///
/// let shout = DynamicTool::new("shout", "Repeats a word.", json!({"type": "object"}),
///     |_v: serde_json::Value| async move { Ok::<_, String>("ha".repeat(100)) })?;
/// let dispatcher = Dispatcher::new(ToolRegistry::new().with_dynamic(shout))
///     .timeout(Duration::from_secs(5))
///     .max_output(10);
/// let outcome = dispatcher.call_value("shout", json!({})).await;
/// assert!(outcome.error.is_none());
/// assert!(outcome.truncated);
/// assert!(outcome.text.starts_with("hahahahaha\n[truncated: showing 10 of 200 bytes]"));
/// # Ok::<(), toolcall::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Dispatcher {
    registry: ToolRegistry,
    timeout: Option<Duration>,
    max_output: usize,
    trace_content: bool,
}

/// What one call came to, ready to send back.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CallOutcome {
    /// The text to send back: the output's text, or `error: …` for the model; cut to
    /// the cap with a marker.
    pub text: String,
    /// The output as structured JSON, when the tool gave one (never cut).
    pub structured: Option<Value>,
    /// Why the call produced no result, if it did not.
    pub error: Option<ToolError>,
    /// Whether `text` was cut to the cap.
    pub truncated: bool,
    /// How long the call took.
    pub duration: Duration,
}

impl CallOutcome {
    /// Whether the call failed (MCP's `isError`).
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
}

impl Dispatcher {
    /// A dispatcher over `registry` with the default limits (60 s, 64 KiB).
    #[must_use]
    pub fn new(registry: ToolRegistry) -> Self {
        Self {
            registry,
            timeout: Some(DEFAULT_TIMEOUT),
            max_output: DEFAULT_MAX_OUTPUT,
            trace_content: false,
        }
    }

    /// The time one call may take (`None` for no limit).
    #[must_use]
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// The most bytes of one answer's text; longer text is cut with a visible marker.
    #[must_use]
    pub fn max_output(mut self, bytes: usize) -> Self {
        self.max_output = bytes;
        self
    }

    /// Whether `execute_tool` spans record the call's arguments and result
    /// (`gen_ai.tool.call.arguments`, `gen_ai.tool.call.result`); off by default, since
    /// they may hold what traces must not.
    #[must_use]
    pub fn trace_content(mut self, on: bool) -> Self {
        self.trace_content = on;
        self
    }

    /// The tools.
    #[must_use]
    pub fn registry(&self) -> &ToolRegistry {
        &self.registry
    }

    /// The per-call timeout.
    #[must_use]
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The cap on an answer's text, in bytes.
    #[must_use]
    pub fn get_max_output(&self) -> usize {
        self.max_output
    }

    /// Runs a model's call (arguments as text).
    pub async fn call(&self, call: &ToolCall) -> CallOutcome {
        let name = call.function.name.as_str();
        let span = tool_span(name, Some(&call.id));
        if self.trace_content {
            span.record(
                "gen_ai.tool.call.arguments",
                call.function.arguments.as_str(),
            );
        }
        self.run(
            name,
            self.registry.dispatch(name, &call.function.arguments),
            span,
        )
        .await
    }

    /// Runs a call whose arguments are a JSON value (an MCP `tools/call`).
    pub async fn call_value(&self, name: &str, arguments: Value) -> CallOutcome {
        let span = tool_span(name, None);
        if self.trace_content && !span.is_disabled() {
            span.record(
                "gen_ai.tool.call.arguments",
                tracing::field::display(&arguments),
            );
        }
        self.run(name, self.registry.dispatch_value(name, arguments), span)
            .await
    }

    async fn run(
        &self,
        name: &str,
        dispatch: impl Future<Output = Result<ToolOutput, ToolError>>,
        span: tracing::Span,
    ) -> CallOutcome {
        let started = Instant::now();
        let result = match self.timeout {
            Some(limit) => match tokio::time::timeout(limit, dispatch)
                .instrument(span.clone())
                .await
            {
                Ok(result) => result,
                Err(_) => Err(ToolError::Timeout {
                    tool: name.to_owned(),
                    after: limit,
                }),
            },
            None => dispatch.instrument(span.clone()).await,
        };
        let duration = started.elapsed();
        let (text, structured, error) = match result {
            Ok(output) => (output.text, output.structured, None),
            Err(e) => {
                span.record("error.type", e.kind());
                span.record("otel.status_code", "ERROR");
                tracing::debug!(parent: &span, tool = %name, error = %e, "tool call failed");
                (e.to_model_text(), None, Some(e))
            }
        };
        let (text, truncated) = cap(text, self.max_output);
        if self.trace_content {
            span.record("gen_ai.tool.call.result", text.as_str());
        }
        CallOutcome {
            text,
            structured,
            error,
            truncated,
            duration,
        }
    }
}

/// The `execute_tool {name}` span of the GenAI semantic conventions (see
/// [`crate::agent`]'s docs for the version followed).
fn tool_span(name: &str, id: Option<&str>) -> tracing::Span {
    tracing::info_span!(
        "execute_tool",
        otel.name = %format_args!("execute_tool {name}"),
        otel.kind = "internal",
        otel.status_code = tracing::field::Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = name,
        gen_ai.tool.type = "function",
        gen_ai.tool.call.id = id,
        gen_ai.tool.call.arguments = tracing::field::Empty,
        gen_ai.tool.call.result = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// Cuts `content` to at most `max` bytes (on a char boundary), with the marker.
#[cfg(feature = "mcp")]
pub(crate) fn cap_text(content: String, max: usize) -> String {
    cap(content, max).0
}

/// Cuts `content` to at most `max` bytes (on a char boundary) and says so.
fn cap(mut content: String, max: usize) -> (String, bool) {
    if content.len() <= max {
        return (content, false);
    }
    let total = content.len();
    let mut end = max;
    while !content.is_char_boundary(end) {
        end -= 1;
    }
    content.truncate(end);
    content.push_str(&format!("\n[truncated: showing {end} of {total} bytes]"));
    (content, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_marks_what_it_cut() {
        let (s, cut) = cap("héllo world".to_owned(), 2);
        assert!(cut);
        assert!(s.starts_with('h'), "{s}");
        assert!(s.contains("[truncated: showing 1 of 12 bytes]"), "{s}");
        assert_eq!(cap("short".to_owned(), 10), ("short".to_owned(), false));
    }
}
