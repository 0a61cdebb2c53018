//! MCP: our client against our server over stdio (the example binary) and HTTP, the HTTP
//! rules with raw requests, the official Python SDK as an independent client and server,
//! and the child process's life.
#![cfg(all(feature = "mcp", feature = "kubernetes"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

#[path = "support/kubernetes.rs"]
mod kubernetes_support;
#[path = "support/mcp.rs"]
mod mcp_support;

use std::sync::Arc;
use std::time::Duration;

use kubernetes_support::{A_NS, A_POD, cluster, scenario_a};
use mcp_support::{example_server, kubeconfig, python, required, script};
use serde_json::{Value, json};
use toolcall::mcp::{HttpServer, McpClient, McpServer};
use toolcall::tool::ToolAnnotations;
use toolcall::{DynamicTool, ToolError, ToolRegistry};

const K8S_TOOLS: [&str; 5] = [
    "get_kubernetes_pod_logs",
    "get_kubernetes_pod_memory_data",
    "get_kubernetes_pod_cpu_data",
    "get_kubernetes_pod_status",
    "list_kubernetes_pods",
];

/// The example server over stdio, with its cluster at `api` and no database.
fn example_command(kubeconfig: &std::path::Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(example_server());
    cmd.arg("stdio")
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("DATABASE_URL");
    cmd
}

fn a_args() -> Value {
    json!({"namespace": A_NS, "pod_name": A_POD})
}

#[tokio::test]
async fn stdio_client_lists_and_calls_the_example_server() {
    let api = scenario_a().await;
    let dir = tempfile::tempdir().unwrap();
    let client = McpClient::stdio(example_command(&kubeconfig(dir.path(), &api.uri())))
        .await
        .unwrap();
    assert_eq!(client.server_name().unwrap().0, "toolcall");
    let remote = client.tools().await.unwrap();
    let names: Vec<&str> = remote.names().collect();
    for tool in K8S_TOOLS {
        assert!(names.contains(&tool), "{tool} missing from {names:?}");
    }
    for info in remote.iter() {
        assert!(
            info.annotations.is_read_only(),
            "{} is not read-only",
            info.name
        );
        assert_eq!(info.input_schema["type"], "object", "{}", info.name);
    }

    // A remote call answers exactly what the tool answers in process.
    let local = cluster(&api).all_tools();
    for tool in [
        "get_kubernetes_pod_memory_data",
        "get_kubernetes_pod_cpu_data",
    ] {
        let over_mcp = remote.dispatch_value(tool, a_args()).await.unwrap();
        let in_process = local.dispatch_value(tool, a_args()).await.unwrap();
        assert_eq!(over_mcp.text, in_process.text, "{tool}");
        assert_eq!(over_mcp.structured, in_process.structured, "{tool}");
        assert!(
            over_mcp.structured.is_some(),
            "{tool} sends structured content"
        );
    }

    // Bad arguments are caught here already, against the remote schema, with the
    // same words the server would use.
    let err = remote
        .dispatch_value("get_kubernetes_pod_logs", json!({"namespace": "default"}))
        .await
        .unwrap_err();
    let ToolError::InvalidArguments { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("\"pod_name\" is a required property"),
        "{message}"
    );
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_missing_cluster_is_a_tool_error_that_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = example_command(&dir.path().join("no-such-kubeconfig"));
    cmd.env("HOME", dir.path());
    let client = McpClient::stdio(cmd).await.unwrap();
    let remote = client.tools().await.unwrap();
    assert!(
        remote.names().count() >= K8S_TOOLS.len(),
        "it lists its tools anyway"
    );
    let err = remote
        .dispatch_value("get_kubernetes_pod_logs", a_args())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("set KUBECONFIG"), "{err}");
    // The server is still up: a second call answers the same way.
    let again = remote
        .dispatch_value("get_kubernetes_pod_cpu_data", a_args())
        .await
        .unwrap_err()
        .to_string();
    assert!(again.contains("set KUBECONFIG"), "{again}");
}

