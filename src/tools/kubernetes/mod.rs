//! Kubernetes troubleshooting tools on kube-rs: pod logs, memory, CPU, status and lists.
//!
#![doc = include_str!("../../docs/kubernetes.md")]

mod error;
mod list;
mod logs;
mod metrics;
mod output;
mod pod;
mod quantity;
mod status;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

pub use error::Error;
pub use list::{ListArgs, PodList, PodListReport, PodSummary};
pub use logs::{LogOptionsArgs, LogsReport, PodLogs, PodLogsWithOptions, PreviousRun};
pub use metrics::{PodCpu, PodMemory, Resource, ResourceReport};
pub use pod::Termination;
pub use status::{ContainerReport, PodStatus, PodStatusReport};

use crate::registry::ToolRegistry;
use error::Target;

/// Default number of log lines asked for per tool answer.
pub const DEFAULT_TAIL_LINES: u32 = 200;
/// Default number of log bytes asked for per tool answer (64 KiB).
pub const DEFAULT_LIMIT_BYTES: u64 = 64 * 1024;
/// Default time one API request may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of recent events in a pod status.
pub const DEFAULT_MAX_EVENTS: usize = 10;
/// Default number of pods in a pod list.
pub const DEFAULT_MAX_PODS: u32 = 100;

/// The arguments of the seed's three tools: which pod, and optionally which container.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct PodArgs {
    /// The Kubernetes namespace where the pod is located, e.g., '''default''', '''istio-system'''
    pub namespace: String,
    /// The full name of the pod, e.g., '''my-app-7f5dcf7f9c-2q9k8'''
    pub pod_name: String,
    /// The specific container within the pod to get logs from. Optional.
    pub container_name: Option<String>,
}

impl PodArgs {
    /// Arguments for `pod_name` in `namespace`, no container named.
    #[must_use]
    pub fn new(namespace: impl Into<String>, pod_name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            pod_name: pod_name.into(),
            container_name: None,
        }
    }

    /// Names the container.
    #[must_use]
    pub fn container(mut self, name: impl Into<String>) -> Self {
        self.container_name = Some(name.into());
        self
    }
}

/// The limits every call keeps to.
#[derive(Debug, Clone, Copy)]
struct Limits {
    tail_lines: u32,
    limit_bytes: u64,
    timeout: Duration,
    max_events: usize,
    max_pods: u32,
}

/// A Kubernetes API client with the limits the tools keep to; hands out the tools.
///
/// Cheap to clone: clones share one connection pool. Built from `KUBECONFIG` or
/// the in-cluster service account ([`Cluster::infer`]), from a [`kube::Config`]
/// ([`Cluster::from_config`]) or from a [`kube::Client`] ([`Cluster::from_client`]).
/// `kube` types are not part of this crate's stable API.
///
/// ```no_run
/// # async fn demo() -> toolcall::Result<()> {
/// use toolcall::tools::kubernetes::Cluster;
///
/// let cluster = Cluster::infer().await?.tail_lines(100);
/// let registry = cluster.seed_tools(); // the seed's three tools
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    limits: Limits,
}

impl Cluster {
    /// A cluster client from `KUBECONFIG` (or `~/.kube/config`), else the
    /// in-cluster service account, with kube's retries turned off.
    ///
    /// # Errors
    /// [`crate::Error::Kubernetes`] when neither configuration is found or the
    /// client cannot be built.
    pub async fn infer() -> crate::Result<Self> {
        let config = kube::Config::infer()
            .await
            .map_err(|e| crate::Error::Kubernetes(Box::new(e)))?;
        Self::from_config(config)
    }

