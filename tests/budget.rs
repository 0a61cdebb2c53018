//! The context budget: a huge tool output against a small window, fair cuts of a history,
//! the window read from llama.cpp's `/props`, and the seed conversation untouched when it fits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::seed;
use toolcall::agent::{ContextBudget, Cut, CutReason, Event};
use toolcall::chat::{
    AssistantContent, AssistantMessage, ChatBackend, ChatResponse, Message, ScriptedBackend,
    ToolCall,
};
use toolcall::{Agent, DynamicTool, OpenAiCompatible, ToolRegistry};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// Five megabytes of log lines.
fn huge_log() -> String {
    let mut log = String::with_capacity(5_100_000);
    let mut i = 0u64;
    while log.len() < 5_000_000 {
        log.push_str(&format!(
            "2025-10-18T15:{:02}:{:02}Z warn envoy upstream connect error #{i}: reset before headers\n",
            (i / 60) % 60,
            i % 60
        ));
        i += 1;
    }
    log
}

fn log_tool() -> DynamicTool {
    let log = Arc::new(huge_log());
    DynamicTool::new(
        "get_kubernetes_pod_logs",
        "Retrieves logs.",
        json!({"type": "object"}),
        move |_v: Value| {
            let log = log.clone();
            async move { Ok::<_, String>(log.as_str().to_owned()) }
        },
    )
    .unwrap()
}

fn cuts_seen() -> (
    Arc<Mutex<Vec<Cut>>>,
    impl Fn(&Event<'_>) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    (seen, move |e: &Event<'_>| {
        if let Event::ContextCut { cuts, .. } = e {
            keep.lock().unwrap().extend(cuts.iter().cloned());
        }
    })
}

#[tokio::test]
async fn a_five_megabyte_log_fits_a_4096_token_window() {
    let backend = ScriptedBackend::new([
        ChatResponse::tool_calls(vec![ToolCall::new("c1", "get_kubernetes_pod_logs", "{}")]),
        ChatResponse::text("envoy cannot reach its upstream"),
    ]);
    let (seen, observer) = cuts_seen();
    let agent = Agent::new(&backend, ToolRegistry::new().with_dynamic(log_tool()))
        .system(seed::SYSTEM)
        .max_tool_output(usize::MAX) // the budget alone does the cutting
        .context_budget(ContextBudget::new(4096))
        .observer(observer);
    let run = agent.run(seed::QUESTION).await.unwrap();
    assert_eq!(run.answer(), "envoy cannot reach its upstream");

    let body = serde_json::to_vec(&backend.requests()[1]).unwrap();
    // Within the window at the conservative 3 bytes a token, with room for the answer.
    assert!(body.len() / 3 <= 4096 - 1024, "{} bytes", body.len());
    let sent: Value = serde_json::from_slice(&body).unwrap();
    let tool = sent["messages"][3]["content"].as_str().unwrap();
    assert!(
        tool.contains("bytes here to fit the model's context window"),
        "{tool}"
    );
    assert!(tool.contains("a smaller tail") && tool.contains("LIMIT"));
    assert!(
        tool.starts_with("2025-10-18T15:00:00Z warn"),
        "the head is kept"
    );
    assert!(tool.ends_with("reset before headers\n"), "the tail is kept");
    // The system prompt and the question are whole.
    assert_eq!(sent["messages"][0]["content"], seed::SYSTEM);
    assert_eq!(sent["messages"][1]["content"], seed::QUESTION);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].reason, CutReason::Share);
    assert_eq!(seen[0].tool_call_id, "c1");
    assert!(seen[0].before >= 5_000_000 && seen[0].after <= 4096 * 3 * 15 / 100);
}

#[tokio::test]
async fn an_oversized_history_is_cut_largest_first_and_fairly() {
    let calls: Vec<ToolCall> = ["small", "big", "bigger"]
        .iter()
        .map(|id| ToolCall::new(*id, "get_kubernetes_pod_logs", "{}"))
        .collect();
    let history = vec![
        Message::system("sys"),
        Message::user("why?"),
        Message::Assistant(AssistantMessage::tool_calls(calls.clone())),
        Message::tool(&calls[0], "s".repeat(300)),
        Message::tool(&calls[1], "b".repeat(30_000)),
        Message::tool(&calls[2], "g".repeat(60_000)),
    ];
    let backend = ScriptedBackend::new([ChatResponse::text("done")]);
    let (seen, observer) = cuts_seen();
    let agent = Agent::new(&backend, ToolRegistry::new())
        .context_budget(ContextBudget::new(8192).answer_reserve(2048))
        .observer(observer);
    agent.resume(history).await.unwrap();
    let sent = &backend.requests()[0]["messages"];
    let len = |i: usize| sent[i]["content"].as_str().unwrap().len();
    assert_eq!(len(3), 300, "the small one is whole");
    assert!(len(4) < 30_000 && len(5) < 60_000);
    assert!(len(4).abs_diff(len(5)) <= 4, "{} vs {}", len(4), len(5));
    let body = serde_json::to_vec(sent).unwrap();
    assert!(body.len() / 3 <= 8192 - 2048, "{}", body.len());
    let reasons: Vec<(String, CutReason)> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.tool_call_id.clone(), c.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            ("big".to_owned(), CutReason::Window),
            ("bigger".to_owned(), CutReason::Window)
        ]
    );
}

