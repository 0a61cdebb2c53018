//! `get_kubernetes_pod_status`: phase, conditions, containers and recent events of one pod.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::{ContainerStatus, Event};
use kube::api::ListParams;
use serde::Serialize;

use super::error::{Error, Target};
use super::pod::{self, Termination};
use super::{Cluster, PodArgs, PodContextArgs};
use crate::tool::Tool;

/// `get_kubernetes_pod_status`: what `kubectl describe pod` tells, compact.
///
/// Phase, conditions, each container's state, readiness, restarts and last
/// termination, and the pod's most recent events (newest first). The events come
/// from `GET …/events?fieldSelector=involvedObject.name=<pod>`; if they cannot
/// be listed, `events_error` says why and the rest is still answered.
#[derive(Debug, Clone)]
pub struct PodStatus {
    cluster: Cluster,
}

impl PodStatus {
    /// The tool, on `cluster`.
    #[must_use]
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }
}

impl Tool for PodStatus {
    const NAME: &'static str = "get_kubernetes_pod_status";
    type Args = PodContextArgs;
    type Output = PodStatusReport;
    type Error = Error;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Pod status")
    }

    fn description(&self) -> Cow<'static, str> {
        "Retrieves the status of a specific pod in a Kubernetes cluster: phase, conditions, each container's state, restarts and last termination (e.g. OOMKilled, exit code), and recent events. Useful to see why a pod is not ready or keeps restarting.".into()
    }

    async fn call(&self, args: PodContextArgs) -> Result<PodStatusReport, Error> {
        let cluster = self.cluster.select(args.context.as_deref())?;
        cluster.allow(&args.namespace)?;
        let mut report = cluster.pod_status_report(&args.pod_args()).await?;
        cluster.scrub_opt(&mut report.reason);
        cluster.scrub_opt(&mut report.message);
        for text in report.conditions.iter_mut().chain(report.events.iter_mut()) {
            cluster.scrub(text);
        }
        for c in report
            .containers
            .iter_mut()
            .chain(report.init_containers.iter_mut())
        {
            cluster.scrub(&mut c.state);
            if let Some(t) = &mut c.last_termination {
                cluster.scrub_opt(&mut t.message);
            }
        }
        Ok(report)
    }
}

/// What `get_kubernetes_pod_status` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PodStatusReport {
    /// The pod.
    pub pod: String,
    /// Its namespace.
    pub namespace: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: String,
    /// The pod-level reason (`Evicted`, …), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The pod-level message, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Ready containers over containers, as kubectl shows (`1/2`).
    pub ready: String,
    /// The node it runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Conditions as `Type=Status`, with reason and message when not true.
    pub conditions: Vec<String>,
    /// The init containers, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<ContainerReport>,
    /// The containers.
    pub containers: Vec<ContainerReport>,
    /// The most recent events, newest first: `time type reason (xN, container): message`.
    pub events: Vec<String>,
    /// Why the events could not be listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_error: Option<String>,
}

/// One container in a [`PodStatusReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ContainerReport {
    /// The container.
    pub name: String,
    /// Its state now: `running since …`, `waiting: CrashLoopBackOff (…)`, `terminated: …`.
    pub state: String,
    /// Whether it passes its readiness probe.
    pub ready: bool,
    /// How many times it has restarted.
    pub restarts: i32,
    /// How its previous run ended, when it restarted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_termination: Option<Termination>,
    /// The image.
    pub image: String,
}

impl ContainerReport {
    fn from_status(s: &ContainerStatus) -> Self {
        Self {
            name: s.name.clone(),
            state: pod::state_text(s.state.as_ref()),
            ready: s.ready,
            restarts: s.restart_count,
            last_termination: pod::last_termination(s),
            image: s.image.clone(),
        }
    }
}

/// When an event last happened: `series.lastObservedTime` (events.k8s.io), else
/// `lastTimestamp`, else `eventTime`, else `firstTimestamp`, else its creation.
pub(crate) fn event_time(e: &Event) -> Option<k8s_openapi::jiff::Timestamp> {
    e.series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| t.0)
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// How many times an event happened: `count`, or `series.count` for events
/// written through events.k8s.io.
pub(crate) fn count(e: &Event) -> Option<i32> {
    e.count.or_else(|| e.series.as_ref().and_then(|s| s.count))
}

