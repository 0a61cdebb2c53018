//! The seed conversation's four tools, declared as Rust structs, answering the seed's exact strings.
//!
//! Shared by `tests/`, `examples/seed_replay.rs` and `benches/agent_loop.rs`.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::borrow::Cow;
use std::convert::Infallible;

use serde::Deserialize;
use toolcall::schemars::{self, JsonSchema};
use toolcall::{Tool, ToolRegistry};

/// The seed's system prompt.
pub const SYSTEM: &str = "If you need more data to troubleshoot, you response must be have valid JSON object containing a 'tool_calls' array.";
/// The seed's question.
pub const QUESTION: &str = "My istio-proxy sidecar is failing in the billing-service-v1-abcdef pod in default namespace. please troubleshoot and find the root cause. you can use tools provided";
/// The logs tool's answer, byte for byte.
pub const LOGS: &str = r#"{"logs": "warn    Envoy may have been out of memory killed. Check memory usage and limits.; error    Epoch 0 exited with error: signal: killed"}"#;
/// The memory tool's answer.
pub const MEMORY: &str = r#"{"usage": "1Gi", "request": "512Mi", "limit": "1Gi"}"#;
/// The CPU tool's answer.
pub const CPU: &str = r#"{"usage": "104m", "request": "512m", "limit": "1024m"}"#;

/// Which pod (and container) to look at.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PodArgs {
    /// The Kubernetes namespace where the pod is located, e.g., '''default''', '''istio-system'''
    pub namespace: String,
    /// The full name of the pod, e.g., '''my-app-7f5dcf7f9c-2q9k8'''
    pub pod_name: String,
    /// The specific container within the pod to get logs from. Optional.
    pub container_name: Option<String>,
}

/// The query to run.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct QueryArgs {
    /// The SQL SELECT statement to execute.
    pub sql_query: String,
}

macro_rules! seed_tool {
    ($ty:ident, $name:literal, $args:ty, $description:literal, $answer:expr) => {
        #[doc = $description]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $ty;

        impl Tool for $ty {
            const NAME: &'static str = $name;
            type Args = $args;
            type Output = String;
            type Error = Infallible;

            fn description(&self) -> Cow<'static, str> {
                Cow::Borrowed($description)
            }

            async fn call(&self, _args: $args) -> Result<String, Infallible> {
                Ok($answer.to_owned())
            }
        }
    };
}

seed_tool!(
    PodLogs,
    "get_kubernetes_pod_logs",
    PodArgs,
    "Retrieves logs from a specific pod in a Kubernetes cluster. Useful for debugging crashes or errors.",
    LOGS
);
seed_tool!(
    PodMemory,
    "get_kubernetes_pod_memory_data",
    PodArgs,
    "Retrieves the current memory usage, request, and limit of a specific pod in a Kubernetes cluster.",
    MEMORY
);
seed_tool!(
    PodCpu,
    "get_kubernetes_pod_cpu_data",
    PodArgs,
    "Retrieves the current cpu usage, request, and limit of a specific pod in a Kubernetes cluster.",
    CPU
);
seed_tool!(
    PostgresQuery,
    "run_postgres_query",
    QueryArgs,
    "Executes a read-only SQL query against the PostgreSQL database.",
    "[]"
);

/// The seed's four tools, in the seed's order.
pub fn registry() -> ToolRegistry {
    ToolRegistry::new()
        .with(PodLogs)
        .with(PodMemory)
        .with(PodCpu)
        .with(PostgresQuery)
}

/// `tests/fixtures/seed/<name>`, read at compile time.
pub fn fixture(name: &str) -> &'static str {
    match name {
        "request-1.json" => include_str!("../fixtures/seed/request-1.json"),
        "request-2.json" => include_str!("../fixtures/seed/request-2.json"),
        "request-3.json" => include_str!("../fixtures/seed/request-3.json"),
        "request-4.json" => include_str!("../fixtures/seed/request-4.json"),
        "response-1.json" => include_str!("../fixtures/seed/response-1.json"),
        "response-2.json" => include_str!("../fixtures/seed/response-2.json"),
        "response-3.json" => include_str!("../fixtures/seed/response-3.json"),
        "response-4.json" => include_str!("../fixtures/seed/response-4.json"),
        _ => "",
    }
}

/// The four responses, in order.
pub fn responses() -> [&'static str; 4] {
    [
        fixture("response-1.json"),
        fixture("response-2.json"),
        fixture("response-3.json"),
        fixture("response-4.json"),
    ]
}

/// Which seed response answers a request body: one per `role: tool` message already sent.
pub fn response_for(body: &[u8]) -> &'static str {
    let needle = br#""role":"tool""#;
    let tools = body.windows(needle.len()).filter(|w| *w == needle).count();
    responses().get(tools).copied().unwrap_or(responses()[3])
}
