//! OpenTelemetry GenAI traces of the seed conversation, through tracing-opentelemetry into an
//! in-memory exporter: span names, kinds, the tree, attributes, usage.
#![cfg(feature = "otel")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry::{Array, Value as OtelValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use support::seed;
use toolcall::chat::{ChatResponse, ScriptedBackend};
use toolcall::{Agent, OpenAiCompatible, ToolRegistry};
use tracing_subscriber::layer::SubscriberExt as _;
use wiremock::ResponseTemplate;

/// Runs `f` with every span going to an in-memory exporter; returns the finished spans.
async fn traced<F: std::future::Future<Output = ()>>(f: F) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    {
        let _default = tracing::subscriber::set_default(subscriber);
        f.await;
    }
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn text(span: &SpanData, key: &str) -> String {
    match attr(span, key) {
        Some(OtelValue::String(s)) => s.as_str().to_owned(),
        other => panic!("{}: {key} is {other:?}", span.name),
    }
}

fn int(span: &SpanData, key: &str) -> i64 {
    match attr(span, key) {
        Some(OtelValue::I64(n)) => *n,
        other => panic!("{}: {key} is {other:?}", span.name),
    }
}

async fn seed_server() -> wiremock::MockServer {
    let replies = seed::responses()
        .iter()
        .map(|body| support::json_reply(200, body))
        .collect::<Vec<ResponseTemplate>>();
    support::llm(replies).await
}

#[tokio::test]
async fn the_seed_conversation_as_genai_spans() {
    let server = seed_server().await;
    let port = server.address().port();
    let spans = traced(async {
        let backend = OpenAiCompatible::new(format!("{}/v1", server.uri())).model("qwen3-4b");
        let agent = Agent::new(backend, seed::registry())
            .system(seed::SYSTEM)
            .name("troubleshooter");
        agent.run(seed::QUESTION).await.unwrap();
    })
    .await;

    let named =
        |name: &str| -> Vec<&SpanData> { spans.iter().filter(|s| s.name == name).collect() };
    let root = named("invoke_agent troubleshooter");
    assert_eq!(
        root.len(),
        1,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let root = root[0];
    assert_eq!(root.span_kind, SpanKind::Internal);
    assert_eq!(text(root, "gen_ai.operation.name"), "invoke_agent");
    assert_eq!(text(root, "gen_ai.agent.name"), "troubleshooter");
    assert_eq!(text(root, "gen_ai.provider.name"), "openai");
    assert_eq!(text(root, "gen_ai.request.model"), "qwen3-4b");
    assert_eq!(int(root, "gen_ai.usage.input_tokens"), 3561);
    assert_eq!(int(root, "gen_ai.usage.output_tokens"), 253);

    let chats = named("chat qwen3-4b");
    assert_eq!(chats.len(), 4);
    let ids = [
        "e5d76aed-84fe-4d8f-8ae0-67f6ecd25b89",
        "e76326e5-a29b-492f-bf72-8b42e23730a2",
        "15ac55e4-721b-450a-b53e-f817b2076883",
        "4c8c3012-f708-4524-bf0e-a73e9b79cad0",
    ];
    let usage = [(707, 42), (832, 42), (950, 43), (1072, 126)];
    let mut chats = chats;
    chats.sort_by_key(|s| s.start_time);
    for ((chat, id), (input, output)) in chats.iter().zip(ids).zip(usage) {
        assert_eq!(chat.span_kind, SpanKind::Client);
        assert_eq!(chat.parent_span_id, root.span_context.span_id());
        assert_eq!(chat.span_context.trace_id(), root.span_context.trace_id());
        assert_eq!(text(chat, "gen_ai.operation.name"), "chat");
        assert_eq!(text(chat, "gen_ai.provider.name"), "openai");
        assert_eq!(text(chat, "gen_ai.request.model"), "qwen3-4b");
        assert_eq!(text(chat, "gen_ai.response.model"), "qwen3-4b");
        assert_eq!(text(chat, "gen_ai.response.id"), id);
        assert_eq!(
            attr(chat, "gen_ai.response.finish_reasons"),
            Some(&OtelValue::Array(Array::String(vec!["tool_calls".into()])))
        );
        assert_eq!(int(chat, "gen_ai.usage.input_tokens"), input);
        assert_eq!(int(chat, "gen_ai.usage.output_tokens"), output);
        assert_eq!(text(chat, "server.address"), "127.0.0.1");
        assert_eq!(int(chat, "server.port"), i64::from(port));
        // Content only when asked for.
        assert!(attr(chat, "gen_ai.input.messages").is_none());
        assert!(attr(chat, "gen_ai.output.messages").is_none());
        assert!(attr(chat, "error.type").is_none());
    }

    let tools: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name.starts_with("execute_tool "))
        .collect();
    let mut names: Vec<(String, String)> = tools
        .iter()
        .map(|s| (text(s, "gen_ai.tool.name"), text(s, "gen_ai.tool.call.id")))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("get_kubernetes_pod_cpu_data".to_owned(), ids[2].to_owned()),
            ("get_kubernetes_pod_logs".to_owned(), ids[0].to_owned()),
            (
                "get_kubernetes_pod_memory_data".to_owned(),
                ids[1].to_owned()
            ),
        ]
    );
    for t in &tools {
        assert_eq!(
            t.name,
            format!("execute_tool {}", text(t, "gen_ai.tool.name"))
        );
        assert_eq!(t.span_kind, SpanKind::Internal);
        assert_eq!(t.parent_span_id, root.span_context.span_id());
        assert_eq!(text(t, "gen_ai.operation.name"), "execute_tool");
        assert!(attr(t, "gen_ai.tool.call.arguments").is_none());
    }
}

