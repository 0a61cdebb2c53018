//! [`RunStream`]: a run that yields what happens as it happens.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures::{Stream, StreamExt};

use super::{Cut, PendingCall, Run};
use crate::chat::{ToolCall, ToolChoice, Usage};
use crate::error::Result;
use crate::tool::ToolError;

/// Something that happened in a streamed run ([`Agent::run_stream`](super::Agent::run_stream)),
/// in the order it happened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RunEvent {
    /// More of the model's answer text, as the server sent it.
    Text {
        /// The step (1-based chat request number).
        step: usize,
        /// The new text.
        text: String,
    },
    /// More of the model's reasoning.
    Reasoning {
        /// The step.
        step: usize,
        /// The new text.
        text: String,
    },
    /// A tool call is starting (the calls of one step run concurrently).
    ToolStarted {
        /// The step.
        step: usize,
        /// The call: id, name and arguments.
        call: ToolCall,
    },
    /// A tool call finished.
    ToolFinished {
        /// The step.
        step: usize,
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
        /// How long it ran.
        duration: Duration,
        /// Why it failed (the model is told), or `None` when it succeeded.
        error: Option<ToolError>,
    },
    /// The token counts of one step's response, when the server sent them.
    StepUsage {
        /// The step.
        step: usize,
        /// Its counts.
        usage: Usage,
    },
    /// The run stopped before running calls that need approval; [`RunEvent::Done`] follows
    /// with the [`Interruption`](super::Interruption) on its run.
    Interrupted {
        /// The step whose calls wait.
        step: usize,
        /// The calls waiting for a decision.
        pending: Vec<PendingCall>,
    },
    /// Tool messages were cut to fit the context window (see
    /// [`ContextBudget`](super::ContextBudget)).
    ContextCut {
        /// The step (the one whose calls answered, or the one about to be sent).
        step: usize,
        /// What was cut.
        cuts: Vec<Cut>,
    },
    /// The model answered with neither a tool call nor text, and is asked once more
    /// with a stricter `tool_choice` (see [`Agent::retry_empty_answer`](super::Agent::retry_empty_answer)).
    EmptyAnswerRetried {
        /// The step.
        step: usize,
        /// The `tool_choice` of the second request.
        tool_choice: ToolChoice,
    },
    /// The end: the finished run, exactly what [`Agent::run`](super::Agent::run) returns.
    Done(Box<Run>),
}

/// Where the loop sends its events while streaming; `None` when not streaming.
pub(super) type Live<'a> = Option<&'a UnboundedSender<RunEvent>>;

/// Sends an event, if someone is listening.
pub(super) fn send(live: Live<'_>, event: impl FnOnce() -> RunEvent) {
    if let Some(tx) = live {
        // The receiver lives as long as the run's future: a send cannot fail while it runs.
        let _ = tx.unbounded_send(event());
    }
}

/// A streamed run: [`RunEvent`]s, then [`RunEvent::Done`] or one error.
///
/// The run goes forward only while the stream is polled, in the caller's task
/// (nothing is spawned); dropping the stream cancels it, the current request and
/// tool calls included.
#[must_use = "a run stream does nothing unless polled"]
pub struct RunStream<'a> {
    run: Option<Pin<Box<dyn Future<Output = Result<Run>> + Send + 'a>>>,
    events: UnboundedReceiver<RunEvent>,
    result: Option<Result<Run>>,
}

impl<'a> RunStream<'a> {
    pub(super) fn new(
        events: UnboundedReceiver<RunEvent>,
        run: impl Future<Output = Result<Run>> + Send + 'a,
    ) -> Self {
        Self {
            run: Some(Box::pin(run)),
            events,
            result: None,
        }
    }
}

impl Stream for RunStream<'_> {
    type Item = Result<RunEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Poll::Ready(Some(event)) = this.events.poll_next_unpin(cx) {
                return Poll::Ready(Some(Ok(event)));
            }
            let Some(run) = &mut this.run else {
                // The run is over and every event went out: its result, once.
                return Poll::Ready(
                    this.result
                        .take()
                        .map(|r| r.map(|run| RunEvent::Done(Box::new(run)))),
                );
            };
            match run.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    this.run = None;
                    this.result = Some(result);
                }
                Poll::Pending => {
                    return match this.events.try_recv() {
                        Ok(event) => Poll::Ready(Some(Ok(event))),
                        _ => Poll::Pending,
                    };
                }
            }
        }
    }
}

impl fmt::Debug for RunStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunStream")
            .field("running", &self.run.is_some())
            .finish_non_exhaustive()
    }
}
