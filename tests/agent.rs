//! The agent loop: stop rule, concurrency, limits, observer, history, cancellation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Log, seed};
use toolcall::agent::Event;
use toolcall::chat::{ChatResponse, Message, ScriptedBackend, ToolCall, Usage};
use toolcall::{Agent, DynamicTool, Error, OpenAiCompatible, ToolRegistry};

fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

/// A tool that logs its start and end and sleeps `ms` (on tokio's clock).
fn sleeper(name: &'static str, ms: u64, log: Arc<Log>) -> DynamicTool {
    DynamicTool::new(name, "Sleeps.", empty_schema(), move |_| {
        let log = log.clone();
        async move {
            log.push(format!("start {name}"));
            tokio::time::sleep(Duration::from_millis(ms)).await;
            log.push(format!("end {name}"));
            Ok::<_, String>(Value::String(format!("{name} done")))
        }
    })
    .unwrap()
}

fn calls(names: &[&str]) -> ChatResponse {
    ChatResponse::tool_calls(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| ToolCall::new(format!("id{i}"), *n, "{}"))
            .collect(),
    )
}

#[tokio::test(start_paused = true)]
async fn parallel_calls_overlap_and_answers_keep_call_order() {
    let log = Arc::new(Log::default());
    let registry = ToolRegistry::new()
        .with_dynamic(sleeper("slow", 200, log.clone()))
        .with_dynamic(sleeper("fast", 100, log.clone()));
    let backend = ScriptedBackend::new([calls(&["slow", "fast"]), ChatResponse::text("done")]);
    let agent = Agent::new(backend, registry);
    let started = tokio::time::Instant::now();
    let run = agent.run("go").await.unwrap();
    // Both started before either finished: they overlapped.
    assert_eq!(
        log.take(),
        ["start slow", "start fast", "end fast", "end slow"]
    );
    assert!(started.elapsed() < Duration::from_millis(400));
    let tool_ids: Vec<_> = run
        .messages()
        .iter()
        .filter_map(|m| match m {
            Message::Tool(t) => Some((t.tool_call_id.as_str(), t.content.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(tool_ids, [("id0", "slow done"), ("id1", "fast done")]);
}

#[tokio::test]
async fn no_tool_calls_means_the_answer_whatever_finish_reason_says() {
    let mut reply = ChatResponse::text("the answer");
    reply.finish_reason = Some("tool_calls".into());
    let agent = Agent::new(ScriptedBackend::new([reply]), seed::registry());
    let run = agent.run("q").await.unwrap();
    assert_eq!(run.answer(), "the answer");
    assert_eq!(run.steps().len(), 1);
}

#[tokio::test]
async fn bad_calls_never_end_the_run() {
    let backend = ScriptedBackend::new([
        ChatResponse::tool_calls(vec![
            ToolCall::new("a", "no_such_tool", "{}"),
            ToolCall::new("b", "get_kubernetes_pod_logs", "{not json"),
            ToolCall::new(
                "c",
                "get_kubernetes_pod_logs",
                r#"{"namespace": "default"}"#,
            ),
            ToolCall::new(
                "d",
                "get_kubernetes_pod_logs",
                r#"{"namespace": "default", "pod_name": "p"}"#,
            ),
        ]),
        ChatResponse::text("ok"),
    ]);
    let agent = Agent::new(backend, seed::registry());
    let run = agent.run("q").await.unwrap();
    let contents: Vec<&str> = run
        .messages()
        .iter()
        .filter(|m| m.role() == "tool")
        .filter_map(Message::content)
        .collect();
    assert!(
        contents[0].starts_with("error: unknown tool `no_such_tool`"),
        "{}",
        contents[0]
    );
    assert!(contents[1].contains("not valid JSON"), "{}", contents[1]);
    assert!(
        contents[2].contains("\"pod_name\" is a required property"),
        "{}",
        contents[2]
    );
    assert_eq!(contents[3], seed::LOGS);
}

#[tokio::test]
async fn step_limit_ends_with_the_transcript() {
    let backend = ScriptedBackend::new([
        calls(&["get_kubernetes_pod_cpu_data"]),
        calls(&["get_kubernetes_pod_cpu_data"]),
        calls(&["x"]),
    ]);
    let agent = Agent::new(backend, seed::registry()).max_steps(2);
    let err = agent.run("q").await.unwrap_err();
    let Error::StepLimit {
        steps,
        ref transcript,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(steps, 2);
    // user, assistant, tool, assistant (the last calls are not run)
    assert_eq!(transcript.len(), 4);
    assert_eq!(
        err.transcript().unwrap().last().unwrap().role(),
        "assistant"
    );
    assert!(err.to_string().contains("2 chat requests"));
}

#[tokio::test]
async fn default_step_limit_is_ten() {
    let backend = ScriptedBackend::new((0..12).map(|_| calls(&["get_kubernetes_pod_cpu_data"])));
    let agent = Agent::new(&backend, seed::registry());
    assert!(matches!(
        agent.run("q").await,
        Err(Error::StepLimit { steps: 10, .. })
    ));
    assert_eq!(backend.requests().len(), 10);
}

#[tokio::test(start_paused = true)]
async fn tool_timeout_is_told_to_the_model() {
    let log = Arc::new(Log::default());
    let registry = ToolRegistry::new().with_dynamic(sleeper("stuck", 3_600_000, log));
    let backend = ScriptedBackend::new([calls(&["stuck"]), ChatResponse::text("gave up")]);
    let agent = Agent::new(&backend, registry).tool_timeout(Duration::from_secs(1));
    let run = agent.run("q").await.unwrap();
    assert_eq!(
        run.messages()[2].content(),
        Some("error: `stuck` did not finish within 1s")
    );
    assert_eq!(run.answer(), "gave up");
}

#[tokio::test]
async fn tool_output_is_capped_with_a_marker() {
    let big = DynamicTool::new("big", "Big.", empty_schema(), |_| async {
        Ok::<_, String>(Value::String("x".repeat(100_000)))
    })
    .unwrap();
    let backend = ScriptedBackend::new([calls(&["big"]), ChatResponse::text("ok")]);
    let agent = Agent::new(backend, ToolRegistry::new().with_dynamic(big)).max_tool_output(1000);
    let run = agent.run("q").await.unwrap();
    let content = run.messages()[2].content().unwrap();
    assert!(content.starts_with(&"x".repeat(1000)));
    assert!(
        content.ends_with("[truncated: showing 1000 of 100000 bytes]"),
        "{}",
        &content[content.len() - 60..]
    );
    assert!(content.len() < 1100);
}

#[tokio::test]
async fn observer_sees_every_step() {
    let log = Arc::new(Log::default());
    let seen = log.clone();
    let backend = ScriptedBackend::new([
        calls(&["get_kubernetes_pod_logs", "nope"]).with_usage(Usage::new(10, 2, 12)),
        ChatResponse::text("fine").with_usage(Usage::new(20, 3, 23)),
    ]);
    let agent = Agent::new(backend, seed::registry()).observer(move |e: &Event<'_>| {
        seen.push(match e {
            Event::RequestSent { step, messages } => {
                format!("request {step} ({} messages)", messages.len())
            }
            Event::ResponseReceived { step, response, .. } => {
                format!(
                    "response {step} ({} calls)",
                    response.message.tool_calls.len()
                )
            }
            Event::ToolStarted { call, .. } => format!("start {}", call.function.name),
            Event::ToolFinished { call, error, .. } => {
                format!("finish {} error={}", call.function.name, error.is_some())
            }
            _ => "other".into(),
        });
    });
    let run = agent.run("q").await.unwrap();
    assert_eq!(
        log.take(),
        [
            "request 1 (1 messages)",
            "response 1 (2 calls)",
            // Both fail at once (bad arguments, unknown tool), so each finishes on its first poll.
            "start get_kubernetes_pod_logs",
            "finish get_kubernetes_pod_logs error=true",
            "start nope",
            "finish nope error=true",
            "request 2 (4 messages)",
            "response 2 (0 calls)",
        ]
    );
    assert_eq!(run.usage(), Usage::new(30, 5, 35));
}

#[tokio::test]
async fn follow_up_continues_the_conversation() {
    let backend = ScriptedBackend::new([ChatResponse::text("first"), ChatResponse::text("second")]);
    let agent = Agent::new(&backend, seed::registry()).system("sys");
    let first = agent.run("q1").await.unwrap();
    let second = agent
        .run_with_history(first.into_messages(), "q2")
        .await
        .unwrap();
    assert_eq!(second.answer(), "second");
    let sent = &backend.requests()[1]["messages"];
    let roles: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(sent[3]["content"], "q2");
}

#[tokio::test]
async fn backend_error_ends_the_run() {
    let backend = ScriptedBackend::default().then_fail("model not loaded");
    let err = Agent::new(backend, seed::registry())
        .run("q")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("model not loaded"));
}

#[tokio::test]
async fn duplicate_registration_is_reported_by_run() {
    let registry = seed::registry().with(seed::PodLogs);
    let err = Agent::new(ScriptedBackend::new([ChatResponse::text("x")]), registry)
        .run("q")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateTool(ref n) if n == "get_kubernetes_pod_logs"));
}

#[tokio::test]
async fn run_future_is_send_and_spawnable() {
    let agent = Arc::new(Agent::new(
        ScriptedBackend::new([ChatResponse::text("spawned")]),
        seed::registry(),
    ));
    let a = agent.clone();
    let handle = tokio::spawn(async move { a.run("q").await.map(|r| r.answer().to_owned()) });
    assert_eq!(handle.await.unwrap().unwrap(), "spawned");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_run_cancels_running_tools() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (d, f) = (dropped.clone(), finished.clone());
    let tool = DynamicTool::new("long", "Long.", empty_schema(), move |_| {
        let guard = Flag(d.clone());
        let finished = f.clone();
        async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_secs(30)).await;
            finished.store(true, Ordering::SeqCst);
            Ok::<_, String>(Value::Null)
        }
    })
    .unwrap();
    let backend = ScriptedBackend::new([calls(&["long"]), ChatResponse::text("x")]);
    let agent = Agent::new(&backend, ToolRegistry::new().with_dynamic(tool));
    assert!(
        tokio::time::timeout(Duration::from_secs(1), agent.run("q"))
            .await
            .is_err()
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the tool's future was dropped with the run"
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!finished.load(Ordering::SeqCst), "nothing kept running");
    assert_eq!(backend.requests().len(), 1);
}

