//! The Kubernetes tools against a wiremock API server serving recorded bodies.
#![cfg(feature = "kubernetes")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

#[path = "support/kubernetes.rs"]
mod kubernetes_support;

use std::time::Duration;

use kubernetes_support::*;
use serde_json::{Value, json};
use toolcall::chat::Message;
use toolcall::tools::kubernetes::{Cluster, Error, PodArgs, PodCpu, PodLogs, PodMemory};
use toolcall::{Agent, OpenAiCompatible, Tool, ToolError, ToolRegistry};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Calls `tool` through a registry, as the agent does, and parses the JSON answer.
async fn dispatch(registry: &ToolRegistry, tool: &str, args: Value) -> Value {
    let text = registry
        .dispatch(tool, &args.to_string())
        .await
        .unwrap_or_else(|e| panic!("{tool} failed: {e}"))
        .text;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{tool} answered non-JSON ({e}): {text}"))
}

/// Calls `tool` and returns the error text the model would read.
async fn dispatch_err(registry: &ToolRegistry, tool: &str, args: Value) -> String {
    match registry.dispatch(tool, &args.to_string()).await {
        Ok(text) => panic!("{tool} should fail, answered {text}"),
        Err(e) => e.to_model_text(),
    }
}

fn a_args(container: Option<&str>) -> Value {
    let mut v = json!({"namespace": A_NS, "pod_name": A_POD});
    if let Some(c) = container {
        v["container_name"] = json!(c);
    }
    v
}

fn b_args() -> Value {
    json!({"namespace": B_NS, "pod_name": B_POD})
}

fn query(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

// ---------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn seed_tools_emit_the_seed_definitions_exactly() {
    let server = MockServer::start().await;
    let registry = cluster(&server).seed_tools();
    registry.check().unwrap();
    let seed: Value = serde_json::from_str(&seed_fixture("request-1.json")).unwrap();
    let expected: Vec<Value> = seed["tools"].as_array().unwrap()[..3].to_vec();
    assert_eq!(registry.definitions(), expected);
}

#[tokio::test]
async fn all_tools_add_status_and_list() {
    let server = MockServer::start().await;
    let registry = cluster(&server).all_tools();
    registry.check().unwrap();
    assert_eq!(
        registry.names().collect::<Vec<_>>(),
        [
            "get_kubernetes_pod_logs",
            "get_kubernetes_pod_memory_data",
            "get_kubernetes_pod_cpu_data",
            "get_kubernetes_pod_status",
            "list_kubernetes_pods"
        ]
    );
    let defs = registry.definitions();
    assert_eq!(
        defs[4]["function"]["parameters"]["required"],
        json!(["namespace"])
    );
    assert!(
        defs[4]["function"]["parameters"]["properties"]["label_selector"].is_object(),
        "{}",
        defs[4]
    );
}

#[tokio::test]
async fn the_richer_logs_variant_adds_tail_lines_and_previous() {
    let server = MockServer::start().await;
    let registry = ToolRegistry::new().with(cluster(&server).pod_logs_with_options());
    let defs = registry.definitions();
    let props = &defs[0]["function"]["parameters"]["properties"];
    assert_eq!(defs[0]["function"]["name"], "get_kubernetes_pod_logs");
    assert_eq!(props["tail_lines"]["type"], "integer");
    assert_eq!(props["previous"]["type"], "boolean");
    assert_eq!(
        defs[0]["function"]["parameters"]["required"],
        json!(["namespace", "pod_name"])
    );
}

// ---------------------------------------------------------------------------
// Scenario A: istio-proxy OOMKilled
// ---------------------------------------------------------------------------