#[tokio::test]
async fn the_seed_conversation_is_unchanged_when_everything_fits() {
    let replies = seed::responses()
        .iter()
        .map(|body| support::json_reply(200, body))
        .collect::<Vec<ResponseTemplate>>();
    let server = support::llm(replies).await;
    let backend = OpenAiCompatible::new(format!("{}/v1", server.uri()))
        .model("qwen3-4b")
        .assistant_content(AssistantContent::Omitted); // as the seed's client sent it
    let (seen, observer) = cuts_seen();
    let agent = Agent::new(backend, seed::registry())
        .system(seed::SYSTEM)
        .context_budget(ContextBudget::new(4096))
        .observer(observer);
    agent.run(seed::QUESTION).await.unwrap();
    let sent = support::bodies(&server).await;
    assert_eq!(sent.len(), 4);
    for (i, body) in sent.iter().enumerate() {
        let expected: Value =
            serde_json::from_str(seed::fixture(&format!("request-{}.json", i + 1))).unwrap();
        assert_eq!(body, &expected, "request {} differs", i + 1);
    }
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_window_is_read_from_llama_cpp_props() {
    let server = wiremock::MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/props"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "default_generation_settings": {"n_ctx": 4096, "n_predict": -1},
            "total_slots": 1
        })))
        .mount(&server)
        .await;
    let first = json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_kubernetes_pod_logs", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 400, "completion_tokens": 10, "total_tokens": 410}});
    let last = json!({"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}]});
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(support::Sequence::new(vec![
            support::json_reply(200, &first.to_string()),
            support::json_reply(200, &last.to_string()),
        ]))
        .mount(&server)
        .await;
    let backend = OpenAiCompatible::new(format!("{}/v1", server.uri()));
    assert_eq!(backend.context_window().await.unwrap(), Some(4096));
    let agent = Agent::new(backend, ToolRegistry::new().with_dynamic(log_tool()))
        .max_tool_output(usize::MAX)
        .context_budget(ContextBudget::from_server());
    agent.run("q").await.unwrap();
    agent.run("q").await.unwrap();
    let props = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/props")
        .count();
    assert_eq!(props, 2, "once above, then once for the agent's two runs");
    let posts: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let body = serde_json::to_vec(&posts[1]).unwrap();
    assert!(body.len() / 3 <= 4096, "{}", body.len());

    // A server without `/props` says nothing.
    let other = wiremock::MockServer::start().await;
    let backend = OpenAiCompatible::new(format!("{}/v1", other.uri()));
    assert_eq!(backend.context_window().await.unwrap(), None);
}

#[tokio::test]
async fn the_window_is_read_from_vllm_models_when_there_is_no_props() {
    let server = wiremock::MockServer::start().await;
    // vLLM's `/v1/models`, as it sends it.
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [
                {"id": "Qwen/Qwen3-4B", "object": "model", "created": 1764590000, "owned_by": "vllm",
                 "root": "Qwen/Qwen3-4B", "parent": null, "max_model_len": 32768, "permission": []},
                {"id": "lora-sre", "object": "model", "created": 1764590000, "owned_by": "vllm",
                 "root": "Qwen/Qwen3-4B", "parent": "Qwen/Qwen3-4B", "max_model_len": 16384, "permission": []}
            ]
        })))
        .mount(&server)
        .await;
    let base = format!("{}/v1", server.uri());
    let backend = |model: &str| OpenAiCompatible::new(&base).model(model);
    assert_eq!(
        backend("lora-sre").context_window().await.unwrap(),
        Some(16384)
    );
    assert_eq!(
        backend("Qwen/Qwen3-4B").context_window().await.unwrap(),
        Some(32768)
    );
    // Two models and no name to choose by: the server has not said which.
    assert_eq!(backend("").context_window().await.unwrap(), None);
    let asked: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        asked.iter().filter(|p| *p == "/props").count(),
        3,
        "{asked:?}"
    );
    assert_eq!(
        asked.iter().filter(|p| *p == "/v1/models").count(),
        3,
        "{asked:?}"
    );
}
