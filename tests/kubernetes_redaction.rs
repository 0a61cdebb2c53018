//! Secret redaction, scoping and log search, through the tools as the model calls them.
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
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Real-looking secrets, one per line, each with the kind its marker must name.
const SECRETS: &[(&str, &str)] = &[
    (
        "GET /v1/orders Authorization: Bearer sk9Hq2LmZx81vPq0wRt5YbN3",
        "bearer-token",
    ),
    (
        "connecting to postgres://orders:Xq7!pLm2vB9@orders-db.orders.svc:5432/orders",
        "url-password",
    ),
    ("config loaded: DB_PASSWORD=Tr0ub4dor&3xyz", "secret-value"),
    (
        r#"{"client_secret": "d8f7a6e5c4b3a2918f7e6d5c4b3a2910"}"#,
        "secret-value",
    ),
    (
        "token=eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU",
        "jwt",
    ),
    (
        "aws: AKIAIOSFODNN7EXAMPLE region=eu-west-1",
        "aws-access-key",
    ),
    (
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "secret-value",
    ),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aumS\n-----END RSA PRIVATE KEY-----",
        "private-key",
    ),
    (
        "github token ghp_16C7e42F292c6912E7710c838347Ae178B4a used",
        "github-token",
    ),
    ("X-Api-Key: 3f9a1c7e5b2d4f6a8c0e", "secret-value"),
    ("Authorization: Basic b3JkZXJzOnMzY3IzdA==", "basic-auth"),
];

/// Look-alikes that must come back unchanged.
const HARMLESS: &[&str] = &[
    "image ghcr.io/acme-corp/orders-api@sha256:a5f37317d3b64eaced1f76a17cd788462e815d511f9457646fcb38f2830957bc",
    "containerID containerd://41e22e9ed4f8861f60f2d6a519a41fedb6ae8837d1980ea9b2171d94f6e01c2f",
    "request id 80bd58b1-023a-482d-8ea4-aba3ee40faa8 done",
    "commit 2d9a4b0d8d6e5c7f1e0a3b4c5d6e7f8091a2b3c4",
    "usage: prompt_tokens=512 completion_tokens=128 max_tokens=1024",
    "digest: sha512-Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4",
    "password_reset_enabled=true token: null",
    "secretKeyRef orders-db/url mounted",
    "GET http://orders-api.orders.svc:8000/healthz 200",
    "auth: falling back to basic authentication for the admin API",
    "401: Bearer authentication required",
    "https://registry.example.com:5000/v2/orders-api/manifests/2.4.0",
];

async fn logs_server(body: &str) -> MockServer {
    let server = MockServer::start().await;
    get(
        &server,
        &pod_path(B_NS, B_POD),
        json_file(200, "b-crashloop-missing-env/pod.json"),
    )
    .await;
    Mock::given(method("GET"))
        .and(path(log_path(B_NS, B_POD)))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "text/plain"),
        )
        .mount(&server)
        .await;
    server
}

async fn call(
    cluster: toolcall::tools::kubernetes::Cluster,
    tool: &str,
    args: Value,
) -> Result<Value, String> {
    cluster
        .tools()
        .dispatch(tool, &args.to_string())
        .await
        .map(|t| serde_json::from_str(&t.text).unwrap())
        .map_err(|e| e.to_model_text())
}

#[tokio::test]
async fn secrets_in_logs_are_redacted_by_kind_and_look_alikes_survive() {
    let mut body = String::new();
    for (line, _) in SECRETS {
        body.push_str(line);
        body.push('\n');
    }
    for line in HARMLESS {
        body.push_str(line);
        body.push('\n');
    }
    let server = logs_server(&body).await;
    let args = json!({"namespace": B_NS, "pod_name": B_POD, "container_name": "orders-api"});
    let logs = call(cluster(&server), "search_kubernetes_pod_logs", args.clone())
        .await
        .unwrap();
    let text = logs["logs"].as_str().unwrap();
    for (line, kind) in SECRETS {
        assert!(
            text.contains(&format!("[REDACTED:{kind}]")),
            "{kind} missing for {line}:\n{text}"
        );
    }
    for secret in [
        "sk9Hq2LmZx81vPq0wRt5YbN3",
        "Xq7!pLm2vB9",
        "Tr0ub4dor",
        "d8f7a6e5c4b3a29",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI",
        "MIIEowIBAAKCAQEA",
        "ghp_16C7e42F",
        "3f9a1c7e5b2d4f6a8c0e",
        "b3JkZXJzOnMzY3IzdA",
        "c2lnbmF0dXJl",
    ] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
    for line in HARMLESS {
        assert!(text.contains(line), "look-alike changed: {line}\n{text}");
    }
    // The kept words still read: the user of the URL, the header names.
    assert!(text.contains("postgres://orders:[REDACTED:url-password]@orders-db"));

    // The seed's logs tool redacts too; turning redaction off is explicit.
    let seed = call(cluster(&server), "get_kubernetes_pod_logs", args.clone())
        .await
        .unwrap();
    assert!(
        seed["logs"]
            .as_str()
            .unwrap()
            .contains("[REDACTED:bearer-token]")
    );
    let off = call(
        cluster(&server).redact_secrets(false),
        "search_kubernetes_pod_logs",
        args,
    )
    .await
    .unwrap();
    assert!(
        off["logs"]
            .as_str()
            .unwrap()
            .contains("sk9Hq2LmZx81vPq0wRt5YbN3")
    );
    assert!(
        format!("{:?}", cluster(&server).redact_secrets(false)).contains("redact_secrets: false")
    );
}

