//! For a pod no node accepts: the scheduler's reason, and each node's room.

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::ListParams;

use super::{NodeFit, Scheduling};
use crate::tools::kubernetes::error::Target;
use crate::tools::kubernetes::metrics::{Resource, spec_value};
use crate::tools::kubernetes::{Cluster, pod, quantity};

/// Nodes whose pods are read to work out what is already requested.
const MAX_NODES: usize = 20;

/// What a pod requests: (cpu cores, memory bytes), the way the scheduler counts
/// it: regular containers and sidecars add up; an init container needs its own
/// requests at once, so the larger of the two counts.
pub(crate) fn pod_requests(pod: &Pod) -> (f64, f64) {
    let sum = |r: Resource| -> f64 {
        pod::containers(pod)
            .iter()
            .chain(
                pod::init_containers(pod)
                    .iter()
                    .filter(|c| c.restart_policy.as_deref() == Some("Always")),
            )
            .filter_map(|c| spec_value(c, "requests", r))
            .sum()
    };
    let init_max = |r: Resource| -> f64 {
        pod::init_containers(pod)
            .iter()
            .filter(|c| c.restart_policy.as_deref() != Some("Always"))
            .filter_map(|c| spec_value(c, "requests", r))
            .fold(0.0, f64::max)
    };
    (
        sum(Resource::Cpu).max(init_max(Resource::Cpu)),
        sum(Resource::Memory).max(init_max(Resource::Memory)),
    )
}

/// Whether the pod is waiting for a node, and the scheduler's reason.
pub(crate) fn unscheduled(pod: &Pod, events: Option<&[Event]>) -> Option<Option<String>> {
    let condition = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    let no_node = pod.spec.as_ref().is_none_or(|s| s.node_name.is_none());
    let pending = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending");
    if condition.is_none() && !(pending && no_node) {
        return None;
    }
    let from_event = events.and_then(|list| {
        list.iter()
            .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
            .and_then(|e| e.message.clone())
    });
    Some(
        condition
            .and_then(|c| c.message.clone())
            .filter(|m| !m.is_empty())
            .or(from_event),
    )
}

fn allocatable(node: &Node, key: &str) -> Option<f64> {
    node.status
        .as_ref()?
        .allocatable
        .as_ref()?
        .get(key)
        .and_then(|q| quantity::parse(&q.0))
}

/// Cordoned, not ready, and taints the pod does not tolerate.
fn node_notes(node: &Node, pod: &Pod) -> Vec<String> {
    let mut notes = Vec::new();
    let spec = node.spec.as_ref();
    if spec.and_then(|s| s.unschedulable) == Some(true) {
        notes.push("cordoned (unschedulable)".into());
    }
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.as_str());
    if ready.is_some_and(|r| r != "True") {
        notes.push("not ready".into());
    }
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[]);
    for taint in spec.and_then(|s| s.taints.as_deref()).unwrap_or(&[]) {
        if taint.effect == "PreferNoSchedule" {
            continue;
        }
        let tolerated = tolerations.iter().any(|t| {
            let key_ok = match t.key.as_deref() {
                None | Some("") => t.operator.as_deref() == Some("Exists"),
                Some(k) => k == taint.key,
            };
            let value_ok = t.operator.as_deref() == Some("Exists")
                || t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("");
            let effect_ok = t
                .effect
                .as_deref()
                .is_none_or(|e| e.is_empty() || e == taint.effect);
            key_ok && value_ok && effect_ok
        });
        if !tolerated {
            let value = taint
                .value
                .as_deref()
                .map_or_else(String::new, |v| format!("={v}"));
            notes.push(format!(
                "taint {}{value}:{} not tolerated",
                taint.key, taint.effect
            ));
        }
    }
    notes
}

impl Cluster {
    /// For a pod waiting for a node: the scheduler's reason and each node's room.
    pub(crate) async fn scheduling(
        &self,
        pod: &Pod,
        events: Option<&[Event]>,
    ) -> Option<Scheduling> {
        let message = unscheduled(pod, events)?;
        let (cpu, memory) = pod_requests(pod);
        let mut scheduling = Scheduling {
            scheduler_message: message,
            pod_requests: format!(
                "cpu {}, memory {}",
                quantity::format_cpu(cpu),
                quantity::format_memory(memory)
            ),
            nodes_with_room: 0,
            nodes: Vec::new(),
            nodes_note: None,
        };
        let nodes_api = kube::Api::<Node>::all(self.client.clone());
        let nodes = match self
            .bounded(nodes_api.list(&ListParams::default()), Target::List)
            .await
        {
            Ok(list) => list.items,
            Err(e) => {
                scheduling.nodes_note = Some(format!("the nodes could not be listed: {e}"));
                return Some(scheduling);
            }
        };
        if nodes.len() > MAX_NODES {
            scheduling.nodes_note = Some(format!(
                "{} nodes; the room of the first {MAX_NODES} was worked out",
                nodes.len()
            ));
        }
        let pods_api = kube::Api::<Pod>::all(self.client.clone());
        let reads = nodes.iter().take(MAX_NODES).map(|node| {
            let name = node.metadata.name.clone().unwrap_or_default();
            let params = ListParams::default().fields(&format!(
                "spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed"
            ));
            let api = pods_api.clone();
            async move { self.bounded(api.list(&params), Target::List).await }
        });
        let lists = futures::future::join_all(reads).await;
        for (node, pods) in nodes.iter().zip(lists) {
            let name = node.metadata.name.clone().unwrap_or_default();
            let (alloc_cpu, alloc_mem) = (
                allocatable(node, "cpu").unwrap_or(0.0),
                allocatable(node, "memory").unwrap_or(0.0),
            );
            let mut notes = node_notes(node, pod);
            let (used_cpu, used_mem) = match pods {
                Ok(list) => list
                    .items
                    .iter()
                    .map(pod_requests)
                    .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1)),
                Err(e) => {
                    notes.push(format!("its pods could not be listed: {e}"));
                    (0.0, 0.0)
                }
            };
            let (free_cpu, free_mem) = (
                (alloc_cpu - used_cpu).max(0.0),
                (alloc_mem - used_mem).max(0.0),
            );
            let fits = free_cpu + 1e-9 >= cpu && free_mem + 0.5 >= memory && notes.is_empty();
            scheduling.nodes_with_room += usize::from(fits);
            scheduling.nodes.push(NodeFit {
                name,
                cpu_free: quantity::format_cpu(free_cpu),
                memory_free: quantity::format_memory(free_mem),
                allocatable: format!(
                    "cpu {}, memory {}",
                    quantity::format_cpu(alloc_cpu),
                    quantity::format_memory(alloc_mem)
                ),
                fits,
                notes,
            });
        }
        scheduling.nodes.sort_by(|a, b| {
            let free = |n: &NodeFit| quantity::parse(&n.cpu_free).unwrap_or(0.0);
            free(b).total_cmp(&free(a))
        });
        Some(scheduling)
    }
}
