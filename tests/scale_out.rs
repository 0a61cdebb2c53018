//! Scale-out on loopback: three `mcp_server` replicas (stateless) behind a round-robin
//! TCP proxy, 200 calls from the official Python SDK (stateless era) and our `McpClient`,
//! one replica killed mid-run; every call is answered, each replica served some, and
//! nothing is left running.
#![cfg(all(feature = "mcp", feature = "metrics"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_precision_loss
)]

#[path = "support/mcp.rs"]
mod mcp_support;
#[path = "support/replica.rs"]
mod replica;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use mcp_support::{example_server, python, required, script};
use replica::{Replica, command, free_port, sample};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use toolcall::mcp::McpClient;

const REPLICAS: usize = 3;
const PYTHON_BEFORE: usize = 60;
const OURS: usize = 80;
const PYTHON_AFTER: usize = 60;
const KILL_AFTER: usize = 40;
const CONCURRENCY: usize = 8;
const CALL_SECONDS: f64 = 0.02;

/// A round-robin TCP proxy: each new connection goes to the next backend that accepts
/// it (a backend that refuses is skipped, as a load balancer skips an endpoint that
/// went away); a connection ends in both directions when either side ends.
struct Proxy {
    addr: SocketAddr,
    connections: Arc<Vec<AtomicUsize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(backends: Vec<SocketAddr>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections: Arc<Vec<AtomicUsize>> =
            Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let counts = connections.clone();
        let task = tokio::spawn(async move {
            let mut next = 0usize;
            let mut links = tokio::task::JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mut backend = None;
                for _ in 0..backends.len() {
                    let i = next % backends.len();
                    next = next.wrapping_add(1);
                    if let Ok(stream) = TcpStream::connect(backends[i]).await {
                        counts[i].fetch_add(1, Ordering::Relaxed);
                        backend = Some(stream);
                        break;
                    }
                }
                let Some(backend) = backend else { continue };
                links.spawn(link(client, backend));
                while links.try_join_next().is_some() {}
            }
        });
        Proxy {
            addr,
            connections,
            task,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every link.
        self.task.abort();
    }
}