#[tokio::test]
async fn search_filters_a_stream_and_counts() {
    let mut body = String::new();
    for i in 0..5000 {
        if i % 100 == 0 {
            body.push_str(&format!(
                "2025-06-10 10:43:{:02} ERROR request {i} failed: timeout\n",
                i % 60
            ));
        } else if i % 100 == 1 {
            body.push_str(&format!(
                "2025-06-10 10:43:{:02} error healthz probe {i}\n",
                i % 60
            ));
        } else {
            body.push_str(&format!(
                "2025-06-10 10:43:{:02} INFO request {i} ok\n",
                i % 60
            ));
        }
    }
    let server = logs_server(&body).await;
    let args = json!({"namespace": B_NS, "pod_name": B_POD, "grep": "error", "exclude": "healthz", "since": "15m", "tail_lines": 10});
    let r = call(cluster(&server), "search_kubernetes_pod_logs", args)
        .await
        .unwrap();
    assert_eq!(r["lines_read"], 5000);
    assert_eq!(r["lines_matched"], 50);
    assert_eq!(r["lines_returned"], 10);
    assert_eq!(r["truncated"], true);
    let text = r["logs"].as_str().unwrap();
    assert!(
        text.ends_with("ERROR request 4900 failed: timeout"),
        "{text}"
    );
    assert!(!text.contains("healthz"));
    // What was sent: the scan window, the time window and the container, no byte cap.
    let sent = requests_to(&server, &log_path(B_NS, B_POD)).await;
    let q = |k: &str| {
        sent[0]
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(q("tailLines").as_deref(), Some("100000"));
    assert_eq!(q("sinceSeconds").as_deref(), Some("900"));
    assert_eq!(q("container").as_deref(), Some("orders-api"));
    assert_eq!(q("limitBytes"), None);

    let bad = call(
        cluster(&server),
        "search_kubernetes_pod_logs",
        json!({"namespace": B_NS, "pod_name": B_POD, "grep": "("}),
    )
    .await
    .unwrap_err();
    assert!(bad.contains("invalid `grep`"), "{bad}");
    let bad = call(
        cluster(&server),
        "search_kubernetes_pod_logs",
        json!({"namespace": B_NS, "pod_name": B_POD, "since": "a while"}),
    )
    .await
    .unwrap_err();
    assert!(bad.contains("invalid `since`"), "{bad}");
}

#[tokio::test]
async fn namespaces_outside_the_allow_list_and_unknown_contexts_are_refused() {
    let server = scenario_b().await;
    let scoped = cluster(&server).namespaces(["orders", "payments"]);
    let err = call(
        scoped.clone(),
        "get_kubernetes_pod_memory_data",
        json!({"namespace": "kube-system", "pod_name": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        "error: `get_kubernetes_pod_memory_data` failed: namespace `kube-system` is not allowed; the allowed namespaces are: orders, payments"
    );
    let err = call(
        scoped.clone(),
        "list_kubernetes_pods",
        json!({"namespace": "default"}),
    )
    .await
    .unwrap_err();
    assert!(err.contains("not allowed"), "{err}");
    assert!(
        call(
            scoped.clone(),
            "get_kubernetes_pod_status",
            json!({"namespace": B_NS, "pod_name": B_POD})
        )
        .await
        .is_ok()
    );
    // Nothing was asked of the API server for the refused calls.
    let asked: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert!(
        asked.iter().all(|p| p.contains("/namespaces/orders/")),
        "{asked:?}"
    );

    // A second cluster by context name; the default one keeps the calls without it.
    let other = scenario_a().await;
    let both = cluster(&server)
        .context_name("prod-eu")
        .with_context("staging", cluster(&other));
    let a = call(
        both.clone(),
        "get_kubernetes_pod_status",
        json!({"namespace": A_NS, "pod_name": A_POD, "context": "staging"}),
    )
    .await
    .unwrap();
    assert_eq!(a["pod"], A_POD);
    let err = call(
        both.clone(),
        "diagnose_kubernetes_pod",
        json!({"namespace": A_NS, "pod_name": A_POD, "context": "dev"}),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("no cluster for context `dev`; the known contexts are: prod-eu, staging"),
        "{err}"
    );
    let b = call(
        both,
        "list_kubernetes_pods",
        json!({"namespace": B_NS, "context": "prod-eu"}),
    )
    .await
    .unwrap();
    assert_eq!(b["namespace"], B_NS);
}

#[tokio::test]
async fn every_tool_is_in_tools_and_the_richer_ones_take_a_context() {
    let server = MockServer::start().await;
    let registry = cluster(&server).tools();
    registry.check().unwrap();
    assert_eq!(
        registry.names().collect::<Vec<_>>(),
        [
            "diagnose_kubernetes_pod",
            "get_kubernetes_pod_logs",
            "search_kubernetes_pod_logs",
            "get_kubernetes_pod_memory_data",
            "get_kubernetes_pod_cpu_data",
            "get_kubernetes_pod_status",
            "list_kubernetes_pods"
        ]
    );
    for def in registry.definitions() {
        let name = def["function"]["name"].as_str().unwrap();
        let has_context = def["function"]["parameters"]["properties"]["context"].is_object();
        let seed = matches!(
            name,
            "get_kubernetes_pod_logs"
                | "get_kubernetes_pod_memory_data"
                | "get_kubernetes_pod_cpu_data"
        );
        assert_eq!(has_context, !seed, "{name}");
    }
}

#[tokio::test]
async fn events_and_statuses_are_redacted_too() {
    let server = MockServer::start().await;
    let mut pod: Value =
        serde_json::from_str(&k8s_fixture("b-crashloop-missing-env/pod.json")).unwrap();
    pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"] =
        json!("fatal: could not connect to postgres://orders:hunter2pw@orders-db:5432/orders");
    get(&server, &pod_path(B_NS, B_POD), json(200, &pod.to_string())).await;
    let mut events: Value =
        serde_json::from_str(&k8s_fixture("b-crashloop-missing-env/events.json")).unwrap();
    events["items"][0]["message"] = json!(
        "Readiness probe failed: HTTP probe failed with statuscode: 401, header Authorization: Bearer c2VjcmV0LXRva2VuLTEyMzQ1Njc4"
    );
    events["items"][0]["type"] = json!("Warning");
    Mock::given(method("GET"))
        .and(path(events_path(B_NS)))
        .respond_with(json(200, &events.to_string()))
        .mount(&server)
        .await;
    let args = json!({"namespace": B_NS, "pod_name": B_POD});
    for tool in ["get_kubernetes_pod_status", "diagnose_kubernetes_pod"] {
        let text = call(cluster(&server), tool, args.clone())
            .await
            .unwrap()
            .to_string();
        assert!(!text.contains("hunter2pw"), "{tool}: {text}");
        assert!(
            !text.contains("c2VjcmV0LXRva2VuLTEyMzQ1Njc4"),
            "{tool}: {text}"
        );
        assert!(text.contains("[REDACTED:url-password]"), "{tool}: {text}");
        assert!(
            text.contains("Bearer [REDACTED:bearer-token]"),
            "{tool}: {text}"
        );
    }
}

#[tokio::test]
async fn since_time_is_sent_and_a_debug_container_can_be_read() {
    let server = MockServer::start().await;
    let pod_json = k8s_fixture("incidents/liveness-kill.pod.json");
    let pod: Value = serde_json::from_str(&pod_json).unwrap();
    let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
    get(&server, &pod_path(B_NS, &name), json(200, &pod_json)).await;
    Mock::given(method("GET"))
        .and(path(log_path(B_NS, &name)))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"/ # ps\n".to_vec(), "text/plain"))
        .mount(&server)
        .await;
    let args = json!({"namespace": B_NS, "pod_name": name, "container_name": "debugger-h2x9q", "since_time": "2025-06-10T10:40:00Z"});
    let r = call(cluster(&server), "search_kubernetes_pod_logs", args)
        .await
        .unwrap();
    assert_eq!(r["container"], "debugger-h2x9q");
    assert_eq!(r["logs"], "/ # ps");
    let sent = requests_to(&server, &log_path(B_NS, &name)).await;
    let q = |k: &str| {
        sent[0]
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(q("sinceTime").as_deref(), Some("2025-06-10T10:40:00Z"));
    assert_eq!(q("container").as_deref(), Some("debugger-h2x9q"));
    assert_eq!(q("tailLines").as_deref(), Some("200"));
}
