//! [`ScriptedBackend`]: canned replies, for doc tests, examples and your own tests.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::Value;

use super::{AssistantContent, ChatBackend, ChatRequest, ChatResponse};
use crate::error::{Error, Result};

/// A backend that answers from a script and records every request body it was sent.
///
/// ```
/// use toolcall::chat::{ChatBackend, ChatRequest, ChatResponse, Message, ScriptedBackend};
/// # tokio_test_block_on(async {
/// let backend = ScriptedBackend::new([ChatResponse::text("hello")]);
/// let reply = backend.chat(ChatRequest::new(&[Message::user("hi")])).await?;
/// assert_eq!(reply.message.content.as_deref(), Some("hello"));
/// assert_eq!(backend.requests()[0]["messages"][0]["content"], "hi");
/// # Ok::<(), toolcall::Error>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Default)]
pub struct ScriptedBackend {
    replies: Mutex<VecDeque<Result<ChatResponse, String>>>,
    requests: Mutex<Vec<Value>>,
}

impl ScriptedBackend {
    /// A backend that gives these responses, in order.
    pub fn new(replies: impl IntoIterator<Item = ChatResponse>) -> Self {
        Self {
            replies: Mutex::new(replies.into_iter().map(Ok).collect()),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Adds a response at the end of the script.
    #[must_use]
    pub fn then(self, reply: ChatResponse) -> Self {
        if let Ok(mut r) = self.replies.lock() {
            r.push_back(Ok(reply));
        }
        self
    }

    /// Adds a failure at the end of the script: that request fails with an
    /// [`Error::Api`] of status 500 carrying `message`.
    #[must_use]
    pub fn then_fail(self, message: impl Into<String>) -> Self {
        if let Ok(mut r) = self.replies.lock() {
            r.push_back(Err(message.into()));
        }
        self
    }

    /// The request bodies received so far, as JSON values (what an
    /// OpenAI-compatible server would have been sent, without `model`).
    #[must_use]
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many scripted replies are left.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.replies.lock().map(|r| r.len()).unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl ChatBackend for ScriptedBackend {
    async fn chat(&self, request: ChatRequest<'_>) -> Result<ChatResponse> {
        let messages: Vec<_> = request
            .messages
            .iter()
            .map(|m| m.wire(true, AssistantContent::default()))
            .collect();
        let mut body = serde_json::Map::new();
        body.insert("messages".into(), serde_json::json!(messages));
        if let Some(tools) = request.tools
            && let Ok(v) = serde_json::from_str::<Value>(tools.get())
        {
            body.insert("tools".into(), v);
        }
        if let Some(choice) = request.tool_choice {
            body.insert("tool_choice".into(), serde_json::json!(choice));
        }
        let body = Value::Object(body);
        if let Ok(mut r) = self.requests.lock() {
            r.push(body);
        }
        let next = self.replies.lock().ok().and_then(|mut r| r.pop_front());
        match next {
            Some(Ok(reply)) => Ok(reply),
            Some(Err(message)) => Err(Error::Api(Box::new(crate::ApiError::new(500, message)))),
            None => Err(Error::Api(Box::new(crate::ApiError::new(
                500,
                "the script has no more replies",
            )))),
        }
    }
}
