//! Shared test helpers: a scripted wiremock LLM server and fixture loading.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod seed;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers with the templates in order; the last one repeats.
pub struct Sequence {
    next: AtomicUsize,
    replies: Vec<ResponseTemplate>,
}

impl Sequence {
    pub fn new(replies: Vec<ResponseTemplate>) -> Self {
        Self {
            next: AtomicUsize::new(0),
            replies,
        }
    }
}

impl Respond for Sequence {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.replies[i.min(self.replies.len() - 1)].clone()
    }
}

/// A JSON body response as llama.cpp sends it.
pub fn json_reply(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_raw(body.as_bytes().to_vec(), "application/json; charset=utf-8")
}

/// Starts an LLM mock that answers `/v1/chat/completions` with `replies` in order.
pub async fn llm(replies: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(Sequence::new(replies))
        .mount(&server)
        .await;
    server
}

/// The JSON bodies the mock received, in order.
pub async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("request body is JSON"))
        .collect()
}

/// `tests/fixtures/llm/<name>`.
pub fn llm_fixture(name: &str) -> &'static str {
    match name {
        "single_tool_call.json" => include_str!("../fixtures/llm/single_tool_call.json"),
        "parallel_tool_calls.json" => include_str!("../fixtures/llm/parallel_tool_calls.json"),
        "final_answer.json" => include_str!("../fixtures/llm/final_answer.json"),
        "stream_tool_call.sse" => include_str!("../fixtures/llm/stream_tool_call.sse"),
        _ => panic!("no fixture {name}"),
    }
}

/// Records the order of events across concurrent tasks.
#[derive(Default)]
pub struct Log(Mutex<Vec<String>>);

impl Log {
    pub fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}
