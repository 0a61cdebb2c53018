//! The agent loop's own cost: the seed's four rounds against an in-process loopback server that
//! answers instantly, versus a hand-written loop of raw reqwest POSTs (the floor).
//!
//! Scenarios, each one conversation at a time (`single`) and 200 conversations at once (`concurrent_200`),
//! all on one current-thread tokio runtime with the server on the same runtime:
//! - `floor`: the loop a careful person writes by hand: a `Vec<serde_json::Value>` history, the
//!   body serialized from borrowed parts (no clones of the history or the tools), the response
//!   parsed into a `Value`, the tool calls answered with the seed's strings. It sends the same
//!   bodies as the agent (checked at start).
//! - `bytes`: the transport alone: the four recorded request bodies, pre-serialized, POSTed in turn,
//!   each response read as bytes and never parsed. No loop can go below it.
//! - `agent`: `toolcall::Agent` with `OpenAiCompatible` and the seed's four typed tools.
//!
//! ```text
//! cargo bench --bench agent_loop
//! ```
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    unreachable_pub
)]

#[path = "../tests/support/seed.rs"]
mod seed;

use std::net::SocketAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use toolcall::chat::AssistantContent;
use toolcall::{Agent, OpenAiCompatible};

/// A minimal HTTP/1.1 keep-alive server answering each POST with the seed response for its round.
async fn serve(listener: TcpListener) {
    let replies: Vec<Vec<u8>> = seed::responses()
        .iter()
        .map(|body| {
            let compact =
                serde_json::to_vec(&serde_json::from_str::<Value>(body).unwrap()).unwrap();
            let mut r = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                compact.len()
            )
            .into_bytes();
            r.extend_from_slice(&compact);
            r
        })
        .collect();
    let replies = std::sync::Arc::new(replies);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let replies = replies.clone();
        tokio::spawn(async move {
            stream.set_nodelay(true).ok();
            let mut stream = BufReader::new(stream);
            let mut line = String::new();
            let mut body = Vec::new();
            loop {
                let mut length = 0usize;
                loop {
                    line.clear();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                body.resize(length, 0);
                if stream.read_exact(&mut body).await.is_err() {
                    return;
                }
                // memmem, not a naive window scan: the server must stay cheap, or it
                // hides what the client costs in every scenario.
                let round = memchr::memmem::find_iter(&body, br#""role":"tool""#)
                    .count()
                    .min(3);
                if stream.get_mut().write_all(&replies[round]).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The body of one request, borrowed: nothing is cloned to build it.
#[derive(serde::Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: &'a [Value],
    tools: &'a Value,
    tool_choice: &'a str,
}

/// The hand-written loop: a `Value` history, the body serialized from borrowed
/// parts (no clones), the response parsed into a `Value`.
async fn floor(
    client: &reqwest::Client,
    url: &str,
    tools: &Value,
    sent: Option<&mut Vec<Value>>,
) -> String {
    let mut messages = vec![
        json!({"role": "system", "content": seed::SYSTEM}),
        json!({"role": "user", "content": seed::QUESTION}),
    ];
    let mut sent = sent;
    loop {
        let bytes = serde_json::to_vec(&Body {
            model: "qwen3-4b",
            messages: &messages,
            tools,
            tool_choice: "auto",
        })
        .unwrap();
        if let Some(s) = sent.as_deref_mut() {
            s.push(serde_json::from_slice(&bytes).unwrap());
        }
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let mut response: Value = serde_json::from_slice(&response).unwrap();
        let message = response["choices"][0]["message"].take();
        let Some(calls) = message["tool_calls"].as_array().filter(|c| !c.is_empty()) else {
            return message["content"].as_str().unwrap_or_default().to_owned();
        };
        let mut answers = Vec::with_capacity(calls.len());
        let calls: Vec<Value> = calls
            .iter()
            .map(|c| {
                let name = c["function"]["name"].as_str().unwrap_or_default();
                let content = match name {
                    "get_kubernetes_pod_logs" => seed::LOGS,
                    "get_kubernetes_pod_memory_data" => seed::MEMORY,
                    "get_kubernetes_pod_cpu_data" => seed::CPU,
                    _ => "[]",
                };
                answers.push(json!({"role": "tool", "tool_call_id": c["id"], "name": name, "content": content}));
                json!({"id": c["id"], "type": "function", "function": c["function"]})
            })
            .collect();
        messages.push(json!({"role": "assistant", "tool_calls": calls}));
        messages.extend(answers);
    }
}

/// The transport alone: pre-serialized bodies, unparsed responses.
async fn bytes_only(client: &reqwest::Client, url: &str, bodies: &[bytes::Bytes]) -> usize {
    let mut total = 0;
    for body in bodies {
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        total += response.len();
    }
    total
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr: SocketAddr = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener));
        addr
    });
    let base = format!("http://{addr}/v1");
    let url = format!("{base}/chat/completions");
    let client = reqwest::Client::new();
    let registry = seed::registry();
    let tools: Value = serde_json::from_str(registry.tools_json().get()).unwrap();
    let agent = Agent::new(
        OpenAiCompatible::new(&base)
            .model("qwen3-4b")
            .assistant_content(AssistantContent::Omitted),
        registry,
    )
    .system(seed::SYSTEM);

    // Both loops send the seed's exact bodies and reach the same answer.
    rt.block_on(async {
        let mut sent = Vec::new();
        let floor_answer = floor(&client, &url, &tools, Some(&mut sent)).await;
        for (i, body) in sent.iter().enumerate() {
            let expected: Value =
                serde_json::from_str(seed::fixture(&format!("request-{}.json", i + 1))).unwrap();
            assert_eq!(body, &expected, "floor request {}", i + 1);
        }
        let run = agent.run(seed::QUESTION).await.unwrap();
        assert_eq!(run.answer(), floor_answer);
    });

    let recorded: Vec<bytes::Bytes> = (1..=4)
        .map(|i| {
            let v: Value =
                serde_json::from_str(seed::fixture(&format!("request-{i}.json"))).unwrap();
            bytes::Bytes::from(serde_json::to_vec(&v).unwrap())
        })
        .collect();

    let mut single = c.benchmark_group("single");
    single.bench_function("bytes", |b| {
        b.to_async(&rt)
            .iter(|| bytes_only(&client, &url, &recorded))
    });
    single.bench_function("floor", |b| {
        b.to_async(&rt).iter(|| floor(&client, &url, &tools, None))
    });
    single.bench_function("agent", |b| {
        b.to_async(&rt)
            .iter(|| async { agent.run(seed::QUESTION).await.unwrap() })
    });
    single.finish();

    let mut many = c.benchmark_group("concurrent_200");
    many.sample_size(20);
    many.bench_function("bytes", |b| {
        b.to_async(&rt).iter(|| {
            futures::future::join_all((0..200).map(|_| bytes_only(&client, &url, &recorded)))
        })
    });
    many.bench_function("floor", |b| {
        b.to_async(&rt).iter(|| {
            futures::future::join_all((0..200).map(|_| floor(&client, &url, &tools, None)))
        })
    });
    many.bench_function("agent", |b| {
        b.to_async(&rt)
            .iter(|| futures::future::join_all((0..200).map(|_| agent.run(seed::QUESTION))))
    });
    many.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
