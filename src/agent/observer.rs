//! [`Observer`]: a hook on what the agent does, step by step.

use std::time::Duration;

use super::{Cut, PendingCall};
use crate::chat::{ChatResponse, Message, ToolCall, ToolChoice};
use crate::tool::ToolError;

/// Something the agent did.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A chat request is about to be sent.
    RequestSent {
        /// The step (1-based chat request number).
        step: usize,
        /// The messages sent.
        messages: &'a [Message],
    },
    /// A chat response arrived.
    ResponseReceived {
        /// The step.
        step: usize,
        /// The response, as read.
        response: &'a ChatResponse,
        /// How long the request took.
        elapsed: Duration,
    },
    /// The model answered with neither a tool call nor text, and is asked once more.
    EmptyAnswerRetried {
        /// The step.
        step: usize,
        /// The `tool_choice` of the second request.
        tool_choice: &'a ToolChoice,
    },
    /// A tool call is starting.
    ToolStarted {
        /// The step.
        step: usize,
        /// The call.
        call: &'a ToolCall,
    },
    /// A tool call finished (successfully or not).
    ToolFinished {
        /// The step.
        step: usize,
        /// The call.
        call: &'a ToolCall,
        /// How long it ran.
        duration: Duration,
        /// Why it failed, if it did.
        error: Option<&'a ToolError>,
        /// The tool message's content (after the size cap and the context budget).
        content: &'a str,
    },
    /// The run stopped before running calls that need approval.
    Interrupted {
        /// The step whose calls wait.
        step: usize,
        /// The calls waiting for a decision.
        pending: &'a [PendingCall],
    },
    /// Tool messages were cut to fit the context window.
    ContextCut {
        /// The step.
        step: usize,
        /// What was cut.
        cuts: &'a [Cut],
    },
}

/// Receives the agent's [`Event`]s. Called inline: keep it quick.
///
/// Any `Fn(&Event<'_>) + Send + Sync` closure is an observer.
pub trait Observer: Send + Sync {
    /// Called for each event.
    fn on_event(&self, event: &Event<'_>);
}

impl<F> Observer for F
where
    F: Fn(&Event<'_>) + Send + Sync,
{
    fn on_event(&self, event: &Event<'_>) {
        self(event);
    }
}
