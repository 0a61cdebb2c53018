//! The HTTP server as an operator sees it: `/healthz`, `/readyz` (the readiness hook,
//! cut at a second, cached; the example's backend checks), `/metrics` scraped and parsed,
//! and graceful shutdown on SIGTERM (a slow call completes, new connections are refused,
//! the process exits within the drain deadline).
#![cfg(all(feature = "mcp", feature = "metrics", feature = "kubernetes"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/mcp.rs"]
mod mcp_support;
#[path = "support/replica.rs"]
mod replica;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcp_support::{example_server, kubeconfig};
use replica::{Replica, command, free_port, sample, samples};
use serde_json::{Value, json};
use toolcall::mcp::{HttpServer, McpServer, Metrics};
use toolcall::{DynamicTool, ToolRegistry};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn addrs() -> (SocketAddr, SocketAddr) {
    let a = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let m = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    (a, m)
}

fn call(id: u64, tool: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}})
    .to_string()
}

/// A stateless JSON-RPC POST to `url`.
fn post(http: &reqwest::Client, url: &str, body: String) -> reqwest::RequestBuilder {
    http.post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body)
}

async fn ready(base: &str) -> (u16, String) {
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn readiness_hook_is_cut_at_its_timeout_and_cached() {
    let checks = Arc::new(AtomicUsize::new(0));
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (c, h) = (checks.clone(), healthy.clone());
    let http = HttpServer::new(McpServer::new(ToolRegistry::new()))
        .readiness(move || {
            let (c, h) = (c.clone(), h.clone());
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                if h.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    // Hangs: the server cuts it.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Err("unreachable".to_owned())
                }
            }
        })
        .ready_timeout(Duration::from_millis(300))
        .ready_cache(Duration::from_secs(60));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(http.serve_on(listener, async move {
        let _ = stopped.await;
    }));
    assert_eq!(ready(&base).await, (200, "ready\n".to_owned()));
    assert_eq!(ready(&base).await.0, 200);
    assert_eq!(checks.load(Ordering::SeqCst), 1, "the answer is reused");
    drop(stop);
    serving.await.unwrap().unwrap();

    // A check that hangs is not ready, within the timeout.
    healthy.store(false, Ordering::SeqCst);
    let http = HttpServer::new(McpServer::new(ToolRegistry::new()))
        .readiness(move || {
            let h = healthy.clone();
            async move {
                if h.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok(())
                }
            }
        })
        .ready_timeout(Duration::from_millis(300));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(http.serve_on(listener, async move {
        let _ = stopped.await;
    }));
    let t = Instant::now();
    let (status, body) = ready(&base).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        "not ready: the readiness check did not answer within 300ms\n"
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // Health is not readiness.
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_calls_and_latency() {
    let echo = DynamicTool::new(
        "echo",
        "Echoes.",
        json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
        |v: Value| async move { Ok::<_, String>(v["text"].clone()) },
    )
    .unwrap();
    let broken = DynamicTool::new(
        "broken",
        "Fails.",
        json!({"type": "object"}),
        |_v: Value| async move { Err::<Value, _>("no") },
    )
    .unwrap();
    let metrics = Metrics::new();
    let http = HttpServer::new(McpServer::new(
        ToolRegistry::new().with_dynamic(echo).with_dynamic(broken),
    ))
    .stateless(true)
    .bearer_token("tok".to_owned())
    .metrics(metrics.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(http.serve_on(listener, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for (i, body) in [
        call(1, "echo", json!({"text": "a"})),
        call(2, "echo", json!({"text": "b"})),
        call(3, "echo", json!({"wrong": 1})),
        call(4, "broken", json!({})),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).to_string(),
        json!({"jsonrpc": "2.0", "id": 6, "method": "made/up"}).to_string(),
    ]
    .into_iter()
    .enumerate()
    {
        let r = post(&client, &url, body)
            .bearer_auth("tok")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{i}: {}", r.status());
        r.text().await.unwrap();
    }
    let refused = post(&client, &url, call(7, "echo", json!({"text": "c"})))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let text = metrics.encode();
    let all = samples(&text); // every line parses as `name{labels} value`
    assert!(!all.is_empty());
    let calls = |labels: &str| sample(&text, "mcp_requests_total", labels);
    assert_eq!(calls(r#"method="tools/call",status="200""#), 4.0, "{text}");
    assert_eq!(calls(r#"method="tools/list",status="200""#), 1.0, "{text}");
    assert_eq!(calls(r#"method="other",status="200""#), 1.0, "{text}");
    assert_eq!(calls(r#"method="unknown",status="401""#), 1.0, "{text}");
    let tool = |labels: &str| sample(&text, "mcp_tool_calls_total", labels);
    assert_eq!(tool(r#"tool="echo",outcome="ok""#), 2.0, "{text}");
    assert_eq!(
        tool(r#"tool="echo",outcome="invalid_arguments""#),
        1.0,
        "{text}"
    );
    assert_eq!(tool(r#"tool="broken",outcome="error""#), 1.0, "{text}");
    assert_eq!(
        sample(
            &text,
            "mcp_tool_call_duration_seconds_count",
            r#"tool="echo""#
        ),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            "mcp_tool_call_duration_seconds_bucket",
            r#"le="+Inf",tool="echo""#
        ),
        3.0
    );
    assert_eq!(sample(&text, "mcp_tool_calls_in_flight", ""), 0.0);
}

/// The example with the cluster at `api` (a kubeconfig) or none.
async fn example(dir: &std::path::Path, env: &[(&str, &str)], extra: &[&str]) -> (Replica, String) {
    let (addr, metrics) = addrs();
    let mut cmd = command(&example_server(), addr, metrics, dir, extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let log = dir.join(format!("server-{}.log", addr.port()));
    let replica = Replica::start(cmd, addr, metrics, &log).await;
    (replica, format!("http://{addr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_readiness_checks_the_configured_backends() {
    let dir = tempfile::tempdir().unwrap();
    // No backend configured: ready.
    let (_none, base) = example(dir.path(), &[], &[]).await;
    assert_eq!(ready(&base).await, (200, "ready\n".to_owned()));
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");

    // A cluster whose API server answers /version: ready, and asked once for two probes.
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/version"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "x",
            "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24",
            "compiler": "gc", "platform": "linux/amd64"})))
        .expect(1)
        .mount(&api)
        .await;
    std::fs::create_dir_all(dir.path().join("up")).unwrap();
    std::fs::create_dir_all(dir.path().join("gone")).unwrap();
    let up = kubeconfig(&dir.path().join("up"), &api.uri());
    let (_up, base) = example(dir.path(), &[("KUBECONFIG", up.to_str().unwrap())], &[]).await;
    assert_eq!(ready(&base).await, (200, "ready\n".to_owned()));
    assert_eq!(ready(&base).await.0, 200);
    api.verify().await;

    // An API server that is gone, and a database that is: not ready, saying which.
    let gone = kubeconfig(
        &dir.path().join("gone"),
        &format!("http://127.0.0.1:{}", free_port()),
    );
    let db = format!("postgres://reader:hunter2@127.0.0.1:{}/app", free_port());
    let (_down, base) = example(
        dir.path(),
        &[
            ("KUBECONFIG", gone.to_str().unwrap()),
            ("DATABASE_URL", &db),
        ],
        &[],
    )
    .await;
    let (status, body) = ready(&base).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("kubernetes"), "{body}");
    assert!(body.contains("postgres"), "{body}");
    assert!(!body.contains("hunter2"), "the password leaked: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_slow_call_finish_refuses_new_connections_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) =
        example(dir.path(), &[], &["--stateless", "--drain-seconds", "30"]).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/mcp");
    let slow = {
        let request = post(&http, &url, call(1, "test_slow", json!({"seconds": 3})));
        tokio::spawn(async move { request.send().await })
    };
    // The call is running: the metrics say so.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = server.scrape().await;
        if sample(&text, "mcp_tool_calls_in_flight", "") == 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow call never started: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let term = Instant::now();
    server.signal("TERM");
    // New connections are refused while the call drains.
    let mut refused = false;
    while term.elapsed() < Duration::from_secs(2) {
        if tokio::net::TcpStream::connect(server.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "still accepting connections after SIGTERM");
    let answer = slow.await.unwrap().expect("the in-flight call is answered");
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body["result"]["content"][0]["text"], "done after 3 s",
        "{body}"
    );
    // Exit soon after the call, well within the 30 s drain deadline.
    let status = tokio::time::timeout(Duration::from_secs(20), server.child.wait())
        .await
        .expect("exited within the deadline")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(
        log.contains(r#""message":"mcp http: drained; stopped""#),
        "{log}"
    );
    // JSON log lines only (one plain banner line aside), and no secret in them.
    for line in log
        .lines()
        .filter(|l| !l.starts_with("mcp_server: serving"))
    {
        let _: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_delay_fails_readiness_first_and_the_drain_deadline_ends_a_stuck_call() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = example(
        dir.path(),
        &[("MCP_BEARER_TOKEN", "s3cret-token")],
        &[
            "--stateless",
            "--shutdown-delay-seconds",
            "2",
            "--drain-seconds",
            "1",
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let url = format!("{base}/mcp");
    let stuck = {
        let request = post(&http, &url, call(1, "test_slow", json!({"seconds": 60})))
            .bearer_auth("s3cret-token");
        tokio::spawn(async move { request.send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let term = Instant::now();
    server.signal("TERM");
    // During the delay: not ready, still alive and serving.
    let mut saw_not_ready = false;
    while term.elapsed() < Duration::from_millis(1500) {
        let (status, body) = ready(&base).await;
        if status == 503 {
            assert_eq!(body, "not ready: shutting down\n");
            saw_not_ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        saw_not_ready,
        "readiness did not fail during the shutdown delay"
    );
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    // The stuck call is cut at the deadline: exit after delay + drain (2 + 1 s), not 60 s.
    let status = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
        .await
        .expect("exited within the deadline")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(term.elapsed() < Duration::from_secs(30));
    // The stuck call was cut: no answer, or one that is not the tool's.
    if let Ok(answer) = stuck.await.unwrap() {
        let text = answer.text().await.unwrap_or_default();
        assert!(!text.contains("done after"), "{text}");
    }
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("drain deadline passed"), "{log}");
    assert!(!log.contains("s3cret-token"), "the token was logged: {log}");
    assert!(log.contains(r#""bearer_token":"set""#), "{log}");
}