    /// A cluster client from `config`, with `default_retry` turned off (kube
    /// would otherwise retry a 503 for minutes). Call it inside a Tokio runtime.
    ///
    /// # Errors
    /// [`crate::Error::Kubernetes`] when there is no Tokio runtime or the client
    /// cannot be built (TLS or auth setup).
    pub fn from_config(mut config: kube::Config) -> crate::Result<Self> {
        config.default_retry = false;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(crate::Error::Kubernetes(
                "a Kubernetes client must be built inside a Tokio runtime".into(),
            ));
        }
        let client =
            kube::Client::try_from(config).map_err(|e| crate::Error::Kubernetes(Box::new(e)))?;
        Ok(Self::from_client(client))
    }

    /// Uses a client you built. Build it with `default_retry = false`, or a
    /// 503 may be retried for minutes (each call is still cut at the timeout).
    #[must_use]
    pub fn from_client(client: kube::Client) -> Self {
        Self {
            client,
            limits: Limits {
                tail_lines: DEFAULT_TAIL_LINES,
                limit_bytes: DEFAULT_LIMIT_BYTES,
                timeout: DEFAULT_TIMEOUT,
                max_events: DEFAULT_MAX_EVENTS,
                max_pods: DEFAULT_MAX_PODS,
            },
        }
    }

    /// Log lines per tool answer, sent as `tailLines` (default 200, at least 1).
    /// When the previous run's log is fetched too, each log gets half.
    #[must_use]
    pub fn tail_lines(mut self, lines: u32) -> Self {
        self.limits.tail_lines = lines.max(1);
        self
    }

    /// Log bytes per tool answer, sent as `limitBytes` (default 64 KiB, at least
    /// 1 KiB). When the previous run's log is fetched too, each log gets half.
    #[must_use]
    pub fn limit_bytes(mut self, bytes: u64) -> Self {
        self.limits.limit_bytes = bytes.max(1024);
        self
    }

    /// The time one API request may take (default 10 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// How many recent events a pod status shows (default 10).
    #[must_use]
    pub fn max_events(mut self, events: usize) -> Self {
        self.limits.max_events = events;
        self
    }

    /// How many pods a pod list shows (default 100, at least 1).
    #[must_use]
    pub fn max_pods(mut self, pods: u32) -> Self {
        self.limits.max_pods = pods.max(1);
        self
    }

    /// The kube client.
    #[must_use]
    pub fn get_ref(&self) -> &kube::Client {
        &self.client
    }

    /// `get_kubernetes_pod_logs`, as the seed defines it.
    #[must_use]
    pub fn pod_logs(&self) -> PodLogs {
        PodLogs::new(self.clone())
    }

    /// `get_kubernetes_pod_logs` with `tail_lines` and `previous` parameters (use
    /// it instead of [`Cluster::pod_logs`], not with it).
    #[must_use]
    pub fn pod_logs_with_options(&self) -> PodLogsWithOptions {
        PodLogsWithOptions::new(self.clone())
    }

    /// `get_kubernetes_pod_memory_data`, as the seed defines it.
    #[must_use]
    pub fn pod_memory(&self) -> PodMemory {
        PodMemory::new(self.clone())
    }

    /// `get_kubernetes_pod_cpu_data`, as the seed defines it.
    #[must_use]
    pub fn pod_cpu(&self) -> PodCpu {
        PodCpu::new(self.clone())
    }

    /// `get_kubernetes_pod_status`: phase, conditions, containers, recent events.
    #[must_use]
    pub fn pod_status(&self) -> PodStatus {
        PodStatus::new(self.clone())
    }

    /// `list_kubernetes_pods`: a namespace's pods, optionally by label.
    #[must_use]
    pub fn pod_list(&self) -> PodList {
        PodList::new(self.clone())
    }

    /// A registry with exactly the seed's three tools: logs, memory and CPU.
    /// Small models do better with few tools.
    #[must_use]
    pub fn seed_tools(&self) -> ToolRegistry {
        self.add_seed_tools(ToolRegistry::new())
    }

    /// The seed's three tools plus pod status and pod list.
    #[must_use]
    pub fn all_tools(&self) -> ToolRegistry {
        self.add_all_tools(ToolRegistry::new())
    }

    /// Adds the seed's three tools to `registry`.
    #[must_use]
    pub fn add_seed_tools(&self, registry: ToolRegistry) -> ToolRegistry {
        registry
            .with(self.pod_logs())
            .with(self.pod_memory())
            .with(self.pod_cpu())
    }

    /// Adds all five tools to `registry`.
    #[must_use]
    pub fn add_all_tools(&self, registry: ToolRegistry) -> ToolRegistry {
        self.add_seed_tools(registry)
            .with(self.pod_status())
            .with(self.pod_list())
    }

    /// Runs one API request within the timeout, classifying its error.
    async fn bounded<T>(
        &self,
        request: impl Future<Output = Result<T, kube::Error>>,
        target: Target<'_>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.limits.timeout, request).await {
            Ok(result) => result.map_err(|e| Error::from_kube(e, target)),
            Err(_) => Err(Error::Timeout(self.limits.timeout)),
        }
    }

    /// Gets a pod.
    async fn pod(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<k8s_openapi::api::core::v1::Pod, Error> {
        let api = kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(
            self.client.clone(),
            namespace,
        );
        self.bounded(
            api.get(name),
            Target::Pod {
                namespace,
                pod: name,
            },
        )
        .await
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("default_namespace", &self.client.default_namespace())
            .field("tail_lines", &self.limits.tail_lines)
            .field("limit_bytes", &self.limits.limit_bytes)
            .field("timeout", &self.limits.timeout)
            .finish_non_exhaustive()
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Cluster>();
    assert_send_sync::<PodLogs>();
    assert_send_sync::<PodMemory>();
    assert_send_sync::<PodCpu>();
    assert_send_sync::<PodStatus>();
    assert_send_sync::<PodList>();
};
