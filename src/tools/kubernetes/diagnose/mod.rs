//! `diagnose_kubernetes_pod`: one call that reads a pod, its events, metrics, logs,
//! owner and (when it waits for a node) the nodes, and answers ranked findings.

mod nodes;
mod owner;
mod rules;

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::error::Error;
use super::metrics::Resource;
use super::pod::{self, Termination};
use super::{Cluster, PodContextArgs, quantity, status};
use crate::tool::Tool;

/// Log lines of a failed run shown per container.
const LOG_TAIL_LINES: u32 = 20;
/// Log bytes of a failed run read per container.
const LOG_TAIL_BYTES: u64 = 8 * 1024;
/// Containers whose failed run's log is read, at most.
const MAX_LOGS: usize = 4;

/// `diagnose_kubernetes_pod`: why a pod fails, in one call.
///
/// Reads the pod, its events, its PodMetrics, the log tail of each container's
/// failed run, its owner (ReplicaSet and Deployment, with the rollout state) and,
/// for a pod no node accepts, the nodes' allocatable resources against what their
/// pods already request. Answers [`Diagnosis`]: findings ranked by severity, each
/// a sentence with the numbers (`istio-proxy was OOM-killed …: memory usage 1Gi =
/// limit 1Gi`), then the evidence they were drawn from. The findings are worked
/// out by fixed rules, not by a model. Parts that cannot be read (metrics-server
/// absent, a forbidden owner) are said so in the evidence; only a missing pod
/// fails the call.
#[derive(Debug, Clone)]
pub struct DiagnosePod {
    cluster: Cluster,
}

impl DiagnosePod {
    /// The tool, on `cluster`.
    #[must_use]
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }
}

impl Tool for DiagnosePod {
    const NAME: &'static str = "diagnose_kubernetes_pod";
    type Args = PodContextArgs;
    type Output = Diagnosis;
    type Error = Error;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Diagnose a pod")
    }

    fn description(&self) -> Cow<'static, str> {
        "Diagnoses a pod in a Kubernetes cluster in one call: returns ranked findings (OOM kills, crash loops with their last log lines, failing probes, image pull errors, missing ConfigMap or Secret keys, evictions, scheduling failures, rollouts) followed by the evidence: phase, conditions, container states, exit codes and what they mean, restarts, warning events, usage against requests and limits, owner. Call it first when a pod is failing.".into()
    }

    async fn call(&self, args: PodContextArgs) -> Result<Diagnosis, Error> {
        let cluster = self.cluster.select(args.context.as_deref())?;
        cluster.allow(&args.namespace)?;
        let mut diagnosis = cluster.diagnose(&args).await?;
        diagnosis.scrub(cluster);
        Ok(diagnosis)
    }
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// A cause of the failure.
    Critical,
    /// A problem, or a consequence of one.
    Warning,
    /// Context worth knowing.
    Info,
}

/// One conclusion, in a sentence with its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// How much it matters; findings come most severe first.
    pub severity: Severity,
    /// The container it is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// What was found.
    pub summary: String,
    /// What to do or look at next, when the rule knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

/// What `diagnose_kubernetes_pod` answers: findings first, then evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Diagnosis {
    /// The pod.
    pub pod: String,
    /// Its namespace.
    pub namespace: String,
    /// The kubeconfig context asked, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The findings, most severe first.
    pub findings: Vec<Finding>,
    /// What the findings were drawn from.
    pub evidence: Evidence,
}

/// The facts behind a [`Diagnosis`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Evidence {
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: String,
    /// The pod-level reason (`Evicted`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The pod-level message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The node it runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Ready containers over containers (`1/2`).
    pub ready: String,
    /// Conditions as `Type=Status (reason: message)`.
    pub conditions: Vec<String>,
    /// Every container: init (sidecars among them), regular, ephemeral.
    pub containers: Vec<ContainerEvidence>,
    /// The newest Warning events, newest first.
    pub warning_events: Vec<String>,
    /// Why the events could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_error: Option<String>,
    /// Why usage is unknown (metrics-server absent, down, or no sample yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_unavailable: Option<String>,
    /// The controller that owns the pod, and its rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// For a pod waiting for a node: the scheduler's reason and the nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<Scheduling>,
}

