//! Approval before a tool runs: the [`ApprovalPolicy`], the [`Interruption`] a run stops
//! with, the [`RunState`] that resumes it (in another process, after a restart), and the
//! operator's [`Decision`]s.
//!
//! Each pending call is bound to a digest of its id, name and arguments: SHA-256, or
//! HMAC-SHA-256 when the policy has a [`key`](ApprovalPolicy::key). A decision carries the
//! digest of the call it was made for, so a state whose pending calls were altered after
//! they were shown (other arguments, another tool) is refused on resume. With a key, the
//! state's own digests cannot be recomputed by whoever holds the state, so a state that
//! travels through untrusted hands cannot be altered and re-shown either; and the whole
//! state (the conversation, tool answers included) is sealed with an HMAC, so nothing in
//! it can be changed while it is away.

use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Step;
use crate::chat::{Message, ToolCall, Usage};
use crate::registry::ToolInfo;

type Rule = dyn Fn(&ToolCall, &ToolInfo<'_>) -> bool + Send + Sync;

/// Which tool calls need an operator's approval before they run.
///
/// A call needs approval when its tool says so ([`Tool::requires_approval`](crate::Tool::requires_approval),
/// [`DynamicTool::with_approval`](crate::DynamicTool::with_approval)) or when any rule of
/// the policy matches it. Calls of unknown tools never need approval (they do not run:
/// the model is told the tool does not exist).
///
/// ```
/// use toolcall::agent::ApprovalPolicy;
///
/// let policy = ApprovalPolicy::new()
///     .tool("restart_pod")                  // by name
///     .not_read_only()                      // every tool that does not say `readOnlyHint: true`
///     .when(|call, _tool| call.function.arguments.contains("production")) // a closure over the call
///     .key(b"a secret shared by the processes that pause and resume");
/// # let _ = policy;
/// ```
#[derive(Clone, Default)]
pub struct ApprovalPolicy {
    names: Vec<String>,
    not_read_only: bool,
    all: bool,
    rules: Vec<Arc<Rule>>,
    key: Option<Arc<[u8]>>,
}

impl ApprovalPolicy {
    /// Only the tools that say they need approval need it.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls of the tool named `name` need approval.
    #[must_use]
    pub fn tool(mut self, name: impl Into<String>) -> Self {
        self.names.push(name.into());
        self
    }

    /// Calls of every tool that does not say it is read-only (MCP's `readOnlyHint`) need approval.
    #[must_use]
    pub fn not_read_only(mut self) -> Self {
        self.not_read_only = true;
        self
    }

    /// Every call needs approval.
    #[must_use]
    pub fn all(mut self) -> Self {
        self.all = true;
        self
    }

    /// Calls for which `rule` is true need approval; it sees the call and the tool.
    #[must_use]
    pub fn when(
        mut self,
        rule: impl Fn(&ToolCall, &ToolInfo<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.rules.push(Arc::new(rule));
        self
    }

    /// Binds pending calls with HMAC-SHA-256 under `key` instead of a plain SHA-256, for
    /// states that travel through hands that must not alter them. The agent that resumes
    /// needs the same key.
    #[must_use]
    pub fn key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.key = Some(Arc::from(key.as_ref()));
        self
    }

    /// Whether `call` of `tool` needs approval under this policy.
    #[must_use]
    pub fn requires(&self, call: &ToolCall, tool: &ToolInfo<'_>) -> bool {
        self.all
            || tool.requires_approval
            || (self.not_read_only && !tool.annotations.is_read_only())
            || self.names.contains(&call.function.name)
            || self.rules.iter().any(|rule| rule(call, tool))
    }

    /// The digest binding `call` (its id, name and arguments): lower-case hex.
    #[must_use]
    pub fn digest(&self, call: &ToolCall) -> String {
        digest(self.key.as_deref(), call)
    }
}

impl fmt::Debug for ApprovalPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApprovalPolicy")
            .field("names", &self.names)
            .field("not_read_only", &self.not_read_only)
            .field("all", &self.all)
            .field("rules", &self.rules.len())
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The bytes a digest covers: a label, then id, name and arguments, each length-prefixed.
fn digest(key: Option<&[u8]>, call: &ToolCall) -> String {
    let parts: [&[u8]; 3] = [
        call.id.as_bytes(),
        call.function.name.as_bytes(),
        call.function.arguments.as_bytes(),
    ];
    mac_hex(key, b"toolcall approval v1", &parts)
}

/// SHA-256 (or HMAC-SHA-256 under `key`) of a label and length-prefixed parts, as hex.
fn mac_hex(key: Option<&[u8]>, label: &[u8], parts: &[&[u8]]) -> String {
    let bytes: Vec<u8> = match key {
        Some(key) => match hmac::Hmac::<Sha256>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(label);
                for p in parts {
                    mac.update(&(p.len() as u64).to_be_bytes());
                    mac.update(p);
                }
                mac.finalize().into_bytes().to_vec()
            }
            // HMAC takes keys of any length; this arm is never taken.
            Err(_) => Vec::new(),
        },
        None => {
            let mut hash = Sha256::new();
            hash.update(label);
            for p in parts {
                hash.update((p.len() as u64).to_be_bytes());
                hash.update(p);
            }
            hash.finalize().to_vec()
        }
    };
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// Compares two digests in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A call waiting for an operator's decision: what to show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingCall {
    /// The call's id.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as the model sent them (JSON text).
    pub arguments: String,
    /// The digest binding id, name and arguments: SHA-256, or HMAC-SHA-256 under
    /// [`ApprovalPolicy::key`].
    pub digest: String,
}

