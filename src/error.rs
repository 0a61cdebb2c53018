//! The crate error: what ends a call or a run.

use std::time::Duration;

use crate::chat::Message;

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

    /// A chat request got no complete response within the configured timeout.
    #[error("chat request timed out after {0:?}")]
    Timeout(Duration),

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

    /// A PostgreSQL pool could not be built, or the role failed the privilege check.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    #[error("postgres setup failed: {0}")]
    Postgres(String),
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

impl Error {
    /// The transcript carried by [`Error::StepLimit`], if this is one.
    #[must_use]
    pub fn transcript(&self) -> Option<&[Message]> {
        match self {
            Self::StepLimit { transcript, .. } => Some(transcript),
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