/// One container in the [`Evidence`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ContainerEvidence {
    /// Its name.
    pub name: String,
    /// `init`, `sidecar` (an init container with `restartPolicy: Always`),
    /// `container` or `ephemeral`.
    pub kind: &'static str,
    /// Its image.
    pub image: String,
    /// Its state now.
    pub state: String,
    /// Whether it is ready.
    pub ready: bool,
    /// How many times it restarted.
    pub restarts: i32,
    /// How its last run ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_termination: Option<Termination>,
    /// What that exit code means (`137: SIGKILL …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_meaning: Option<String>,
    /// Memory usage, request and limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Usage>,
    /// CPU usage, request and limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Usage>,
    /// Its probes, e.g. `liveness: HTTP GET :8080/healthz every 10s, timeout 1s, 3 failures`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<String>,
    /// The end of the log of its failed run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<LogTail>,
}

/// Usage against request and limit, as a person reads them (`1Gi`, `104m`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Usage {
    /// Current usage, when metrics-server has it.
    pub usage: Option<String>,
    /// The request.
    pub request: Option<String>,
    /// The limit.
    pub limit: Option<String>,
    /// Usage as a percent of the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_of_limit: Option<f64>,
}

/// The end of a run's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LogTail {
    /// Which run: `previous run` (the one before the running one) or `last run`
    /// (the one that ended; the container has not started again).
    pub run: &'static str,
    /// The last lines.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lines: String,
    /// Why the log could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The pod's controller chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Owner {
    /// `ReplicaSet/orders-api-6f7d9c8b5d`, then `Deployment/orders-api`.
    pub chain: Vec<String>,
    /// The Deployment's rollout, as `kubectl rollout status` tells it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
    /// The Deployment's revision before the pod's, when it was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<String>,
    /// What the pod's revision changed from that one: images, env var names,
    /// requests and limits.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// Why the owner could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a pod waits for a node.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Scheduling {
    /// The scheduler's message (`0/3 nodes are available: 3 Insufficient cpu. …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler_message: Option<String>,
    /// What the pod requests: `cpu 2, memory 1Gi`.
    pub pod_requests: String,
    /// How many nodes have room for those requests.
    pub nodes_with_room: usize,
    /// The nodes, most free CPU first.
    pub nodes: Vec<NodeFit>,
    /// Why the nodes could not be read, or that only some were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes_note: Option<String>,
}

/// One node's room for the pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct NodeFit {
    /// The node.
    pub name: String,
    /// Allocatable CPU less what its pods request.
    pub cpu_free: String,
    /// Allocatable memory less what its pods request.
    pub memory_free: String,
    /// Allocatable CPU and memory.
    pub allocatable: String,
    /// Whether the pod's requests fit.
    pub fits: bool,
    /// Cordoned, untolerated taints, not ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A container's usage sample: (cpu cores, memory bytes).
pub(crate) type Sample = (Option<f64>, Option<f64>);

/// Everything read about the pod, for the rules.
pub(crate) struct Facts {
    pub(crate) pod: Pod,
    /// About this pod (same uid), newest first.
    pub(crate) events: Result<Vec<Event>, Error>,
    /// Container name → (cpu cores, memory bytes).
    pub(crate) usage: Result<BTreeMap<String, Sample>, Error>,
    pub(crate) logs: BTreeMap<String, LogTail>,
    pub(crate) owner: Option<owner::OwnerFacts>,
    pub(crate) scheduling: Option<Scheduling>,
}

