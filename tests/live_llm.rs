//! The agent against a real OpenAI-compatible server (no mock on the LLM side).
//!
//! - `live_agent_*`: `TOOLCALL_LIVE_LLM_URL` (a base URL ending in `/v1`; `.ci/run` starts
//!   llama-cpp-python's server with SmolLM2-135M through `scripts/local-llm.sh`), with the
//!   Kubernetes tools answering from the scenario-A API mock.
//! - `live_prompt_cache_*`: `TOOLCALL_LIVE_LLAMA_SERVER_URL`, a llama.cpp `llama-server`
//!   (`scripts/local-llm.sh cpp`), which reports `timings` (`cache_n`, `prompt_n`).
//!
//! Unset, each test says so loudly and passes without running. `TOOLCALL_LIVE_LLM_MODEL`
//! names the model when the server needs one.
#![cfg(feature = "kubernetes")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/kubernetes.rs"]
mod kubernetes_support;

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kubernetes_support::{A_NS, A_POD, cluster, scenario_a};
use serde_json::Value;
use toolcall::agent::{RunEvent, ToolChoicePolicy};
use toolcall::chat::{Message, ToolChoice};
use toolcall::{Agent, OpenAiCompatible};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

fn live_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ => {
            eprintln!(
                "\n*** SKIPPED: {var} is not set; this test needs a real OpenAI-compatible \
                 server (`scripts/local-llm.sh` starts one and prints its URL) ***\n"
            );
            None
        }
    }
}

fn backend(url: &str) -> OpenAiCompatible {
    let model = std::env::var("TOOLCALL_LIVE_LLM_MODEL").unwrap_or_default();
    OpenAiCompatible::new(url)
        .model(model)
        .temperature(0.0)
        .max_tokens(256)
        .timeout(std::time::Duration::from_secs(600))
}

const QUESTION: &str = "Why does the pod billing-service-v1-abcdef in namespace default keep restarting? \
    Look at the logs of its istio-proxy container first.";

/// The first request names a tool (small models call nothing for `auto`); the next asks for
/// text, so the run ends with an answer.
fn agent(url: &str, k8s: &wiremock::MockServer) -> Agent<OpenAiCompatible> {
    Agent::new(backend(url), cluster(k8s).seed_tools())
        .system("You troubleshoot Kubernetes with the tools you have. Be brief.")
        .max_steps(4)
        .tool_choice(ToolChoicePolicy::per_step(|step| {
            Some(if step == 1 {
                ToolChoice::Function("get_kubernetes_pod_logs".into())
            } else {
                ToolChoice::None
            })
        }))
}

/// At least one real call ran, its answer went back by id, and the run ended with text.
fn check(run: &toolcall::agent::Run, streamed: bool) {
    let messages = run.messages();
    let calls: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Assistant(a) => Some(a.tool_calls.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        !calls.is_empty(),
        "no tool call (streamed {streamed}): {messages:#?}"
    );
    for call in &calls {
        assert!(
            messages
                .iter()
                .any(|m| matches!(m, Message::Tool(t) if t.tool_call_id == call.id)),
            "call {} was not answered",
            call.id
        );
        // What goes back to the model is valid JSON, whatever the model wrote.
        serde_json::from_str::<Value>(&call.function.arguments).unwrap();
    }
    assert!(
        !run.answer().trim().is_empty(),
        "no text answer (streamed {streamed})"
    );
    eprintln!(
        "live (streamed {streamed}): {} requests, calls {:?}, answer {:?}",
        run.steps().len(),
        calls
            .iter()
            .map(|c| (&c.function.name, &c.function.arguments))
            .collect::<Vec<_>>(),
        run.answer()
    );
}

