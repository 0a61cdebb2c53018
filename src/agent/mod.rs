//! [`Agent`]: the tool-call conversation loop, and its [`Run`].
//!
#![doc = include_str!("../docs/agent-loop.md")]

mod observer;
mod policy;
mod stream;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

pub use observer::{Event, Observer};
pub use policy::ToolChoicePolicy;
pub use stream::{RunEvent, RunStream};

use futures::StreamExt;
use stream::{Live, send};

use crate::chat::{
    AssistantMessage, ChatBackend, ChatRequest, ChatResponse, Message, StreamEvent, ToolCall,
    ToolChoice, Usage,
};
use crate::error::{Error, Result};
use crate::registry::{Dispatcher, ToolRegistry};

/// The default limit of chat requests per run.
pub const DEFAULT_MAX_STEPS: usize = 10;
/// The default cap on one tool message's content, in bytes.
pub const DEFAULT_MAX_TOOL_OUTPUT: usize = crate::registry::DEFAULT_MAX_OUTPUT;

/// Runs the conversation: ask the model, run the tools it calls, send their
/// answers back, until it answers in plain text.
///
/// ```
/// use toolcall::chat::{ChatResponse, ScriptedBackend, ToolCall};
/// use toolcall::{Agent, DynamicTool, ToolRegistry};
/// use serde_json::json;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let add = DynamicTool::new(
///     "add",
///     "Adds two integers.",
///     json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}),
///     |v: serde_json::Value| async move { Ok::<_, String>(json!(v["a"].as_i64().unwrap_or(0) + v["b"].as_i64().unwrap_or(0))) },
/// )?;
/// let backend = ScriptedBackend::new([
///     ChatResponse::tool_calls(vec![ToolCall::new("c1", "add", r#"{"a": 2, "b": 3}"#)]),
///     ChatResponse::text("2 + 3 = 5"),
/// ]);
/// let agent = Agent::new(backend, ToolRegistry::new().with_dynamic(add)).system("Use tools.");
/// let run = agent.run("What is 2 + 3?").await?;
/// assert_eq!(run.answer(), "2 + 3 = 5");
/// assert_eq!(run.messages()[3].content(), Some("5"));
/// # Ok::<(), toolcall::Error>(())
/// # }).unwrap();
/// ```
pub struct Agent<B> {
    backend: B,
    dispatcher: Dispatcher,
    system: Option<String>,
    max_steps: usize,
    observer: Option<Arc<dyn Observer>>,
    tool_choice: Option<ToolChoicePolicy>,
    retry_empty: Option<ToolChoice>,
}

impl<B: ChatBackend> Agent<B> {
    /// An agent asking `backend`, with the tools in `registry`.
    #[must_use]
    pub fn new(backend: B, registry: ToolRegistry) -> Self {
        Self {
            backend,
            dispatcher: Dispatcher::new(registry),
            system: None,
            max_steps: DEFAULT_MAX_STEPS,
            observer: None,
            tool_choice: None,
            retry_empty: None,
        }
    }

    /// The system prompt, sent first in every new run.
    #[must_use]
    pub fn system(mut self, prompt: impl Into<String>) -> Self {
        self.system = Some(prompt.into());
        self
    }

    /// The limit of chat requests per run (default 10, at least 1).
    #[must_use]
    pub fn max_steps(mut self, steps: usize) -> Self {
        self.max_steps = steps.max(1);
        self
    }

