//! Kubernetes troubleshooting tools on kube-rs: a one-call pod diagnosis, pod logs (plain and filtered), memory, CPU, status and lists.
//!
#![doc = include_str!("../../docs/kubernetes.md")]

mod diagnose;
mod error;
mod list;
mod logs;
mod metrics;
mod output;
mod pod;
mod quantity;
mod redact;
mod search;
mod status;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

pub use diagnose::{
    ContainerEvidence, DiagnosePod, Diagnosis, Evidence, Finding, LogTail, NodeFit, Owner,
    Scheduling, Severity, Usage,
};
pub use error::Error;
pub use list::{ListArgs, PodList, PodListReport, PodSummary};
pub use logs::{LogOptionsArgs, LogsReport, PodLogs, PodLogsWithOptions, PreviousRun};
pub use metrics::{PodCpu, PodMemory, Resource, ResourceReport};
pub use pod::Termination;
pub use search::{SearchLogs, SearchLogsArgs, SearchReport};
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
/// Default number of log lines a filtered log search reads (sent as `tailLines`).
pub const DEFAULT_SCAN_LINES: u32 = 100_000;

/// The arguments of the logs, memory and CPU tools: which pod, and optionally which container.
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

/// The arguments of the pod status and diagnosis tools: which pod, optionally
/// which container, and on which cluster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct PodContextArgs {
    /// The Kubernetes namespace where the pod is located, e.g., '''default''', '''istio-system'''
    pub namespace: String,
    /// The full name of the pod, e.g., '''my-app-7f5dcf7f9c-2q9k8'''
    pub pod_name: String,
    /// The specific container within the pod to look at. Optional.
    pub container_name: Option<String>,
    /// The kubeconfig context (cluster) to look in. Optional: the default cluster when left out.
    pub context: Option<String>,
}

impl PodContextArgs {
    /// Arguments for `pod_name` in `namespace` on the default cluster, no container named.
    #[must_use]
    pub fn new(namespace: impl Into<String>, pod_name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            pod_name: pod_name.into(),
            container_name: None,
            context: None,
        }
    }

    /// Names the container.
    #[must_use]
    pub fn container(mut self, name: impl Into<String>) -> Self {
        self.container_name = Some(name.into());
        self
    }

    /// Names the kubeconfig context.
    #[must_use]
    pub fn context(mut self, name: impl Into<String>) -> Self {
        self.context = Some(name.into());
        self
    }

    fn pod_args(&self) -> PodArgs {
        PodArgs {
            namespace: self.namespace.clone(),
            pod_name: self.pod_name.clone(),
            container_name: self.container_name.clone(),
        }
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
    scan_lines: u32,
}

/// Which namespaces and clusters the tools may look at, and whether secrets are redacted.
#[derive(Clone)]
struct Scope {
    /// Secrets in what the tools return are replaced by `[REDACTED:<kind>]`.
    redact: bool,
    /// When set, the only namespaces the tools answer for.
    namespaces: Option<Arc<[String]>>,
    /// The kubeconfig context this cluster was built from, when known.
    context: Option<String>,
    /// The kubeconfig user of that context, when known.
    user: Option<String>,
    /// Other clusters, selected by the `context` parameter.
    others: Arc<Vec<(String, Cluster)>>,
}

