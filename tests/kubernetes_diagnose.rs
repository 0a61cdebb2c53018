//! `diagnose_kubernetes_pod` (and the logs tools on the same incidents) against a
//! wiremock API server serving real-shaped objects.
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

use kubernetes_support::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer};

async fn call(server: &MockServer, tool: &str, args: Value) -> Value {
    let text = cluster(server)
        .tools()
        .dispatch(tool, &args.to_string())
        .await
        .unwrap_or_else(|e| panic!("{tool} failed: {e}"));
    serde_json::from_str(&text.text).unwrap()
}

async fn diagnose(server: &MockServer, ns: &str, pod: &str) -> Value {
    call(
        server,
        "diagnose_kubernetes_pod",
        json!({"namespace": ns, "pod_name": pod}),
    )
    .await
}

fn query(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn summaries(d: &Value) -> Vec<String> {
    d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["severity"].as_str().unwrap(),
                f["summary"].as_str().unwrap()
            )
        })
        .collect()
}

/// A server for one incident of `tests/fixtures/k8s/incidents/`.
async fn incident(name: &str) -> (MockServer, String) {
    let server = MockServer::start().await;
    let pod: Value =
        serde_json::from_str(&k8s_fixture(&format!("incidents/{name}.pod.json"))).unwrap();
    let pod_name = pod["metadata"]["name"].as_str().unwrap().to_owned();
    get(
        &server,
        &pod_path(B_NS, &pod_name),
        json_file(200, &format!("incidents/{name}.pod.json")),
    )
    .await;
    Mock::given(method("GET"))
        .and(path(events_path(B_NS)))
        .and(query_param(
            "fieldSelector",
            format!("involvedObject.name={pod_name}"),
        ))
        .respond_with(json_file(200, &format!("incidents/{name}.events.json")))
        .mount(&server)
        .await;
    get(
        &server,
        &metrics_path(B_NS, &pod_name),
        json_file(404, "b-crashloop-missing-env/podmetrics.status.json"),
    )
    .await;
    (server, pod_name)
}

