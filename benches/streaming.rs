//! Streaming's own cost: the seed conversation's four rounds, each answer streamed as
//! server-sent events by an in-process loopback server that answers instantly, read by
//! `OpenAiCompatible::chat_stream` versus raw reqwest reading the same bytes.
//!
//! Scenarios, on one current-thread tokio runtime with the server on the same runtime:
//! - `rounds/bytes`: the floor: the four recorded streaming request bodies, pre-serialized,
//!   POSTed in turn, each event-stream body read chunk by chunk and never parsed.
//! - `rounds/floor`: the hand-written reader a careful person writes on raw reqwest: the same
//!   pre-serialized bodies, events split on blank lines, each `data:` parsed into a
//!   `serde_json::Value`, text and argument fragments joined (no tolerance rules).
//! - `rounds/chat_stream`: the same four requests built from typed messages and sent with
//!   `chat_stream`, every event read until `Done` (SSE framing, chunk parsing, assembly,
//!   the tolerance rules).
//! - `rounds/agent_run_stream`: the whole conversation as `Agent::run_stream`: the same four
//!   streamed requests plus the seed's tools run and the history built, every event read.
//! - `reader/four_streams`: the reader alone, without I/O: the four event streams folded
//!   as buffered bodies (what the CPU spends per conversation on reading).
//! - `first_text/bytes` and `first_text/chat_stream`: the final-answer round only, timed to
//!   the first piece of answer text (raw: the first body chunk; ours: the first
//!   `StreamEvent::Text`), the rest read as well.
//!
//! ```text
//! cargo bench --bench streaming
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
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use toolcall::OpenAiCompatible;
use toolcall::chat::{
    AssistantContent, ChatBackend, ChatRequest, ChatResponse, Message, StreamEvent,
};

