//! `OpenAiCompatible` against wiremock: what it sends, retries, and every error path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use toolcall::chat::{
    AssistantContent, ChatBackend, ChatRequest, Message, RetryPolicy, ToolCall, ToolChoice,
};
use toolcall::{Error, OpenAiCompatible};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(2)
        .base_delay(Duration::from_millis(5))
        .max_delay(Duration::from_secs(10))
}

fn backend(server: &MockServer) -> OpenAiCompatible {
    OpenAiCompatible::new(format!("{}/v1/", server.uri()))
        .model("m")
        .retry(fast_retry())
}

fn final_answer() -> ResponseTemplate {
    support::json_reply(200, support::llm_fixture("final_answer.json"))
}

async fn ask(b: &OpenAiCompatible) -> Result<toolcall::chat::ChatResponse, Error> {
    b.chat(ChatRequest::new(&[Message::user("hi")])).await
}

#[tokio::test]
async fn sends_key_headers_sampling_and_extra_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-test"))
        .and(header("x-team", "sre"))
        .and(header("content-type", "application/json"))
        .respond_with(final_answer())
        .expect(1)
        .mount(&server)
        .await;
    let b = backend(&server)
        .api_key("sk-test")
        .header("x-team", "sre")
        .temperature(0.5)
        .max_tokens(64)
        .extra_body("chat_template_kwargs", json!({"enable_thinking": false}))
        .extra_body("parallel_tool_calls", json!(true))
        .extra_body("seed", json!(7));
    let r = ask(&b).await.unwrap();
    assert!(
        r.message
            .content
            .unwrap()
            .starts_with("istio-proxy in payments")
    );
    let body = &support::bodies(&server).await[0];
    assert_eq!(body["model"], "m");
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(
        body["chat_template_kwargs"],
        json!({"enable_thinking": false})
    );
    assert_eq!(body["parallel_tool_calls"], true);
    assert_eq!(body["seed"], 7);
    assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
    assert!(
        !format!("{b:?}").contains("sk-test"),
        "Debug must redact the key"
    );
}

#[tokio::test]
async fn tool_choice_variants_are_sent_with_tools() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(final_answer())
        .mount(&server)
        .await;
    let registry = support::seed::registry();
    for (choice, expected) in [
        (ToolChoice::Auto, json!("auto")),
        (ToolChoice::None, json!("none")),
        (ToolChoice::Required, json!("required")),
        (
            ToolChoice::Function("run_postgres_query".into()),
            json!({"type": "function", "function": {"name": "run_postgres_query"}}),
        ),
    ] {
        let b = backend(&server).tool_choice(choice);
        b.chat(ChatRequest::new(&[Message::user("hi")]).tools(registry.tools_json()))
            .await
            .unwrap();
        let last = support::bodies(&server).await.pop().unwrap();
        assert_eq!(last["tool_choice"], expected);
        assert_eq!(last["tools"].as_array().unwrap().len(), 4);
    }
}

#[tokio::test]
async fn a_request_tool_choice_overrides_the_backend_setting() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(final_answer())
        .mount(&server)
        .await;
    let registry = support::seed::registry();
    let b = backend(&server).tool_choice(ToolChoice::Required);
    let named = ToolChoice::Function("get_kubernetes_pod_logs".into());
    let history = [Message::user("hi")];
    let with_tools = ChatRequest::new(&history).tools(registry.tools_json());
    b.chat(with_tools.tool_choice(&named)).await.unwrap();
    b.chat(with_tools).await.unwrap();
    // Without tools there is no tool_choice at all, whatever the request says.
    b.chat(ChatRequest::new(&history).tool_choice(&named))
        .await
        .unwrap();
    let bodies = support::bodies(&server).await;
    assert_eq!(
        bodies[0]["tool_choice"],
        json!({"type": "function", "function": {"name": "get_kubernetes_pod_logs"}})
    );
    assert_eq!(bodies[1]["tool_choice"], json!("required"));
    assert!(bodies[2].get("tool_choice").is_none(), "{}", bodies[2]);
}

