//! Test helpers for the Kubernetes tools: a wiremock API server serving the
//! recorded bodies in `tests/fixtures/k8s/`, and an LLM mock replaying the seed.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use serde_json::Value;
use toolcall::tools::kubernetes::Cluster;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const A_NS: &str = "default";
pub const A_POD: &str = "billing-service-v1-abcdef";
pub const B_NS: &str = "orders";
pub const B_POD: &str = "orders-api-6f7d9c8b5d-k4m2p";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `tests/fixtures/k8s/<name>`.
pub fn k8s_fixture(name: &str) -> String {
    let file = fixtures().join("k8s").join(name);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// `tests/fixtures/seed/<name>`.
pub fn seed_fixture(name: &str) -> String {
    let file = fixtures().join("seed").join(name);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A JSON body, as the API server writes it (compact, then a newline).
pub fn json(status: u16, body: &str) -> ResponseTemplate {
    let value: Value = serde_json::from_str(body).expect("fixture is JSON");
    let mut text = serde_json::to_string(&value).unwrap();
    text.push('\n');
    ResponseTemplate::new(status).set_body_raw(text.into_bytes(), "application/json")
}

/// A JSON fixture body.
pub fn json_file(status: u16, name: &str) -> ResponseTemplate {
    json(status, &k8s_fixture(name))
}

/// A plain-text fixture body (logs, and the aggregator's error pages).
pub fn text_file(status: u16, name: &str) -> ResponseTemplate {
    let content_type = if status >= 400 {
        "text/plain; charset=utf-8"
    } else {
        "text/plain"
    };
    ResponseTemplate::new(status).set_body_raw(k8s_fixture(name).into_bytes(), content_type)
}

/// A cluster client talking to `server`.
pub fn cluster(server: &MockServer) -> Cluster {
    let config = kube::Config::new(server.uri().parse().unwrap());
    Cluster::from_config(config).expect("client builds")
}

pub fn pod_path(ns: &str, pod: &str) -> String {
    format!("/api/v1/namespaces/{ns}/pods/{pod}")
}

pub fn log_path(ns: &str, pod: &str) -> String {
    format!("/api/v1/namespaces/{ns}/pods/{pod}/log")
}

pub fn metrics_path(ns: &str, pod: &str) -> String {
    format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/{pod}")
}

pub fn events_path(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/events")
}

pub fn pods_path(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/pods")
}

/// Mounts `GET path` answering `reply`.
pub async fn get(server: &MockServer, at: &str, reply: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(reply)
        .mount(server)
        .await;
}

/// Mounts a container's current log (no `previous` parameter) and, if given, its previous log.
pub async fn logs(
    server: &MockServer,
    ns: &str,
    pod: &str,
    container: &str,
    current: ResponseTemplate,
    previous: Option<ResponseTemplate>,
) {
    Mock::given(method("GET"))
        .and(path(log_path(ns, pod)))
        .and(query_param("container", container))
        .and(query_param_is_missing("previous"))
        .respond_with(current)
        .mount(server)
        .await;
    if let Some(previous) = previous {
        Mock::given(method("GET"))
            .and(path(log_path(ns, pod)))
            .and(query_param("container", container))
            .and(query_param("previous", "true"))
            .respond_with(previous)
            .mount(server)
            .await;
    }
}

/// The API server of scenario A (istio-proxy OOMKilled), every recorded body.
pub async fn scenario_a() -> MockServer {
    let server = MockServer::start().await;
    let dir = "a-istio-proxy-oomkilled";
    get(
        &server,
        &pod_path(A_NS, A_POD),
        json_file(200, &format!("{dir}/pod.json")),
    )
    .await;
    logs(
        &server,
        A_NS,
        A_POD,
        "istio-proxy",
        text_file(200, &format!("{dir}/logs-istio-proxy.txt")),
        Some(text_file(
            200,
            &format!("{dir}/logs-istio-proxy-previous.txt"),
        )),
    )
    .await;
    logs(
        &server,
        A_NS,
        A_POD,
        "billing-service",
        text_file(200, &format!("{dir}/logs-billing-service.txt")),
        Some(json_file(
            400,
            &format!("{dir}/logs-billing-service-previous.status.json"),
        )),
    )
    .await;
    Mock::given(method("GET"))
        .and(path(log_path(A_NS, A_POD)))
        .and(query_param_is_missing("container"))
        .respond_with(json_file(
            400,
            &format!("{dir}/logs-no-container.status.json"),
        ))
        .mount(&server)
        .await;
    get(
        &server,
        &metrics_path(A_NS, A_POD),
        json_file(200, &format!("{dir}/podmetrics.json")),
    )
    .await;
    Mock::given(method("GET"))
        .and(path(events_path(A_NS)))
        .and(query_param(
            "fieldSelector",
            format!("involvedObject.name={A_POD}"),
        ))
        .respond_with(json_file(200, &format!("{dir}/events.json")))
        .mount(&server)
        .await;
    get(
        &server,
        &pods_path(A_NS),
        json_file(200, &format!("{dir}/pods.json")),
    )
    .await;
    server
}

/// The API server of scenario B (CrashLoopBackOff, missing env var).
pub async fn scenario_b() -> MockServer {
    let server = MockServer::start().await;
    let dir = "b-crashloop-missing-env";
    get(
        &server,
        &pod_path(B_NS, B_POD),
        json_file(200, &format!("{dir}/pod.json")),
    )
    .await;
    logs(
        &server,
        B_NS,
        B_POD,
        "orders-api",
        text_file(200, &format!("{dir}/logs-orders-api.txt")),
        Some(text_file(
            200,
            &format!("{dir}/logs-orders-api-previous.txt"),
        )),
    )
    .await;
    get(
        &server,
        &metrics_path(B_NS, B_POD),
        json_file(404, &format!("{dir}/podmetrics.status.json")),
    )
    .await;
    Mock::given(method("GET"))
        .and(path(events_path(B_NS)))
        .and(query_param(
            "fieldSelector",
            format!("involvedObject.name={B_POD}"),
        ))
        .respond_with(json_file(200, &format!("{dir}/events.json")))
        .mount(&server)
        .await;
    get(
        &server,
        &pods_path(B_NS),
        json_file(200, &format!("{dir}/pods.json")),
    )
    .await;
    get(
        &server,
        &format!("/apis/apps/v1/namespaces/{B_NS}/replicasets/orders-api-6f7d9c8b5d"),
        json_file(200, &format!("{dir}/replicaset.json")),
    )
    .await;
    get(
        &server,
        &format!("/apis/apps/v1/namespaces/{B_NS}/deployments/orders-api"),
        json_file(200, &format!("{dir}/deployment.json")),
    )
    .await;
    Mock::given(method("GET"))
        .and(path(format!("/apis/apps/v1/namespaces/{B_NS}/replicasets")))
        .and(query_param(
            "labelSelector",
            "app.kubernetes.io/name=orders-api",
        ))
        .respond_with(json_file(200, &format!("{dir}/replicasets.json")))
        .mount(&server)
        .await;
    server
}

/// The requests `server` received for `at`, as `(path, query pairs)`.
pub async fn requests_to(server: &MockServer, at: &str) -> Vec<Vec<(String, String)>> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == at)
        .map(|r| {
            r.url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .collect()
}

/// Replays the seed's responses: the reply to a request is `response-{n+1}.json`
/// where n is how many `role: tool` messages the request carries.
pub struct SeedReplay;

impl Respond for SeedReplay {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).expect("request is JSON");
        let tools = body["messages"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["role"] == "tool").count());
        let name = format!("response-{}.json", tools + 1);
        ResponseTemplate::new(200)
            .set_body_raw(seed_fixture(&name).into_bytes(), "application/json")
    }
}

/// An LLM server replaying the seed conversation.
pub async fn seed_llm() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(SeedReplay)
        .mount(&server)
        .await;
    server
}

/// A container log served as the kubelet does: the last `tailLines` lines, then
/// cut at `limitBytes` from the start of that window.
pub struct Kubelet {
    pub lines: Vec<String>,
}

impl Respond for Kubelet {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let param = |key: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.parse::<usize>().unwrap())
        };
        let tail = param("tailLines").unwrap_or(self.lines.len());
        let start = self.lines.len().saturating_sub(tail);
        let mut body: Vec<u8> = self.lines[start..]
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect();
        if let Some(limit) = param("limitBytes") {
            body.truncate(limit);
        }
        ResponseTemplate::new(200).set_body_raw(body, "text/plain")
    }
}
