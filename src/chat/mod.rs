//! Chat backends: the [`ChatBackend`] trait, its request and response, and the
//! OpenAI-compatible implementation.

mod body;
mod message;
mod openai;
pub mod recover;
mod retry;
mod scripted;

use std::collections::VecDeque;
use std::fmt;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use serde_json::value::RawValue;

pub use message::{
    AssistantContent, AssistantMessage, FunctionCall, Message, ToolCall, ToolMessage, Usage,
};
pub use openai::{DEFAULT_BASE_URL, OpenAiCompatible};
pub use retry::RetryPolicy;
pub use scripted::ScriptedBackend;

pub use crate::error::Truncation;

use crate::error::Result;

/// One chat request: the conversation so far and the tools on offer.
///
/// Borrowed, so an agent sends its history without copying it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ChatRequest<'a> {
    /// Every message so far, oldest first.
    pub messages: &'a [Message],
    /// The `tools` array, already serialized (see [`ToolRegistry::tools_json`](crate::ToolRegistry::tools_json)).
    /// `None` or an empty array sends no tools.
    pub tools: Option<&'a RawValue>,
    /// `tool_choice` for this request only; `None` sends the backend's own setting.
    pub tool_choice: Option<&'a ToolChoice>,
}

impl<'a> ChatRequest<'a> {
    /// A request for `messages` with no tools.
    #[must_use]
    pub fn new(messages: &'a [Message]) -> Self {
        Self {
            messages,
            tools: None,
            tool_choice: None,
        }
    }

    /// Offers the tools in `tools` (a serialized `tools` array).
    #[must_use]
    pub fn tools(mut self, tools: &'a RawValue) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Sends `choice` as `tool_choice` for this request, whatever the backend's setting.
    #[must_use]
    pub fn tool_choice(mut self, choice: &'a ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }
}

/// What the server answered, read tolerantly (see [`recover`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The model's turn: text, reasoning, tool calls.
    pub message: AssistantMessage,
    /// The server's `finish_reason`, as sent (any string; `None` when absent or null).
    /// The agent does not trust it: no tool calls means the answer.
    pub finish_reason: Option<String>,
    /// Token counts, when the server sent them.
    pub usage: Option<Usage>,
    /// The response id, when sent.
    pub id: Option<String>,
    /// The model that answered, when sent.
    pub model: Option<String>,
    /// The server stopped at its token limit (`finish_reason: "length"`): the
    /// text answer is cut short. (Tool calls cut this way are an
    /// [`Error::Truncated`](crate::Error::Truncated) instead.)
    pub truncated: bool,
    /// The server sent no answer, only reasoning (vLLM with thinking turned off
    /// does), and the reasoning was taken as the answer.
    pub answer_from_reasoning: bool,
}

impl ChatResponse {
    /// A final text answer.
    #[must_use]
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            message: AssistantMessage::text(content),
            finish_reason: Some("stop".into()),
            ..Self::default()
        }
    }

    /// A response asking for tool calls.
    #[must_use]
    pub fn tool_calls(calls: Vec<ToolCall>) -> Self {
        Self {
            message: AssistantMessage::tool_calls(calls),
            finish_reason: Some("tool_calls".into()),
            ..Self::default()
        }
    }

    /// Sets the usage figures.
    #[must_use]
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Reads a `/v1/chat/completions` response body, tolerantly.
    ///
    /// # Errors
    /// [`Error::InvalidResponse`](crate::Error::InvalidResponse) when the body is
    /// not a chat completion at all.
    pub fn from_json(body: &[u8]) -> Result<Self> {
        recover::parse_response(body)
    }
}

/// What a backend is, for traces: the GenAI semantic conventions' `gen_ai.provider.name`,
/// `gen_ai.request.model`, `server.address` and `server.port`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackendInfo<'a> {
    /// The provider (`openai` for an OpenAI-compatible API unless set otherwise).
    pub provider: Option<&'a str>,
    /// The model asked for.
    pub model: Option<&'a str>,
    /// The server's host.
    pub address: Option<&'a str>,
    /// The server's port.
    pub port: Option<u16>,
}

/// Which tool the model must, may or must not call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides (`"auto"`), the default.
    #[default]
    Auto,
    /// No tool calls (`"none"`).
    None,
    /// At least one tool call (`"required"`).
    Required,
    /// This function (`{"type":"function","function":{"name":…}}`).
    Function(String),
}

impl Serialize for ToolChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str("auto"),
            Self::None => s.serialize_str("none"),
            Self::Required => s.serialize_str("required"),
            Self::Function(name) => {
                serde_json::json!({"type": "function", "function": {"name": name}}).serialize(s)
            }
        }
    }
}

/// One piece of a streamed answer, in the order it arrives.
///
/// Text and reasoning deltas come first, as the server sends them; then each
/// tool call (whole), the usage, and last [`StreamEvent::Done`] with the full
/// response, which is exactly what [`ChatBackend::chat`] would have returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// More of the answer's text.
    Text(String),
    /// More of the model's reasoning.
    Reasoning(String),
    /// A tool call the model asked for, put together.
    ToolCall(ToolCall),
    /// The token counts of the response.
    Usage(Usage),
    /// The end: the whole response, read by the same rules as a non-streamed one.
    Done(Box<ChatResponse>),
}

/// The stream [`ChatBackend::chat_stream`] returns: events, and at most one
/// error, after which it ends.
pub type ChatStream<'a> = BoxStream<'a, Result<StreamEvent>>;