#[tokio::test]
async fn a_leads_with_the_oom_kill_at_the_limit() {
    let server = scenario_a().await;
    let d = diagnose(&server, A_NS, A_POD).await;
    let s = summaries(&d);
    assert_eq!(
        s[0],
        "critical istio-proxy was OOM-killed (exit 137, reason OOMKilled; 5 restarts): memory usage 1Gi = limit 1Gi; CPU 104m of limit 1024m is not the problem"
    );
    assert!(
        d["findings"][0]["next_step"]
            .as_str()
            .unwrap()
            .contains("sidecar.istio.io/proxyMemoryLimit")
    );
    assert!(
        s.iter().skip(1).all(|f| !f.starts_with("critical")),
        "{s:#?}"
    );
    let proxy = d["evidence"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "istio-proxy")
        .unwrap();
    assert_eq!(proxy["log_tail"]["run"], "previous run");
    assert!(
        proxy["log_tail"]["lines"]
            .as_str()
            .unwrap()
            .contains("signal: killed")
    );
    assert!(
        proxy["exit_meaning"]
            .as_str()
            .unwrap()
            .contains("OOM killer")
    );
    assert_eq!(proxy["cpu"]["usage"], "104m");
    // The previous run's log was asked for with a small tail.
    let logs = requests_to(&server, &log_path(A_NS, A_POD)).await;
    assert!(
        logs.iter()
            .any(|q| query(q, "previous").as_deref() == Some("true")
                && query(q, "container").as_deref() == Some("istio-proxy")
                && query(q, "tailLines").as_deref() == Some("20")),
        "{logs:?}"
    );
    // No log of a container that never restarted.
    assert!(
        logs.iter()
            .all(|q| query(q, "container").as_deref() == Some("istio-proxy")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn b_names_the_missing_variable_and_the_stuck_rollout() {
    let server = scenario_b().await;
    let d = diagnose(&server, B_NS, B_POD).await;
    let s = summaries(&d);
    assert!(s[0].starts_with("critical orders-api keeps crashing (exit code 1: the application exited with an error) after 1s; 12 restarts, now CrashLoopBackOff; last error in its log: KeyError: 'DATABASE_URL'"), "{s:#?}");
    assert!(
        s[1].contains("environment variable DATABASE_URL, which its env does not set")
            && s[1].contains("similar: DB_URL"),
        "{s:#?}"
    );
    assert!(!s[1].contains("REDIS_URL;"), "{s:#?}");
    assert!(s.iter().any(|f| f == "warning Deployment orders-api: rollout of revision 7 in progress: 1 of 3 replicas updated, 2 available; it exceeded its progress deadline (ProgressDeadlineExceeded); changed since revision 6: orders-api image ghcr.io/acme-corp/orders-api:2.3.1 → ghcr.io/acme-corp/orders-api:2.4.0; orders-api env removed: DATABASE_URL; orders-api env added: DB_URL"), "{s:#?}");
    assert!(
        s[1].ends_with("; revision 6 set it from Secret orders-db key url"),
        "{s:#?}"
    );
    assert_eq!(d["evidence"]["owner"]["previous_revision"], "6");
    assert_eq!(
        d["findings"][1]["next_step"],
        "set DATABASE_URL in the pod template (was it renamed to DB_URL?), or roll back to revision 6: kubectl rollout undo deployment/orders-api --to-revision=6"
    );
    // The ReplicaSets were listed by the Deployment's selector.
    let sets = requests_to(&server, "/apis/apps/v1/namespaces/orders/replicasets").await;
    assert_eq!(
        query(&sets[0], "labelSelector").as_deref(),
        Some("app.kubernetes.io/name=orders-api")
    );
    assert!(
        s.iter()
            .any(|f| f.starts_with("info usage unknown: metrics not available")),
        "{s:#?}"
    );
    assert!(s.iter().all(|f| !f.contains("OOM")), "{s:#?}");
    assert_eq!(
        d["evidence"]["owner"]["chain"],
        json!(["ReplicaSet/orders-api-6f7d9c8b5d", "Deployment/orders-api"])
    );
    // In CrashLoopBackOff the current log is the run that just ended.
    let logs = requests_to(&server, &log_path(B_NS, B_POD)).await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(query(&logs[0], "previous"), None);
}

#[tokio::test]
async fn a_missing_pod_is_a_tool_error() {
    let server = MockServer::start().await;
    get(
        &server,
        &pod_path("payments", A_POD),
        json_file(404, "errors/status-404-pod-not-found.json"),
    )
    .await;
    let err = cluster(&server)
        .tools()
        .dispatch(
            "diagnose_kubernetes_pod",
            &json!({"namespace": "payments", "pod_name": A_POD}).to_string(),
        )
        .await
        .unwrap_err()
        .to_model_text();
    assert!(err.contains("not found in namespace `payments`"), "{err}");
}

#[tokio::test]
async fn an_init_container_crash_loop_is_the_cause_and_the_logs_tool_follows_it() {
    let (server, pod) = incident("init-crashloop").await;
    Mock::given(method("GET"))
        .and(path(log_path(B_NS, &pod)))
        .and(query_param("container", "migrate"))
        .respond_with(text_file(200, "incidents/init-crashloop.logs-migrate.txt"))
        .mount(&server)
        .await;
    let d = diagnose(&server, B_NS, &pod).await;
    let s = summaries(&d);
    assert!(
        s[0].starts_with("critical init container migrate keeps crashing (exit code 1")
            && s[0].contains("Connection refused"),
        "{s:#?}"
    );
    assert!(
        s.iter().any(|f| f
            == "warning orders-api has not started: it waits for init container migrate to finish"),
        "{s:#?}"
    );
    assert!(
        s.iter().all(|f| !f.contains("cloud-sql-proxy")),
        "the running sidecar is fine: {s:#?}"
    );
    let kinds: Vec<(&str, &str)> = d["evidence"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("cloud-sql-proxy", "sidecar"),
            ("migrate", "init"),
            ("orders-api", "container")
        ]
    );

    // The seed's logs tool, asked with no container, reads the failing init container.
    let logs = call(
        &server,
        "get_kubernetes_pod_logs",
        json!({"namespace": B_NS, "pod_name": pod}),
    )
    .await;
    assert_eq!(logs["container"], "migrate");
    assert!(
        logs["logs"]
            .as_str()
            .unwrap()
            .contains("Connection refused")
    );
    assert!(
        logs["note"]
            .as_str()
            .unwrap()
            .contains("init container `migrate` is holding the pod back"),
        "{logs}"
    );
}

#[tokio::test]
async fn a_liveness_kill_is_not_called_oom_and_shows_the_probe() {
    let (server, pod) = incident("liveness-kill").await;
    Mock::given(method("GET"))
        .and(path(log_path(B_NS, &pod)))
        .and(query_param("previous", "true"))
        .respond_with(text_file(
            200,
            "incidents/liveness-kill.logs-orders-api-previous.txt",
        ))
        .mount(&server)
        .await;
    let d = diagnose(&server, B_NS, &pod).await;
    let s = summaries(&d);
    assert!(s[0].starts_with("critical orders-api was killed by the kubelet because its liveness probe failed, not by the OOM killer (exit 137, reason Error; 4 restarts): liveness: HTTP GET :8000/healthz every 10s, timeout 1s, 3 failures"), "{s:#?}");
    assert!(s[0].contains("context deadline exceeded"), "{s:#?}");
    assert!(s.iter().all(|f| !f.contains("OOM-killed")), "{s:#?}");
    assert!(
        s.iter()
            .any(|f| f.starts_with("info ephemeral debug container debugger-h2x9q is running")),
        "{s:#?}"
    );
    let meaning = d["evidence"]["containers"][0]["exit_meaning"]
        .as_str()
        .unwrap();
    assert!(
        meaning.starts_with("137: SIGKILL (128 + 9), not an OOM kill"),
        "{meaning}"
    );
}

#[tokio::test]
async fn a_missing_secret_key_names_the_env_var() {
    let (server, pod) = incident("missing-secret-key").await;
    let d = diagnose(&server, B_NS, &pod).await;
    let s = summaries(&d);
    assert_eq!(
        s[0],
        "critical orders-api cannot be created: env var DB_URL refers to key `url` of Secret `orders-db`, which has no such key (CreateContainerConfigError)"
    );
    // Nothing was read from the Secret itself.
    let secrets: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().contains("secrets"))
        .collect();
    assert!(secrets.is_empty());
}

#[tokio::test]
async fn an_image_that_does_not_exist_quotes_the_registry() {
    let (server, pod) = incident("image-pull").await;
    let d = diagnose(&server, B_NS, &pod).await;
    let s = summaries(&d);
    assert!(s[0].starts_with("critical orders-api cannot start: image `ghcr.io/acme-corp/orders-api:2.4.1` is not found (ImagePullBackOff); the registry said: Failed to pull image"), "{s:#?}");
    assert!(s[0].contains("code = NotFound"), "{s:#?}");
    assert!(
        d["findings"][0]["next_step"]
            .as_str()
            .unwrap()
            .contains("tag")
    );
}

#[tokio::test]
async fn an_evicted_pod_gives_the_kubelets_message() {
    let (server, pod) = incident("evicted").await;
    let d = diagnose(&server, B_NS, &pod).await;
    let s = summaries(&d);
    assert!(s[0].starts_with("critical the pod was evicted by the kubelet (phase Failed): The node was low on resource: memory."), "{s:#?}");
    assert!(
        s[0].contains("was using 1432Mi, request is 256Mi"),
        "{s:#?}"
    );
    assert_eq!(
        s[1],
        "info orders-api was stopped with the pod (Evicted): exit code 137, reason ContainerStatusUnknown"
    );
    assert!(s.iter().all(|f| !f.contains("liveness")), "{s:#?}");
}

#[tokio::test]
async fn an_unschedulable_pod_weighs_the_nodes() {
    let (server, pod) = incident("unschedulable").await;
    get(
        &server,
        "/api/v1/nodes",
        json_file(200, "incidents/unschedulable.nodes.json"),
    )
    .await;
    for node in ["ip-10-42-0-10", "ip-10-42-1-88", "ip-10-42-3-17"] {
        Mock::given(method("GET"))
            .and(path("/api/v1/pods"))
            .and(query_param(
                "fieldSelector",
                format!("spec.nodeName={node}.eu-west-1.compute.internal,status.phase!=Succeeded,status.phase!=Failed"),
            ))
            .respond_with(json_file(200, &format!("incidents/unschedulable.pods-on-{node}.json")))
            .mount(&server)
            .await;
    }
    let d = diagnose(&server, B_NS, &pod).await;
    let s = summaries(&d);
    assert!(s[0].starts_with("critical the pod is not scheduled: 0/3 nodes are available: 1 node(s) had untolerated taint"), "{s:#?}");
    assert!(s[0].contains("; 0/3 nodes have room for its requests (cpu 2000m, memory 1Gi); the most free CPU on a node it may use is 730m on ip-10-42-3-17.eu-west-1.compute.internal (memory free 4.6Gi)"), "{s:#?}");
    let nodes = d["evidence"]["scheduling"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(
        nodes[0]["notes"],
        json!(["taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated"])
    );
    assert_eq!(nodes[1]["cpu_free"], "730m");
    assert_eq!(nodes[2]["cpu_free"], "680m");
}

#[tokio::test]
async fn a_native_sidecar_oom_kill_is_found_with_its_usage() {
    let server = MockServer::start().await;
    let pod = "orders-api-6f7d9c8b5d-s4c8d";
    get(
        &server,
        &pod_path(B_NS, pod),
        json_file(200, "incidents/sidecar-oom.pod.json"),
    )
    .await;
    get(
        &server,
        &events_path(B_NS),
        json_file(200, "incidents/sidecar-oom.events.json"),
    )
    .await;
    get(
        &server,
        &metrics_path(B_NS, pod),
        json_file(200, "incidents/sidecar-oom.podmetrics.json"),
    )
    .await;
    Mock::given(method("GET"))
        .and(path(log_path(B_NS, pod)))
        .and(query_param("container", "log-shipper"))
        .and(query_param("previous", "true"))
        .respond_with(text_file(
            200,
            "incidents/sidecar-oom.logs-log-shipper-previous.txt",
        ))
        .mount(&server)
        .await;
    let d = diagnose(&server, B_NS, pod).await;
    let s = summaries(&d);
    assert_eq!(
        s[0],
        "critical sidecar log-shipper was OOM-killed (exit 137, reason OOMKilled; 3 restarts): memory usage now 61.5Mi of limit 64Mi (96%)"
    );
    assert_eq!(
        s.len(),
        1,
        "the app is fine and the OOM is not reported twice: {s:#?}"
    );
    let shipper = &d["evidence"]["containers"][0];
    assert_eq!(shipper["kind"], "sidecar");
    assert_eq!(shipper["log_tail"]["run"], "previous run");
    // The memory tool counts the sidecar in the pod total.
    let memory = call(
        &server,
        "get_kubernetes_pod_memory_data",
        json!({"namespace": B_NS, "pod_name": pod}),
    )
    .await;
    let names: Vec<&str> = memory["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["container"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders-api", "log-shipper"]);
}

#[tokio::test]
async fn parts_that_cannot_be_read_are_said_and_the_rest_answered() {
    let server = MockServer::start().await;
    get(
        &server,
        &pod_path(B_NS, B_POD),
        json_file(200, "b-crashloop-missing-env/pod.json"),
    )
    .await;
    get(
        &server,
        &events_path(B_NS),
        json_file(403, "errors/status-403-forbidden-list-pods.json"),
    )
    .await;
    get(
        &server,
        &metrics_path(B_NS, B_POD),
        text_file(404, "errors/metrics-api-absent-404.txt"),
    )
    .await;
    get(
        &server,
        &log_path(B_NS, B_POD),
        text_file(200, "b-crashloop-missing-env/logs-orders-api.txt"),
    )
    .await;
    get(
        &server,
        "/apis/apps/v1/namespaces/orders/replicasets/orders-api-6f7d9c8b5d",
        json_file(403, "errors/status-403-forbidden-pod-log.json"),
    )
    .await;
    let d = diagnose(&server, B_NS, B_POD).await;
    let e = &d["evidence"];
    assert!(
        e["events_error"]
            .as_str()
            .unwrap()
            .starts_with("forbidden: "),
        "{e}"
    );
    assert_eq!(
        e["metrics_unavailable"],
        "metrics-server is not installed (the cluster has no metrics.k8s.io API), so usage is unknown"
    );
    assert!(
        e["owner"]["error"]
            .as_str()
            .unwrap()
            .starts_with("ReplicaSet orders-api-6f7d9c8b5d: forbidden: "),
        "{e}"
    );
    assert!(summaries(&d)[0].contains("KeyError: 'DATABASE_URL'"));
}

#[tokio::test]
async fn a_command_missing_from_the_image_quotes_the_runtime() {
    let (server, pod) = incident("start-error").await;
    Mock::given(method("GET"))
        .and(path(log_path(B_NS, &pod)))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(Vec::new(), "text/plain"))
        .mount(&server)
        .await;
    let d = diagnose(&server, B_NS, &pod).await;
    let s = summaries(&d);
    assert!(
        s[0].starts_with(
            "critical orders-api keeps crashing (exit code 128: the process could not be started"
        ),
        "{s:#?}"
    );
    assert!(
        s[0].contains("termination message: failed to create containerd task")
            && s[0].contains("exec: \"python3\": executable file not found in $PATH"),
        "{s:#?}"
    );
}