/// A Kubernetes API client with the limits the tools keep to; hands out the tools.
///
/// Cheap to clone: clones share one connection pool. Built from `KUBECONFIG` or
/// the in-cluster service account ([`Cluster::infer`]), from one kubeconfig
/// context ([`Cluster::from_context`]), from a [`kube::Config`]
/// ([`Cluster::from_config`]) or from a [`kube::Client`] ([`Cluster::from_client`]).
/// `kube` types are not part of this crate's stable API.
///
/// Secrets in everything the tools return are redacted unless
/// [`Cluster::redact_secrets`] turns that off. [`Cluster::namespaces`] limits the
/// namespaces the tools answer for; [`Cluster::with_context`] adds more clusters,
/// which the `context` parameter of the diagnosis, status, list and log-search
/// tools selects.
///
/// ```no_run
/// # async fn demo() -> toolcall::Result<()> {
/// use toolcall::tools::kubernetes::Cluster;
///
/// let cluster = Cluster::infer().await?.tail_lines(100).namespaces(["default", "orders"]);
/// let registry = cluster.tools(); // every read-only tool
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    limits: Limits,
    scope: Scope,
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
            .map_err(|e| crate::Error::Kubernetes(Box::new(kube::Error::InferConfig(e))))?;
        let mut cluster = Self::from_config(config)?;
        // Which context and user that was, for messages; the in-cluster account has none.
        if let Ok(kubeconfig) = kube::config::Kubeconfig::read() {
            let current = kubeconfig.current_context.clone();
            cluster.scope.user = current
                .as_deref()
                .and_then(|c| context_user(&kubeconfig, c));
            cluster.scope.context = current;
        }
        Ok(cluster)
    }

    /// A cluster client from one context of `KUBECONFIG` (or `~/.kube/config`).
    ///
    /// # Errors
    /// [`crate::Error::Kubernetes`] when the kubeconfig cannot be read, has no
    /// such context, or the client cannot be built.
    pub async fn from_context(context: &str) -> crate::Result<Self> {
        let options = kube::config::KubeConfigOptions {
            context: Some(context.to_owned()),
            ..kube::config::KubeConfigOptions::default()
        };
        let config = kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| crate::Error::Kubernetes(Box::new(kube::Error::InferKubeconfig(e))))?;
        let mut cluster = Self::from_config(config)?;
        cluster.scope.user = kube::config::Kubeconfig::read()
            .ok()
            .and_then(|k| context_user(&k, context));
        cluster.scope.context = Some(context.to_owned());
        Ok(cluster)
    }

    /// A cluster client from `config`, with `default_retry` turned off (kube
    /// would otherwise retry a 503 for minutes). Call it inside a Tokio runtime.
    ///
    /// # Errors
    /// [`crate::Error::KubernetesNoRuntime`] outside a Tokio runtime;
    /// [`crate::Error::Kubernetes`] when the client cannot be built (TLS or auth setup).
    pub fn from_config(mut config: kube::Config) -> crate::Result<Self> {
        config.default_retry = false;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(crate::Error::KubernetesNoRuntime);
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
                scan_lines: DEFAULT_SCAN_LINES,
            },
            scope: Scope {
                redact: true,
                namespaces: None,
                context: None,
                user: None,
                others: Arc::new(Vec::new()),
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

    /// How many log lines a filtered log search reads at most, sent as
    /// `tailLines` (default 100 000, at least 1). Only matching lines are kept,
    /// so memory stays bounded by the answer's limits whatever this is.
    #[must_use]
    pub fn scan_lines(mut self, lines: u32) -> Self {
        self.limits.scan_lines = lines.max(1);
        self
    }

    /// Whether secrets (bearer tokens, passwords in URLs and `key=value` pairs,
    /// private keys, JWTs, cloud access keys) are replaced by `[REDACTED:<kind>]`
    /// in everything the tools return. On by default; turning it off is logged
    /// as a warning and shows in this value's `Debug`.
    #[must_use]
    pub fn redact_secrets(mut self, on: bool) -> Self {
        if !on {
            tracing::warn!(
                "secret redaction is off: Kubernetes tool answers may carry secrets to the model"
            );
        }
        self.scope.redact = on;
        self
    }

    /// Limits the tools to these namespaces: a call for any other gets an error
    /// naming the allowed ones. By default every namespace the credentials can read.
    #[must_use]
    pub fn namespaces<I, S>(mut self, allowed: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<String> = allowed.into_iter().map(Into::into).collect();
        self.scope.namespaces = Some(list.into());
        self
    }

    /// Names this cluster's kubeconfig context (set by [`Cluster::infer`] and
    /// [`Cluster::from_context`]); a `context` parameter with this name selects it.
    #[must_use]
    pub fn context_name(mut self, name: impl Into<String>) -> Self {
        self.scope.context = Some(name.into());
        self
    }

    /// Adds another cluster, selected when a tool's `context` parameter is
    /// `name`. Calls without `context` keep going to this one.
    #[must_use]
    pub fn with_context(mut self, name: impl Into<String>, cluster: Cluster) -> Self {
        let name = name.into();
        let mut others: Vec<(String, Cluster)> = self
            .scope
            .others
            .iter()
            .filter(|(n, _)| *n != name)
            .cloned()
            .collect();
        others.push((name, cluster));
        self.scope.others = Arc::new(others);
        self
    }

    /// The kubeconfig context this cluster was built from, when known.
    #[must_use]
    pub fn get_context(&self) -> Option<&str> {
        self.scope.context.as_deref()
    }

    /// The kubeconfig user of that context, when known.
    #[must_use]
    pub fn get_user(&self) -> Option<&str> {
        self.scope.user.as_deref()
    }

    /// The kube client.
    #[must_use]
    pub fn get_ref(&self) -> &kube::Client {
        &self.client
    }

    /// `get_kubernetes_pod_logs`: a container's log, and the previous run's when it restarted.
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

    /// `search_kubernetes_pod_logs`: a container's log filtered by regex and time.
    #[must_use]
    pub fn search_logs(&self) -> SearchLogs {
        SearchLogs::new(self.clone())
    }

    /// `get_kubernetes_pod_memory_data`: memory usage, request and limit.
    #[must_use]
    pub fn pod_memory(&self) -> PodMemory {
        PodMemory::new(self.clone())
    }

    /// `get_kubernetes_pod_cpu_data`: CPU usage, request and limit.
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

    /// `diagnose_kubernetes_pod`: ranked findings about a pod, then the evidence.
    #[must_use]
    pub fn diagnose_pod(&self) -> DiagnosePod {
        DiagnosePod::new(self.clone())
    }

    /// A registry with three tools: logs, memory and CPU, with the names,
    /// parameters and descriptions small models were tried with. Small models do
    /// better with few tools.
    #[must_use]
    pub fn seed_tools(&self) -> ToolRegistry {
        self.add_seed_tools(ToolRegistry::new())
    }

    /// Logs, memory and CPU plus pod status and pod list.
    #[must_use]
    pub fn all_tools(&self) -> ToolRegistry {
        self.add_all_tools(ToolRegistry::new())
    }

    /// Every read-only tool: the diagnosis first, then logs, log search,
    /// memory, CPU, status and list.
    #[must_use]
    pub fn tools(&self) -> ToolRegistry {
        ToolRegistry::new()
            .with(self.diagnose_pod())
            .with(self.pod_logs())
            .with(self.search_logs())
            .with(self.pod_memory())
            .with(self.pod_cpu())
            .with(self.pod_status())
            .with(self.pod_list())
    }

    /// Every read-only tool ([`Cluster::tools`]) on a cluster reached on first use:
    /// `connect` makes the cluster (e.g. `Cluster::infer`) when a call needs it. A
    /// server can so start at once and always list its tools; when `connect` fails,
    /// that call answers what to set (`KUBECONFIG`, or a service account in a
    /// cluster) and the next call tries again.
    ///
    /// # Errors
    /// [`crate::Error::KubernetesNoRuntime`] outside a Tokio runtime.
    ///
    /// ```no_run
    /// # async fn demo() -> toolcall::Result<()> {
    /// use toolcall::tools::kubernetes::Cluster;
    ///
    /// let tools = Cluster::lazy_tools(|| async { Cluster::infer().await })?;
    /// assert!(tools.get("diagnose_kubernetes_pod").is_some());
    /// # Ok(()) }
    /// ```
    pub fn lazy_tools<F, Fut>(connect: F) -> crate::Result<ToolRegistry>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = crate::Result<Cluster>> + Send + 'static,
    {
        // A client that is never used: it only describes the tools.
        let template = match "http://127.0.0.1:9".parse() {
            Ok(url) => Cluster::from_config(kube::Config::new(url))?.tools(),
            Err(_) => ToolRegistry::new(), // a constant address: it always parses
        };
        Ok(ToolRegistry::lazy(template, move || {
            let connecting = connect();
            async move {
                connecting.await.map(|c| c.tools()).map_err(|e| {
                    format!(
                        "no Kubernetes cluster could be reached ({}); set KUBECONFIG to a kubeconfig \
                         file, or run inside a cluster with a service account",
                        crate::error::chain(&e)
                    )
                })
            }
        }))
    }

    /// Adds the logs, memory and CPU tools to `registry`.
    #[must_use]
    pub fn add_seed_tools(&self, registry: ToolRegistry) -> ToolRegistry {
        registry
            .with(self.pod_logs())
            .with(self.pod_memory())
            .with(self.pod_cpu())
    }

    /// Adds logs, memory, CPU, pod status and pod list to `registry`.
    #[must_use]
    pub fn add_all_tools(&self, registry: ToolRegistry) -> ToolRegistry {
        self.add_seed_tools(registry)
            .with(self.pod_status())
            .with(self.pod_list())
    }

    /// The cluster a `context` parameter selects.
    fn select(&self, context: Option<&str>) -> Result<&Cluster, Error> {
        let Some(name) = context.map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(self);
        };
        if self.scope.context.as_deref() == Some(name) {
            return Ok(self);
        }
        if let Some((_, cluster)) = self.scope.others.iter().find(|(n, _)| n == name) {
            return Ok(cluster);
        }
        Err(Error::UnknownContext {
            context: name.to_owned(),
            available: self
                .scope
                .context
                .iter()
                .cloned()
                .chain(self.scope.others.iter().map(|(n, _)| n.clone()))
                .collect(),
        })
    }

    /// Refuses a namespace outside the allow-list.
    fn allow(&self, namespace: &str) -> Result<(), Error> {
        match &self.scope.namespaces {
            Some(allowed) if !allowed.iter().any(|a| a == namespace.trim()) => {
                Err(Error::NamespaceNotAllowed {
                    namespace: namespace.to_owned(),
                    allowed: allowed.to_vec(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Redacts `text` in place when redaction is on.
    fn scrub(&self, text: &mut String) {
        redact::scrub(self.scope.redact, text);
    }

    /// Redacts an optional text in place when redaction is on.
    fn scrub_opt(&self, text: &mut Option<String>) {
        redact::scrub_opt(self.scope.redact, text);
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
            .field("redact_secrets", &self.scope.redact)
            .field("namespaces", &self.scope.namespaces)
            .field("context", &self.scope.context)
            .field(
                "other_contexts",
                &self.scope.others.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
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
    assert_send_sync::<DiagnosePod>();
    assert_send_sync::<SearchLogs>();
};

/// The user a kubeconfig context authenticates as.
fn context_user(kubeconfig: &kube::config::Kubeconfig, context: &str) -> Option<String> {
    kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone())
        .filter(|u| !u.is_empty())
}