async fn link(client: TcpStream, backend: TcpStream) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut backend_read, mut backend_write) = backend.into_split();
    tokio::select! {
        _ = tokio::io::copy(&mut client_read, &mut backend_write) => {}
        _ = tokio::io::copy(&mut backend_read, &mut client_write) => {}
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The Python SDK's load script through the proxy: (answered, latencies in ms).
async fn python_load(url: &str, calls: usize) -> Option<(usize, Vec<f64>)> {
    let python = python()?;
    let args = vec![
        script("python_load.py").to_str().unwrap().to_owned(),
        url.to_owned(),
        calls.to_string(),
        CONCURRENCY.to_string(),
        "test_slow".to_owned(),
        json!({"seconds": CALL_SECONDS}).to_string(),
    ];
    let out = tokio::process::Command::new(python)
        .args(&args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "python load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(report["protocol_version"], "2026-07-28", "{report}");
    assert_eq!(report["error_count"], 0, "{report}");
    let latencies = report["latencies_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    Some((report["answered"].as_u64().unwrap() as usize, latencies))
}

fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_behind_a_proxy_answer_every_call_while_one_is_killed() {
    if python().is_none() {
        assert!(!required(), "the Python MCP SDK venv is missing in CI");
        return;
    }
    let server = example_server();
    let dir = tempfile::tempdir().unwrap();
    let mut replicas = Vec::new();
    for i in 0..REPLICAS {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let cmd = command(&server, addr, metrics, dir.path(), &["--stateless"]);
        let log = dir.path().join(format!("replica-{i}.log"));
        replicas.push(Replica::start(cmd, addr, metrics, &log).await);
    }
    let pids: Vec<i32> = replicas.iter().map(Replica::pid).collect();
    let proxy = Proxy::start(replicas.iter().map(|r| r.addr).collect()).await;
    let url = format!("http://{}/mcp", proxy.addr);
    let started = Instant::now();

    // 1. The Python SDK, all three replicas up.
    let (answered_before, mut latencies) = python_load(&url, PYTHON_BEFORE).await.unwrap();
    assert_eq!(answered_before, PYTHON_BEFORE);

    // 2. Our client; replica 0 is killed (SIGKILL) once KILL_AFTER calls are answered,
    //    with calls in flight on it.
    let client = McpClient::http(&url, None).await.unwrap();
    let tools = client.tools().await.unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let killed_count = {
        let watched = done.clone();
        let victim = &replicas[0];
        let kill = async move {
            while watched.load(Ordering::SeqCst) < KILL_AFTER {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            // What it served, read just before it dies.
            let served = sample(
                &victim.scrape().await,
                "mcp_tool_calls_total",
                r#"tool="test_slow",outcome="ok""#,
            );
            victim.signal("KILL");
            served
        };
        let calls = futures::stream::iter(0..OURS)
            .map(|_| {
                let (tools, done) = (&tools, done.clone());
                async move {
                    let t = Instant::now();
                    let out = tools
                        .dispatch_value("test_slow", json!({"seconds": CALL_SECONDS}))
                        .await;
                    done.fetch_add(1, Ordering::SeqCst);
                    (out, t.elapsed().as_secs_f64() * 1000.0)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>();
        let (results, served) = tokio::join!(calls, kill);
        for (out, ms) in results {
            let out = out.unwrap_or_else(|e| panic!("a call through the proxy failed: {e}"));
            assert!(out.text.starts_with("done"), "{}", out.text);
            latencies.push(ms);
        }
        served
    };
    drop(tools);
    client.close().await.ok();
    let mut killed = replicas.remove(0);
    let status = tokio::time::timeout(Duration::from_secs(10), killed.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success(), "replica 0 was killed");

    // 3. The Python SDK again, on the two replicas left.
    let (answered_after, more) = python_load(&url, PYTHON_AFTER).await.unwrap();
    assert_eq!(answered_after, PYTHON_AFTER);
    latencies.extend(more);
    let elapsed = started.elapsed();

    // Every call answered; each replica served some (its own /metrics say how many).
    let total = PYTHON_BEFORE + OURS + PYTHON_AFTER;
    assert_eq!(latencies.len(), total);
    let mut served = vec![killed_count];
    for replica in &replicas {
        let text = replica.scrape().await;
        served.push(sample(
            &text,
            "mcp_tool_calls_total",
            r#"tool="test_slow",outcome="ok""#,
        ));
        assert!(
            sample(
                &text,
                "mcp_requests_total",
                r#"method="tools/call",status="200""#
            ) > 0.0
        );
        assert_eq!(sample(&text, "mcp_tool_calls_in_flight", ""), 0.0);
    }
    for (i, n) in served.iter().enumerate() {
        assert!(*n > 0.0, "replica {i} served no call: {served:?}");
    }
    let connections: Vec<usize> = proxy
        .connections
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    latencies.sort_by(f64::total_cmp);
    println!(
        "scale-out: {total} calls answered of {total} ({PYTHON_BEFORE} Python SDK, {OURS} McpClient with \
         replica 0 killed after {KILL_AFTER}, {PYTHON_AFTER} Python SDK) in {:.1} s; tool calls served \
         per replica (its /metrics; replica 0 read just before the kill): {served:?}; proxy connections \
         per replica: {connections:?}; latency p50 {:.1} ms, p99 {:.1} ms (tool sleeps {} ms)",
        elapsed.as_secs_f64(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        CALL_SECONDS * 1000.0,
    );

    // Nothing left running.
    drop(proxy);
    for mut replica in replicas {
        replica.child.start_kill().unwrap();
        replica.child.wait().await.unwrap();
    }
    for pid in pids {
        assert!(!alive(pid), "replica {pid} still running");
    }
}