/// A seed response as a llama.cpp-shaped event stream: text and arguments in small pieces.
fn as_events(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap();
    let chunk = |choices: Value, usage: Option<&Value>| {
        let mut o = json!({"choices": choices, "created": v["created"], "id": v["id"], "model": v["model"], "object": "chat.completion.chunk"});
        if let Some(u) = usage {
            o["usage"] = u.clone();
        }
        format!("data: {o}\n\n")
    };
    let message = &v["choices"][0]["message"];
    let mut out = chunk(
        json!([{"index": 0, "finish_reason": null, "delta": {"role": "assistant", "content": null}}]),
        None,
    );
    let pieces = |s: &str| -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        chars.chunks(12).map(|c| c.iter().collect()).collect()
    };
    if let Some(text) = message["content"].as_str() {
        for p in pieces(text) {
            out += &chunk(
                json!([{"index": 0, "finish_reason": null, "delta": {"content": p}}]),
                None,
            );
        }
    }
    for (i, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        out += &chunk(
            json!([{"index": 0, "finish_reason": null, "delta": {"tool_calls": [{"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}]}}]),
            None,
        );
        for p in pieces(call["function"]["arguments"].as_str().unwrap_or("{}")) {
            out += &chunk(
                json!([{"index": 0, "finish_reason": null, "delta": {"tool_calls": [{"index": i, "function": {"arguments": p}}]}}]),
                None,
            );
        }
    }
    out += &chunk(
        json!([{"index": 0, "finish_reason": v["choices"][0]["finish_reason"], "delta": {}}]),
        v.get("usage"),
    );
    out + "data: [DONE]\n\n"
}

/// One chunked HTTP/1.1 response: every event its own chunk, all written at once.
fn http_response(events: &str) -> Vec<u8> {
    let mut r =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    for event in events.split_inclusive("\n\n") {
        r.extend_from_slice(format!("{:x}\r\n", event.len()).as_bytes());
        r.extend_from_slice(event.as_bytes());
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

/// A minimal HTTP/1.1 keep-alive server answering each POST with the seed's event stream for
/// its round (counted from the `tool` messages in the request).
async fn serve(listener: TcpListener) {
    let replies: std::sync::Arc<Vec<Vec<u8>>> = std::sync::Arc::new(
        seed::responses()
            .iter()
            .map(|body| http_response(&as_events(body)))
            .collect(),
    );
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
                // hides what the client costs in both scenarios.
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

/// The floor: a pre-serialized body POSTed, the event stream read chunk by chunk.
async fn raw(client: &reqwest::Client, url: &str, body: &bytes::Bytes) -> (usize, Duration) {
    let started = Instant::now();
    let mut response = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let mut first = None;
    let mut total = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        first.get_or_insert_with(|| started.elapsed());
        total += chunk.len();
    }
    (total, first.unwrap_or_default())
}

/// The hand-written reader: raw reqwest, events split on blank lines, each `data:` parsed into a
/// `serde_json::Value`, the text and the calls' fragments joined by index.
async fn floor(
    client: &reqwest::Client,
    url: &str,
    body: &bytes::Bytes,
) -> (String, Vec<(String, String, String)>) {
    let mut response = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let mut pending = Vec::new();
    let mut text = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        pending.extend_from_slice(&chunk);
        while let Some(at) = pending.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = pending.drain(..at + 2).collect();
            let Some(data) = event.strip_prefix(b"data: ") else {
                continue;
            };
            let data = data.trim_ascii();
            if data == b"[DONE]" {
                continue;
            }
            let v: Value = serde_json::from_slice(data).unwrap();
            let delta = &v["choices"][0]["delta"];
            if let Some(t) = delta["content"].as_str() {
                text.push_str(t);
            }
            for c in delta["tool_calls"].as_array().into_iter().flatten() {
                let i = c["index"].as_u64().unwrap_or(0) as usize;
                if calls.len() <= i {
                    calls.resize(i + 1, Default::default());
                }
                let slot = &mut calls[i];
                if let Some(id) = c["id"].as_str() {
                    slot.0.push_str(id);
                }
                if let Some(name) = c["function"]["name"].as_str() {
                    slot.1.push_str(name);
                }
                if let Some(args) = c["function"]["arguments"].as_str() {
                    slot.2.push_str(args);
                }
            }
        }
    }
    (text, calls)
}

/// One round through `chat_stream`: every event until `Done`; the time to the first text.
async fn streamed(
    backend: &OpenAiCompatible,
    request: ChatRequest<'_>,
) -> (ChatResponse, Option<Duration>) {
    let started = Instant::now();
    let mut first = None;
    let mut stream = backend.chat_stream(request);
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::Text(_) => {
                first.get_or_insert_with(|| started.elapsed());
            }
            StreamEvent::Done(response) => return (*response, first),
            _ => {}
        }
    }
    panic!("no Done")
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
    let registry: &'static _ = Box::leak(Box::new(seed::registry()));
    let backend = OpenAiCompatible::new(&base)
        .model("qwen3-4b")
        .assistant_content(AssistantContent::Omitted)
        .idle_timeout(None);

    // The four rounds' histories, typed, and the bodies the backend sends for them.
    let histories: Vec<Vec<Message>> = (1..=4)
        .map(|i| {
            let v: Value =
                serde_json::from_str(seed::fixture(&format!("request-{i}.json"))).unwrap();
            serde_json::from_value(v["messages"].clone()).unwrap()
        })
        .collect();
    let request = |h: &'static [Message]| ChatRequest::new(h).tools(registry.tools_json());
    let histories: &'static [Vec<Message>] = Box::leak(histories.into_boxed_slice());
    let recorded: Vec<bytes::Bytes> = histories
        .iter()
        .map(|h| {
            let mut v: Value = serde_json::from_slice(&backend.body(request(h)).unwrap()).unwrap();
            v["stream"] = json!(true);
            v["stream_options"] = json!({"include_usage": true});
            bytes::Bytes::from(serde_json::to_vec(&v).unwrap())
        })
        .collect();

    // Streamed, each round gives what the server's whole body gives.
    rt.block_on(async {
        for (i, h) in histories.iter().enumerate() {
            let (response, _) = streamed(&backend, request(h)).await;
            let whole = ChatResponse::from_json(seed::responses()[i].as_bytes()).unwrap();
            let mut want = whole.clone();
            for (got, made) in want
                .message
                .tool_calls
                .iter_mut()
                .zip(&response.message.tool_calls)
            {
                if got.id.len() == 9 {
                    got.id.clone_from(&made.id); // ids the reader made
                }
            }
            assert_eq!(response, want, "round {}", i + 1);
            let (text, calls) = floor(&client, &url, &recorded[i]).await;
            assert_eq!(text, response.message.content.clone().unwrap_or_default());
            assert_eq!(calls.len(), response.message.tool_calls.len());
        }
    });

    paired(&rt, &client, &url, &recorded, &backend, histories, &request);

    let mut rounds = c.benchmark_group("rounds");
    rounds.bench_function("bytes", |b| {
        b.to_async(&rt).iter(|| async {
            let mut total = 0;
            for body in &recorded {
                total += raw(&client, &url, body).await.0;
            }
            total
        })
    });
    rounds.bench_function("floor", |b| {
        b.to_async(&rt).iter(|| async {
            let mut calls = 0;
            for body in &recorded {
                calls += floor(&client, &url, body).await.1.len();
            }
            calls
        })
    });
    rounds.bench_function("chat_stream", |b| {
        b.to_async(&rt).iter(|| async {
            let mut calls = 0;
            for h in histories {
                calls += streamed(&backend, request(h))
                    .await
                    .0
                    .message
                    .tool_calls
                    .len();
            }
            calls
        })
    });
    let agent = toolcall::Agent::new(backend.clone(), seed::registry()).system(seed::SYSTEM);
    rounds.bench_function("agent_run_stream", |b| {
        b.to_async(&rt).iter(|| async {
            let mut events = agent.run_stream(seed::QUESTION);
            let mut n = 0;
            while let Some(event) = events.next().await {
                event.unwrap();
                n += 1;
            }
            n
        })
    });
    rounds.finish();

    // The reader alone, no I/O: the four event streams folded as buffered bodies.
    let bodies: Vec<String> = seed::responses().iter().map(|b| as_events(b)).collect();
    c.bench_function("reader/four_streams", |b| {
        b.iter(|| {
            bodies
                .iter()
                .map(|body| {
                    ChatResponse::from_json(body.as_bytes())
                        .unwrap()
                        .message
                        .tool_calls
                        .len()
                })
                .sum::<usize>()
        })
    });

    let last = &recorded[3];
    let mut first = c.benchmark_group("first_text");
    first.bench_function("bytes", |b| {
        let (client, url) = (&client, &url);
        b.to_async(&rt).iter_custom(|n| async move {
            let mut sum = Duration::ZERO;
            for _ in 0..n {
                sum += raw(client, url, last).await.1;
            }
            sum
        })
    });
    first.bench_function("chat_stream", |b| {
        let backend = &backend;
        b.to_async(&rt).iter_custom(|n| async move {
            let mut sum = Duration::ZERO;
            for _ in 0..n {
                sum += streamed(backend, request(&histories[3])).await.1.unwrap();
            }
            sum
        })
    });
    first.finish();
}

/// The goal's ratio, measured robustly on a noisy machine: `rounds/bytes` and
/// `rounds/chat_stream` alternated conversation by conversation (ABBA, so drift cancels),
/// the ratio of their sums taken per block of 50 pairs, and the median of 21 blocks
/// printed. Criterion's own figures time each scenario minutes apart.
fn paired<'h>(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    url: &str,
    recorded: &[bytes::Bytes],
    backend: &OpenAiCompatible,
    histories: &'h [Vec<Message>],
    request: &dyn Fn(&'h [Message]) -> ChatRequest<'h>,
) {
    if std::env::args().any(|a| a == "--profile-time") {
        return; // profiling one scenario: nothing else may run
    }
    let bytes = || async {
        let started = Instant::now();
        for body in recorded {
            raw(client, url, body).await;
        }
        started.elapsed()
    };
    let ours = || async {
        let started = Instant::now();
        for h in histories {
            streamed(backend, request(h)).await;
        }
        started.elapsed()
    };
    let mut ratios: Vec<f64> = rt.block_on(async {
        for _ in 0..200 {
            bytes().await;
            ours().await;
        }
        let mut ratios = Vec::new();
        for _ in 0..21 {
            let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
            for i in 0..50 {
                if i % 2 == 0 {
                    a += bytes().await;
                    b += ours().await;
                } else {
                    b += ours().await;
                    a += bytes().await;
                }
            }
            ratios.push(b.as_secs_f64() / a.as_secs_f64());
        }
        ratios
    });
    ratios.sort_by(f64::total_cmp);
    println!(
        "paired rounds: chat_stream / bytes = {:.3}x (median of 21 blocks; range {:.3}-{:.3})",
        ratios[10], ratios[0], ratios[20]
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
