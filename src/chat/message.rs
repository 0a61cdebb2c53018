//! Wire types of `/v1/chat/completions`: messages, tool calls, usage.
//!
//! Plain serde data. What the crate *sends* is strict (see [`Message`]'s
//! `Serialize`); what it *reads* from servers goes through
//! [`recover`](super::recover), which tolerates the quirks real servers have.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

/// One message of a chat conversation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Message {
    /// Instructions for the model.
    System {
        /// The text.
        content: String,
    },
    /// The user's words.
    User {
        /// The text.
        content: String,
    },
    /// The model's turn: text, tool calls, or both.
    Assistant(AssistantMessage),
    /// A tool's answer to one call.
    Tool(ToolMessage),
}

/// The model's turn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AssistantMessage {
    /// The text, if any. Left out on the wire when the message only carries tool calls.
    #[serde(default)]
    pub content: Option<String>,
    /// The model's reasoning (`reasoning_content`, or a `<think>` block), kept
    /// apart from the answer and never sent back.
    #[serde(default, skip)]
    pub reasoning: Option<String>,
    /// The tools the model asked for, in order.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
}

impl AssistantMessage {
    /// The `content` this turn is sent with: text, `Some(None)` for `null`, `None`
    /// for no key (`empty` says which, for a turn that carries only tool calls).
    pub(crate) fn wire_content(&self, empty: AssistantContent) -> Option<Option<&str>> {
        match self.content.as_deref().filter(|c| !c.trim().is_empty()) {
            Some(c) => Some(Some(c)),
            // A text-less turn without calls still needs a content key.
            None if self.tool_calls.is_empty() => Some(Some("")),
            None => match empty {
                AssistantContent::EmptyString => Some(Some("")),
                AssistantContent::Null => Some(None),
                AssistantContent::Omitted => None,
            },
        }
    }

    /// A text-only assistant message.
    #[must_use]
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: Some(content.into()),
            reasoning: None,
            tool_calls: Vec::new(),
        }
    }

    /// An assistant message carrying tool calls and no text.
    #[must_use]
    pub fn tool_calls(calls: Vec<ToolCall>) -> Self {
        Self {
            content: None,
            reasoning: None,
            tool_calls: calls,
        }
    }
}

/// A tool's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ToolMessage {
    /// The id of the call this answers.
    pub tool_call_id: String,
    /// The tool's name (sent unless the backend is told not to).
    #[serde(default)]
    pub name: Option<String>,
    /// The tool's output, or `error: …`.
    pub content: String,
}

impl Message {
    /// A system message.
    #[must_use]
    pub fn system(content: impl Into<String>) -> Self {
        Self::System {
            content: content.into(),
        }
    }

    /// A user message.
    #[must_use]
    pub fn user(content: impl Into<String>) -> Self {
        Self::User {
            content: content.into(),
        }
    }

    /// An assistant text message.
    #[must_use]
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::Assistant(AssistantMessage::text(content))
    }

    /// A tool message answering `call`.
    #[must_use]
    pub fn tool(call: &ToolCall, content: impl Into<String>) -> Self {
        Self::Tool(ToolMessage {
            tool_call_id: call.id.clone(),
            name: Some(call.function.name.clone()),
            content: content.into(),
        })
    }

    /// The message's role as sent on the wire.
    #[must_use]
    pub fn role(&self) -> &'static str {
        match self {
            Self::System { .. } => "system",
            Self::User { .. } => "user",
            Self::Assistant(_) => "assistant",
            Self::Tool(_) => "tool",
        }
    }

    /// The text content, if any.
    #[must_use]
    pub fn content(&self) -> Option<&str> {
        match self {
            Self::System { content } | Self::User { content } => Some(content),
            Self::Assistant(a) => a.content.as_deref(),
            Self::Tool(t) => Some(&t.content),
        }
    }

    /// Serializes with or without the tool message's `name`, and with `empty` as the
    /// content of an assistant turn that carries only tool calls.
    pub(crate) fn wire(&self, tool_name: bool, empty: AssistantContent) -> WireMessage<'_> {
        WireMessage {
            message: self,
            tool_name,
            empty,
        }
    }
}