impl PendingCall {
    pub(super) fn new(call: &ToolCall, policy: &ApprovalPolicy) -> Self {
        Self {
            id: call.id.clone(),
            name: call.function.name.clone(),
            arguments: call.function.arguments.clone(),
            digest: policy.digest(call),
        }
    }

    fn call(&self) -> ToolCall {
        ToolCall::new(self.id.clone(), self.name.clone(), self.arguments.clone())
    }
}

/// What an operator decided for one pending call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Run it.
    Approve,
    /// Do not run it; the model is told `rejected by the operator: {reason}`.
    Reject {
        /// Why, in words for the model.
        reason: String,
    },
}

/// An operator's decision on one [`PendingCall`], bound to its id, name and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Decision {
    /// The call's id.
    pub id: String,
    /// The tool's name, as shown.
    pub name: String,
    /// The digest of the call as shown.
    pub digest: String,
    /// Approve or reject.
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl Decision {
    /// Approves `call`.
    #[must_use]
    pub fn approve(call: &PendingCall) -> Self {
        Self::new(call, Verdict::Approve)
    }

    /// Rejects `call`; the model is told `rejected by the operator: {reason}`.
    #[must_use]
    pub fn reject(call: &PendingCall, reason: impl Into<String>) -> Self {
        Self::new(
            call,
            Verdict::Reject {
                reason: reason.into(),
            },
        )
    }

    fn new(call: &PendingCall, verdict: Verdict) -> Self {
        Self {
            id: call.id.clone(),
            name: call.name.clone(),
            digest: call.digest.clone(),
            verdict,
        }
    }
}

/// The version of [`RunState`]'s serialized form.
const STATE_VERSION: u32 = 1;

/// Everything a paused run needs to go on, in a form that serializes (serde), so it can
/// be kept in a database or a queue and resumed by a fresh [`Agent`](crate::Agent) in
/// another process with [`Agent::resume_state`](crate::Agent::resume_state).
///
/// It holds the conversation (the last assistant message's calls answered as far as they
/// were), a follow-up question not asked yet, the pending calls, and the steps and usage
/// so far (the step limit counts over the whole run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    version: u32,
    messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    question: Option<String>,
    pending: Vec<PendingCall>,
    #[serde(default)]
    steps: Vec<Step>,
    #[serde(default)]
    usage: Usage,
    /// With a keyed policy, an HMAC over everything above: the conversation (tool
    /// answers included) cannot be changed while the state is away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seal: Option<String>,
}

