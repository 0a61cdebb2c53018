//! `get_kubernetes_pod_memory_data` and `get_kubernetes_pod_cpu_data`: metrics.k8s.io usage next to requests and limits.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::error::{Error, Target};
use super::{Cluster, PodArgs, pod, quantity};
use crate::tool::Tool;

/// Which resource a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resource {
    /// CPU, shown in millicores (`"104m"`).
    Cpu,
    /// Memory, shown in binary units (`"1Gi"`, `"182.8Mi"`).
    Memory,
}

impl Resource {
    /// The key in `resources.requests`/`limits` and in PodMetrics `usage`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
        }
    }

    /// The unit of the exact numbers.
    fn unit(self) -> &'static str {
        match self {
            Self::Cpu => "millicores",
            Self::Memory => "bytes",
        }
    }

    pub(crate) fn format(self, value: f64) -> String {
        match self {
            Self::Cpu => quantity::format_cpu(value),
            Self::Memory => quantity::format_memory(value),
        }
    }

    fn exact(self, value: f64) -> i64 {
        match self {
            Self::Cpu => quantity::millicores(value),
            Self::Memory => quantity::bytes(value),
        }
    }
}

/// `get_kubernetes_pod_memory_data`: a pod's memory usage, request and limit.
///
/// Answers `{"usage": "1Gi", "request": "512Mi", "limit": "1Gi", …}` for the named
/// container, then the exact bytes, usage as a percent of the limit, restarts
/// and the last termination reason (`OOMKilled`). With no container named on a
/// pod with several: the pod total and every container. A missing request or
/// limit is `null`; when metrics cannot be had, `usage` is `null` and
/// `usage_unavailable` says why (metrics-server absent, down, no sample yet).
#[derive(Debug, Clone)]
pub struct PodMemory {
    cluster: Cluster,
}

impl PodMemory {
    /// The tool, on `cluster`.
    #[must_use]
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }
}

impl Tool for PodMemory {
    const NAME: &'static str = "get_kubernetes_pod_memory_data";
    type Args = PodArgs;
    type Output = ResourceReport;
    type Error = Error;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Pod memory")
    }

    fn description(&self) -> Cow<'static, str> {
        "Retrieves the current memory usage, request, and limit of a specific pod in a Kubernetes cluster.".into()
    }

    async fn call(&self, args: PodArgs) -> Result<ResourceReport, Error> {
        self.cluster.allow(&args.namespace)?;
        self.cluster.resource_report(&args, Resource::Memory).await
    }
}

/// `get_kubernetes_pod_cpu_data`: a pod's CPU usage, request and limit.
///
/// As [`PodMemory`], in millicores: `{"usage": "104m", "request": "512m", "limit": "1024m", …}`.
#[derive(Debug, Clone)]
pub struct PodCpu {
    cluster: Cluster,
}

impl PodCpu {
    /// The tool, on `cluster`.
    #[must_use]
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }
}

impl Tool for PodCpu {
    const NAME: &'static str = "get_kubernetes_pod_cpu_data";
    type Args = PodArgs;
    type Output = ResourceReport;
    type Error = Error;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Pod CPU")
    }

    fn description(&self) -> Cow<'static, str> {
        "Retrieves the current cpu usage, request, and limit of a specific pod in a Kubernetes cluster.".into()
    }

    async fn call(&self, args: PodArgs) -> Result<ResourceReport, Error> {
        self.cluster.allow(&args.namespace)?;
        self.cluster.resource_report(&args, Resource::Cpu).await
    }
}

/// Usage, request and limit of one container or of a whole pod.
///
/// Values are in base units (cores, bytes). Serialized the way a person reads
/// them, `usage`, `request` and `limit` first (`"104m"`, `"1Gi"`, or `null`),
/// then the exact numbers (`usage_millicores` / `usage_bytes`, …),
/// `percent_of_limit`, `restarts`, `last_termination`, `usage_unavailable` and,
/// for a pod total, `containers`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ResourceReport {
    /// CPU or memory.
    pub resource: Resource,
    /// The container, for a container's report.
    pub container: Option<String>,
    /// The pod, for a pod total.
    pub pod: Option<String>,
    /// Current usage from metrics.k8s.io.
    pub usage: Option<f64>,
    /// The request (for a pod: the sum of the containers' requests).
    pub request: Option<f64>,
    /// The limit (for a pod: the sum, or `None` when a container has none).
    pub limit: Option<f64>,
    /// How many times the container has restarted.
    pub restarts: i32,
    /// How the container's last run ended (`OOMKilled`, `Error`), if it restarted.
    pub last_termination: Option<String>,
    /// Why `usage` is missing.
    pub usage_unavailable: Option<String>,
    /// For a pod total: each container's report.
    pub containers: Vec<ResourceReport>,
}