    /// The time one tool call may take (default 60 s; `None` for no limit).
    #[must_use]
    pub fn tool_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.dispatcher = self.dispatcher.timeout(timeout);
        self
    }

    /// The most bytes of one tool message; longer output is cut with a visible marker.
    #[must_use]
    pub fn max_tool_output(mut self, bytes: usize) -> Self {
        self.dispatcher = self.dispatcher.max_output(bytes);
        self
    }

    /// Runs tool calls through `dispatcher` (its registry, timeout and cap), e.g. one
    /// shared with an MCP server.
    #[must_use]
    pub fn dispatcher(mut self, dispatcher: Dispatcher) -> Self {
        self.dispatcher = dispatcher;
        self
    }

    /// Which `tool_choice` each step sends (see [`ToolChoicePolicy`]); without one,
    /// every step sends the backend's own setting.
    #[must_use]
    pub fn tool_choice(mut self, policy: ToolChoicePolicy) -> Self {
        self.tool_choice = Some(policy);
        self
    }

    /// When the model answers with neither a tool call nor any text, asks once more
    /// with `stricter` as `tool_choice` (e.g. [`ToolChoice::Required`]) and goes on
    /// with that answer. Off by default. The retry shows as
    /// [`RunEvent::EmptyAnswerRetried`] and [`Event::EmptyAnswerRetried`]; the
    /// step's usage counts both requests.
    #[must_use]
    pub fn retry_empty_answer(mut self, stricter: ToolChoice) -> Self {
        self.retry_empty = Some(stricter);
        self
    }

    /// Watches every step.
    #[must_use]
    pub fn observer(mut self, observer: impl Observer + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The backend.
    pub fn get_ref(&self) -> &B {
        &self.backend
    }

    /// The tools.
    pub fn registry(&self) -> &ToolRegistry {
        self.dispatcher.registry()
    }

    /// The dispatcher the tool calls go through.
    pub fn get_dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Asks `question` in a new conversation.
    ///
    /// # Errors
    /// See [`Agent::resume`].
    pub async fn run(&self, question: impl Into<String>) -> Result<Run> {
        let mut messages = Vec::with_capacity(8);
        if let Some(system) = &self.system {
            messages.push(Message::system(system.clone()));
        }
        messages.push(Message::user(question));
        self.resume(messages).await
    }

    /// Asks a follow-up `question` in an existing conversation (e.g. a previous
    /// [`Run::into_messages`]). The system prompt is added only if `history` has none.
    ///
    /// # Errors
    /// See [`Agent::resume`].
    pub async fn run_with_history(
        &self,
        mut history: Vec<Message>,
        question: impl Into<String>,
    ) -> Result<Run> {
        if let Some(system) = &self.system
            && !matches!(history.first(), Some(Message::System { .. }))
        {
            history.insert(0, Message::system(system.clone()));
        }
        history.push(Message::user(question));
        self.resume(history).await
    }

    /// Runs the loop from `messages` as they are.
    ///
    /// # Errors
    /// The backend's errors (transport, timeout, HTTP error answers, unreadable
    /// responses, an answer cut off in the middle of tool calls), [`Error::StepLimit`]
    /// when the model still asks for tools after the last allowed request, and setting
    /// problems the registry or the backend ([`ChatBackend::check`]) recorded, before
    /// any request. A tool's failure is *not* an error: the model is told and the run goes on.
    pub async fn resume(&self, messages: Vec<Message>) -> Result<Run> {
        self.start(messages, None).await
    }

    /// Asks `question` in a new conversation and yields what happens as it
    /// happens: the answer's text and reasoning as the server streams them, each
    /// tool call as it starts and finishes, each step's usage, and last the
    /// finished [`Run`] (the same [`Agent::run`] gives: one loop serves both).
    ///
    /// ```
    /// use futures::StreamExt;
    /// use toolcall::agent::RunEvent;
    /// use toolcall::chat::{ChatResponse, ScriptedBackend};
    /// use toolcall::{Agent, ToolRegistry};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let agent = Agent::new(ScriptedBackend::new([ChatResponse::text("All pods are healthy.")]), ToolRegistry::new());
    /// let mut events = agent.run_stream("How are the pods?");
    /// let mut shown = String::new();
    /// while let Some(event) = events.next().await {
    ///     match event? {
    ///         RunEvent::Text { text, .. } => shown.push_str(&text),
    ///         RunEvent::Done(run) => assert_eq!(run.answer(), shown),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok::<(), toolcall::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn run_stream(&self, question: impl Into<String>) -> RunStream<'_> {
        let mut messages = Vec::with_capacity(8);
        if let Some(system) = &self.system {
            messages.push(Message::system(system.clone()));
        }
        messages.push(Message::user(question));
        self.resume_stream(messages)
    }

    /// [`Agent::resume`], streamed as [`Agent::run_stream`] is.
    pub fn resume_stream(&self, messages: Vec<Message>) -> RunStream<'_> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        RunStream::new(rx, async move { self.start(messages, Some(&tx)).await })
    }

    async fn start(&self, messages: Vec<Message>, live: Live<'_>) -> Result<Run> {
        self.registry().check()?;
        self.backend.check()?;
        let span = tracing::info_span!(
            "toolcall.run",
            tools = self.registry().len(),
            max_steps = self.max_steps,
            stream = live.is_some()
        );
        self.drive(messages, live).instrument(span).await
    }

    /// Asks once: the whole answer, or (streaming) the answer as it arrives.
    async fn ask(
        &self,
        step: usize,
        request: ChatRequest<'_>,
        live: Live<'_>,
    ) -> Result<ChatResponse> {
        if live.is_none() {
            return self.backend.chat(request).await;
        }
        let mut events = self.backend.chat_stream(request);
        while let Some(event) = events.next().await {
            match event? {
                StreamEvent::Text(text) => send(live, || RunEvent::Text { step, text }),
                StreamEvent::Reasoning(text) => send(live, || RunEvent::Reasoning { step, text }),
                StreamEvent::Done(response) => return Ok(*response),
                _ => {}
            }
        }
        Err(Error::InvalidResponse {
            reason: "the backend's stream ended without a response".to_owned(),
            body: String::new(),
        })
    }

    /// One step's request, with the step's `tool_choice`, and the empty-answer retry.
    async fn ask_step(
        &self,
        step: usize,
        messages: &[Message],
        tools: Option<&serde_json::value::RawValue>,
        live: Live<'_>,
    ) -> Result<ChatResponse> {
        let choice = self.tool_choice.as_ref().and_then(|p| p.choice(step));
        let request = ChatRequest {
            messages,
            tools,
            tool_choice: choice.as_ref(),
        };
        let response = self.ask(step, request, live).await?;
        let Some(stricter) = self
            .retry_empty
            .as_ref()
            .filter(|_| tools.is_some() && policy::is_empty_answer(&response))
        else {
            return Ok(response);
        };
        tracing::debug!(step, tool_choice = %stricter, "empty answer: asking again");
        self.emit(&Event::EmptyAnswerRetried {
            step,
            tool_choice: stricter,
        });
        send(live, || RunEvent::EmptyAnswerRetried {
            step,
            tool_choice: stricter.clone(),
        });
        let mut retried = self.ask(step, request.tool_choice(stricter), live).await?;
        if let Some(first) = response.usage {
            retried.usage = Some(retried.usage.map_or(first, |u| u + first));
        }
        Ok(retried)
    }

    /// The loop, streamed (`live`) or not.
    async fn drive(&self, mut messages: Vec<Message>, live: Live<'_>) -> Result<Run> {
        let registry = self.registry();
        let tools = (!registry.is_empty()).then(|| registry.tools_json());
        let mut steps = Vec::new();
        let mut usage = Usage::default();
        for step in 1..=self.max_steps {
            self.emit(&Event::RequestSent {
                step,
                messages: &messages,
            });
            let started = Instant::now();
            let response = self
                .ask_step(step, &messages, tools, live)
                .instrument(tracing::debug_span!("chat", step))
                .await?;
            let elapsed = started.elapsed();
            self.emit(&Event::ResponseReceived {
                step,
                response: &response,
                elapsed,
            });
            if let Some(u) = response.usage {
                usage += u;
                send(live, || RunEvent::StepUsage { step, usage: u });
            }
            steps.push(Step {
                usage: response.usage,
                tool_calls: response.message.tool_calls.len(),
                finish_reason: response.finish_reason.clone(),
                elapsed,
            });
            let message = response.message;
            if message.tool_calls.is_empty() {
                // The stop rule: no tool calls means the answer, whatever finish_reason says.
                let answer = message.content.clone().unwrap_or_default();
                let reasoning = message.reasoning.clone();
                messages.push(Message::Assistant(message));
                return Ok(Run {
                    answer,
                    reasoning,
                    truncated: response.truncated,
                    messages,
                    steps,
                    usage,
                });
            }
            messages.push(Message::Assistant(message));
            if step == self.max_steps {
                break;
            }
            let Some(Message::Assistant(turn)) = messages.last() else {
                break;
            };
            let contents = futures::future::join_all(
                turn.tool_calls
                    .iter()
                    .map(|call| self.call_tool(step, call, live)),
            )
            .await;
            let answers: Vec<Message> = turn
                .tool_calls
                .iter()
                .zip(contents)
                .map(|(call, content)| Message::tool(call, content))
                .collect();
            messages.extend(answers);
        }
        Err(Error::StepLimit {
            steps: self.max_steps,
            transcript: Box::new(messages),
        })
    }

    async fn call_tool(&self, step: usize, call: &ToolCall, live: Live<'_>) -> String {
        self.emit(&Event::ToolStarted { step, call });
        send(live, || RunEvent::ToolStarted {
            step,
            call: call.clone(),
        });
        let outcome = self.dispatcher.call(call).await;
        send(live, || RunEvent::ToolFinished {
            step,
            id: call.id.clone(),
            name: call.function.name.clone(),
            duration: outcome.duration,
            error: outcome.error.clone(),
        });
        self.emit(&Event::ToolFinished {
            step,
            call,
            duration: outcome.duration,
            error: outcome.error.as_ref(),
            content: &outcome.text,
        });
        outcome.text
    }

    fn emit(&self, event: &Event<'_>) {
        if let Some(o) = &self.observer {
            o.on_event(event);
        }
    }
}