#[tokio::test]
async fn parallel_fixture_over_http_answers_each_call_by_id() {
    let server = support::llm(vec![
        support::json_reply(200, support::llm_fixture("parallel_tool_calls.json")),
        support::json_reply(200, support::llm_fixture("final_answer.json")),
    ])
    .await;
    let backend = OpenAiCompatible::new(format!("{}/v1", server.uri()));
    let run = Agent::new(backend, seed::registry())
        .run("why is checkout failing?")
        .await
        .unwrap();
    assert!(run.answer().starts_with("istio-proxy in payments/checkout"));
    let second = &support::bodies(&server).await[1]["messages"];
    assert_eq!(second[1]["tool_calls"].as_array().unwrap().len(), 2);
    assert_eq!(
        second[2]["tool_call_id"],
        "call_Lg5hQ1pZs8WvN3kX7cR2mT9bY4fD6aJe"
    );
    // The model wrote `container` and `tail_lines`, which the seed schema does not know: it is told so.
    let told = second[2]["content"].as_str().unwrap();
    assert!(
        told.contains("container")
            && told.contains("tail_lines")
            && told.contains("container_name"),
        "{told}"
    );
    assert_eq!(
        second[3]["tool_call_id"],
        "call_Mm2nB7vC4xZ9aS1dF6gH3jK8lQ5wE0rT"
    );
    assert_eq!(second[3]["content"], seed::MEMORY);
}