#[tokio::test]
async fn scenario_a_end_to_end_with_the_agent() {
    let k8s = scenario_a().await;
    let llm = seed_llm().await;
    let backend = OpenAiCompatible::new(format!("{}/v1", llm.uri())).model("qwen3-4b");
    let seed: Value = serde_json::from_str(&seed_fixture("request-1.json")).unwrap();
    let agent = Agent::new(backend, cluster(&k8s).seed_tools())
        .system(seed["messages"][0]["content"].as_str().unwrap());
    let run = agent
        .run(seed["messages"][1]["content"].as_str().unwrap())
        .await
        .unwrap();

    let final_answer: Value = serde_json::from_str(&seed_fixture("response-4.json")).unwrap();
    assert_eq!(
        run.answer(),
        final_answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
    );

    let tool_messages: Vec<&Message> = run
        .messages()
        .iter()
        .filter(|m| m.role() == "tool")
        .collect();
    assert_eq!(tool_messages.len(), 3);
    let contents: Vec<Value> = tool_messages
        .iter()
        .map(|m| serde_json::from_str(m.content().unwrap()).unwrap())
        .collect();

    // Logs: the OOM lines are in the PREVIOUS run's log, which the tool fetched itself.
    let logs = &contents[0];
    let raw_logs = tool_messages[0].content().unwrap();
    assert!(raw_logs.starts_with(r#"{"logs":"#), "{raw_logs}");
    assert_eq!(logs["container"], "istio-proxy");
    assert_eq!(logs["restarts"], 5);
    let previous = &logs["previous"];
    assert_eq!(previous["reason"], "OOMKilled");
    assert_eq!(previous["exit_code"], 137);
    assert_eq!(previous["finished_at"], "2025-06-10T09:42:55Z");
    let previous_log = previous["logs"].as_str().unwrap();
    assert!(previous_log.contains(
        "warn\tEnvoy may have been out of memory killed. Check memory usage and limits."
    ));
    assert!(previous_log.contains("error\tEpoch 0 exited with error: signal: killed"));
    assert!(
        !logs["logs"]
            .as_str()
            .unwrap()
            .contains("out of memory killed")
    );

    // Memory and CPU: the seed's numbers, first and in the seed's order.
    let memory = tool_messages[1].content().unwrap();
    assert!(
        memory.starts_with(r#"{"usage":"1Gi","request":"512Mi","limit":"1Gi""#),
        "{memory}"
    );
    assert_eq!(contents[1]["usage_bytes"], 1_073_741_824_i64);
    assert_eq!(contents[1]["percent_of_limit"], 100.0);
    assert_eq!(contents[1]["last_termination"], "OOMKilled");
    let cpu = tool_messages[2].content().unwrap();
    assert!(
        cpu.starts_with(r#"{"usage":"104m","request":"512m","limit":"1024m""#),
        "{cpu}"
    );
    assert_eq!(contents[2]["usage_millicores"], 104);
    assert_eq!(contents[2]["percent_of_limit"], 10.2);

    // The model was shown exactly the seed's three tools.
    let sent = llm.received_requests().await.unwrap();
    assert_eq!(sent.len(), 4);
    let first: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(
        first["tools"].as_array().unwrap()[..],
        seed["tools"].as_array().unwrap()[..3]
    );
    let last: Value = serde_json::from_slice(&sent[3].body).unwrap();
    let tool_msgs: Vec<&Value> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .collect();
    assert_eq!(tool_msgs[1]["name"], "get_kubernetes_pod_memory_data");
    assert_eq!(
        tool_msgs[1]["tool_call_id"],
        "e76326e5-a29b-492f-bf72-8b42e23730a2"
    );
}

#[tokio::test]
async fn logs_send_container_previous_tail_and_limit() {
    let k8s = scenario_a().await;
    let registry = cluster(&k8s).seed_tools();
    dispatch(
        &registry,
        "get_kubernetes_pod_logs",
        a_args(Some("istio-proxy")),
    )
    .await;

    let mut sent = requests_to(&k8s, &log_path(A_NS, A_POD)).await;
    sent.sort();
    assert_eq!(sent.len(), 2, "{sent:?}");
    for pairs in &sent {
        assert_eq!(query(pairs, "container").as_deref(), Some("istio-proxy"));
        // Two logs share the default budget of 200 lines and 64 KiB.
        assert_eq!(query(pairs, "tailLines").as_deref(), Some("100"));
        assert_eq!(query(pairs, "limitBytes").as_deref(), Some("32768"));
    }
    let previous: Vec<_> = sent
        .iter()
        .filter(|p| query(p, "previous").as_deref() == Some("true"))
        .collect();
    assert_eq!(previous.len(), 1);
}

#[tokio::test]
async fn a_container_that_never_restarted_gets_one_request_with_the_whole_budget() {
    let k8s = scenario_a().await;
    let registry = cluster(&k8s).tail_lines(50).limit_bytes(8192).seed_tools();
    let out = dispatch(
        &registry,
        "get_kubernetes_pod_logs",
        a_args(Some("billing-service")),
    )
    .await;
    assert_eq!(out["container"], "billing-service");
    assert!(
        out["logs"]
            .as_str()
            .unwrap()
            .contains("charge request failed")
    );
    assert_eq!(out["truncated"], false);
    assert!(out.get("previous").is_none(), "{out}");

    let sent = requests_to(&k8s, &log_path(A_NS, A_POD)).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(query(&sent[0], "tailLines").as_deref(), Some("50"));
    assert_eq!(query(&sent[0], "limitBytes").as_deref(), Some("8192"));
    assert_eq!(query(&sent[0], "previous"), None);
}

#[tokio::test]
async fn no_container_named_uses_the_default_container_annotation() {
    let k8s = scenario_a().await;
    let registry = cluster(&k8s).seed_tools();
    let out = dispatch(&registry, "get_kubernetes_pod_logs", a_args(None)).await;
    assert_eq!(out["container"], "billing-service");
    let note = out["note"].as_str().unwrap();
    assert!(note.contains("default container"), "{note}");
    // The other container's trouble is visible so the model can look there next.
    assert!(note.contains("istio-proxy (running since 2025-06-10T09:45:36Z, 5 restarts, last run ended: OOMKilled)"), "{note}");
    let sent = requests_to(&k8s, &log_path(A_NS, A_POD)).await;
    assert!(
        sent.iter()
            .all(|p| query(p, "container").as_deref() == Some("billing-service")),
        "{sent:?}"
    );
}

#[tokio::test]
async fn no_container_named_and_no_default_lists_the_containers() {
    let k8s = MockServer::start().await;
    let mut pod: Value =
        serde_json::from_str(&k8s_fixture("a-istio-proxy-oomkilled/pod.json")).unwrap();
    pod["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("kubectl.kubernetes.io/default-container");
    get(&k8s, &pod_path(A_NS, A_POD), json(200, &pod.to_string())).await;
    let registry = cluster(&k8s).seed_tools();
    let text = dispatch_err(&registry, "get_kubernetes_pod_logs", a_args(None)).await;
    assert!(
        text.contains("call again with container_name set to one of"),
        "{text}"
    );
    assert!(
        text.contains("billing-service (running since 2025-06-10T07:58:44Z)"),
        "{text}"
    );
    assert!(text.contains("istio-proxy (running since 2025-06-10T09:45:36Z, 5 restarts, last run ended: OOMKilled)"), "{text}");
    // The tool never sent the log request the API server would refuse.
    assert!(requests_to(&k8s, &log_path(A_NS, A_POD)).await.is_empty());
}

#[tokio::test]
async fn an_unknown_container_is_named_with_the_real_ones() {
    let k8s = scenario_a().await;
    let registry = cluster(&k8s).seed_tools();
    let text = dispatch_err(&registry, "get_kubernetes_pod_logs", a_args(Some("envoy"))).await;
    assert_eq!(
        text,
        "error: `get_kubernetes_pod_logs` failed: pod `billing-service-v1-abcdef` has no container `envoy`; its containers are: billing-service, istio-proxy, istio-init"
    );
}

#[tokio::test]
async fn the_richer_variant_fetches_only_the_previous_run() {
    let k8s = scenario_a().await;
    let registry = ToolRegistry::new().with(cluster(&k8s).pod_logs_with_options());
    let mut args = a_args(Some("istio-proxy"));
    args["previous"] = json!(true);
    args["tail_lines"] = json!(20);
    let out = dispatch(&registry, "get_kubernetes_pod_logs", args).await;
    assert!(
        out["logs"]
            .as_str()
            .unwrap()
            .contains("Envoy may have been out of memory killed")
    );
    assert_eq!(out["termination"]["reason"], "OOMKilled");
    assert!(out.get("previous").is_none());
    let sent = requests_to(&k8s, &log_path(A_NS, A_POD)).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(query(&sent[0], "previous").as_deref(), Some("true"));
    assert_eq!(query(&sent[0], "tailLines").as_deref(), Some("20"));
}

#[tokio::test]
async fn a_chatty_log_is_cut_to_the_byte_limit() {
    let k8s = MockServer::start().await;
    get(
        &k8s,
        &pod_path(A_NS, A_POD),
        json_file(200, "a-istio-proxy-oomkilled/pod.json"),
    )
    .await;
    // A server that ignores limitBytes: the tool still holds at most the limit.
    let line = "2025-06-10T09:00:00Z\tinfo\tsomething happened, again and again\n";
    logs(
        &k8s,
        A_NS,
        A_POD,
        "billing-service",
        ResponseTemplate::new(200).set_body_raw(line.repeat(20_000).into_bytes(), "text/plain"),
        None,
    )
    .await;
    let out = PodLogs::new(cluster(&k8s).limit_bytes(4096))
        .call(PodArgs::new(A_NS, A_POD).container("billing-service"))
        .await
        .unwrap();
    assert!(out.truncated);
    assert!(out.logs.len() <= 4096, "{}", out.logs.len());
    assert!(out.logs.lines().all(|l| l.ends_with("again and again")));
}

#[tokio::test]
async fn when_the_byte_limit_cuts_the_newest_lines_are_kept() {
    let k8s = MockServer::start().await;
    get(
        &k8s,
        &pod_path(A_NS, A_POD),
        json_file(200, "a-istio-proxy-oomkilled/pod.json"),
    )
    .await;
    // JSON logs with long lines: 200 of them are far more than 4 KiB.
    let lines: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                r#"{{"level":"info","n":{i:04},"msg":"{}"}}"#,
                "x".repeat(70)
            )
        })
        .collect();
    Mock::given(method("GET"))
        .and(path(log_path(A_NS, A_POD)))
        .respond_with(Kubelet {
            lines: lines.clone(),
        })
        .mount(&k8s)
        .await;
    let out = PodLogs::new(cluster(&k8s).limit_bytes(4096))
        .call(PodArgs::new(A_NS, A_POD).container("billing-service"))
        .await
        .unwrap();
    assert!(out.truncated);
    assert!(out.logs.len() <= 4096, "{}", out.logs.len());
    // The newest line is there, and every line is whole.
    assert_eq!(out.logs.lines().last(), lines.last().map(String::as_str));
    assert!(out.logs.lines().all(|l| lines.iter().any(|x| x == l)));

    let sent = requests_to(&k8s, &log_path(A_NS, A_POD)).await;
    let tails: Vec<String> = sent.iter().filter_map(|p| query(p, "tailLines")).collect();
    // 200 asked first; 39 whole lines of 105 bytes fitted in 4 KiB; then 35 asked.
    assert_eq!(tails, ["200", "35"]);
}

#[tokio::test]
async fn memory_and_cpu_for_one_container() {
    let k8s = scenario_a().await;
    let cluster = cluster(&k8s);
    let memory = serde_json::to_string(
        &PodMemory::new(cluster.clone())
            .call(PodArgs::new(A_NS, A_POD).container("istio-proxy"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        memory,
        r#"{"usage":"1Gi","request":"512Mi","limit":"1Gi","container":"istio-proxy","usage_bytes":1073741824,"request_bytes":536870912,"limit_bytes":1073741824,"percent_of_limit":100.0,"restarts":5,"last_termination":"OOMKilled"}"#
    );
    let cpu = serde_json::to_string(
        &PodCpu::new(cluster)
            .call(PodArgs::new(A_NS, A_POD).container("billing-service"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        cpu,
        r#"{"usage":"38m","request":"250m","limit":"1000m","container":"billing-service","usage_millicores":38,"request_millicores":250,"limit_millicores":1000,"percent_of_limit":3.8}"#
    );
}

#[tokio::test]
async fn memory_without_a_container_gives_the_pod_total_and_each_container() {
    let k8s = scenario_a().await;
    let registry = cluster(&k8s).seed_tools();
    let out = dispatch(&registry, "get_kubernetes_pod_memory_data", a_args(None)).await;
    // 1Gi + 187236Ki used; 256Mi + 512Mi requested; 512Mi + 1Gi limit.
    assert_eq!(out["usage"], "1.2Gi");
    assert_eq!(out["usage_bytes"], 1_073_741_824_i64 + 187_236 * 1024);
    assert_eq!(out["request"], "768Mi");
    assert_eq!(out["limit"], "1.5Gi");
    assert_eq!(out["pod"], A_POD);
    let containers = out["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0]["container"], "billing-service");
    assert_eq!(containers[0]["usage"], "182.8Mi");
    assert_eq!(containers[1]["container"], "istio-proxy");
    assert_eq!(containers[1]["last_termination"], "OOMKilled");
}

#[tokio::test]
async fn a_missing_limit_is_null_not_zero() {
    let k8s = MockServer::start().await;
    let mut pod: Value =
        serde_json::from_str(&k8s_fixture("a-istio-proxy-oomkilled/pod.json")).unwrap();
    pod["spec"]["containers"][0]["resources"]
        .as_object_mut()
        .unwrap()
        .remove("limits");
    get(&k8s, &pod_path(A_NS, A_POD), json(200, &pod.to_string())).await;
    get(
        &k8s,
        &metrics_path(A_NS, A_POD),
        json_file(200, "a-istio-proxy-oomkilled/podmetrics.json"),
    )
    .await;
    let registry = cluster(&k8s).seed_tools();
    let one = dispatch(
        &registry,
        "get_kubernetes_pod_cpu_data",
        a_args(Some("billing-service")),
    )
    .await;
    assert_eq!(one["limit"], Value::Null);
    assert_eq!(one["limit_millicores"], Value::Null);
    assert_eq!(one["request"], "250m");
    assert!(one.get("percent_of_limit").is_none());
    // One container without a limit: the pod as a whole has none.
    let total = dispatch(&registry, "get_kubernetes_pod_cpu_data", a_args(None)).await;
    assert_eq!(total["limit"], Value::Null);
    assert_eq!(total["request"], "762m");
}

#[tokio::test]
async fn status_shows_the_oom_kill_and_recent_events() {
    let k8s = scenario_a().await;
    let registry = cluster(&k8s).all_tools();
    let out = dispatch(&registry, "get_kubernetes_pod_status", a_args(None)).await;
    assert_eq!(out["phase"], "Running");
    assert_eq!(out["ready"], "2/2");
    let proxy = &out["containers"][1];
    assert_eq!(proxy["name"], "istio-proxy");
    assert_eq!(proxy["restarts"], 5);
    assert_eq!(proxy["last_termination"]["reason"], "OOMKilled");
    assert_eq!(proxy["last_termination"]["exit_code"], 137);
    assert_eq!(
        out["init_containers"][0]["state"],
        "terminated: Completed, exit code 0"
    );
    let events: Vec<&str> = out["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(events.len(), 6);
    // Newest first.
    assert!(
        events[0].starts_with(
            "2025-06-10T09:45:37Z Warning Unhealthy (x9, istio-proxy): Readiness probe failed"
        ),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e.starts_with(
        "2025-06-10T09:45:20Z Warning BackOff (x14, istio-proxy): Back-off restarting failed container istio-proxy"
    )), "{events:?}");

    let sent = requests_to(&k8s, &events_path(A_NS)).await;
    assert_eq!(
        query(&sent[0], "fieldSelector").as_deref(),
        Some("involvedObject.name=billing-service-v1-abcdef")
    );
}

#[tokio::test]
async fn status_can_focus_on_one_container_and_keep_going_without_events() {
    let k8s = MockServer::start().await;
    get(
        &k8s,
        &pod_path(A_NS, A_POD),
        json_file(200, "a-istio-proxy-oomkilled/pod.json"),
    )
    .await;
    get(
        &k8s,
        &events_path(A_NS),
        json_file(403, "errors/status-403-forbidden-list-pods.json"),
    )
    .await;
    let registry = cluster(&k8s).all_tools();
    let out = dispatch(
        &registry,
        "get_kubernetes_pod_status",
        a_args(Some("istio-proxy")),
    )
    .await;
    assert_eq!(out["containers"].as_array().unwrap().len(), 1);
    assert_eq!(out["containers"][0]["name"], "istio-proxy");
    assert!(
        out["events_error"]
            .as_str()
            .unwrap()
            .starts_with("forbidden: "),
        "{out}"
    );
}

#[tokio::test]
async fn list_shows_each_pod_like_kubectl() {
    let k8s = scenario_a().await;
    let registry = cluster(&k8s).all_tools();
    let out = dispatch(
        &registry,
        "list_kubernetes_pods",
        json!({"namespace": A_NS, "label_selector": "app=billing-service"}),
    )
    .await;
    let pods = out["pods"].as_array().unwrap();
    let billing = pods.iter().find(|p| p["name"] == A_POD).unwrap();
    assert_eq!(billing["ready"], "2/2");
    assert_eq!(billing["status"], "Running");
    assert_eq!(billing["restarts"], 5);
    assert!(billing["age"].as_str().unwrap().ends_with('d'), "{billing}");

    let sent = requests_to(&k8s, &pods_path(A_NS)).await;
    assert_eq!(
        query(&sent[0], "labelSelector").as_deref(),
        Some("app=billing-service")
    );
    assert_eq!(query(&sent[0], "limit").as_deref(), Some("100"));
}

// ---------------------------------------------------------------------------
// Scenario B: CrashLoopBackOff, missing env var
// ---------------------------------------------------------------------------

#[tokio::test]
async fn scenario_b_logs_show_the_crash_and_the_traceback() {
    let k8s = scenario_b().await;
    let registry = cluster(&k8s).all_tools();
    let out = dispatch(&registry, "get_kubernetes_pod_logs", b_args()).await;
    assert_eq!(out["container"], "orders-api");
    assert!(
        out["state"].as_str().unwrap().starts_with(
            "waiting: CrashLoopBackOff (back-off 5m0s restarting failed container=orders-api"
        ),
        "{out}"
    );
    assert_eq!(out["restarts"], 12);
    let current = out["logs"].as_str().unwrap();
    assert!(current.ends_with("KeyError: 'DATABASE_URL'"), "{current}");
    assert!(current.contains(r#"database_url=os.environ["DATABASE_URL"]"#));
    assert_eq!(out["previous"]["reason"], "Error");
    assert_eq!(out["previous"]["exit_code"], 1);
    assert!(
        out["previous"]["logs"]
            .as_str()
            .unwrap()
            .contains("KeyError: 'DATABASE_URL'")
    );
}

#[tokio::test]
async fn scenario_b_metrics_are_not_available_without_failing() {
    let k8s = scenario_b().await;
    let registry = cluster(&k8s).all_tools();
    for tool in [
        "get_kubernetes_pod_memory_data",
        "get_kubernetes_pod_cpu_data",
    ] {
        let out = dispatch(&registry, tool, b_args()).await;
        assert_eq!(out["usage"], Value::Null, "{out}");
        assert_eq!(out["container"], "orders-api");
        assert_eq!(out["last_termination"], "Error");
        assert_eq!(out["restarts"], 12);
        assert_eq!(
            out["usage_unavailable"],
            "metrics not available for pod `orders-api-6f7d9c8b5d-k4m2p` in namespace `orders`: metrics-server has no sample for it (it just started or no container is running)"
        );
    }
    let memory = dispatch(&registry, "get_kubernetes_pod_memory_data", b_args()).await;
    assert_eq!(memory["request"], "256Mi");
    assert_eq!(memory["limit"], "512Mi");
    let cpu = dispatch(&registry, "get_kubernetes_pod_cpu_data", b_args()).await;
    assert_eq!(cpu["request"], "200m");
    assert_eq!(cpu["limit"], "500m");
}

#[tokio::test]
async fn scenario_b_status_and_list_show_crash_loop_back_off() {
    let k8s = scenario_b().await;
    let registry = cluster(&k8s).all_tools();
    let status = dispatch(&registry, "get_kubernetes_pod_status", b_args()).await;
    assert_eq!(status["ready"], "0/1");
    let c = &status["containers"][0];
    assert!(
        c["state"]
            .as_str()
            .unwrap()
            .starts_with("waiting: CrashLoopBackOff")
    );
    assert_eq!(c["ready"], false);
    assert_eq!(c["last_termination"]["exit_code"], 1);
    assert_eq!(c["last_termination"]["reason"], "Error");
    assert!(status["conditions"].as_array().unwrap().contains(&json!(
        "Ready=False (ContainersNotReady: containers with unready status: [orders-api])"
    )));
    let events = status["events"].as_array().unwrap();
    assert!(
        events[0].as_str().unwrap().contains("BackOff"),
        "{events:?}"
    );
    // The scheduler's events.k8s.io-style event has only eventTime.
    assert!(
        events
            .iter()
            .any(|e| e.as_str().unwrap().starts_with(
                "2025-06-10T10:02:11.402157Z Normal Scheduled: Successfully assigned"
            )),
        "{events:?}"
    );

    let list = dispatch(
        &registry,
        "list_kubernetes_pods",
        json!({"namespace": B_NS}),
    )
    .await;
    let pods = list["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 3);
    let broken = pods.iter().find(|p| p["name"] == B_POD).unwrap();
    assert_eq!(broken["status"], "CrashLoopBackOff");
    assert_eq!(broken["ready"], "0/1");
    assert_eq!(broken["restarts"], 12);
    assert!(
        pods.iter()
            .filter(|p| p["name"] != B_POD)
            .all(|p| p["status"] == "Running" && p["ready"] == "1/1"),
        "{pods:?}"
    );
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A mock whose pod GET works and whose metrics path answers `reply`, reached once.
async fn metrics_failing(reply: ResponseTemplate) -> MockServer {
    let k8s = MockServer::start().await;
    get(
        &k8s,
        &pod_path(A_NS, A_POD),
        json_file(200, "a-istio-proxy-oomkilled/pod.json"),
    )
    .await;
    Mock::given(method("GET"))
        .and(path(metrics_path(A_NS, A_POD)))
        .respond_with(reply)
        .expect(1)
        .mount(&k8s)
        .await;
    k8s
}

async fn usage_unavailable(reply: ResponseTemplate) -> String {
    let k8s = metrics_failing(reply).await;
    let registry = cluster(&k8s).seed_tools();
    let out = dispatch(
        &registry,
        "get_kubernetes_pod_memory_data",
        a_args(Some("istio-proxy")),
    )
    .await;
    assert_eq!(out["usage"], Value::Null, "{out}");
    // Requests and limits still come from the pod.
    assert_eq!(out["request"], "512Mi");
    assert_eq!(out["limit"], "1Gi");
    k8s.verify().await;
    out["usage_unavailable"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_error_body_gives_its_own_message() {
    let mut messages = Vec::new();

    // Pod not found (wrong namespace).
    let k8s = MockServer::start().await;
    get(
        &k8s,
        &pod_path("payments", A_POD),
        json_file(404, "errors/status-404-pod-not-found.json"),
    )
    .await;
    let registry = cluster(&k8s).all_tools();
    let args = json!({"namespace": "payments", "pod_name": A_POD, "container_name": "istio-proxy"});
    for tool in [
        "get_kubernetes_pod_logs",
        "get_kubernetes_pod_memory_data",
        "get_kubernetes_pod_status",
    ] {
        let text = dispatch_err(&registry, tool, args.clone()).await;
        assert_eq!(
            text,
            format!(
                "error: `{tool}` failed: pod `billing-service-v1-abcdef` not found in namespace `payments`; check the namespace and the pod name"
            )
        );
    }
    messages.push(dispatch_err(&registry, "get_kubernetes_pod_logs", args).await);

    // 403 on pods/log: the API server's words, naming verb and resource.
    let k8s = MockServer::start().await;
    get(
        &k8s,
        &pod_path(A_NS, A_POD),
        json_file(200, "a-istio-proxy-oomkilled/pod.json"),
    )
    .await;
    get(
        &k8s,
        &log_path(A_NS, A_POD),
        json_file(403, "errors/status-403-forbidden-pod-log.json"),
    )
    .await;
    let text = dispatch_err(
        &cluster(&k8s).seed_tools(),
        "get_kubernetes_pod_logs",
        a_args(Some("billing-service")),
    )
    .await;
    assert_eq!(
        text,
        r#"error: `get_kubernetes_pod_logs` failed: forbidden: pods "billing-service-v1-abcdef" is forbidden: User "system:serviceaccount:ai-tools:k8s-troubleshooter" cannot get resource "pods/log" in API group "" in the namespace "default""#
    );
    messages.push(text);

    // 403 on listing pods.
    let k8s = MockServer::start().await;
    get(
        &k8s,
        &pods_path("kube-system"),
        json_file(403, "errors/status-403-forbidden-list-pods.json"),
    )
    .await;
    let text = dispatch_err(
        &cluster(&k8s).all_tools(),
        "list_kubernetes_pods",
        json!({"namespace": "kube-system"}),
    )
    .await;
    assert!(
        text.ends_with(r#"forbidden: pods is forbidden: User "system:serviceaccount:ai-tools:k8s-troubleshooter" cannot list resource "pods" in API group "" in the namespace "kube-system""#),
        "{text}"
    );
    messages.push(text);

    // 401, any path.
    let k8s = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json_file(401, "errors/status-401-unauthorized.json"))
        .mount(&k8s)
        .await;
    let text = dispatch_err(
        &cluster(&k8s).seed_tools(),
        "get_kubernetes_pod_cpu_data",
        a_args(None),
    )
    .await;
    assert_eq!(
        text,
        "error: `get_kubernetes_pod_cpu_data` failed: the Kubernetes API server rejected the credentials (401 Unauthorized); the user must renew them, retrying will not help"
    );
    messages.push(text);

    // The metrics side never fails the call: usage is null and the reason is given.
    let text = usage_unavailable(json_file(
        403,
        "errors/status-403-forbidden-podmetrics.json",
    ))
    .await;
    assert_eq!(
        text,
        r#"forbidden: pods.metrics.k8s.io "billing-service-v1-abcdef" is forbidden: User "system:serviceaccount:ai-tools:k8s-troubleshooter" cannot get resource "pods" in API group "metrics.k8s.io" in the namespace "default""#
    );
    messages.push(text);
    let text = usage_unavailable(text_file(404, "errors/metrics-api-absent-404.txt")).await;
    assert_eq!(
        text,
        "metrics-server is not installed (the cluster has no metrics.k8s.io API), so usage is unknown"
    );
    messages.push(text);
    let text = usage_unavailable(json_file(404, "errors/podmetrics-not-found-404.json")).await;
    assert!(
        text.starts_with("metrics not available for pod `billing-service-v1-abcdef`"),
        "{text}"
    );
    messages.push(text);
    let text = usage_unavailable(text_file(503, "errors/metrics-api-unavailable-503.txt")).await;
    assert_eq!(
        text,
        "the metrics API is unavailable (service unavailable): metrics-server is installed but not answering"
    );
    messages.push(text);

    let mut distinct = messages.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), messages.len(), "{messages:#?}");
}

#[tokio::test]
async fn a_503_is_not_retried() {
    let k8s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(pods_path(A_NS)))
        .respond_with(text_file(503, "errors/metrics-api-unavailable-503.txt"))
        .expect(1)
        .mount(&k8s)
        .await;
    let text = dispatch_err(
        &cluster(&k8s).all_tools(),
        "list_kubernetes_pods",
        json!({"namespace": A_NS}),
    )
    .await;
    assert!(
        text.ends_with("the Kubernetes API server answered 503: service unavailable"),
        "{text}"
    );
    k8s.verify().await;
}

// The clock is paused: the timeout fires when the runtime has nothing else to
// do, so the test waits on no wall clock.
#[tokio::test(start_paused = true)]
async fn a_slow_api_server_is_cut_at_the_timeout() {
    let k8s = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            json_file(200, "a-istio-proxy-oomkilled/pod.json").set_delay(Duration::from_secs(60)),
        )
        .mount(&k8s)
        .await;
    // Shorter than kube's own connect (30 s) and read (295 s) timeouts.
    let err = PodLogs::new(cluster(&k8s).timeout(Duration::from_secs(20)))
        .call(PodArgs::new(A_NS, A_POD))
        .await
        .unwrap_err();
    assert_eq!(err, Error::Timeout(Duration::from_secs(20)));
    assert_eq!(
        err.to_string(),
        "the Kubernetes API server did not answer within 20s"
    );
}

#[tokio::test]
async fn an_unreachable_api_server_is_reported_not_panicked() {
    // A port that was just free: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for scheme in ["http", "https"] {
        let config = kube::Config::new(format!("{scheme}://127.0.0.1:{port}").parse().unwrap());
        let cluster = Cluster::from_config(config).unwrap();
        let text = dispatch_err(
            &cluster.all_tools(),
            "get_kubernetes_pod_status",
            a_args(None),
        )
        .await;
        assert!(
            text.starts_with(
                "error: `get_kubernetes_pod_status` failed: could not reach the Kubernetes API server: "
            ),
            "{text}"
        );
    }
}

#[tokio::test]
async fn https_clients_for_kubernetes_and_chat_live_together() {
    // With every feature on, one rustls crypto provider must serve both
    // (two would make kube panic on its first https client).
    let config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
    let cluster = Cluster::from_config(config).unwrap();
    let backend = OpenAiCompatible::new("https://127.0.0.1:1/v1");
    let _ = backend.base_url();
    let err = PodMemory::new(cluster.timeout(Duration::from_secs(5)))
        .call(PodArgs::new(A_NS, A_POD))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
}

#[test]
fn a_client_needs_a_runtime_and_says_so() {
    let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
    let err = Cluster::from_config(config).unwrap_err();
    assert!(
        matches!(err, toolcall::Error::KubernetesNoRuntime),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "a kubernetes client must be built inside a tokio runtime"
    );
}

#[tokio::test]
async fn bad_arguments_are_told_to_the_model() {
    let server = MockServer::start().await;
    let registry = cluster(&server).seed_tools();
    let err = registry
        .dispatch(
            "get_kubernetes_pod_logs",
            r#"{"namespace":"default","pod":"x"}"#,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments { .. }), "{err}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_container_waiting_to_start_answers_with_its_state_not_an_error() {
    let mut pod: Value =
        serde_json::from_str(&k8s_fixture("b-crashloop-missing-env/pod.json")).unwrap();
    let status = &mut pod["status"]["containerStatuses"][0];
    status["state"] = json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"ghcr.io/acme-corp/orders-api:2.4.1\""}});
    status["restartCount"] = json!(0);
    status.as_object_mut().unwrap().remove("lastState");
    let k8s = MockServer::start().await;
    get(&k8s, &pod_path(B_NS, B_POD), json(200, &pod.to_string())).await;
    let refusal = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "container \"orders-api\" in pod \"orders-api-6f7d9c8b5d-k4m2p\" is waiting to start: trying and failing to pull image",
        "reason": "BadRequest", "code": 400});
    logs(
        &k8s,
        B_NS,
        B_POD,
        "orders-api",
        json(400, &refusal.to_string()),
        None,
    )
    .await;
    let out = dispatch(
        &cluster(&k8s).seed_tools(),
        "get_kubernetes_pod_logs",
        b_args(),
    )
    .await;
    assert_eq!(out["logs"], "");
    assert!(out.get("restarts").is_none_or(|r| r == 0), "{out}");
    assert!(
        out["state"]
            .as_str()
            .unwrap()
            .starts_with("waiting: ImagePullBackOff (Back-off pulling image"),
        "{out}"
    );
    assert!(
        out["note"]
            .as_str()
            .unwrap()
            .contains("is waiting to start: trying and failing to pull image"),
        "{out}"
    );
    assert!(out.get("previous").is_none_or(Value::is_null), "{out}");
}
