//! The `chat` example as a person uses it: `--help`, a streamed run with a tool call, `--trace`,
//! `--no-stream`, and the one-line messages for servers that cannot answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::json;
use wiremock::MockServer;

/// The `chat` example, built with every feature (as the tests are) on first use.
fn chat() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "--example", "chat", "--all-features"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the chat example failed");
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
                .join("debug/examples/chat")
        })
        .clone()
}

/// Runs the example off the main thread (the mock server keeps answering meanwhile),
/// with no kubeconfig, database or OpenAI settings from the machine.
async fn run(args: &[&str]) -> Output {
    let bin = chat();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(bin)
            .args(&args)
            .env("HOME", &home_path)
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("DATABASE_URL")
            .env_remove("OPENAI_BASE_URL")
            .env_remove("OPENAI_MODEL")
            .env_remove("OPENAI_API_KEY")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the example runs");
        drop(home);
        out
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn url(server: &MockServer) -> String {
    format!("{}/v1", server.uri())
}

fn sse(body: &str) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "text/event-stream")
}

/// A streamed call of `word_count`, as llama.cpp sends it.
const CALL_STREAM: &str = concat!(
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null}],\"model\":\"m\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gH\",\"type\":\"function\",\"function\":{\"name\":\"word_count\",\"arguments\":\"{\\\"text\\\": \"}}]},\"finish_reason\":null}],\"model\":\"m\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"the quick brown fox\\\"}\"}}]},\"finish_reason\":null}],\"model\":\"m\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"model\":\"m\",\"object\":\"chat.completion.chunk\",\"usage\":{\"prompt_tokens\":300,\"completion_tokens\":20,\"total_tokens\":320}}\n\n",
    "data: [DONE]\n\n",
);

const ANSWER_STREAM: &str = concat!(
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"There are \"},\"finish_reason\":null}],\"model\":\"m\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"4 words.\"},\"finish_reason\":null}],\"model\":\"m\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"model\":\"m\",\"object\":\"chat.completion.chunk\",\"usage\":{\"prompt_tokens\":340,\"completion_tokens\":6,\"total_tokens\":346}}\n\n",
    "data: [DONE]\n\n",
);

#[tokio::test]
async fn help_is_help_and_asks_nobody() {
    let server = support::llm(vec![support::json_reply(200, "{}")]).await;
    let out = run(&["--help", "--base-url", &url(&server)]).await;
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--no-stream",
        "--trace",
        "--model",
        "--base-url",
        "--max-steps",
        "--tool-choice",
        "--first-tool-choice",
        "--retry-empty",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(support::bodies(&server).await.is_empty());
}

#[tokio::test]
async fn a_streamed_run_shows_the_call_and_the_answer() {
    let server = support::llm(vec![sse(CALL_STREAM), sse(ANSWER_STREAM)]).await;
    let out = run(&[
        "--base-url",
        &url(&server),
        "--model",
        "m",
        "--first-tool-choice",
        "word_count",
        "How many words are in 'the quick brown fox'?",
    ])
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "There are 4 words.\n");
    assert!(
        stderr.contains(r#"→ word_count({"text": "the quick brown fox"})"#),
        "{stderr}"
    );
    assert!(stderr.contains("✓ word_count "), "{stderr}");
    assert!(
        stderr.contains("(2 requests, 640 prompt + 26 completion tokens"),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "no colour when piped: {stderr:?}");
    let bodies = support::bodies(&server).await;
    assert_eq!(bodies[0]["stream"], json!(true));
    assert_eq!(bodies[0]["model"], json!("m"));
    assert_eq!(
        bodies[0]["tool_choice"],
        json!({"type": "function", "function": {"name": "word_count"}})
    );
    assert_eq!(bodies[1]["tool_choice"], json!("auto"));
    assert_eq!(bodies[1]["messages"][3]["content"], json!(r#"{"words":4}"#));
}

#[tokio::test]
async fn trace_prints_the_bodies_and_no_stream_asks_for_whole_answers() {
    let server = support::llm(vec![support::json_reply(
        200,
        support::llm_fixture("final_answer.json"),
    )])
    .await;
    let out = run(&["--base-url", &url(&server), "--no-stream", "--trace", "Hi"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("── chat request ──"), "{stderr}");
    assert!(stderr.contains("── chat response ──"), "{stderr}");
    // Pretty JSON, as the seed shows its bodies.
    assert!(stderr.contains("  \"messages\": ["), "{stderr}");
    assert!(stderr.contains("\"tool_choice\": \"auto\""), "{stderr}");
    let bodies = support::bodies(&server).await;
    assert!(bodies[0].get("stream").is_none());
}

async fn failure(reply: wiremock::ResponseTemplate) -> (Option<i32>, String) {
    let server = support::llm(vec![reply]).await;
    let out = run(&["--base-url", &url(&server), "--model", "nope", "Hi"]).await;
    let stderr = text(&out.stderr);
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    (out.status.code(), stderr)
}

#[tokio::test]
async fn servers_that_cannot_answer_get_one_line_with_what_to_do() {
    let cases = [
        (
            // Ollama, and llama.cpp's router, for a model they do not have.
            support::json_reply(
                404,
                r#"{"error":{"message":"model \"nope\" not found, try pulling it first","type":"api_error","param":null,"code":null}}"#,
            ),
            "the server has no model `nope`",
            2,
        ),
        (
            support::json_reply(
                401,
                r#"{"error":{"message":"Invalid API Key","type":"authentication_error","code":401}}"#,
            ),
            "OPENAI_API_KEY",
            2,
        ),
        (
            // llama.cpp while it loads its model (the backend retries, then gives up).
            support::json_reply(
                503,
                r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#,
            ),
            "still loading its model",
            2,
        ),
        (
            // llama.cpp started without --jinja.
            support::json_reply(
                500,
                r#"{"error":{"code":500,"message":"tools param requires --jinja flag","type":"server_error"}}"#,
            ),
            "cannot do tool calls",
            1,
        ),
        (
            // Ollama with a model that has no tool support.
            support::json_reply(
                400,
                r#"{"error":{"message":"registry.ollama.ai/library/gemma:2b does not support tools","type":"invalid_request_error","param":null,"code":null}}"#,
            ),
            "cannot do tool calls",
            1,
        ),
    ];
    for (reply, says, code) in cases {
        let (status, stderr) = failure(reply).await;
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(says), "{says:?} not in {stderr}");
        assert_eq!(status, Some(code), "{stderr}");
    }
}

#[tokio::test]
async fn no_server_is_one_line_with_what_to_do() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let out = run(&["--base-url", &base, "Hi"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: no chat server answered at {base}")),
        "{stderr}"
    );
    assert!(stderr.contains("scripts/local-llm.sh"), "{stderr}");
}