/// `2025-06-10T09:45:20Z Warning BackOff (x14, istio-proxy): Back-off restarting …`.
pub(crate) fn event_line(e: &Event) -> String {
    let time = event_time(e).map_or_else(|| "-".to_owned(), |t| t.to_string());
    let kind = e.type_.as_deref().unwrap_or("Normal");
    let reason = e.reason.as_deref().unwrap_or("");
    let mut detail = Vec::new();
    if let Some(n) = count(e).filter(|&n| n > 1) {
        detail.push(format!("x{n}"));
    }
    if let Some(container) = e
        .involved_object
        .field_path
        .as_deref()
        .and_then(|p| {
            p.strip_prefix("spec.containers{")
                .or_else(|| p.strip_prefix("spec.initContainers{"))
        })
        .and_then(|p| p.strip_suffix('}'))
    {
        detail.push(container.to_owned());
    }
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" ({})", detail.join(", "))
    };
    let message = pod::cut(e.message.as_deref().unwrap_or("").trim(), 300);
    format!("{time} {kind} {reason}{detail}: {message}")
}

pub(crate) fn condition_line(c: &k8s_openapi::api::core::v1::PodCondition) -> String {
    let mut line = format!("{}={}", c.type_, c.status);
    if c.status != "True" {
        match (c.reason.as_deref(), c.message.as_deref()) {
            (Some(r), Some(m)) => line.push_str(&format!(" ({r}: {m})")),
            (Some(r), None) => line.push_str(&format!(" ({r})")),
            (None, Some(m)) => line.push_str(&format!(" ({m})")),
            (None, None) => {}
        }
    }
    line
}

impl Cluster {
    async fn pod_status_report(&self, args: &PodArgs) -> Result<PodStatusReport, Error> {
        let (pod, events) = tokio::try_join!(self.pod(&args.namespace, &args.pod_name), async {
            Ok(self.events(&args.namespace, &args.pod_name).await)
        })?;
        if let Some(name) = args
            .container_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
        {
            pod::choose_container(&pod, &args.pod_name, Some(name))?;
        }
        let status = pod.status.as_ref();
        let statuses = pod::statuses(&pod);
        let total = pod::containers(&pod).len();
        let ready = statuses.iter().filter(|s| s.ready).count();
        let keep = |name: &str| {
            args.container_name
                .as_deref()
                .filter(|n| !n.trim().is_empty())
                .is_none_or(|n| n.trim() == name)
        };

        let uid = pod.metadata.uid.as_deref();
        let (events, events_error) = match events {
            Ok(mut list) => {
                // An older pod of the same name is not this one.
                list.retain(|e| match (uid, e.involved_object.uid.as_deref()) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                });
                list.sort_by_key(|e| std::cmp::Reverse(event_time(e)));
                let lines = list
                    .iter()
                    .take(self.limits.max_events)
                    .map(event_line)
                    .collect();
                (lines, None)
            }
            Err(e) => (Vec::new(), Some(e.to_string())),
        };

        Ok(PodStatusReport {
            pod: args.pod_name.clone(),
            namespace: args.namespace.clone(),
            phase: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".into()),
            reason: status.and_then(|s| s.reason.clone()),
            message: status.and_then(|s| s.message.clone()),
            ready: format!("{ready}/{total}"),
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            conditions: status
                .and_then(|s| s.conditions.as_ref())
                .map(|c| c.iter().map(condition_line).collect())
                .unwrap_or_default(),
            init_containers: pod::init_statuses(&pod)
                .iter()
                .filter(|s| keep(&s.name))
                .map(ContainerReport::from_status)
                .collect(),
            containers: statuses
                .iter()
                .filter(|s| keep(&s.name))
                .map(ContainerReport::from_status)
                .collect(),
            events,
            events_error,
        })
    }

    /// The events about a pod (any age the API server still keeps, ~1 h by default).
    pub(crate) async fn events(
        &self,
        namespace: &str,
        pod_name: &str,
    ) -> Result<Vec<Event>, Error> {
        let api = kube::Api::<Event>::namespaced(self.client.clone(), namespace);
        let params = ListParams::default().fields(&format!("involvedObject.name={pod_name}"));
        let list = self.bounded(api.list(&params), Target::List).await?;
        Ok(list.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_event_counts_and_dates_like_a_core_one() {
        let e: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p.1", "namespace": "orders", "creationTimestamp": "2025-06-10T10:00:00Z"},
            "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{app}"},
            "reason": "BackOff",
            "message": "Back-off restarting failed container app",
            "type": "Warning",
            "eventTime": "2025-06-10T10:00:01.000000Z",
            "series": {"count": 7, "lastObservedTime": "2025-06-10T10:30:00.000000Z"},
            "firstTimestamp": null,
            "lastTimestamp": null,
            "count": null
        }))
        .unwrap();
        assert_eq!(count(&e), Some(7));
        assert_eq!(
            event_line(&e),
            "2025-06-10T10:30:00Z Warning BackOff (x7, app): Back-off restarting failed container app"
        );
    }
}