/// What a [`RunState`]'s seal covers, in the order it is serialized.
#[derive(Serialize)]
struct Sealed<'a> {
    version: u32,
    messages: &'a [Message],
    question: Option<&'a str>,
    pending: &'a [PendingCall],
    steps: &'a [Step],
    usage: &'a Usage,
}

impl RunState {
    pub(super) fn new(
        messages: Vec<Message>,
        question: Option<String>,
        pending: Vec<PendingCall>,
        steps: Vec<Step>,
        usage: Usage,
        policy: &ApprovalPolicy,
    ) -> Self {
        let mut state = Self {
            version: STATE_VERSION,
            messages,
            question,
            pending,
            steps,
            usage,
            seal: None,
        };
        state.seal = policy.key.as_deref().map(|key| state.seal_with(key));
        state
    }

    /// The HMAC of the state's serialized form under `key`.
    fn seal_with(&self, key: &[u8]) -> String {
        let view = Sealed {
            version: self.version,
            messages: &self.messages,
            question: self.question.as_deref(),
            pending: &self.pending,
            steps: &self.steps,
            usage: &self.usage,
        };
        // Serializing plain data into memory does not fail; if it did, the seal would
        // not match and the state would be refused, never accepted.
        let bytes = serde_json::to_vec(&view).unwrap_or_default();
        mac_hex(Some(key), b"toolcall run state v1", &[&bytes])
    }

    /// The calls waiting for a decision, in call order.
    #[must_use]
    pub fn pending(&self) -> &[PendingCall] {
        &self.pending
    }

    /// The conversation so far.
    #[must_use]
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Checks `decisions` against the state (see [`ResumeError`]) and takes it apart.
    pub(super) fn open(
        self,
        policy: &ApprovalPolicy,
        decisions: impl IntoIterator<Item = Decision>,
    ) -> Result<Opened, ResumeError> {
        if self.version != STATE_VERSION {
            return Err(ResumeError::Version(self.version));
        }
        let calls = last_calls(&self.messages);
        for p in &self.pending {
            let shown = calls
                .iter()
                .find(|c| c.id == p.id)
                .ok_or_else(|| ResumeError::Altered { id: p.id.clone() })?;
            if shown.function.name != p.name
                || shown.function.arguments != p.arguments
                || !same(&policy.digest(&p.call()), &p.digest)
            {
                return Err(ResumeError::Altered { id: p.id.clone() });
            }
        }
        let mut verdicts = HashMap::new();
        for d in decisions {
            let Some(p) = self.pending.iter().find(|p| p.id == d.id) else {
                return Err(ResumeError::NotPending { id: d.id });
            };
            if d.name != p.name || !same(&d.digest, &p.digest) {
                return Err(ResumeError::Altered { id: d.id });
            }
            verdicts.insert(d.id, d.verdict);
        }
        if let Some(p) = self.pending.iter().find(|p| !verdicts.contains_key(&p.id)) {
            return Err(ResumeError::Undecided { id: p.id.clone() });
        }
        if let Some(key) = policy.key.as_deref() {
            let sealed = self
                .seal
                .as_deref()
                .is_some_and(|seal| same(seal, &self.seal_with(key)));
            if !sealed {
                return Err(ResumeError::Tampered);
            }
        }
        Ok(Opened {
            messages: self.messages,
            question: self.question,
            verdicts,
            steps: self.steps,
            usage: self.usage,
        })
    }
}

/// A checked state, ready to drive.
pub(super) struct Opened {
    pub(super) messages: Vec<Message>,
    pub(super) question: Option<String>,
    pub(super) verdicts: HashMap<String, Verdict>,
    pub(super) steps: Vec<Step>,
    pub(super) usage: Usage,
}