#[tokio::test]
async fn content_only_when_opted_in_and_errors_typed() {
    let spans = traced(async {
        let backend = ScriptedBackend::new([ChatResponse::tool_calls(vec![
            toolcall::chat::ToolCall::new(
                "c1",
                "get_kubernetes_pod_logs",
                r#"{"namespace":"default","pod_name":"p"}"#,
            ),
        ])])
        .then_fail("overloaded");
        let agent = Agent::new(backend, seed::registry())
            .system(seed::SYSTEM)
            .trace_content(true);
        agent.run(seed::QUESTION).await.unwrap_err();
        // A tool error is recorded on its span.
        let agent = Agent::new(
            ScriptedBackend::new([
                ChatResponse::tool_calls(vec![toolcall::chat::ToolCall::new("c2", "nope", "{}")]),
                ChatResponse::text("ok"),
            ]),
            ToolRegistry::new(),
        );
        agent.run("q").await.unwrap();
    })
    .await;
    let chat = spans
        .iter()
        .find(|s| s.name == "chat" && attr(s, "error.type").is_none())
        .unwrap();
    let input = text(chat, "gen_ai.input.messages");
    assert!(
        input.contains(r#""role":"user""#) && input.contains("istio-proxy"),
        "{input}"
    );
    assert!(text(chat, "gen_ai.system_instructions").contains("valid JSON"));
    assert!(text(chat, "gen_ai.output.messages").contains(r#""type":"tool_call""#));
    let tool = spans
        .iter()
        .find(|s| s.name == "execute_tool get_kubernetes_pod_logs")
        .unwrap();
    assert_eq!(
        text(tool, "gen_ai.tool.call.arguments"),
        r#"{"namespace":"default","pod_name":"p"}"#
    );
    assert_eq!(text(tool, "gen_ai.tool.call.result"), seed::LOGS);

    let failed = spans
        .iter()
        .find(|s| s.name == "chat" && attr(s, "error.type").is_some())
        .unwrap();
    assert_eq!(text(failed, "error.type"), "500");
    assert!(matches!(failed.status, Status::Error { .. }));
    let run = spans
        .iter()
        .find(|s| s.name == "invoke_agent" && attr(s, "error.type").is_some())
        .unwrap();
    assert_eq!(text(run, "error.type"), "500");
    let unknown = spans
        .iter()
        .find(|s| s.name == "execute_tool nope")
        .unwrap();
    assert_eq!(text(unknown, "error.type"), "unknown_tool");
}
