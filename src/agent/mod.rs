//! [`Agent`]: the tool-call conversation loop, and its [`Run`]; approval before a tool
//! runs ([`ApprovalPolicy`], [`Interruption`], [`RunState`]); a [`ContextBudget`].
//!
#![doc = include_str!("../docs/agent-loop.md")]

mod approval;
mod budget;
mod observer;
mod policy;
mod stream;
mod telemetry;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tracing::Instrument;

pub use approval::{
    ApprovalPolicy, Decision, Interruption, PendingCall, ResumeError, RunState, Unanswered, Verdict,
};
pub use budget::{ContextBudget, Cut, CutReason, DEFAULT_BYTES_PER_TOKEN, DEFAULT_TOOL_SHARE};
pub use observer::{Event, Observer};
pub use policy::ToolChoicePolicy;
pub use stream::{RunEvent, RunStream};

use approval::last_calls;
use budget::Meter;
use futures::StreamExt;
use stream::{Live, send};

use crate::chat::{
    AssistantMessage, ChatBackend, ChatRequest, ChatResponse, Message, StreamEvent, ToolCall,
    ToolChoice, Usage,
};
use crate::error::{Error, Result};
use crate::registry::{Dispatcher, ToolRegistry};
use crate::tool::ToolError;

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
    name: Option<String>,
    max_steps: usize,
    observer: Option<Arc<dyn Observer>>,
    approval: Option<ApprovalPolicy>,
    unanswered: Unanswered,
    budget: Option<ContextBudget>,
    /// The window the server reported, read once (for [`ContextBudget::from_server`]).
    server_window: tokio::sync::OnceCell<Option<u64>>,
    trace_content: bool,
    tool_choice: Option<ToolChoicePolicy>,
    retry_empty: Option<ToolChoice>,
}

/// Where a run starts: the history, a question to ask once the calls at its end are
/// answered, operators' verdicts, and the steps and usage already spent.
struct Start {
    messages: Vec<Message>,
    question: Option<String>,
    verdicts: HashMap<String, Verdict>,
    steps: Vec<Step>,
    usage: Usage,
}

impl Start {
    fn new(messages: Vec<Message>, question: Option<String>) -> Self {
        Self {
            messages,
            question,
            verdicts: HashMap::new(),
            steps: Vec::new(),
            usage: Usage::default(),
        }
    }
}

/// What to do with one unanswered call.
enum Action {
    Run,
    Answer(ToolError),
    Pend,
}