impl Cluster {
    async fn diagnose(&self, args: &PodContextArgs) -> Result<Diagnosis, Error> {
        let (ns, name) = (args.namespace.as_str(), args.pod_name.as_str());
        // The pod decides: without it there is nothing to diagnose, so its error
        // comes back at once; the events and metrics are optional.
        let (pod, events, metrics) = tokio::try_join!(
            self.pod(ns, name),
            async { Ok(self.events(ns, name).await) },
            async { Ok(self.pod_metrics(ns, name).await) },
        )?;
        if let Some(container) = args
            .container_name
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        {
            pod::choose_container(&pod, name, Some(container))?;
        }
        let uid = pod.metadata.uid.clone();
        let events = events.map(|mut list| {
            list.retain(
                |e| match (uid.as_deref(), e.involved_object.uid.as_deref()) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                },
            );
            list.sort_by_key(|e| std::cmp::Reverse(status::event_time(e)));
            list
        });
        let usage = metrics.map(|m| {
            m.containers
                .into_iter()
                .map(|c| {
                    let read = |r: Resource| c.usage.get(r.key()).and_then(|q| quantity::parse(q));
                    let values = (read(Resource::Cpu), read(Resource::Memory));
                    (c.name, values)
                })
                .collect()
        });

        let (logs, owner, scheduling) = tokio::join!(
            self.failed_run_logs(&pod, ns, name),
            self.owner_facts(&pod, ns),
            self.scheduling(&pod, events.as_ref().ok().map(Vec::as_slice)),
        );
        let facts = Facts {
            pod,
            events,
            usage,
            logs,
            owner,
            scheduling,
        };
        let mut findings = rules::findings(&facts);
        if let Some(container) = args
            .container_name
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            // Within each severity, findings about the container asked for first.
            findings.sort_by_key(|f| (f.severity, f.container.as_deref() != Some(container)));
        }
        let evidence = evidence(&facts, self.limits.max_events);
        Ok(Diagnosis {
            pod: name.to_owned(),
            namespace: ns.to_owned(),
            context: args.context.clone().filter(|c| !c.trim().is_empty()),
            findings,
            evidence,
        })
    }

    /// The log tail of each container's failed run: the previous run of a
    /// running container that restarted, the last run of one that ended.
    async fn failed_run_logs(&self, pod: &Pod, ns: &str, name: &str) -> BTreeMap<String, LogTail> {
        let wanted: Vec<(String, bool)> = pod::init_statuses(pod)
            .iter()
            .chain(pod::statuses(pod))
            .filter_map(|s| {
                let state = s.state.as_ref();
                let running = state.is_some_and(|st| st.running.is_some());
                let ended_badly = state
                    .and_then(|st| st.terminated.as_ref())
                    .is_some_and(|t| t.exit_code != 0);
                let last = s.last_state.as_ref().and_then(|l| l.terminated.as_ref());
                if running && (s.restart_count > 0 || last.is_some()) {
                    Some((s.name.clone(), true))
                } else if ended_badly || (!running && last.is_some()) {
                    Some((s.name.clone(), false))
                } else {
                    None
                }
            })
            .take(MAX_LOGS)
            .collect();
        let reads = wanted.iter().map(|(container, previous)| async move {
            let run = if *previous {
                "previous run"
            } else {
                "last run"
            };
            let tail = match self
                .fetch_log(
                    ns,
                    name,
                    container,
                    *previous,
                    LOG_TAIL_LINES,
                    LOG_TAIL_BYTES,
                )
                .await
            {
                Ok(log) => LogTail {
                    run,
                    lines: log.text,
                    error: None,
                },
                Err(e) => LogTail {
                    run,
                    lines: String::new(),
                    error: Some(e.to_string()),
                },
            };
            (container.clone(), tail)
        });
        futures::future::join_all(reads).await.into_iter().collect()
    }
}

impl Diagnosis {
    /// Redacts every text that came from the cluster.
    fn scrub(&mut self, cluster: &Cluster) {
        for f in &mut self.findings {
            cluster.scrub(&mut f.summary);
            cluster.scrub_opt(&mut f.next_step);
        }
        let e = &mut self.evidence;
        cluster.scrub_opt(&mut e.reason);
        cluster.scrub_opt(&mut e.message);
        cluster.scrub_opt(&mut e.events_error);
        for text in e.conditions.iter_mut().chain(e.warning_events.iter_mut()) {
            cluster.scrub(text);
        }
        for c in &mut e.containers {
            cluster.scrub(&mut c.state);
            if let Some(t) = &mut c.last_termination {
                cluster.scrub_opt(&mut t.message);
            }
            if let Some(log) = &mut c.log_tail {
                cluster.scrub(&mut log.lines);
            }
            for p in &mut c.probes {
                cluster.scrub(p);
            }
        }
        if let Some(s) = &mut e.scheduling {
            cluster.scrub_opt(&mut s.scheduler_message);
        }
    }
}

