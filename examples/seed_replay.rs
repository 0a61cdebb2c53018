//! Replays the seed conversation offline and prints it the way the seed shows it.
//!
//! An in-process OpenAI-compatible server (wiremock on loopback) answers with the four recorded
//! responses; the four seed tools, declared as typed Rust structs, answer with the seed's data;
//! the agent runs the loop. Every request body the crate sent and every response it read is
//! printed as JSON, then the answer and the token usage.
//!
//! ```text
//! cargo run --example seed_replay
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_SERVICE_NAME=seed \
//!     cargo run --example seed_replay --features otel   # and its GenAI spans over OTLP/HTTP
//! ```

#[path = "../tests/support/seed.rs"]
mod seed;

use std::error::Error;

use serde_json::Value;
use toolcall::agent::Event;
use toolcall::chat::AssistantContent;
use toolcall::{Agent, OpenAiCompatible};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    // With `--features otel` and OTEL_EXPORTER_OTLP_ENDPOINT set, the run's GenAI spans go out
    // over OTLP/HTTP; they are flushed when `_traces` is dropped at the end of main.
    #[cfg(feature = "otel")]
    let _traces = toolcall::otel::init_from_env()?;
    // The scripted server: one recorded response per round, chosen by how many tool answers it was sent.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(|request: &Request| {
            ResponseTemplate::new(200)
                .set_body_raw(seed::response_for(&request.body), "application/json")
        })
        .mount(&server)
        .await;

    // The seed's requests have no `content` key on the assistant turns that carry calls.
    let backend = OpenAiCompatible::new(format!("{}/v1", server.uri()))
        .model("qwen3-4b")
        .assistant_content(AssistantContent::Omitted);
    let agent = Agent::new(backend, seed::registry())
        .system(seed::SYSTEM)
        .observer(|event: &Event<'_>| {
            if let Event::ToolFinished {
                call,
                content,
                duration,
                ..
            } = event
            {
                eprintln!("  ran {} ({duration:?}) -> {content}", call.function.name);
            }
        });

    let run = agent.run(seed::QUESTION).await?;

    for (i, request) in server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let sent: Value = serde_json::from_slice(&request.body)?;
        let answered: Value = serde_json::from_str(seed::response_for(&request.body))?;
        println!("=== request-{} (POST {}) ===", i + 1, request.url.path());
        println!("{}", serde_json::to_string_pretty(&sent)?);
        println!("=== response-{} ===", i + 1);
        println!("{}", serde_json::to_string_pretty(&answered)?);
    }
    let usage = run.usage();
    println!("=== answer ({} requests) ===", run.steps().len());
    println!("{}", run.answer());
    println!(
        "usage: {} prompt + {} completion = {} tokens",
        usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
    );
    Ok(())
}