impl Serialize for ResourceReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.resource;
        let text = |v: Option<f64>| v.map(|v| r.format(v));
        let exact = |v: Option<f64>| v.map(|v| r.exact(v));
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("usage", &text(self.usage))?;
        map.serialize_entry("request", &text(self.request))?;
        map.serialize_entry("limit", &text(self.limit))?;
        if let Some(container) = &self.container {
            map.serialize_entry("container", container)?;
        }
        if let Some(pod) = &self.pod {
            map.serialize_entry("pod", pod)?;
        }
        let unit = r.unit();
        map.serialize_entry(&format!("usage_{unit}"), &exact(self.usage))?;
        map.serialize_entry(&format!("request_{unit}"), &exact(self.request))?;
        map.serialize_entry(&format!("limit_{unit}"), &exact(self.limit))?;
        if let (Some(usage), Some(limit)) = (self.usage, self.limit)
            && let Some(percent) = quantity::percent(usage, limit)
        {
            map.serialize_entry("percent_of_limit", &percent)?;
        }
        if self.restarts > 0 {
            map.serialize_entry("restarts", &self.restarts)?;
        }
        if let Some(t) = &self.last_termination {
            map.serialize_entry("last_termination", t)?;
        }
        if let Some(why) = &self.usage_unavailable {
            map.serialize_entry("usage_unavailable", why)?;
        }
        if !self.containers.is_empty() {
            map.serialize_entry("containers", &self.containers)?;
        }
        map.end()
    }
}

/// The part of a PodMetrics object the tools read.
#[derive(Debug, Deserialize)]
pub(crate) struct PodMetrics {
    #[serde(default)]
    pub(crate) containers: Vec<ContainerMetrics>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ContainerMetrics {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) usage: BTreeMap<String, String>,
}

/// `pods.metrics.k8s.io`, v1beta1.
fn pod_metrics_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics"),
        "pods",
    )
}

/// The containers a pod's resources are counted over: the regular ones and
/// sidecar init containers (`restartPolicy: Always`), which keep running.
fn counted(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod::containers(pod).iter().chain(
        pod::init_containers(pod)
            .iter()
            .filter(|c| c.restart_policy.as_deref() == Some("Always")),
    )
}

pub(crate) fn spec_value(container: &Container, which: &str, resource: Resource) -> Option<f64> {
    let resources = container.resources.as_ref()?;
    let map = match which {
        "requests" => resources.requests.as_ref()?,
        _ => resources.limits.as_ref()?,
    };
    quantity::parse(&map.get(resource.key())?.0)
}

impl Cluster {
    pub(crate) async fn pod_metrics(
        &self,
        namespace: &str,
        pod_name: &str,
    ) -> Result<PodMetrics, Error> {
        let api = kube::Api::<DynamicObject>::namespaced_with(
            self.client.clone(),
            namespace,
            &pod_metrics_resource(),
        );
        let object = self
            .bounded(
                api.get(pod_name),
                Target::Metrics {
                    namespace,
                    pod: pod_name,
                },
            )
            .await?;
        serde_json::from_value(object.data).map_err(|e| Error::InvalidResponse {
            message: format!("PodMetrics: {e}"),
        })
    }