#[tokio::test]
async fn slips_in_tool_names_are_mended_when_the_answer_is_read() {
    let log = Arc::new(Log::default());
    let registry = ToolRegistry::new().with_dynamic(sleeper("look", 0, log.clone()));
    let body = json!({
        "id": "c1", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "functions.look", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "  look\n", "arguments": "{}"}}
            ]}}]
    });
    let first = ChatResponse::from_json(body.to_string().as_bytes()).unwrap();
    let names: Vec<_> = first
        .message
        .tool_calls
        .iter()
        .map(|c| c.function.name.as_str())
        .collect();
    assert_eq!(names, ["look", "look"]);
    let agent = Agent::new(
        ScriptedBackend::new([first, ChatResponse::text("seen")]),
        registry,
    );
    let run = agent.run("look twice").await.unwrap();
    assert_eq!(log.take().iter().filter(|e| *e == "end look").count(), 2);
    assert_eq!(run.messages()[2].content(), Some("look done"));
    assert_eq!(run.messages()[3].content(), Some("look done"));
}

#[tokio::test]
async fn agent_and_a_shared_dispatcher_keep_the_same_limits() {
    use toolcall::registry::Dispatcher;
    let big = DynamicTool::new("big", "Says a lot.", empty_schema(), |_| async {
        Ok::<_, String>("x".repeat(100))
    })
    .unwrap();
    let dispatcher = Dispatcher::new(ToolRegistry::new().with_dynamic(big)).max_output(10);
    let agent = Agent::new(
        ScriptedBackend::new([calls(&["big"]), ChatResponse::text("ok")]),
        ToolRegistry::new(),
    )
    .dispatcher(dispatcher.clone());
    assert_eq!(agent.registry().names().collect::<Vec<_>>(), ["big"]);
    let run = agent.run("go").await.unwrap();
    let direct = dispatcher.call(&ToolCall::new("id0", "big", "{}")).await;
    assert!(direct.truncated);
    assert_eq!(run.messages()[2].content(), Some(direct.text.as_str()));
    assert!(direct.text.contains("[truncated: showing 10 of 100 bytes]"));
}