impl<B: fmt::Debug> fmt::Debug for Agent<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("backend", &self.backend)
            .field("dispatcher", &self.dispatcher)
            .field("system", &self.system)
            .field("max_steps", &self.max_steps)
            .field("tool_choice", &self.tool_choice)
            .field("retry_empty", &self.retry_empty)
            .finish_non_exhaustive()
    }
}

/// One chat request of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Step {
    /// The response's token counts, if the server sent them.
    pub usage: Option<Usage>,
    /// How many tool calls the response asked for.
    pub tool_calls: usize,
    /// The response's `finish_reason`, as sent.
    pub finish_reason: Option<String>,
    /// How long the request took.
    pub elapsed: Duration,
}

/// A finished run: the answer, the transcript, the token usage.
#[derive(Debug, Clone)]
pub struct Run {
    answer: String,
    reasoning: Option<String>,
    truncated: bool,
    messages: Vec<Message>,
    steps: Vec<Step>,
    usage: Usage,
}

impl Run {
    /// The model's final text.
    #[must_use]
    pub fn answer(&self) -> &str {
        &self.answer
    }

    /// The model's reasoning for the final answer, if it showed any.
    #[must_use]
    pub fn reasoning(&self) -> Option<&str> {
        self.reasoning.as_deref()
    }

    /// Whether the server cut the final answer at its token limit
    /// (`finish_reason: "length"`): the text is incomplete.
    #[must_use]
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Every message of the conversation, the final answer last.
    #[must_use]
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The transcript, to continue the conversation with [`Agent::run_with_history`].
    #[must_use]
    pub fn into_messages(self) -> Vec<Message> {
        self.messages
    }

    /// One entry per chat request.
    #[must_use]
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Token usage summed over the run.
    #[must_use]
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The final assistant message.
    #[must_use]
    pub fn final_message(&self) -> Option<&AssistantMessage> {
        match self.messages.last() {
            Some(Message::Assistant(a)) => Some(a),
            _ => None,
        }
    }
}