/// What an exit code means, with the reason the runtime gave.
pub(crate) fn exit_meaning(t: &Termination) -> String {
    let code = t.exit_code;
    let oom = t.reason.as_deref() == Some("OOMKilled");
    let reason = t.reason.as_deref().unwrap_or("none");
    match code {
        0 => "0: the process exited successfully".into(),
        _ if oom => format!(
            "{code}: killed by the kernel's OOM killer (reason OOMKilled): the container reached its memory limit"
        ),
        1 => "1: the application exited with an error".into(),
        128 => "128: the process could not be started (StartError: a missing command or entrypoint, or the runtime failed)".into(),
        2 => "2: the command was misused (bad arguments or shell syntax)".into(),
        126 => "126: the command cannot be executed (permission or format)".into(),
        127 => "127: the command was not found in the image".into(),
        134 => "134: SIGABRT (128 + 6): the process aborted itself".into(),
        137 => format!(
            "137: SIGKILL (128 + 9), not an OOM kill (reason {reason}): a failed liveness probe, a stop that outlasted the grace period, or a kill from outside"
        ),
        139 => "139: SIGSEGV (128 + 11): the process crashed on a bad memory access".into(),
        143 => "143: SIGTERM (128 + 15): asked to stop (a liveness-probe restart, a deletion, a rollout or a node drain)".into(),
        255 => "255: the process exited with a fatal error or an out-of-range status".into(),
        129..=192 => format!("{code}: killed by signal {} (128 + {})", code - 128, code - 128),
        _ => format!("{code}: the application's own exit code"),
    }
}

/// `liveness: HTTP GET :8080/healthz every 10s, timeout 1s, 3 failures, delay 15s`.
pub(crate) fn probe_text(kind: &str, probe: &Probe) -> String {
    let port = |p: &IntOrString| match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    };
    let action = if let Some(http) = &probe.http_get {
        format!(
            "{} GET {}:{}{}",
            http.scheme.as_deref().unwrap_or("HTTP"),
            http.host.as_deref().unwrap_or(""),
            port(&http.port),
            http.path.as_deref().unwrap_or("/")
        )
    } else if let Some(tcp) = &probe.tcp_socket {
        format!(
            "TCP {}:{}",
            tcp.host.as_deref().unwrap_or(""),
            port(&tcp.port)
        )
    } else if let Some(grpc) = &probe.grpc {
        format!("gRPC :{}", grpc.port)
    } else if let Some(exec) = &probe.exec {
        format!("exec {}", exec.command.as_deref().unwrap_or(&[]).join(" "))
    } else {
        "no action".into()
    };
    format!(
        "{kind}: {action} every {}s, timeout {}s, {} failures, delay {}s",
        probe.period_seconds.unwrap_or(10),
        probe.timeout_seconds.unwrap_or(1),
        probe.failure_threshold.unwrap_or(3),
        probe.initial_delay_seconds.unwrap_or(0)
    )
}

/// The container's probes, as text.
pub(crate) fn probes(pod: &Pod, name: &str) -> Vec<String> {
    let Some(spec) = pod::container_spec(pod, name) else {
        return Vec::new();
    };
    [
        ("startup", spec.startup_probe.as_ref()),
        ("liveness", spec.liveness_probe.as_ref()),
        ("readiness", spec.readiness_probe.as_ref()),
    ]
    .into_iter()
    .filter_map(|(kind, p)| p.map(|p| probe_text(kind, p)))
    .collect()
}

