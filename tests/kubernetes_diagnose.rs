//! `diagnose_kubernetes_pod` against a wiremock API server serving real-shaped objects.
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

async fn diagnose(server: &wiremock::MockServer, ns: &str, pod: &str) -> Value {
    let registry = cluster(server).tools();
    let text = registry
        .dispatch(
            "diagnose_kubernetes_pod",
            &json!({"namespace": ns, "pod_name": pod}).to_string(),
        )
        .await
        .unwrap_or_else(|e| panic!("diagnose failed: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn print_a() {
    let server = scenario_a().await;
    let d = diagnose(&server, A_NS, A_POD).await;
    println!("{}", serde_json::to_string_pretty(&d).unwrap());
}

#[tokio::test]
async fn print_b() {
    let server = scenario_b().await;
    let d = diagnose(&server, B_NS, B_POD).await;
    println!("{}", serde_json::to_string_pretty(&d).unwrap());
}