/// How an assistant message that carries tool calls and no text is sent.
///
/// Servers disagree: OpenAI, vLLM, Ollama and llama.cpp's `llama-server` take all
/// three shapes, but llama-cpp-python's server renders its chat template with the
/// message's `content` and fails (HTTP 500) when the key is missing, and validates
/// `null` away too. An empty string is accepted everywhere we have seen, so it is
/// the default of [`OpenAiCompatible`](crate::OpenAiCompatible).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssistantContent {
    /// `"content": ""` (the default).
    #[default]
    EmptyString,
    /// `"content": null`.
    Null,
    /// No `content` key at all (what OpenAI's own SDKs send).
    Omitted,
}

/// How a message is sent: strict.
pub(crate) struct WireMessage<'a> {
    message: &'a Message,
    tool_name: bool,
    empty: AssistantContent,
}

impl Serialize for WireMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("role", self.message.role())?;
        match self.message {
            Message::System { content } | Message::User { content } => {
                map.serialize_entry("content", content)?;
            }
            Message::Assistant(a) => {
                match a.wire_content(self.empty) {
                    Some(Some(c)) => map.serialize_entry("content", c)?,
                    Some(None) => map.serialize_entry("content", &())?,
                    None => {}
                }
                if !a.tool_calls.is_empty() {
                    map.serialize_entry("tool_calls", &a.tool_calls)?;
                }
            }
            Message::Tool(t) => {
                map.serialize_entry("tool_call_id", &t.tool_call_id)?;
                if self.tool_name
                    && let Some(name) = &t.name
                {
                    map.serialize_entry("name", name)?;
                }
                map.serialize_entry("content", &t.content)?;
            }
        }
        map.end()
    }
}

impl Serialize for Message {
    /// The strict wire form, tool `name` included, no `content` key on an assistant
    /// turn that carries only tool calls.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.wire(true, AssistantContent::Omitted)
            .serialize(serializer)
    }
}

/// A call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// The call's id, echoed in the tool message's `tool_call_id`.
    pub id: String,
    /// The function to call.
    pub function: FunctionCall,
}

impl ToolCall {
    /// A call of `name` with `arguments` (a JSON text).
    #[must_use]
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

impl Serialize for ToolCall {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("type", "function")?;
        map.serialize_entry("function", &WireFunction(&self.function))?;
        map.end()
    }
}

/// A call's function as sent back: the arguments always valid JSON text, `{}`
/// in place of anything else (servers that render history through a chat
/// template reject arguments they cannot parse).
struct WireFunction<'a>(&'a FunctionCall);

impl Serialize for WireFunction<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("name", &self.0.name)?;
        map.serialize_entry("arguments", self.0.wire_arguments())?;
        map.end()
    }
}

/// The function part of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionCall {
    /// The tool's name.
    pub name: String,
    /// The arguments, as JSON text; always sent as a string.
    pub arguments: String,
}

impl FunctionCall {
    /// The arguments as sent back: their text when it is one JSON value, else `{}`.
    pub(crate) fn wire_arguments(&self) -> &str {
        if super::recover::scan::is_json(self.arguments.trim()) {
            &self.arguments
        } else {
            "{}"
        }
    }
}

/// Token counts of one response, or summed over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Their sum as the server counted it.
    #[serde(default)]
    pub total_tokens: u64,
}

impl Usage {
    /// Creates usage figures.
    #[must_use]
    pub fn new(prompt_tokens: u64, completion_tokens: u64, total_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens,
        }
    }
}

impl std::ops::AddAssign for Usage {
    /// Adds with saturation: a huge count from a server never overflows.
    fn add_assign(&mut self, rhs: Self) {
        self.prompt_tokens = self.prompt_tokens.saturating_add(rhs.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(rhs.completion_tokens);
        self.total_tokens = self.total_tokens.saturating_add(rhs.total_tokens);
    }
}

impl std::ops::Add for Usage {
    type Output = Self;
    fn add(mut self, rhs: Self) -> Self {
        self += rhs;
        self
    }
}