#[tokio::test]
async fn live_agent_runs_a_real_tool_call_and_answers() {
    let Some(url) = live_url("TOOLCALL_LIVE_LLM_URL") else {
        return;
    };
    let k8s = scenario_a().await;
    let run = agent(&url, &k8s).run(QUESTION).await.unwrap();
    check(&run, false);
    let asked = k8s.received_requests().await.unwrap_or_default();
    assert!(
        asked.iter().any(|r| r.url.path().contains("/pods/")),
        "the tool reached the Kubernetes API"
    );
    let _ = (A_NS, A_POD);
}

#[tokio::test]
async fn live_agent_streamed_runs_a_real_tool_call_and_answers() {
    let Some(url) = live_url("TOOLCALL_LIVE_LLM_URL") else {
        return;
    };
    let k8s = scenario_a().await;
    let agent = agent(&url, &k8s);
    let mut events = agent.run_stream(QUESTION);
    let (mut started, mut finished, mut run) = (0, 0, None);
    while let Some(event) = events.next().await {
        match event.unwrap() {
            RunEvent::ToolStarted { .. } => started += 1,
            RunEvent::ToolFinished { .. } => finished += 1,
            RunEvent::Done(r) => run = Some(*r),
            _ => {}
        }
    }
    assert!(
        started >= 1 && started == finished,
        "{started} / {finished}"
    );
    check(&run.unwrap(), true);
}

/// The response bodies the backend logs at `trace` level.
#[derive(Clone, Default)]
struct Bodies(Arc<Mutex<Vec<Value>>>);

struct BodyField(Option<String>, bool);

impl Visit for BodyField {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "body" => self.0 = Some(value.to_owned()),
            "message" => self.1 = value == "chat response",
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "body" => self.0 = Some(format!("{value:?}")),
            "message" => self.1 = format!("{value:?}") == "chat response",
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Bodies {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut field = BodyField(None, false);
        event.record(&mut field);
        if let BodyField(Some(body), true) = field
            && let Ok(v) = serde_json::from_str(&body)
        {
            self.0.lock().unwrap().push(v);
        }
    }
}

#[tokio::test]
async fn live_prompt_cache_each_round_processes_only_the_new_messages() {
    let Some(url) = live_url("TOOLCALL_LIVE_LLAMA_SERVER_URL") else {
        return;
    };
    let bodies = Bodies::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(tracing_subscriber::Layer::with_filter(
            bodies.clone(),
            tracing_subscriber::filter::Targets::new()
                .with_target("toolcall::chat", tracing::Level::TRACE),
        )),
    );
    let k8s = scenario_a().await;
    // Every request offers the same tools; the history grows by a turn each round.
    let agent = Agent::new(backend(&url), cluster(&k8s).seed_tools())
        .system("You troubleshoot Kubernetes. Answer in one sentence.");
    let mut history = agent
        .run("What does OOMKilled mean for a container?")
        .await
        .unwrap()
        .into_messages();
    for follow_up in [
        "And what does exit code 137 mean?",
        "Which limit should I raise for istio-proxy?",
    ] {
        history = agent
            .run_with_history(history, follow_up)
            .await
            .unwrap()
            .into_messages();
    }
    let timings: Vec<(u64, u64)> = bodies
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            let t = &b["timings"];
            (
                t["cache_n"].as_u64().unwrap_or(0),
                t["prompt_n"]
                    .as_u64()
                    .expect("llama-server reports timings.prompt_n"),
            )
        })
        .collect();
    eprintln!("prompt cache (cache_n, prompt_n) per round: {timings:?}");
    assert_eq!(timings.len(), 3, "{timings:?}");
    for pair in timings.windows(2) {
        let ((cache0, new0), (cache1, new1)) = (pair[0], pair[1]);
        // The whole previous prompt came from the cache: the requests share their prefix.
        assert!(
            cache1 >= cache0 + new0,
            "round prompt reused only {cache1} of the {} tokens sent before: {timings:?}",
            cache0 + new0
        );
        // Only the new turns were processed.
        assert!(new1 < cache1, "{timings:?}");
    }
}
