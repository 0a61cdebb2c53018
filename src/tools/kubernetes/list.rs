//! `list_kubernetes_pods`: a namespace's pods as `kubectl get pods` shows them.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Cluster;
use super::error::{Error, Target};
use super::pod;
use crate::tool::Tool;

/// The arguments of `list_kubernetes_pods`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// The Kubernetes namespace to list pods in, e.g., '''default''', '''istio-system'''
    pub namespace: String,
    /// A label selector to keep only some pods, e.g., '''app=billing-service'''. Optional.
    pub label_selector: Option<String>,
    /// The kubeconfig context (cluster) to look in. Optional: the default cluster when left out.
    pub context: Option<String>,
}

/// `list_kubernetes_pods`: name, ready, status, restarts and age of each pod in a
/// namespace, like `kubectl get pods`, at most the cluster's `max_pods`.
#[derive(Debug, Clone)]
pub struct PodList {
    cluster: Cluster,
}

impl PodList {
    /// The tool, on `cluster`.
    #[must_use]
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }
}

impl Tool for PodList {
    const NAME: &'static str = "list_kubernetes_pods";
    type Args = ListArgs;
    type Output = PodListReport;
    type Error = Error;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("List pods")
    }

    fn description(&self) -> Cow<'static, str> {
        "Lists the pods in a Kubernetes namespace with their ready containers, status, restarts and age. Useful to find a pod's full name or spot failing pods.".into()
    }

    async fn call(&self, args: ListArgs) -> Result<PodListReport, Error> {
        let cluster = self.cluster.select(args.context.as_deref())?;
        cluster.allow(&args.namespace)?;
        cluster.pod_list_report(&args).await
    }
}

/// What `list_kubernetes_pods` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PodListReport {
    /// The namespace listed.
    pub namespace: String,
    /// Its pods, in the API server's order (by name).
    pub pods: Vec<PodSummary>,
    /// Set when there are more pods than were listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more: Option<String>,
}

/// One row of a pod list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PodSummary {
    /// The pod's name.
    pub name: String,
    /// Ready containers over containers (`2/2`).
    pub ready: String,
    /// What kubectl's STATUS column shows: `Running`, `CrashLoopBackOff`, `Init:0/1`, …
    pub status: String,
    /// Restarts of all its containers.
    pub restarts: i32,
    /// Time since it was created (`5m`, `3h12m`, `4d`).
    pub age: String,
}

impl Cluster {
    async fn pod_list_report(&self, args: &ListArgs) -> Result<PodListReport, Error> {
        let api = kube::Api::<Pod>::namespaced(self.client.clone(), &args.namespace);
        let mut params = ListParams::default().limit(self.limits.max_pods);
        if let Some(selector) = args
            .label_selector
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            params = params.labels(selector);
        }
        let list = self.bounded(api.list(&params), Target::List).await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let more = list
            .metadata
            .continue_
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|_| {
                let rest = list
                    .metadata
                    .remaining_item_count
                    .map_or_else(|| "more".to_owned(), |n| n.to_string());
                format!("{rest} pods not shown; narrow the list with label_selector")
            });
        Ok(PodListReport {
            namespace: args.namespace.clone(),
            pods: list.items.iter().map(|p| summary(p, now)).collect(),
            more,
        })
    }
}

fn summary(pod: &Pod, now: i64) -> PodSummary {
    let statuses = pod::statuses(pod);
    let ready = statuses.iter().filter(|s| s.ready).count();
    let restarts = statuses
        .iter()
        .chain(pod::init_statuses(pod))
        .map(|s| s.restart_count)
        .sum();
    let age = pod
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or_else(|| "-".to_owned(), |t| age(now - t.0.as_second()));
    PodSummary {
        name: pod.metadata.name.clone().unwrap_or_default(),
        ready: format!("{ready}/{}", pod::containers(pod).len()),
        status: status_text(pod),
        restarts,
        age,
    }
}

/// kubectl's STATUS column, simplified: deletion, then the first failing init
/// container, then the first container waiting or terminated, else the phase.
fn status_text(pod: &Pod) -> String {
    if pod.metadata.deletion_timestamp.is_some() {
        return "Terminating".into();
    }
    let status = pod.status.as_ref();
    let base = status
        .and_then(|s| s.reason.clone().or_else(|| s.phase.clone()))
        .unwrap_or_else(|| "Unknown".into());
    let inits = pod::init_containers(pod);
    let init_statuses = pod::init_statuses(pod);
    for (i, s) in init_statuses.iter().enumerate() {
        let sidecar = inits
            .iter()
            .any(|c| c.name == s.name && c.restart_policy.as_deref() == Some("Always"));
        if sidecar && s.started == Some(true) {
            continue;
        }
        let state = s.state.as_ref();
        if let Some(t) = state.and_then(|st| st.terminated.as_ref()) {
            if t.exit_code == 0 {
                continue;
            }
            return format!("Init:{}", terminated_text(t));
        }
        if let Some(reason) = state
            .and_then(|st| st.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            return format!("Init:{reason}");
        }
        return format!("Init:{i}/{}", inits.len());
    }
    for s in pod::statuses(pod) {
        let Some(state) = s.state.as_ref() else {
            continue;
        };
        if let Some(reason) = state
            .waiting
            .as_ref()
            .and_then(|w| w.reason.as_deref())
            .filter(|r| !r.is_empty())
        {
            return reason.to_owned();
        }
        if let Some(t) = &state.terminated {
            return terminated_text(t);
        }
    }
    base
}

fn terminated_text(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> String {
    match (t.reason.as_deref().filter(|r| !r.is_empty()), t.signal) {
        (Some(reason), _) => reason.to_owned(),
        (None, Some(signal)) if signal != 0 => format!("Signal:{signal}"),
        _ => format!("ExitCode:{}", t.exit_code),
    }
}

/// kubectl's age format: `45s`, `4m10s`, `95m`, `5h3m`, `30h`, `3d4h`, `200d`, `3y10d`.
fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    let with = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        with(m, "m", s % 60, "s")
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        with(h, "h", m % 60, "m")
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 {
        with(d, "d", h % 24, "h")
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if d < 365 * 8 {
        with(d / 365, "y", d % 365, "d")
    } else {
        format!("{}y", d / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(-5), "0s");
        assert_eq!(age(45), "45s");
        assert_eq!(age(250), "4m10s");
        assert_eq!(age(300), "5m");
        assert_eq!(age(95 * 60), "95m");
        assert_eq!(age(5 * 3600 + 180), "5h3m");
        assert_eq!(age(30 * 3600), "30h");
        assert_eq!(age(3 * 86_400 + 4 * 3600), "3d4h");
        assert_eq!(age(200 * 86_400), "200d");
        assert_eq!(age(3 * 365 * 86_400 + 10 * 86_400), "3y10d");
    }
}