/// Something that answers chat requests: an OpenAI-compatible server, a script, your own.
///
/// As small as tower's `Service`: one required method, object-safe, so
/// `Box<dyn ChatBackend>` and `Arc<dyn ChatBackend>` work. Streaming and the
/// settings check are provided methods that a backend may override.
#[async_trait::async_trait]
pub trait ChatBackend: Send + Sync {
    /// Sends one request and reads the response.
    ///
    /// # Errors
    /// Whatever ends the call: transport, timeout, an HTTP error answer, an
    /// unreadable body, an answer cut off in the middle of tool calls.
    async fn chat(&self, request: ChatRequest<'_>) -> Result<ChatResponse>;

    /// Sends one request and yields the answer as it arrives.
    ///
    /// The default calls [`chat`](Self::chat) and yields its response as one
    /// piece (its reasoning, text, calls, usage, then [`StreamEvent::Done`]), so
    /// every backend can be streamed from. Dropping the stream cancels the request.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use toolcall::chat::{ChatBackend, ChatRequest, ChatResponse, Message, ScriptedBackend, StreamEvent};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// // In production: OpenAiCompatible::new("http://localhost:8080/v1"), which streams for real.
    /// let backend = ScriptedBackend::new([ChatResponse::text("Raise the memory limit.")]);
    /// let history = [Message::user("Why does billing restart?")];
    /// let mut stream = backend.chat_stream(ChatRequest::new(&history));
    /// let mut shown = String::new();
    /// while let Some(event) = stream.next().await {
    ///     match event? {
    ///         StreamEvent::Text(piece) => shown.push_str(&piece), // print it as it comes
    ///         StreamEvent::Done(response) => assert_eq!(response.message.content.as_deref(), Some(shown.as_str())),
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(shown, "Raise the memory limit.");
    /// # Ok::<(), toolcall::Error>(())
    /// # }).unwrap();
    /// ```
    fn chat_stream<'a>(&'a self, request: ChatRequest<'a>) -> ChatStream<'a> {
        Box::pin(
            futures::stream::once(self.chat(request)).flat_map(|result| {
                let items: VecDeque<Result<StreamEvent>> = match result {
                    Ok(response) => {
                        let mut events = VecDeque::new();
                        recover::stream::events_of(response, &mut events);
                        events.into_iter().map(Ok).collect()
                    }
                    Err(e) => VecDeque::from([Err(e)]),
                };
                futures::stream::iter(items)
            }),
        )
    }

    /// Reports a setting this backend cannot use, before any request is made.
    /// The agent calls it before a run's first request.
    ///
    /// # Errors
    /// The first problem the backend's settings have (see
    /// [`OpenAiCompatible`]); the default has none.
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// The model's context window in tokens, when the server says (llama.cpp's `/props`
    /// reports `n_ctx`, vLLM's `/v1/models` a `max_model_len`); `None` when it does not. The default knows none.
    ///
    /// # Errors
    /// Whatever ends the request; a server that does not say is `Ok(None)`.
    async fn context_window(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    /// What this backend is, for traces. The default says nothing.
    fn describe(&self) -> BackendInfo<'_> {
        BackendInfo::default()
    }
}

#[async_trait::async_trait]
impl<B: ChatBackend + ?Sized> ChatBackend for Box<B> {
    async fn chat(&self, request: ChatRequest<'_>) -> Result<ChatResponse> {
        (**self).chat(request).await
    }
    fn chat_stream<'a>(&'a self, request: ChatRequest<'a>) -> ChatStream<'a> {
        (**self).chat_stream(request)
    }
    fn check(&self) -> Result<()> {
        (**self).check()
    }
    async fn context_window(&self) -> Result<Option<u64>> {
        (**self).context_window().await
    }
    fn describe(&self) -> BackendInfo<'_> {
        (**self).describe()
    }
}

#[async_trait::async_trait]
impl<B: ChatBackend + ?Sized> ChatBackend for std::sync::Arc<B> {
    async fn chat(&self, request: ChatRequest<'_>) -> Result<ChatResponse> {
        (**self).chat(request).await
    }
    fn chat_stream<'a>(&'a self, request: ChatRequest<'a>) -> ChatStream<'a> {
        (**self).chat_stream(request)
    }
    fn check(&self) -> Result<()> {
        (**self).check()
    }
    async fn context_window(&self) -> Result<Option<u64>> {
        (**self).context_window().await
    }
    fn describe(&self) -> BackendInfo<'_> {
        (**self).describe()
    }
}

#[async_trait::async_trait]
impl<B: ChatBackend + ?Sized> ChatBackend for &B {
    async fn chat(&self, request: ChatRequest<'_>) -> Result<ChatResponse> {
        (**self).chat(request).await
    }
    fn chat_stream<'a>(&'a self, request: ChatRequest<'a>) -> ChatStream<'a> {
        (**self).chat_stream(request)
    }
    fn check(&self) -> Result<()> {
        (**self).check()
    }
    async fn context_window(&self) -> Result<Option<u64>> {
        (**self).context_window().await
    }
    fn describe(&self) -> BackendInfo<'_> {
        (**self).describe()
    }
}

impl fmt::Display for ToolChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::None => f.write_str("none"),
            Self::Required => f.write_str("required"),
            Self::Function(n) => write!(f, "function {n}"),
        }
    }
}