#[tokio::test]
async fn strict_wire_shape_and_tool_name_switch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(final_answer())
        .mount(&server)
        .await;
    let call = ToolCall::new("c1", "f", r#"{"a":1}"#);
    let history = vec![
        Message::user("q"),
        Message::Assistant(toolcall::chat::AssistantMessage::tool_calls(vec![
            call.clone(),
        ])),
        Message::tool(&call, "out"),
    ];
    backend(&server)
        .chat(ChatRequest::new(&history))
        .await
        .unwrap();
    backend(&server)
        .tool_message_name(false)
        .chat(ChatRequest::new(&history))
        .await
        .unwrap();
    for shape in [AssistantContent::Null, AssistantContent::Omitted] {
        backend(&server)
            .assistant_content(shape)
            .chat(ChatRequest::new(&history))
            .await
            .unwrap();
    }
    let bodies = support::bodies(&server).await;
    let calls = json!([{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]);
    // By default a calls-only turn carries `"content": ""`, which every server takes.
    assert_eq!(
        bodies[0]["messages"][1],
        json!({"role": "assistant", "content": "", "tool_calls": calls})
    );
    assert_eq!(
        bodies[2]["messages"][1],
        json!({"role": "assistant", "content": null, "tool_calls": calls})
    );
    assert_eq!(
        bodies[3]["messages"][1],
        json!({"role": "assistant", "tool_calls": calls})
    );
    assert_eq!(
        bodies[0]["messages"][2],
        json!({"role": "tool", "tool_call_id": "c1", "name": "f", "content": "out"})
    );
    assert_eq!(
        bodies[1]["messages"][2],
        json!({"role": "tool", "tool_call_id": "c1", "content": "out"})
    );
}

#[tokio::test]
async fn error_400_carries_the_server_message_and_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(support::json_reply(
            400,
            r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":4500,"n_ctx":4096}}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let err = ask(&backend(&server)).await.unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 400);
    assert_eq!(
        api.message,
        "the request exceeds the available context size, try increasing it"
    );
    assert_eq!(api.kind.as_deref(), Some("exceed_context_size_error"));
    assert!(
        err.to_string()
            .contains("exceeds the available context size")
    );
}

#[tokio::test]
async fn every_error_body_shape_becomes_the_servers_words() {
    let cases: [(u16, &str, &str, &str); 6] = [
        (
            401,
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            "application/json",
            "Incorrect API key provided",
        ),
        (
            404,
            r#"{"error":"model \"qwen9\" not found, try pulling it first"}"#,
            "application/json",
            "model \"qwen9\" not found, try pulling it first",
        ),
        (
            400,
            r#"{"detail":"Not Found"}"#,
            "application/json",
            "Not Found",
        ),
        (
            400,
            r#"{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}"#,
            "application/json",
            "This model's maximum context length is 4096 tokens.",
        ),
        (
            403,
            "Forbidden: token lacks scope",
            "text/plain",
            "Forbidden: token lacks scope",
        ),
        (
            413,
            "<html><head><title>413 Request Entity Too Large</title></head><body>nginx</body></html>",
            "text/html",
            "413 Request Entity Too Large",
        ),
    ];
    for (status, body, content_type, words) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), content_type),
            )
            .expect(1)
            .mount(&server)
            .await;
        let err = ask(&backend(&server)).await.unwrap_err();
        let Error::Api(api) = &err else {
            panic!("{err:?}")
        };
        assert_eq!((api.status, api.message.as_str()), (status, words));
    }
}

// The waits run on tokio's paused clock: measured exactly, and no real second passes.
#[tokio::test(start_paused = true)]
async fn retry_after_429_then_success() {
    let server = MockServer::start().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "1")
        .set_body_raw(br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#.to_vec(), "application/json");
    Mock::given(method("POST"))
        .respond_with(support::Sequence::new(vec![limited, final_answer()]))
        .expect(2)
        .mount(&server)
        .await;
    let started = tokio::time::Instant::now();
    // No request timeout: on a paused clock it would fire while the mock answers.
    let r = ask(&backend(&server).timeout(None)).await.unwrap();
    assert!(r.message.content.is_some());
    // The wait came from Retry-After (1 s), not from the 5 ms backoff.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_http_date_is_honoured() {
    let server = MockServer::start().await;
    // An HTTP date has whole seconds, and the wall clock moves on before it is read: a wide margin.
    let when = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(6));
    let limited = ResponseTemplate::new(503)
        .insert_header("retry-after", when.as_str())
        .set_body_string("Loading model");
    Mock::given(method("POST"))
        .respond_with(support::Sequence::new(vec![limited, final_answer()]))
        .expect(2)
        .mount(&server)
        .await;
    let started = tokio::time::Instant::now();
    ask(&backend(&server).timeout(None)).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn insufficient_quota_is_never_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(support::json_reply(429, r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#))
        .expect(1)
        .mount(&server)
        .await;
    let err = ask(&backend(&server)).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert!(err.to_string().contains("exceeded your current quota"));
}

#[tokio::test]
async fn error_500_then_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(support::Sequence::new(vec![
            support::json_reply(
                500,
                r#"{"error":{"code":500,"message":"slot unavailable","type":"server_error"}}"#,
            ),
            final_answer(),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    assert!(ask(&backend(&server)).await.is_ok());
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_the_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502).set_body_string("upstream connect error"))
        .expect(3)
        .mount(&server)
        .await;
    let err = ask(&backend(&server)).await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert!(err.to_string().contains("upstream connect error"));
}

#[tokio::test]
async fn timeout_is_a_typed_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(final_answer().set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let b = backend(&server).timeout(Duration::from_millis(200));
    let err = ask(&b).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout(d) if d == Duration::from_millis(200)),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_retried_then_a_transport_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let b = OpenAiCompatible::new(format!("http://127.0.0.1:{port}/v1")).retry(fast_retry());
    let err = ask(&b).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")));
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn unreadable_2xx_body_is_invalid_response() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>captive portal</html>"))
        .mount(&server)
        .await;
    let err = ask(&backend(&server)).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidResponse { ref body, .. } if body.contains("captive portal")),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_configuration_is_reported_not_panicked() {
    let err = ask(&OpenAiCompatible::new("not a url")).await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let err = ask(&OpenAiCompatible::new("http://localhost:1/v1").header("bad header", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.contains("bad header")),
        "{err:?}"
    );
}

#[tokio::test]
async fn reads_the_llm_fixtures() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(support::Sequence::new(vec![
            support::json_reply(200, support::llm_fixture("single_tool_call.json")),
            support::json_reply(200, support::llm_fixture("parallel_tool_calls.json")),
        ]))
        .mount(&server)
        .await;
    let b = backend(&server);
    let single = ask(&b).await.unwrap();
    let call = &single.message.tool_calls[0];
    assert_eq!(call.id, "call_R4nD0mT00lCa11Id000000000001");
    assert_eq!(call.function.name, "run_postgres_query");
    let args: Value = serde_json::from_str(&call.function.arguments).unwrap();
    assert!(
        args["sql_query"]
            .as_str()
            .unwrap()
            .starts_with("SELECT pod, container")
    );
    assert_eq!(single.message.content, None);
    let parallel = ask(&b).await.unwrap();
    let names: Vec<_> = parallel
        .message
        .tool_calls
        .iter()
        .map(|c| c.function.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["get_kubernetes_pod_logs", "get_kubernetes_pod_memory_data"]
    );
}
