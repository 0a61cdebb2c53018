//! [`ToolChoicePolicy`]: which `tool_choice` each step of a run sends, for models that
//! need a push to call tools.

use std::fmt;
use std::sync::Arc;

use crate::chat::{ChatResponse, ToolChoice};

type PerStep = dyn Fn(usize) -> Option<ToolChoice> + Send + Sync;

/// Which `tool_choice` each step (1-based chat request number) of a run sends.
///
/// Small local models often answer `tool_choice: "auto"` with nothing at all; asking
/// for a call on the first step (`"required"`, or a named function, which some servers
/// constrain far better) and leaving later steps to the model gets them going.
/// A step the policy says nothing about sends the backend's own setting.
///
/// ```
/// use toolcall::agent::ToolChoicePolicy;
/// use toolcall::chat::ToolChoice;
///
/// let policy = ToolChoicePolicy::first_step(ToolChoice::Function("get_kubernetes_pod_logs".into()));
/// assert_eq!(policy.choice(1), Some(ToolChoice::Function("get_kubernetes_pod_logs".into())));
/// assert_eq!(policy.choice(2), None);
/// ```
#[derive(Clone)]
pub struct ToolChoicePolicy(Arc<PerStep>);

impl ToolChoicePolicy {
    /// `choice` on the first step, the backend's own setting after it.
    #[must_use]
    pub fn first_step(choice: ToolChoice) -> Self {
        Self::per_step(move |step| (step == 1).then(|| choice.clone()))
    }

    /// `choice` on every step.
    #[must_use]
    pub fn always(choice: ToolChoice) -> Self {
        Self::per_step(move |_| Some(choice.clone()))
    }

    /// Whatever `f` says for each step; `None` sends the backend's own setting.
    #[must_use]
    pub fn per_step(f: impl Fn(usize) -> Option<ToolChoice> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// The choice for `step`, or `None` for the backend's own setting.
    #[must_use]
    pub fn choice(&self, step: usize) -> Option<ToolChoice> {
        (self.0)(step)
    }
}

impl fmt::Debug for ToolChoicePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolChoicePolicy").finish_non_exhaustive()
    }
}

/// An answer with no tool calls and no text but whitespace: what small models
/// give when they do not know what to do.
pub(super) fn is_empty_answer(response: &ChatResponse) -> bool {
    response.message.tool_calls.is_empty()
        && response
            .message
            .content
            .as_deref()
            .is_none_or(|c| c.trim().is_empty())
}