/// Usage against request and limit of one resource of one container.
pub(crate) fn usage(facts: &Facts, name: &str, resource: Resource) -> Option<Usage> {
    let spec = pod::container_spec(&facts.pod, name);
    let request = spec.and_then(|c| super::metrics::spec_value(c, "requests", resource));
    let limit = spec.and_then(|c| super::metrics::spec_value(c, "limits", resource));
    let used = facts
        .usage
        .as_ref()
        .ok()
        .and_then(|u| u.get(name))
        .and_then(|(cpu, mem)| match resource {
            Resource::Cpu => *cpu,
            _ => *mem,
        });
    if used.is_none() && request.is_none() && limit.is_none() {
        return None;
    }
    Some(Usage {
        usage: used.map(|v| resource.format(v)),
        request: request.map(|v| resource.format(v)),
        limit: limit.map(|v| resource.format(v)),
        percent_of_limit: used.zip(limit).and_then(|(u, l)| quantity::percent(u, l)),
    })
}

fn evidence(facts: &Facts, max_events: usize) -> Evidence {
    let pod = &facts.pod;
    let status = pod.status.as_ref();
    let container = |s: &k8s_openapi::api::core::v1::ContainerStatus, kind: &'static str| {
        let last = pod::last_termination(s).or_else(|| {
            s.state
                .as_ref()
                .and_then(|st| st.terminated.as_ref())
                .map(Termination::from_k8s)
        });
        ContainerEvidence {
            name: s.name.clone(),
            kind,
            image: s.image.clone(),
            state: pod::state_text(s.state.as_ref()),
            ready: s.ready,
            restarts: s.restart_count,
            exit_meaning: last.as_ref().map(exit_meaning),
            last_termination: last,
            memory: usage(facts, &s.name, Resource::Memory),
            cpu: usage(facts, &s.name, Resource::Cpu),
            probes: probes(pod, &s.name),
            log_tail: facts.logs.get(&s.name).cloned(),
        }
    };
    let mut containers: Vec<ContainerEvidence> = pod::init_statuses(pod)
        .iter()
        .map(|s| {
            let kind = if pod::is_sidecar(pod, &s.name) {
                "sidecar"
            } else {
                "init"
            };
            container(s, kind)
        })
        .collect();
    containers.extend(pod::statuses(pod).iter().map(|s| container(s, "container")));
    containers.extend(
        pod::ephemeral_statuses(pod)
            .iter()
            .map(|s| container(s, "ephemeral")),
    );
    // Containers with no status yet (the pod is not scheduled) still show their spec.
    for spec in pod::init_containers(pod).iter().chain(pod::containers(pod)) {
        if !containers.iter().any(|c| c.name == spec.name) {
            containers.push(ContainerEvidence {
                name: spec.name.clone(),
                kind: if pod::is_sidecar(pod, &spec.name) {
                    "sidecar"
                } else if pod::init_containers(pod)
                    .iter()
                    .any(|c| c.name == spec.name)
                {
                    "init"
                } else {
                    "container"
                },
                image: spec.image.clone().unwrap_or_default(),
                state: "not created yet".into(),
                ready: false,
                restarts: 0,
                last_termination: None,
                exit_meaning: None,
                memory: usage(facts, &spec.name, Resource::Memory),
                cpu: usage(facts, &spec.name, Resource::Cpu),
                probes: probes(pod, &spec.name),
                log_tail: None,
            });
        }
    }
    let (warning_events, events_error) = match &facts.events {
        Ok(list) => (
            list.iter()
                .filter(|e| e.type_.as_deref() == Some("Warning"))
                .take(max_events)
                .map(status::event_line)
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let ready = pod::statuses(pod).iter().filter(|s| s.ready).count();
    Evidence {
        phase: status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into()),
        reason: status.and_then(|s| s.reason.clone()),
        message: status.and_then(|s| s.message.clone()),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        ready: format!("{ready}/{}", pod::containers(pod).len()),
        conditions: status
            .and_then(|s| s.conditions.as_ref())
            .map(|c| c.iter().map(status::condition_line).collect())
            .unwrap_or_default(),
        containers,
        warning_events,
        events_error,
        metrics_unavailable: facts.usage.as_ref().err().map(ToString::to_string),
        owner: facts.owner.as_ref().map(|o| o.owner.clone()),
        scheduling: facts.scheduling.clone(),
    }
}