/// The calls of the last assistant message, if only tool messages follow it.
pub(super) fn last_calls(messages: &[Message]) -> &[ToolCall] {
    for m in messages.iter().rev() {
        match m {
            Message::Tool(_) => {}
            Message::Assistant(a) => return &a.tool_calls,
            _ => return &[],
        }
    }
    &[]
}

/// Why a [`RunState`] was refused on resume ([`Error::Resume`](crate::Error::Resume)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// A pending call, or the decision for it, does not match what was shown for
    /// approval: other arguments, another tool, another digest (or another key).
    #[error("pending call `{id}` is not the call that was shown for approval")]
    Altered {
        /// The call's id.
        id: String,
    },
    /// A pending call has no decision.
    #[error("pending call `{id}` has no decision")]
    Undecided {
        /// The call's id.
        id: String,
    },
    /// A decision names a call that is not pending.
    #[error("call `{id}` is not pending")]
    NotPending {
        /// The id the decision names.
        id: String,
    },
    /// Under a keyed policy, the state was changed after it was saved (its conversation,
    /// a tool's answer, the steps or usage), or it carries no seal.
    #[error("the run state was changed after it was saved")]
    Tampered,
    /// The state was written by a version of this crate that this one cannot read.
    #[error("run state version {0} is not supported")]
    Version(u32),
}

/// Where a run stopped for approval: the pending calls and the [`RunState`] to resume.
///
/// The calls of the same step that need no approval have already run; their answers are
/// in the state.
#[derive(Debug, Clone, PartialEq)]
pub struct Interruption {
    state: RunState,
}

impl Interruption {
    pub(super) fn new(state: RunState) -> Self {
        Self { state }
    }

    /// The calls waiting for a decision: show them, then decide each
    /// ([`Decision::approve`], [`Decision::reject`]).
    #[must_use]
    pub fn pending(&self) -> &[PendingCall] {
        self.state.pending()
    }

    /// The state to resume from.
    #[must_use]
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The state to resume from, to keep (it serializes) or pass to
    /// [`Agent::resume_state`](crate::Agent::resume_state).
    #[must_use]
    pub fn into_state(self) -> RunState {
        self.state
    }
}

/// What to do with tool calls left unanswered at the end of a history given to
/// [`Agent::resume`](crate::Agent::resume) or [`Agent::run_with_history`](crate::Agent::run_with_history)
/// (a transcript from a step-limit error, an interruption or a crash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Unanswered {
    /// Run them (under the approval policy) before the next request (the default).
    #[default]
    Run,
    /// Answer each as skipped without running it ([`ToolError::Skipped`](crate::ToolError::Skipped)).
    Skip,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_bind_id_name_and_arguments() {
        let plain = ApprovalPolicy::new();
        let keyed = ApprovalPolicy::new().key("k");
        let a = ToolCall::new("1", "restart", r#"{"pod":"a"}"#);
        let b = ToolCall::new("1", "restart", r#"{"pod":"b"}"#);
        assert_eq!(plain.digest(&a).len(), 64);
        assert_ne!(plain.digest(&a), plain.digest(&b));
        assert_ne!(plain.digest(&a), keyed.digest(&a));
        assert_eq!(keyed.digest(&a), ApprovalPolicy::new().key("k").digest(&a));
        assert_ne!(keyed.digest(&a), ApprovalPolicy::new().key("j").digest(&a));
        // Length prefixes: moving a byte from the id to the name changes the digest.
        let c = ToolCall::new("1r", "estart", r#"{"pod":"a"}"#);
        assert_ne!(plain.digest(&a), plain.digest(&c));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn decisions_serialize_flat() {
        let call = PendingCall::new(&ToolCall::new("1", "t", "{}"), &ApprovalPolicy::new());
        let d = Decision::reject(&call, "no");
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["verdict"], "reject");
        assert_eq!(v["reason"], "no");
        assert_eq!(serde_json::from_value::<Decision>(v).unwrap(), d);
    }
}
