//! The crate error: what ends a call or a run.

use std::time::Duration;

use crate::chat::{ChatResponse, Message};

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What ends a chat call or an agent run.
///
/// Problems the model can fix itself (an unknown tool, bad arguments, a tool
/// that failed) are not here: they are [`ToolError`](crate::ToolError)s and go
/// back to the model as a `role: tool` message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP request failed before a response arrived (connect, TLS, reset).
    ///
    /// The source is a `reqwest::Error`, which is not part of this crate's
    /// stable API. It never contains the bearer key.
    #[error("could not reach the chat server at {url}")]
    Transport {
        /// The URL that was requested.
        url: String,
        /// The underlying transport error.
        #[source]
        source: reqwest::Error,
    },

    /// A chat request got no complete response within the configured timeout,
    /// or (streaming) the server sent nothing for the idle timeout.
    #[error("chat request timed out after {0:?}")]
    Timeout(Duration),

    /// The answer was cut off before it was complete: tool calls at the token
    /// limit (`finish_reason: "length"`), or a stream that ended with neither a
    /// `finish_reason` nor `[DONE]`. What arrived is kept in `partial`; its tool
    /// calls were never run.
    ///
    /// A *text* answer cut at the token limit is not an error: it is returned
    /// with [`ChatResponse::truncated`] set.
    #[error("{by}")]
    Truncated {
        /// What cut it.
        by: Truncation,
        /// What arrived before the cut.
        partial: Box<ChatResponse>,
    },

    /// The server answered with an HTTP error status.
    ///
    /// Carries the server's own words, read from any of the error body shapes
    /// that OpenAI-compatible servers send.
    #[error("chat server answered {}: {}", .0.status, .0.message)]
    Api(Box<ApiError>),

    /// The server answered 2xx with a body that is not a chat completion.
    #[error("chat server sent an unreadable response: {reason}")]
    InvalidResponse {
        /// What was wrong with it.
        reason: String,
        /// The start of the body, for diagnosis (at most 512 bytes).
        body: String,
    },

    /// The agent made its limit of chat requests and the model still asked
    /// for tools. The transcript so far is kept.
    #[error("the model gave no answer within {steps} chat requests")]
    StepLimit {
        /// How many chat requests were made.
        steps: usize,
        /// Every message of the conversation so far.
        transcript: Box<Vec<Message>>,
    },

    /// A [`RunState`](crate::agent::RunState) was refused on resume: its pending calls
    /// were altered after they were shown for approval, or the decisions do not match
    /// them. The [`ResumeError`](crate::agent::ResumeError) (the source) says which.
    #[error("the run state was refused")]
    Resume(#[source] crate::agent::ResumeError),

    /// Two tools with the same name were registered.
    #[error("a tool named `{0}` is already registered")]
    DuplicateTool(String),

    /// A tool could not be defined (its name or JSON Schema is unusable).
    #[error("tool `{name}` is invalid: {reason}")]
    InvalidTool {
        /// The tool's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A builder was given a setting it cannot use (a bad URL, header or key).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The default HTTP client could not be built (its TLS setup failed).
    ///
    /// The source is a `reqwest::Error`, which is not part of this crate's stable API.
    #[error("the HTTP client could not be built")]
    HttpClient(#[source] reqwest::Error),

    /// A Kubernetes client could not be built: no kubeconfig or in-cluster
    /// account was found, the kubeconfig or its context is unusable, or TLS or
    /// authentication setup failed.
    ///
    /// The source is the `kube::Error` (boxed), which is not part of this crate's
    /// stable API; `kube::Error::InferConfig` and `kube::Error::InferKubeconfig`
    /// say which configuration was missing or wrong.
    #[cfg(feature = "kubernetes")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kubernetes")))]
    #[error("kubernetes client setup failed")]
    Kubernetes(#[source] Box<kube::Error>),

    /// A Kubernetes client was built outside a Tokio runtime (it spawns tasks on
    /// the current runtime).
    #[cfg(feature = "kubernetes")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kubernetes")))]
    #[error("a kubernetes client must be built inside a tokio runtime")]
    KubernetesNoRuntime,

    /// An MCP session or server could not start, or a remote MCP server failed.
    ///
    /// The source is an rmcp or I/O error, which is not part of this crate's stable API.
    #[cfg(feature = "mcp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
    #[error("mcp: {context}")]
    Mcp {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A PostgreSQL [`Database`](crate::tools::postgres::Database) could not
    /// be made: a bad connection string, a server that cannot be reached or
    /// refuses the connection, a refused certificate, or a privileged role.
    /// Match on the [`SetupError`](crate::tools::postgres::SetupError) to tell
    /// them apart.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    #[error("postgres setup failed")]
    Postgres(#[source] Box<crate::tools::postgres::SetupError>),
}

/// What cut an answer off (see [`Error::Truncated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Truncation {
    /// The server stopped at its token limit (`finish_reason: "length"`) in the
    /// middle of tool calls.
    TokenLimit,
    /// The stream ended before the server said it was done.
    StreamEnded,
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TokenLimit => {
                "the answer was cut off at the token limit in the middle of tool calls"
            }
            Self::StreamEnded => "the stream ended before the answer was complete",
        })
    }
}

/// An HTTP error answer from a chat server, in the server's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status code.
    pub status: u16,
    /// The server's message (from `error.message`, `error`, `detail`,
    /// `message`, or the text of a plain or HTML body).
    pub message: String,
    /// The machine-readable error code, when the server sent one
    /// (`error.code`, e.g. `insufficient_quota`).
    pub code: Option<String>,
    /// The error type, when the server sent one (`error.type`).
    pub kind: Option<String>,
}

impl ApiError {
    /// Creates an API error from a status and a message.
    #[must_use]
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code: None,
            kind: None,
        }
    }
}

/// An error and its causes on one line, each cause said once (some errors repeat their
/// source in their own text).
#[cfg(any(feature = "kubernetes", feature = "postgres"))]
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

impl Error {
    #[cfg(feature = "mcp")]
    pub(crate) fn mcp(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Mcp {
            context,
            source: source.into(),
        }
    }

    /// The transcript carried by [`Error::StepLimit`], if this is one.
    #[must_use]
    pub fn transcript(&self) -> Option<&[Message]> {
        match self {
            Self::StepLimit { transcript, .. } => Some(transcript),
            _ => None,
        }
    }

    /// What arrived before the cut, if this is an [`Error::Truncated`].
    #[must_use]
    pub fn partial(&self) -> Option<&ChatResponse> {
        match self {
            Self::Truncated { partial, .. } => Some(partial),
            _ => None,
        }
    }

    /// The HTTP status of an [`Error::Api`], if this is one.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(e) => Some(e.status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 64,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn api_display_carries_server_words() {
        let e = Error::Api(Box::new(ApiError::new(400, "context length exceeded")));
        assert_eq!(
            e.to_string(),
            "chat server answered 400: context length exceeded"
        );
        assert_eq!(e.status(), Some(400));
    }
}
