//! Weak models: a per-step `tool_choice` policy and the empty-answer retry, checked on
//! what the agent sends (wiremock) with bodies a real llama-cpp-python server sent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use serde_json::json;
use support::seed;
use toolcall::agent::{Event, RunEvent, ToolChoicePolicy};
use toolcall::chat::ToolChoice;
use toolcall::{Agent, OpenAiCompatible};

const NAMED_CALL: &str = include_str!("fixtures/live/python-named-choice.json");
const EMPTY: &str = r#"{"choices":[{"finish_reason":"stop","index":0,"message":{"role":"assistant","content":"  "}}],"created":1796150300,"model":"smollm2-135m","object":"chat.completion","id":"chatcmpl-e","usage":{"completion_tokens":1,"prompt_tokens":1000,"total_tokens":1001}}"#;
const ANSWER: &str = r#"{"choices":[{"finish_reason":"stop","index":0,"message":{"role":"assistant","content":"The pod was OOM-killed."}}],"created":1796150301,"model":"smollm2-135m","object":"chat.completion","id":"chatcmpl-a","usage":{"completion_tokens":8,"prompt_tokens":1200,"total_tokens":1208}}"#;

fn backend(server: &wiremock::MockServer) -> OpenAiCompatible {
    OpenAiCompatible::new(format!("{}/v1", server.uri())).model("smollm2-135m")
}

#[tokio::test]
async fn a_named_function_on_step_one_then_the_backend_setting() {
    for stream in [false, true] {
        let server = support::llm(vec![
            support::json_reply(200, NAMED_CALL),
            support::json_reply(200, ANSWER),
        ])
        .await;
        let agent = Agent::new(backend(&server), seed::registry()).tool_choice(
            ToolChoicePolicy::first_step(ToolChoice::Function("get_kubernetes_pod_logs".into())),
        );
        let run = if stream {
            let mut events = agent.run_stream("Why does the pod restart?");
            let mut done = None;
            while let Some(e) = events.next().await {
                if let RunEvent::Done(run) = e.unwrap() {
                    done = Some(*run);
                }
            }
            done.unwrap()
        } else {
            agent.run("Why does the pod restart?").await.unwrap()
        };
        assert_eq!(run.answer(), "The pod was OOM-killed.");
        let bodies = support::bodies(&server).await;
        assert_eq!(bodies.len(), 2);
        assert_eq!(
            bodies[0]["tool_choice"],
            json!({"type": "function", "function": {"name": "get_kubernetes_pod_logs"}}),
            "stream {stream}"
        );
        assert_eq!(bodies[1]["tool_choice"], json!("auto"));
        // The call the real server made is answered by id, and its turn carries `"content": ""`.
        let assistant = &bodies[1]["messages"][1];
        assert_eq!(assistant["content"], json!(""));
        let id = assistant["tool_calls"][0]["id"].as_str().unwrap();
        assert!(id.starts_with("call__0_get_kubernetes_pod_logs_cmpl-"));
        assert_eq!(bodies[1]["messages"][2]["tool_call_id"], json!(id));
    }
}

#[tokio::test]
async fn an_empty_answer_is_asked_again_once_with_the_stricter_choice() {
    for stream in [false, true] {
        let server = support::llm(vec![
            support::json_reply(200, EMPTY),
            support::json_reply(200, NAMED_CALL),
            support::json_reply(200, ANSWER),
        ])
        .await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let agent = Agent::new(backend(&server), seed::registry())
            .retry_empty_answer(ToolChoice::Required)
            .observer(move |e: &Event<'_>| {
                if let Event::EmptyAnswerRetried { step, tool_choice } = e {
                    log.lock().unwrap().push((*step, (*tool_choice).clone()));
                }
            });
        let mut retried_events = Vec::new();
        let run = if stream {
            let mut events = agent.run_stream("Why does the pod restart?");
            let mut done = None;
            while let Some(e) = events.next().await {
                match e.unwrap() {
                    RunEvent::EmptyAnswerRetried { step, tool_choice } => {
                        retried_events.push((step, tool_choice));
                    }
                    RunEvent::Done(run) => done = Some(*run),
                    _ => {}
                }
            }
            done.unwrap()
        } else {
            agent.run("Why does the pod restart?").await.unwrap()
        };
        assert_eq!(run.answer(), "The pod was OOM-killed.");
        let bodies = support::bodies(&server).await;
        assert_eq!(bodies.len(), 3);
        assert_eq!(bodies[0]["tool_choice"], json!("auto"));
        assert_eq!(bodies[1]["tool_choice"], json!("required"));
        // The retry sends the same history: the empty answer is not kept.
        assert_eq!(bodies[0]["messages"], bodies[1]["messages"]);
        assert_eq!(bodies[2]["tool_choice"], json!("auto"));
        assert_eq!(run.steps().len(), 2);
        // Step 1's usage counts both requests.
        assert_eq!(run.steps()[0].usage.unwrap().prompt_tokens, 1000 + 1054);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(1, ToolChoice::Required)],
            "stream {stream}"
        );
        if stream {
            assert_eq!(retried_events, vec![(1, ToolChoice::Required)]);
        }
    }
}

#[tokio::test]
async fn without_the_retry_an_empty_answer_is_the_answer() {
    let server = support::llm(vec![support::json_reply(200, EMPTY)]).await;
    let run = Agent::new(backend(&server), seed::registry())
        .run("Why?")
        .await
        .unwrap();
    assert_eq!(run.answer().trim(), "");
    assert_eq!(support::bodies(&server).await.len(), 1);
}