/// A registry with a text tool, a structured one and one that fails.
fn local_tools() -> ToolRegistry {
    let echo = DynamicTool::new(
        "echo",
        "Echoes its text.",
        json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
        |v: Value| async move { Ok::<_, String>(v["text"].clone()) },
    )
    .unwrap()
    .with_annotations(ToolAnnotations::read_only());
    let weather = DynamicTool::new(
        "weather",
        "The weather in a city.",
        json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        |v: Value| async move { Ok::<_, String>(json!({"city": v["city"], "celsius": 21})) },
    )
    .unwrap()
    .with_output_schema(json!({"type": "object", "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"}}}));
    let broken = DynamicTool::new(
        "broken",
        "Always fails.",
        json!({"type": "object"}),
        |_v: Value| async move { Err::<Value, _>("the disk is full") },
    )
    .unwrap();
    ToolRegistry::new()
        .with_dynamic(echo)
        .with_dynamic(weather)
        .with_dynamic(broken)
}

/// An HTTP server on a free loopback port; it stops when the returned sender is dropped.
async fn http_server(http: HttpServer) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(http.serve_on(listener, async move {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), stop)
}

#[tokio::test]
async fn http_client_and_server_round_trip() {
    let server = McpServer::new(local_tools()).page_size(2);
    let (base, _stop) =
        http_server(HttpServer::new(server).bearer_token("s3cret".to_owned())).await;
    let client = McpClient::http(&format!("{base}/mcp"), Some("s3cret".into()))
        .await
        .unwrap();
    let remote = client.tools_with_prefix("r_").await.unwrap();
    // Two pages of two and one, all read.
    assert_eq!(
        remote.names().collect::<Vec<_>>(),
        ["r_echo", "r_weather", "r_broken"]
    );
    assert!(remote.get("r_echo").unwrap().annotations.is_read_only());
    assert_eq!(
        remote.get("r_weather").unwrap().output_schema.unwrap()["properties"]["celsius"]["type"],
        "integer"
    );
    let out = remote
        .dispatch("r_echo", r#"{"text": "hi"}"#)
        .await
        .unwrap();
    assert_eq!(out.text, "hi");
    let out = remote
        .dispatch("r_weather", r#"{"city": "Oslo"}"#)
        .await
        .unwrap();
    assert_eq!(out.structured, Some(json!({"city": "Oslo", "celsius": 21})));
    assert_eq!(out.text, r#"{"city":"Oslo","celsius":21}"#);
    let err = remote.dispatch("r_broken", "{}").await.unwrap_err();
    assert_eq!(err.to_string(), "`r_broken` failed: the disk is full");
    // Without the token the handshake is refused.
    assert!(McpClient::http(&format!("{base}/mcp"), None).await.is_err());
}

fn init_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}})
    .to_string()
}

fn post(
    http: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    http.post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
}

#[tokio::test]
async fn http_rules_with_raw_requests() {
    let http = reqwest::Client::new();
    let server = HttpServer::new(McpServer::new(local_tools())).max_body_bytes(4096);
    let (base, _stop) = http_server(server).await;
    let url = format!("{base}/mcp");

    let ok = post(&http, &url, init_body()).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.headers().get("mcp-session-id").is_some(),
        "session era gets a session"
    );

    let foreign = post(&http, &url, init_body())
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403, "foreign Origin");
    let local_origin = post(&http, &url, init_body())
        .header("origin", &base)
        .send()
        .await
        .unwrap();
    assert_eq!(local_origin.status(), 200, "loopback Origin");

    let rebinding = post(&http, &url, init_body())
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebinding.status(), 403, "foreign Host");

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
    let bad_version = post(&http, &url, list)
        .header("mcp-protocol-version", "1999-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_version.status(), 400, "unknown MCP-Protocol-Version");

    let malformed = post(&http, &url, "{not json").send().await.unwrap();
    assert!(
        malformed.status().is_client_error(),
        "{}",
        malformed.status()
    );

    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(8192)
    );
    let too_big = post(&http, &url, huge).send().await.unwrap();
    assert_eq!(too_big.status(), 413);

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn http_token_is_required_when_set() {
    let http = reqwest::Client::new();
    let server =
        HttpServer::new(McpServer::new(local_tools())).bearer_token("open-sesame".to_owned());
    let (base, _stop) = http_server(server).await;
    let url = format!("{base}/mcp");
    let none = post(&http, &url, init_body()).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let wrong = post(&http, &url, init_body())
        .bearer_auth("open-sesam")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = post(&http, &url, init_body())
        .bearer_auth("open-sesame")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    // Health stays open.
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn stateless_mode_serves_session_era_clients_without_sessions() {
    let http = reqwest::Client::new();
    let server = HttpServer::new(McpServer::new(local_tools())).stateless(true);
    let (base, _stop) = http_server(server).await;
    let url = format!("{base}/mcp");
    let init = post(&http, &url, init_body()).send().await.unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.headers().get("mcp-session-id").is_none());
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "no session"}}});
    let answer = post(&http, &url, call.to_string())
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "no session", "{body}");
    assert_eq!(body["result"]["isError"], false, "{body}");
}