    async fn resource_report(
        &self,
        args: &PodArgs,
        resource: Resource,
    ) -> Result<ResourceReport, Error> {
        // The pod decides: when it cannot be had, answer at once rather than
        // wait on the metrics request, whose answer would not change the outcome.
        let (pod, metrics) = tokio::try_join!(self.pod(&args.namespace, &args.pod_name), async {
            Ok(self.pod_metrics(&args.namespace, &args.pod_name).await)
        })?;
        let (usage, unavailable) = match metrics {
            Ok(m) => {
                let usage: BTreeMap<String, f64> = m
                    .containers
                    .into_iter()
                    .filter_map(|c| {
                        let value = quantity::parse(c.usage.get(resource.key())?)?;
                        Some((c.name, value))
                    })
                    .collect();
                (Some(usage), None)
            }
            Err(e) => (None, Some(e.to_string())),
        };

        let named = args
            .container_name
            .as_deref()
            .filter(|n| !n.trim().is_empty());
        // One container (no sidecar beside it): that container's report.
        if named.is_some() || counted(&pod).count() == 1 {
            let chosen = pod::choose_container(&pod, &args.pod_name, named)?;
            return Ok(container_report(
                &pod,
                &chosen.name,
                resource,
                usage.as_ref(),
                unavailable,
            ));
        }

        let containers: Vec<ResourceReport> = counted(&pod)
            .map(|c| container_report(&pod, &c.name, resource, usage.as_ref(), None))
            .collect();
        let total_usage = usage.as_ref().map(|u| {
            counted(&pod)
                .filter_map(|c| u.get(&c.name))
                .copied()
                .sum::<f64>()
        });
        let requests: Vec<f64> = counted(&pod)
            .filter_map(|c| spec_value(c, "requests", resource))
            .collect();
        let limits: Option<Vec<f64>> = counted(&pod)
            .map(|c| spec_value(c, "limits", resource))
            .collect();
        Ok(ResourceReport {
            resource,
            container: None,
            pod: Some(args.pod_name.clone()),
            usage: total_usage,
            request: (!requests.is_empty()).then(|| requests.iter().sum()),
            limit: limits.filter(|l| !l.is_empty()).map(|l| l.iter().sum()),
            restarts: 0,
            last_termination: None,
            usage_unavailable: unavailable,
            containers,
        })
    }
}

fn container_report(
    pod: &Pod,
    name: &str,
    resource: Resource,
    usage: Option<&BTreeMap<String, f64>>,
    unavailable: Option<String>,
) -> ResourceReport {
    let spec = pod::container_spec(pod, name);
    let status = pod::status(pod, name);
    let sample = usage.and_then(|u| u.get(name)).copied();
    let unavailable = match (usage, sample) {
        (Some(_), None) => Some(format!(
            "metrics-server has no {} sample for container `{name}` (it is not running)",
            resource.key()
        )),
        _ => unavailable,
    };
    ResourceReport {
        resource,
        container: Some(name.to_owned()),
        pod: None,
        usage: sample,
        request: spec.and_then(|c| spec_value(c, "requests", resource)),
        limit: spec.and_then(|c| spec_value(c, "limits", resource)),
        restarts: status.map_or(0, |s| s.restart_count),
        last_termination: status
            .and_then(pod::last_termination)
            .map(|t| t.reason_text()),
        usage_unavailable: unavailable,
        containers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(
        resource: Resource,
        usage: Option<f64>,
        request: Option<f64>,
        limit: Option<f64>,
    ) -> ResourceReport {
        ResourceReport {
            resource,
            container: Some("istio-proxy".into()),
            pod: None,
            usage,
            request,
            limit,
            restarts: 0,
            last_termination: None,
            usage_unavailable: None,
            containers: Vec::new(),
        }
    }

    #[test]
    fn memory_report_reads_like_the_seed() {
        let gi = 1024.0 * 1024.0 * 1024.0;
        let r = report(Resource::Memory, Some(gi), Some(gi / 2.0), Some(gi));
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.starts_with(r#"{"usage":"1Gi","request":"512Mi","limit":"1Gi","container":"istio-proxy","usage_bytes":1073741824,"request_bytes":536870912,"limit_bytes":1073741824,"percent_of_limit":100.0"#),
            "{text}"
        );
    }

    #[test]
    fn missing_values_are_null_not_zero() {
        let r = report(Resource::Cpu, Some(0.104287333), None, None);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"usage":"104m","request":null,"limit":null,"container":"istio-proxy","usage_millicores":104,"request_millicores":null,"limit_millicores":null}"#
        );
    }
}