impl<B: ChatBackend> Agent<B> {
    /// An agent asking `backend`, with the tools in `registry`.
    #[must_use]
    pub fn new(backend: B, registry: ToolRegistry) -> Self {
        Self {
            backend,
            dispatcher: Dispatcher::new(registry),
            system: None,
            name: None,
            max_steps: DEFAULT_MAX_STEPS,
            observer: None,
            approval: None,
            unanswered: Unanswered::Run,
            budget: None,
            server_window: tokio::sync::OnceCell::new(),
            trace_content: false,
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

    /// The agent's name, for traces (`gen_ai.agent.name`, and the span `invoke_agent {name}`).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The limit of chat requests per run (default 10, at least 1). A run resumed from a
    /// [`RunState`] counts the requests made before it paused.
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
    /// shared with an MCP server. With [`trace_content`](Self::trace_content) on, its
    /// spans record tool arguments and results too.
    #[must_use]
    pub fn dispatcher(mut self, dispatcher: Dispatcher) -> Self {
        self.dispatcher = if self.trace_content {
            dispatcher.trace_content(true)
        } else {
            dispatcher
        };
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

    /// Which calls need an operator's approval before they run (besides the tools that
    /// say so themselves). The run then stops with an [`Interruption`]; see
    /// [`Agent::resume_state`].
    #[must_use]
    pub fn approval(mut self, policy: ApprovalPolicy) -> Self {
        self.approval = Some(policy);
        self
    }

    /// What [`resume`](Self::resume) and [`run_with_history`](Self::run_with_history) do
    /// with tool calls left unanswered at the end of the history (default: run them).
    #[must_use]
    pub fn unanswered(mut self, what: Unanswered) -> Self {
        self.unanswered = what;
        self
    }

    /// Keeps the conversation within the model's context window (see [`ContextBudget`]).
    #[must_use]
    pub fn context_budget(mut self, budget: ContextBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Whether traces carry message and argument content (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`, `gen_ai.system_instructions`, tool arguments and
    /// results). Off by default: they may hold what traces must not.
    #[must_use]
    pub fn trace_content(mut self, on: bool) -> Self {
        self.trace_content = on;
        self.dispatcher = self.dispatcher.trace_content(on);
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

    /// A new conversation: the system prompt and `question`.
    fn opening(&self, question: impl Into<String>) -> Vec<Message> {
        let mut messages = Vec::with_capacity(8);
        if let Some(system) = &self.system {
            messages.push(Message::system(system.clone()));
        }
        messages.push(Message::user(question));
        messages
    }

    /// Asks `question` in a new conversation.
    ///
    /// With an approval policy, the run may stop before a call runs: the [`Run`] then
    /// carries an [`Interruption`] ([`Run::interruption`]) and no answer.
    ///
    /// # Errors
    /// See [`Agent::resume`].
    pub async fn run(&self, question: impl Into<String>) -> Result<Run> {
        self.start(Start::new(self.opening(question), None), None)
            .await
    }

    /// Asks a follow-up `question` in an existing conversation (e.g. a previous
    /// [`Run::into_messages`]). The system prompt is added only if `history` has none.
    /// Tool calls left unanswered at the end of `history` are answered first, as
    /// [`Agent::resume`] does.
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
        self.start(Start::new(history, Some(question.into())), None)
            .await
    }

    /// Runs the loop from `messages` as they are: a transcript from a step-limit error,
    /// an interruption or a crash continues cleanly, since tool calls left unanswered at
    /// its end are first run (under the approval policy) or, with
    /// [`Unanswered::Skip`], answered as skipped, so that every call has its answer.
    ///
    /// # Errors
    /// The backend's errors (transport, timeout, HTTP error answers, unreadable
    /// responses, an answer cut off in the middle of tool calls), [`Error::StepLimit`]
    /// when the model still asks for tools after the last allowed request, and setting
    /// problems the registry, the budget or the backend ([`ChatBackend::check`]) recorded,
    /// before any request. A tool's failure is *not* an error: the model is told and the run goes on.
    pub async fn resume(&self, messages: Vec<Message>) -> Result<Run> {
        self.start(Start::new(messages, None), None).await
    }

    /// Resumes a run that stopped for approval, with a decision for each pending call:
    /// approved calls run, rejected ones are answered `rejected by the operator: {reason}`,
    /// then the loop goes on. `state` may come from another process (it serializes).
    ///
    /// ```
    /// use toolcall::agent::{ApprovalPolicy, Decision, RunState};
    /// use toolcall::chat::{ChatResponse, ScriptedBackend, ToolCall};
    /// use toolcall::{Agent, DynamicTool, ToolRegistry};
    /// use serde_json::json;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let restart = DynamicTool::new("restart_pod", "Restarts a pod.", json!({"type": "object"}),
    ///     |_v: serde_json::Value| async move { Ok::<_, String>("restarted") })?;
    /// let tools = ToolRegistry::new().with_dynamic(restart);
    /// let policy = ApprovalPolicy::new().tool("restart_pod");
    ///
    /// let first = Agent::new(
    ///     ScriptedBackend::new([ChatResponse::tool_calls(vec![ToolCall::new("c1", "restart_pod", "{}")])]),
    ///     tools.clone(),
    /// ).approval(policy.clone());
    /// let run = first.run("Restart billing.").await?;
    /// let paused = run.into_interruption().expect("the call needs approval");
    /// let saved = serde_json::to_string(paused.state()).unwrap();       // keep it anywhere
    ///
    /// let state: RunState = serde_json::from_str(&saved).unwrap();      // later, elsewhere
    /// let decisions = vec![Decision::approve(&state.pending()[0])];
    /// let second = Agent::new(ScriptedBackend::new([ChatResponse::text("Restarted.")]), tools)
    ///     .approval(policy);
    /// let run = second.resume_state(state, decisions).await?;
    /// assert_eq!(run.answer(), "Restarted.");
    /// assert_eq!(run.messages()[2].content(), Some("restarted"));
    /// # Ok::<(), toolcall::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Resume`] when the state is refused: a pending call was altered after it
    /// was shown (other arguments, another tool, another digest or key), a pending call
    /// has no decision, or a decision names a call that is not pending; otherwise as
    /// [`Agent::resume`].
    pub async fn resume_state(
        &self,
        state: RunState,
        decisions: impl IntoIterator<Item = Decision>,
    ) -> Result<Run> {
        let start = self.open(state, decisions)?;
        self.start(start, None).await
    }

    fn open(
        &self,
        state: RunState,
        decisions: impl IntoIterator<Item = Decision>,
    ) -> Result<Start> {
        let opened = state
            .open(&self.approval_policy(), decisions)
            .map_err(Error::Resume)?;
        Ok(Start {
            messages: opened.messages,
            question: opened.question,
            verdicts: opened.verdicts,
            steps: opened.steps,
            usage: opened.usage,
        })
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
        self.stream(Ok(Start::new(self.opening(question), None)))
    }

    /// [`Agent::resume`], streamed as [`Agent::run_stream`] is.
    pub fn resume_stream(&self, messages: Vec<Message>) -> RunStream<'_> {
        self.stream(Ok(Start::new(messages, None)))
    }

    /// [`Agent::resume_state`], streamed as [`Agent::run_stream`] is.
    pub fn resume_state_stream(
        &self,
        state: RunState,
        decisions: impl IntoIterator<Item = Decision>,
    ) -> RunStream<'_> {
        self.stream(self.open(state, decisions))
    }

    fn stream(&self, start: Result<Start>) -> RunStream<'_> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        RunStream::new(rx, async move { self.start(start?, Some(&tx)).await })
    }

    async fn start(&self, start: Start, live: Live<'_>) -> Result<Run> {
        self.registry().check()?;
        self.backend.check()?;
        if let Some(budget) = &self.budget {
            budget.check()?;
        }
        let span = telemetry::run_span(
            &self.backend.describe(),
            self.name.as_deref(),
            self.registry().len(),
            self.max_steps,
            live.is_some(),
        );
        let result = self.drive(start, live).instrument(span.clone()).await;
        match &result {
            Ok(run) => telemetry::record_usage(&span, run.usage),
            Err(e) => telemetry::record_error(&span, e),
        }
        result
    }

    /// The budget's meter for a run, the window read from the server once when asked to.
    async fn meter(&self) -> Option<Meter> {
        let budget = self.budget.as_ref()?;
        let window = match budget.reads_server_window() {
            None => None,
            Some(_) => *self
                .server_window
                .get_or_init(|| async {
                    match self.backend.context_window().await {
                        Ok(window) => window,
                        Err(e) => {
                            tracing::debug!(error = %e, "the server's context window could not be read");
                            None
                        }
                    }
                })
                .await,
        };
        budget.meter(window)
    }

    /// One step's request, with the step's `tool_choice`, and the empty-answer retry:
    /// the one place where a step's [`ChatRequest`] is built.
    async fn ask_step(
        &self,
        step: usize,
        messages: &[Message],
        tools: Option<&RawValue>,
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

    /// The loop, streamed (`live`) or not.
    async fn drive(&self, start: Start, live: Live<'_>) -> Result<Run> {
        let Start {
            mut messages,
            mut question,
            verdicts,
            mut steps,
            mut usage,
        } = start;
        let registry = self.registry();
        let tools = (!registry.is_empty()).then(|| registry.tools_json());
        let tools_bytes = tools.map_or(0, |t| t.get().len());
        let mut meter = self.meter().await;
        let info = self.backend.describe();
        // The calls at the end of the history come from before this call of `drive`.
        let mut from_history = true;
        loop {
            let pending = self
                .settle(
                    &mut messages,
                    &verdicts,
                    from_history,
                    steps.len(),
                    meter.as_ref(),
                    live,
                )
                .await;
            from_history = false;
            if !pending.is_empty() {
                let step = steps.len();
                self.emit(&Event::Interrupted {
                    step,
                    pending: &pending,
                });
                send(live, || RunEvent::Interrupted {
                    step,
                    pending: pending.clone(),
                });
                let state = RunState::new(
                    messages.clone(),
                    question,
                    pending,
                    steps.clone(),
                    usage,
                    &self.approval_policy(),
                );
                return Ok(Run {
                    answer: String::new(),
                    reasoning: None,
                    truncated: false,
                    messages,
                    steps,
                    usage,
                    interruption: Some(Box::new(Interruption::new(state))),
                });
            }
            if let Some(q) = question.take() {
                messages.push(Message::user(q));
            }
            let step = steps.len() + 1;
            if step > self.max_steps {
                return Err(Error::StepLimit {
                    steps: steps.len(),
                    transcript: Box::new(messages),
                });
            }
            let mut sent = 0;
            if let Some(m) = &meter {
                let cuts = m.fit(&mut messages, tools_bytes);
                if !cuts.is_empty() {
                    self.cut(step, cuts, live);
                }
                sent = tools_bytes + messages.iter().map(budget::message_bytes).sum::<usize>();
            }
            self.emit(&Event::RequestSent {
                step,
                messages: &messages,
            });
            let started = Instant::now();
            let span = telemetry::chat_span(&info, step);
            if self.trace_content {
                telemetry::record_input(&span, &messages);
            }
            let response = match self
                .ask_step(step, &messages, tools, live)
                .instrument(span.clone())
                .await
            {
                Ok(response) => response,
                Err(e) => {
                    telemetry::record_error(&span, &e);
                    return Err(e);
                }
            };
            telemetry::record_response(&span, &response, self.trace_content);
            drop(span);
            let elapsed = started.elapsed();
            self.emit(&Event::ResponseReceived {
                step,
                response: &response,
                elapsed,
            });
            if let Some(u) = response.usage {
                usage += u;
                if let Some(m) = &mut meter {
                    m.calibrate(sent, u.prompt_tokens);
                }
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
                    interruption: None,
                });
            }
            messages.push(Message::Assistant(message));
            if step == self.max_steps {
                return Err(Error::StepLimit {
                    steps: self.max_steps,
                    transcript: Box::new(messages),
                });
            }
        }
    }

    /// Answers the calls of the last assistant message that have no answer yet, in call
    /// order: runs them (concurrently), answers rejected and skipped ones, and leaves
    /// those that need approval; returns these.
    async fn settle(
        &self,
        messages: &mut Vec<Message>,
        verdicts: &HashMap<String, Verdict>,
        from_history: bool,
        step: usize,
        meter: Option<&Meter>,
        live: Live<'_>,
    ) -> Vec<PendingCall> {
        let calls = last_calls(messages);
        if calls.is_empty() {
            return Vec::new();
        }
        let answered = messages
            .iter()
            .rev()
            .take_while(|m| matches!(m, Message::Tool(_)))
            .count();
        let is_answered = |call: &ToolCall| {
            answered > 0
                && messages
                    .iter()
                    .rev()
                    .take(answered)
                    .any(|m| matches!(m, Message::Tool(t) if t.tool_call_id == call.id))
        };
        let mut pending = Vec::new();
        let mut now = Vec::with_capacity(calls.len());
        for (i, call) in calls.iter().enumerate() {
            if is_answered(call) {
                continue;
            }
            let action = match verdicts.get(&call.id) {
                Some(Verdict::Approve) => Action::Run,
                Some(Verdict::Reject { reason }) => Action::Answer(ToolError::Rejected {
                    tool: call.function.name.clone(),
                    reason: reason.clone(),
                }),
                None if from_history && self.unanswered == Unanswered::Skip => {
                    Action::Answer(ToolError::Skipped {
                        tool: call.function.name.clone(),
                    })
                }
                None if self.needs_approval(call) => Action::Pend,
                None => Action::Run,
            };
            match action {
                Action::Pend => {
                    pending.push(PendingCall::new(call, &self.approval_policy()));
                }
                action => now.push((i, call, action)),
            }
        }
        let contents = futures::future::join_all(
            now.iter()
                .map(|(_, call, action)| self.answer(step, call, action, meter, live)),
        )
        .await;
        let answers: Vec<(usize, Message)> = now
            .iter()
            .zip(contents)
            .map(|((i, call, _), content)| (*i, Message::tool(call, content)))
            .collect();
        if answered == 0 {
            messages.extend(answers.into_iter().map(|(_, m)| m));
        } else {
            // Some calls were answered before: put every answer back in call order.
            let order: HashMap<String, usize> = last_calls(messages)
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.clone(), i))
                .collect();
            let mut tail: Vec<(usize, Message)> = messages
                .split_off(messages.len() - answered)
                .into_iter()
                .map(|m| {
                    let at = match &m {
                        Message::Tool(t) => order.get(&t.tool_call_id).copied(),
                        _ => None,
                    };
                    (at.unwrap_or(usize::MAX), m)
                })
                .collect();
            tail.extend(answers);
            tail.sort_by_key(|(i, _)| *i);
            messages.extend(tail.into_iter().map(|(_, m)| m));
        }
        pending
    }

    /// The approval policy in force: the one set, or the default (only the tools that
    /// ask for approval need it).
    fn approval_policy(&self) -> std::borrow::Cow<'_, ApprovalPolicy> {
        self.approval.as_ref().map_or_else(
            || std::borrow::Cow::Owned(ApprovalPolicy::new()),
            std::borrow::Cow::Borrowed,
        )
    }

    /// Whether `call` needs an operator's approval.
    fn needs_approval(&self, call: &ToolCall) -> bool {
        match self.registry().get(&call.function.name) {
            Some(tool) => match &self.approval {
                Some(policy) => policy.requires(call, &tool),
                None => tool.requires_approval,
            },
            None => false,
        }
    }

    /// The tool message's content for one call: its output, or what it was answered.
    async fn answer(
        &self,
        step: usize,
        call: &ToolCall,
        action: &Action,
        meter: Option<&Meter>,
        live: Live<'_>,
    ) -> String {
        match action {
            Action::Answer(error) => {
                let content = error.to_model_text();
                send(live, || RunEvent::ToolFinished {
                    step,
                    id: call.id.clone(),
                    name: call.function.name.clone(),
                    duration: Duration::ZERO,
                    error: Some(error.clone()),
                });
                self.emit(&Event::ToolFinished {
                    step,
                    call,
                    duration: Duration::ZERO,
                    error: Some(error),
                    content: &content,
                });
                content
            }
            _ => self.call_tool(step, call, meter, live).await,
        }
    }

    async fn call_tool(
        &self,
        step: usize,
        call: &ToolCall,
        meter: Option<&Meter>,
        live: Live<'_>,
    ) -> String {
        self.emit(&Event::ToolStarted { step, call });
        send(live, || RunEvent::ToolStarted {
            step,
            call: call.clone(),
        });
        let outcome = self.dispatcher.call(call).await;
        let mut text = outcome.text;
        if let Some(m) = meter {
            let (capped, cut) = m.cap(text);
            text = capped;
            if let Some((before, after)) = cut {
                let cut = Cut {
                    tool_call_id: call.id.clone(),
                    tool: Some(call.function.name.clone()),
                    before,
                    after,
                    reason: CutReason::Share,
                };
                self.cut(step, vec![cut], live);
            }
        }
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
            content: &text,
        });
        text
    }

    /// Reports cuts made to fit the context window.
    fn cut(&self, step: usize, cuts: Vec<Cut>, live: Live<'_>) {
        for c in &cuts {
            tracing::debug!(
                call = %c.tool_call_id,
                before = c.before,
                after = c.after,
                reason = ?c.reason,
                "tool message cut to fit the context window"
            );
        }
        self.emit(&Event::ContextCut { step, cuts: &cuts });
        send(live, || RunEvent::ContextCut { step, cuts });
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
            .field("approval", &self.approval)
            .field("unanswered", &self.unanswered)
            .field("budget", &self.budget)
            .field("tool_choice", &self.tool_choice)
            .field("retry_empty", &self.retry_empty)
            .finish_non_exhaustive()
    }
}

/// One chat request of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// A finished run: the answer, the transcript, the token usage; or, when a call needs
/// approval, the [`Interruption`] it stopped at (and no answer).
#[derive(Debug, Clone)]
pub struct Run {
    answer: String,
    reasoning: Option<String>,
    truncated: bool,
    messages: Vec<Message>,
    steps: Vec<Step>,
    usage: Usage,
    interruption: Option<Box<Interruption>>,
}

impl Run {
    /// Where the run stopped for approval, if it did (only with an approval policy or
    /// tools that require approval). Resume with [`Agent::resume_state`].
    #[must_use]
    pub fn interruption(&self) -> Option<&Interruption> {
        self.interruption.as_deref()
    }

    /// Whether the run stopped for approval rather than with an answer.
    #[must_use]
    pub fn is_interrupted(&self) -> bool {
        self.interruption.is_some()
    }

    /// The interruption, taking it out of the run.
    #[must_use]
    pub fn into_interruption(self) -> Option<Interruption> {
        self.interruption.map(|i| *i)
    }

    /// The model's final text (empty when the run was interrupted).
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