/// Runs the Python SDK client; `None` when the venv is missing outside CI.
fn python_client(args: &[&str]) -> Option<Value> {
    let Some(python) = python() else {
        assert!(!required(), "the Python MCP SDK venv is missing in CI");
        return None;
    };
    let out = std::process::Command::new(python)
        .arg(script("python_client.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python client failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    Some(serde_json::from_str(stdout.lines().last().unwrap()).unwrap())
}

fn check_python_report(report: &Value, era: &str) {
    let expected = if era == "session" {
        "2025-11-25"
    } else {
        "2026-07-28"
    };
    assert_eq!(report["protocol_version"], expected, "{report}");
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(calls[0]["is_error"], false, "{report}");
    assert!(calls[1]["is_error"].as_bool().unwrap(), "{report}");
    assert!(
        calls[2]["protocol_error"]
            .as_str()
            .unwrap()
            .contains("unknown tool"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_client_over_stdio_in_both_eras() {
    let api = scenario_a().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(dir.path(), &api.uri());
    let calls = json!([
        ["get_kubernetes_pod_memory_data", a_args()],
        ["get_kubernetes_pod_logs", {"namespace": "default"}],
        ["no_such_tool", {}]
    ])
    .to_string();
    let server = example_server();
    for era in ["session", "stateless"] {
        let server = server.to_str().unwrap().to_owned();
        let kubeconfig = kubeconfig.to_str().unwrap().to_owned();
        let calls = calls.clone();
        let report = tokio::task::spawn_blocking(move || {
            // The child inherits this environment: point it at the mock cluster.
            python_client(&[
                era,
                "stdio",
                &calls,
                "env",
                &format!("KUBECONFIG={kubeconfig}"),
                &server,
                "stdio",
            ])
        })
        .await
        .unwrap();
        let Some(report) = report else { return };
        check_python_report(&report, era);
        let tools = report["tools"].as_array().unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        for tool in K8S_TOOLS {
            assert!(
                names.contains(&tool),
                "{era}: {tool} missing from {names:?}"
            );
        }
        assert!(tools.iter().all(|t| t["read_only"] == true), "{era}");
        let memory = &report["calls"][0];
        // The text and the structured content say the same.
        let text: Value = serde_json::from_str(memory["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, memory["structured"], "{era}");
        assert!(
            memory["structured"]["containers"].is_array(),
            "{era}: {memory}"
        );
        assert!(
            memory["text"].as_str().unwrap().contains("1Gi"),
            "{era}: {memory}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_client_over_http_in_both_eras() {
    let (base, _stop) =
        http_server(HttpServer::new(McpServer::new(local_tools())).bearer_token("tok".to_owned()))
            .await;
    let url = format!("{base}/mcp");
    let calls =
        json!([["weather", {"city": "Oslo"}], ["broken", {}], ["no_such_tool", {}]]).to_string();
    for era in ["session", "stateless"] {
        let (url, calls) = (url.clone(), calls.clone());
        let report =
            tokio::task::spawn_blocking(move || python_client(&[era, "http", &calls, &url, "tok"]))
                .await
                .unwrap();
        let Some(report) = report else { return };
        check_python_report(&report, era);
        assert_eq!(
            report["calls"][0]["structured"],
            json!({"city": "Oslo", "celsius": 21}),
            "{era}"
        );
        assert_eq!(report["calls"][1]["text"], "the disk is full", "{era}");
        let tools = report["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 3, "{era}");
        assert_eq!(
            tools[1]["output_schema"]["properties"]["celsius"]["type"], "integer",
            "{era}"
        );
    }
}

#[tokio::test]
async fn our_client_against_the_python_sdk_server() {
    let Some(python) = python() else {
        assert!(!required(), "the Python MCP SDK venv is missing in CI");
        return;
    };
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script("python_server.py"));
    let client = McpClient::stdio(cmd).await.unwrap();
    let remote = client.tools().await.unwrap();
    assert_eq!(
        remote.names().collect::<Vec<_>>(),
        ["echo", "fail", "forecast", "hang", "grow"]
    );
    assert!(remote.get("echo").unwrap().annotations.is_read_only());
    assert_eq!(
        remote.get("echo").unwrap().annotations.title.as_deref(),
        Some("Echo")
    );
    let out = remote
        .dispatch("echo", r#"{"text": "hello"}"#)
        .await
        .unwrap();
    assert_eq!(out.text, "hello");
    // isError results are the tool's failure, in the server's words (this SDK hides
    // the exception's text).
    let err = remote
        .dispatch("fail", r#"{"reason": "disk full"}"#)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::Failed { tool, message } if tool == "fail" && message.contains("Error executing tool fail")),
        "{err:?}"
    );
    // Structured content comes along; its schema was advertised.
    let out = remote
        .dispatch("forecast", r#"{"city": "Oslo"}"#)
        .await
        .unwrap();
    assert_eq!(out.structured, Some(json!({"city": "Oslo", "celsius": 21})));
    assert!(remote.get("forecast").unwrap().output_schema.is_some());
    // Validation happens here first, with the schema's draft (2020-12 when undeclared).
    let err = remote.dispatch("echo", r#"{"text": 5}"#).await.unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments { .. }), "{err:?}");

    // tools/list_changed: the change is seen and a new list has the new tool.
    let mut changes = client.tool_list_changes();
    let before = *changes.borrow_and_update();
    remote.dispatch("grow", "{}").await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), changes.changed())
        .await
        .expect("a list_changed notification")
        .unwrap();
    assert_ne!(*changes.borrow(), before);
    let refreshed = client.tools().await.unwrap();
    assert!(refreshed.get("grown").is_some(), "{refreshed:?}");
    assert_eq!(
        refreshed.dispatch("grown", "{}").await.unwrap().text,
        "I grew"
    );
}

fn alive(pid: i32) -> bool {
    // `kill -0` only asks whether the process exists; a zombie is gone for our purpose.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

async fn wait_until_gone(pids: &[i32]) {
    for _ in 0..200 {
        if pids.iter().all(|&p| !alive(p)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("still running after 20 s: {pids:?}");
}

/// The example server behind a shell that records its pid and starts a grandchild
/// whose standard streams are closed.
fn wrapped_server(dir: &std::path::Path) -> tokio::process::Command {
    server_behind_shell(dir, "sleep 600 <&- >&- 2>&-", "grandchild")
}

/// The example server behind a shell that first starts `helper` in the background,
/// its pid in `dir/{name}` and the server's in `dir/server`.
fn server_behind_shell(dir: &std::path::Path, helper: &str, name: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "{helper} & echo $! > {dir}/{name}; echo $$ > {dir}/server; exec {server} stdio",
            dir = dir.display(),
            server = example_server().display()
        ))
        .env("KUBECONFIG", dir.join("none"))
        .env_remove("KUBERNETES_SERVICE_HOST");
    cmd
}

/// Kills `pid` at once and waits until it is gone.
async fn kill_now(pid: i32) {
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    wait_until_gone(&[pid]).await;
}

/// The error text of a call of `tool` that must fail.
async fn call_error(remote: &ToolRegistry, tool: &str) -> String {
    remote
        .dispatch_value(tool, a_args())
        .await
        .unwrap_err()
        .to_string()
}

fn read_pid(path: std::path::PathBuf) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_client_ends_the_child_and_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let client = McpClient::stdio(wrapped_server(dir.path())).await.unwrap();
    assert!(client.tools().await.unwrap().len() >= K8S_TOOLS.len());
    let server = read_pid(dir.path().join("server"));
    let grandchild = read_pid(dir.path().join("grandchild"));
    assert!(alive(server) && alive(grandchild));
    drop(client);
    wait_until_gone(&[server, grandchild]).await;
}

#[tokio::test]
async fn a_call_to_a_server_that_never_answers_is_a_tool_error() {
    let Some(python) = python() else {
        assert!(!required(), "the Python MCP SDK venv is missing in CI");
        return;
    };
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script("python_server.py"));
    let client = McpClient::stdio(cmd)
        .await
        .unwrap()
        .call_timeout(Duration::from_millis(500));
    let remote = client.tools().await.unwrap();
    let err = remote.dispatch("hang", "{}").await.unwrap_err().to_string();
    assert!(err.contains("did not answer within 500ms"), "{err}");
    // The session is still usable.
    assert_eq!(
        remote
            .dispatch("echo", r#"{"text": "still here"}"#)
            .await
            .unwrap()
            .text,
        "still here"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_run_turns_into_tool_errors() {
    let dir = tempfile::tempdir().unwrap();
    let client = McpClient::stdio(wrapped_server(dir.path())).await.unwrap();
    let remote = client.tools().await.unwrap();
    kill_now(read_pid(dir.path().join("server"))).await;
    let err = call_error(&remote, "get_kubernetes_pod_logs").await;
    assert!(err.contains("is gone"), "{err}");
    // The registry still answers (every call the same way), and the agent would go on.
    let again = call_error(&remote, "get_kubernetes_pod_cpu_data").await;
    assert!(again.contains("is gone"), "{again}");
}

/// The example server behind a shell that leaves a helper holding the server's pipes.
fn server_with_a_helper_on_its_pipes(dir: &std::path::Path) -> tokio::process::Command {
    server_behind_shell(dir, "sleep 600", "helper")
}

#[tokio::test]
async fn a_dead_server_whose_helper_holds_its_pipes_is_gone_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    // The pipes never close, so only the server's process tells that it died.
    let client = McpClient::stdio(server_with_a_helper_on_its_pipes(dir.path()))
        .await
        .unwrap()
        .call_timeout(Duration::from_secs(110));
    let remote = client.tools().await.unwrap();
    let helper = read_pid(dir.path().join("helper"));
    assert!(alive(helper));
    kill_now(read_pid(dir.path().join("server"))).await;
    let started = std::time::Instant::now();
    let err = call_error(&remote, "get_kubernetes_pod_logs").await;
    assert!(err.contains("is gone"), "{err}");
    // Seconds, not the call timeout (a wide margin: about 2 s is expected).
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    drop(client);
    wait_until_gone(&[helper]).await;
}

#[tokio::test]
async fn http_concurrency_limit_answers_503_while_full() {
    let release = Arc::new(tokio::sync::Notify::new());
    let entered = Arc::new(tokio::sync::Notify::new());
    let (r, e) = (release.clone(), entered.clone());
    let slow = DynamicTool::new(
        "slow",
        "Waits.",
        json!({"type": "object"}),
        move |_v: Value| {
            let (r, e) = (r.clone(), e.clone());
            async move {
                e.notify_one();
                r.notified().await;
                Ok::<_, String>("done")
            }
        },
    )
    .unwrap();
    let server = HttpServer::new(McpServer::new(ToolRegistry::new().with_dynamic(slow)))
        .stateless(true)
        .max_concurrency(1);
    let (base, _stop) = http_server(server).await;
    let url = format!("{base}/mcp");
    let http = reqwest::Client::new();
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "slow", "arguments": {}}})
    .to_string();
    let first = {
        let request = post(&http, &url, call.clone()).header("mcp-protocol-version", "2025-06-18");
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    entered.notified().await;
    let second = post(&http, &url, call.clone())
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 503);
    assert_eq!(second.headers()["retry-after"], "1");
    release.notify_one();
    let first = first.await.unwrap();
    assert_eq!(first.status(), 200);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "done", "{body}");
    // Free again.
    let release_again = release.clone();
    let third = {
        let request = post(&http, &url, call).header("mcp-protocol-version", "2025-06-18");
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    entered.notified().await;
    release_again.notify_one();
    assert_eq!(third.await.unwrap().status(), 200);
}
