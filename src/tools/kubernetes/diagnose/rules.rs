//! The rules: from what was read about a pod to ranked findings.

use std::sync::LazyLock;

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Event};
use regex::Regex;

use super::{Facts, Finding, Severity, exit_meaning, probe_text, usage};
use crate::tools::kubernetes::metrics::Resource;
use crate::tools::kubernetes::pod::{self, Termination};
use crate::tools::kubernetes::status;

/// A log line that reads like the error that ended a run.
static ERROR_LINE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)(\berror\b|exception|\bfatal\b|panic|traceback|\bkilled\b|out of memory|\bfailed\b|refused|denied|no such file|not found|cannot|could not|unable to|[A-Za-z]+Error\b)").ok()
});

/// An environment variable a log line says is missing: `KeyError: 'DATABASE_URL'`,
/// `environment variable FOO is not set`, `missing required env DB_HOST`.
static MISSING_ENV: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?:KeyError:\s*['"]|env(?:ironment)?(?:\s+var(?:iable)?)?\s+['"`]?|variable\s+['"`]?|\$)([A-Z][A-Z0-9_]{2,})"#).ok()
});

/// `couldn't find key url in Secret orders/orders-db`.
static MISSING_KEY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"couldn't find key (\S+) in (Secret|ConfigMap) ([^/\s]+)/(\S+)").ok()
});

/// `secret "orders-db" not found`, `configmap "app-config" not found`.
static MISSING_OBJECT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?i)(secret|configmap)s? "([^"]+)" not found"#).ok());

/// Every finding, most severe first.
pub(crate) fn findings(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    pod_level(facts, &mut out);
    for s in pod::init_statuses(&facts.pod) {
        container(facts, s, true, &mut out);
    }
    for s in pod::statuses(&facts.pod) {
        container(facts, s, false, &mut out);
    }
    for s in pod::ephemeral_statuses(&facts.pod) {
        out.push(Finding {
            severity: Severity::Info,
            container: Some(s.name.clone()),
            summary: format!(
                "ephemeral debug container {} is {}",
                s.name,
                pod::state_text(s.state.as_ref())
            ),
            next_step: None,
        });
    }
    owner(
        facts,
        &out.iter().any(|f| f.severity == Severity::Critical),
        &mut out,
    );
    if let Err(e) = &facts.usage {
        out.push(Finding {
            severity: Severity::Info,
            container: None,
            summary: format!("usage unknown: {e}"),
            next_step: None,
        });
    }
    if !out.iter().any(|f| f.severity != Severity::Info) {
        out.insert(
            0,
            Finding {
                severity: Severity::Info,
                container: None,
                summary: "no problem found: the pod's containers run, are ready, have not restarted and there are no warning events".into(),
                next_step: None,
            },
        );
    }
    out.sort_by_key(|f| f.severity);
    out
}

fn events_for<'f>(facts: &'f Facts, container: &'f str) -> impl Iterator<Item = &'f Event> + 'f {
    facts
        .events
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .filter(move |e| {
            e.involved_object
                .field_path
                .as_deref()
                .and_then(|p| {
                    p.strip_prefix("spec.containers{")
                        .or_else(|| p.strip_prefix("spec.initContainers{"))
                        .or_else(|| p.strip_prefix("spec.ephemeralContainers{"))
                })
                .and_then(|p| p.strip_suffix('}'))
                == Some(container)
        })
}

/// The newest event message of this container starting with `prefix`, and how many times.
fn probe_failure(facts: &Facts, container: &str, prefix: &str) -> Option<(String, i32)> {
    events_for(facts, container)
        .find(|e| {
            e.reason.as_deref() == Some("Unhealthy")
                && e.message.as_deref().is_some_and(|m| m.starts_with(prefix))
        })
        .map(|e| {
            let message = e.message.as_deref().unwrap_or("");
            let cause = message.strip_prefix(prefix).unwrap_or(message).trim();
            (pod::cut(cause, 240), status::count(e).unwrap_or(1))
        })
}

fn pod_level(facts: &Facts, out: &mut Vec<Finding>) {
    let pod = &facts.pod;
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
    let reason = status.and_then(|s| s.reason.as_deref());
    let message = status
        .and_then(|s| s.message.as_deref())
        .unwrap_or("")
        .trim();
    if reason == Some("Evicted") {
        out.push(Finding {
            severity: Severity::Critical,
            container: None,
            summary: format!("the pod was evicted by the kubelet (phase {phase}): {message}"),
            next_step: Some("the node ran short of the resource named; set requests that match real usage (pods using more than they request are evicted first), or give the node more room. The evicted pod stays until deleted; its controller has started a new one".into()),
        });
    } else if phase == "Failed" {
        out.push(Finding {
            severity: Severity::Critical,
            container: None,
            summary: format!(
                "the pod failed (phase Failed{}){}",
                reason.map_or_else(String::new, |r| format!(", reason {r}")),
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            ),
            next_step: None,
        });
    }
    if let Some(s) = &facts.scheduling {
        let mut summary = format!(
            "the pod is not scheduled: {}",
            s.scheduler_message
                .as_deref()
                .unwrap_or("the scheduler has not placed it yet")
        );
        if !s.nodes.is_empty() {
            summary.push_str(&format!(
                "; {}/{} nodes have room for its requests ({})",
                s.nodes_with_room,
                s.nodes.len(),
                s.pod_requests
            ));
            // Nodes it may not use (tainted, cordoned, not ready) do not count.
            match s.nodes.iter().find(|n| n.notes.is_empty()) {
                Some(best) => summary.push_str(&format!(
                    "; the most free CPU on a node it may use is {} on {} (memory free {})",
                    best.cpu_free, best.name, best.memory_free
                )),
                None => summary.push_str("; every node is tainted, cordoned or not ready for it"),
            }
        }
        out.push(Finding {
            severity: Severity::Critical,
            container: None,
            summary,
            next_step: Some("lower the pod's requests, free or add nodes, or fix the node selector, affinity or tolerations the scheduler names".into()),
        });
    }
    if let Some(at) = &pod.metadata.deletion_timestamp {
        out.push(Finding {
            severity: Severity::Info,
            container: None,
            summary: format!("the pod is being deleted (since {})", at.0),
            next_step: None,
        });
    }
    // Volume problems show as events on the pod, not on a container.
    if let Ok(events) = &facts.events
        && let Some(e) = events.iter().find(|e| {
            e.type_.as_deref() == Some("Warning")
                && matches!(
                    e.reason.as_deref(),
                    Some("FailedMount" | "FailedAttachVolume")
                )
        })
    {
        out.push(Finding {
            severity: Severity::Critical,
            container: None,
            summary: format!(
                "a volume cannot be mounted ({}): {}",
                e.reason.as_deref().unwrap_or(""),
                pod::cut(e.message.as_deref().unwrap_or("").trim(), 300)
            ),
            next_step: Some("create the ConfigMap, Secret or claim it names, or fix the volume in the pod template".into()),
        });
    }
    if let Ok(events) = &facts.events
        && let Some(e) = events.iter().find(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some("FailedCreatePodSandBox")
        })
    {
        out.push(Finding {
            severity: Severity::Critical,
            container: None,
            summary: format!(
                "the pod's sandbox cannot be created (FailedCreatePodSandBox, x{}): {}",
                status::count(e).unwrap_or(1),
                pod::cut(e.message.as_deref().unwrap_or("").trim(), 300)
            ),
            next_step: Some("the node's network plugin (CNI) or runtime failed: check the CNI pods on that node and free pod IPs".into()),
        });
    }
    if phase == "Unknown" {
        out.push(Finding {
            severity: Severity::Critical,
            container: None,
            summary: format!(
                "the pod's state is unknown{}: its node stopped reporting to the API server",
                reason.map_or_else(String::new, |r| format!(" ({r})"))
            ),
            next_step: Some("check the node's Ready condition and the kubelet".into()),
        });
    }
}

fn spec<'p>(facts: &'p Facts, name: &str) -> Option<&'p Container> {
    pod::container_spec(&facts.pod, name)
}

fn container(facts: &Facts, s: &ContainerStatus, init: bool, out: &mut Vec<Finding>) {
    let name = s.name.as_str();
    let sidecar = init && pod::is_sidecar(&facts.pod, name);
    let label = if sidecar {
        format!("sidecar {name}")
    } else if init {
        format!("init container {name}")
    } else {
        name.to_owned()
    };
    let waiting = s.state.as_ref().and_then(|st| st.waiting.as_ref());
    let waiting_reason = waiting.and_then(|w| w.reason.as_deref()).unwrap_or("");
    let waiting_message = waiting
        .and_then(|w| w.message.as_deref())
        .unwrap_or("")
        .trim();
    let finding = |severity, summary: String, next_step: Option<String>| Finding {
        severity,
        container: Some(name.to_owned()),
        summary,
        next_step,
    };

    match waiting_reason {
        "ErrImagePull"
        | "ImagePullBackOff"
        | "InvalidImageName"
        | "ErrImageNeverPull"
        | "RegistryUnavailable" => {
            out.push(image_finding(
                facts,
                s,
                &label,
                waiting_reason,
                waiting_message,
            ));
            return;
        }
        "CreateContainerConfigError"
        | "CreateContainerError"
        | "RunContainerError"
        | "PreCreateHookError"
        | "PostStartHookError" => {
            out.push(config_finding(
                facts,
                name,
                &label,
                waiting_reason,
                waiting_message,
            ));
            return;
        }
        "PodInitializing" if !init => {
            if let Some(blocking) = pod::blocking_init(&facts.pod) {
                out.push(finding(
                    Severity::Warning,
                    format!(
                        "{label} has not started: it waits for init container {} to finish",
                        blocking.name
                    ),
                    None,
                ));
            }
            return;
        }
        _ => {}
    }

    let current = s
        .state
        .as_ref()
        .and_then(|st| st.terminated.as_ref())
        .map(Termination::from_k8s);
    // A pod the kubelet ended (evicted, node shutdown): its containers were
    // stopped with it; the pod-level finding says why.
    let pod_status = facts.pod.status.as_ref();
    if let (Some(t), Some("Failed"), Some(reason)) = (
        current.as_ref(),
        pod_status.and_then(|p| p.phase.as_deref()),
        pod_status.and_then(|p| p.reason.as_deref()),
    ) {
        out.push(finding(
            Severity::Info,
            format!(
                "{label} was stopped with the pod ({reason}): exit code {}, reason {}",
                t.exit_code,
                t.reason.as_deref().unwrap_or("none")
            ),
            None,
        ));
        return;
    }
    let last = pod::last_termination(s);
    let running = s.state.as_ref().is_some_and(|st| st.running.is_some());
    let ended = current.clone().or(last.clone());
    if let Some(t) = ended
        .as_ref()
        .filter(|t| t.exit_code != 0 || t.reason.as_deref() == Some("OOMKilled"))
    {
        let restarts = if s.restart_count > 0 {
            format!("{} restarts", s.restart_count)
        } else {
            "no restart yet".into()
        };
        let state = if waiting_reason.is_empty() {
            pod::state_text(s.state.as_ref())
        } else {
            format!("now {waiting_reason}")
        };
        let recovered = running && s.ready;
        let severity = if recovered && t.reason.as_deref() != Some("OOMKilled") {
            Severity::Warning
        } else {
            Severity::Critical
        };
        let liveness = probe_failure(facts, name, "Liveness probe failed:");
        let startup = probe_failure(facts, name, "Startup probe failed:");
        if t.reason.as_deref() == Some("OOMKilled") {
            out.push(oom_finding(facts, name, &label, t, &restarts));
        } else if let (true, Some((cause, count))) = (
            matches!(t.exit_code, 137 | 143),
            liveness.as_ref().or(startup.as_ref()),
        ) {
            let kind = if liveness.is_some() {
                "liveness"
            } else {
                "startup"
            };
            let probe = spec(facts, name)
                .and_then(|c| {
                    if kind == "liveness" {
                        c.liveness_probe.as_ref()
                    } else {
                        c.startup_probe.as_ref()
                    }
                })
                .map(|p| probe_text(kind, p))
                .unwrap_or_else(|| format!("{kind} probe"));
            out.push(finding(
                Severity::Critical,
                format!(
                    "{label} was killed by the kubelet because its {kind} probe failed, not by the OOM killer (exit {}, reason {}; {restarts}): {probe}; last failure (x{count}): {cause}",
                    t.exit_code,
                    t.reason.as_deref().unwrap_or("none")
                ),
                Some(format!("make the probe's endpoint answer in time, or loosen the probe (timeout, period, failure threshold{})", if kind == "liveness" { ", or add a startup probe for slow starts" } else { "" })),
            ));
        } else {
            let ran = match (&t.started_at, &t.finished_at) {
                (Some(a), Some(b)) => a
                    .parse::<k8s_openapi::jiff::Timestamp>()
                    .ok()
                    .zip(b.parse::<k8s_openapi::jiff::Timestamp>().ok())
                    // A run that never started carries the epoch as its start.
                    .filter(|(a, b)| a.as_second() > 0 && b >= a)
                    .map(|(a, b)| format!(" after {}s", b.as_second() - a.as_second()))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let mut summary = format!(
                "{label} {} (exit code {}: {}){ran}; {restarts}, {state}",
                if s.restart_count > 0 {
                    "keeps crashing"
                } else {
                    "ended with an error"
                },
                t.exit_code,
                exit_meaning(t).split_once(": ").map_or("", |(_, m)| m)
            );
            if let Some(message) = &t.message {
                summary.push_str(&format!("; termination message: {message}"));
            }
            let error_line = facts.logs.get(name).and_then(|l| last_error_line(&l.lines));
            if let Some(line) = &error_line {
                summary.push_str(&format!("; last error in its log: {line}"));
            }
            out.push(finding(
                severity,
                summary,
                Some(if severity == Severity::Warning {
                    "it runs again now; read the previous run's log to see why it stopped".into()
                } else {
                    "fix what the run's last error says; the evidence has the end of its log, get_kubernetes_pod_logs more".into()
                }),
            ));
            if let Some(f) = missing_env_finding(facts, name, &label) {
                out.push(f);
            }
        }
    } else if let Some(t) = ended
        .as_ref()
        .filter(|t| t.exit_code == 0 && s.restart_count > 0 && !init)
    {
        out.push(finding(
            Severity::Warning,
            format!(
                "{label} exits with code 0 and is restarted ({} restarts, last reason {}): its main process finishes instead of running",
                s.restart_count,
                t.reason.as_deref().unwrap_or("none")
            ),
            Some("a long-running container must not exit; run it as a Job if it is meant to finish".into()),
        ));
    }

    if let Some((cause, count)) = probe_failure(facts, name, "Readiness probe failed:") {
        let probe = spec(facts, name)
            .and_then(|c| c.readiness_probe.as_ref())
            .map(|p| probe_text("readiness", p))
            .unwrap_or_else(|| "readiness probe".into());
        out.push(finding(
            Severity::Warning,
            format!("{label}'s readiness probe fails (x{count}): {probe}: {cause}"),
            None,
        ));
    }
    if let Some(u) = usage(facts, name, Resource::Memory)
        && let Some(p) = u.percent_of_limit
        && p >= 90.0
        && !out
            .iter()
            .any(|f| f.container.as_deref() == Some(name) && f.summary.contains("OOM-killed"))
    {
        out.push(finding(
            Severity::Warning,
            format!(
                "{label} uses {} of memory, {p:.0}% of its limit {}: near an OOM kill",
                u.usage.as_deref().unwrap_or("?"),
                u.limit.as_deref().unwrap_or("?")
            ),
            None,
        ));
    }
    if let Some(u) = usage(facts, name, Resource::Cpu)
        && let Some(p) = u.percent_of_limit
        && p >= 90.0
    {
        out.push(finding(
            Severity::Warning,
            format!(
                "{label} uses {} of CPU, {p:.0}% of its limit {}: it is being throttled",
                u.usage.as_deref().unwrap_or("?"),
                u.limit.as_deref().unwrap_or("?")
            ),
            None,
        ));
    }
}

fn oom_finding(facts: &Facts, name: &str, label: &str, t: &Termination, restarts: &str) -> Finding {
    let memory = usage(facts, name, Resource::Memory);
    let numbers = match &memory {
        Some(u) => match (&u.usage, &u.limit) {
            (Some(used), Some(limit)) if u.percent_of_limit.is_some_and(|p| p >= 99.5) => {
                format!("memory usage {used} = limit {limit}")
            }
            (Some(used), Some(limit)) => format!(
                "memory usage now {used} of limit {limit} ({:.0}%)",
                u.percent_of_limit.unwrap_or(0.0)
            ),
            (None, Some(limit)) => format!("memory limit {limit}, usage unknown"),
            (Some(used), None) => format!("memory usage {used}, no limit set (the node ran out)"),
            (None, None) => "no memory limit set (the node ran out)".into(),
        },
        None => "no memory request or limit set".into(),
    };
    let istio = name == "istio-proxy"
        && facts
            .pod
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.keys().any(|k| k.starts_with("sidecar.istio.io/")));
    let limit = memory
        .as_ref()
        .and_then(|u| u.limit.clone())
        .unwrap_or_else(|| "none".into());
    // Say plainly when CPU is not the problem.
    let cpu = usage(facts, name, Resource::Cpu)
        .filter(|u| u.percent_of_limit.is_some_and(|p| p < 50.0))
        .and_then(|u| {
            Some(format!(
                "; CPU {} of limit {} is not the problem",
                u.usage?, u.limit?
            ))
        })
        .unwrap_or_default();
    Finding {
        severity: Severity::Critical,
        container: Some(name.to_owned()),
        summary: format!(
            "{label} was OOM-killed (exit {}, reason OOMKilled; {restarts}): {numbers}{cpu}",
            t.exit_code
        ),
        next_step: Some(if istio {
            format!(
                "raise the sidecar's memory limit (now {limit}) with the pod annotation sidecar.istio.io/proxyMemoryLimit (and proxyMemory for the request), or cut Envoy's config with a Sidecar resource"
            )
        } else {
            format!(
                "raise {name}'s memory limit (now {limit}) and request, or find what makes it use more memory"
            )
        }),
    }
}

fn image_finding(
    facts: &Facts,
    s: &ContainerStatus,
    label: &str,
    reason: &str,
    message: &str,
) -> Finding {
    let image = spec(facts, &s.name)
        .and_then(|c| c.image.clone())
        .unwrap_or_else(|| s.image.clone());
    // The pull error itself is in the `Failed` event; the waiting message may only say back-off.
    let pulled = events_for(facts, &s.name)
        .find(|e| {
            e.reason.as_deref() == Some("Failed")
                && e.message.as_deref().is_some_and(|m| m.contains("ull"))
        })
        .and_then(|e| e.message.clone());
    let said = pulled.as_deref().unwrap_or(message).trim();
    let lower = said.to_ascii_lowercase();
    let (what, next) = if lower.contains("not found")
        || lower.contains("manifest unknown")
        || lower.contains("does not exist")
    {
        (
            "not found",
            "check the image name and tag; the registry has no such image",
        )
    } else if [
        "unauthorized",
        "authentication required",
        "denied",
        "403",
        "401",
        "authorization failed",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        (
            "refused by the registry (credentials)",
            "add or fix the pod's imagePullSecrets, or the registry's access rights",
        )
    } else if ["toomanyrequests", "rate limit"]
        .iter()
        .any(|w| lower.contains(w))
    {
        (
            "rate-limited by the registry",
            "authenticate pulls or use a mirror",
        )
    } else if [
        "no such host",
        "i/o timeout",
        "connection refused",
        "dial tcp",
        "tls:",
        "x509",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        (
            "unreachable: the registry cannot be reached from the node",
            "check the node's DNS, network policy, proxy and the registry's certificate",
        )
    } else if reason == "InvalidImageName" {
        (
            "an invalid reference",
            "fix the image reference in the pod template",
        )
    } else {
        ("not pullable", "read the registry's message")
    };
    Finding {
        severity: Severity::Critical,
        container: Some(s.name.clone()),
        summary: format!(
            "{label} cannot start: image `{image}` is {what} ({reason}); the registry said: {}",
            pod::cut(if said.is_empty() { "nothing" } else { said }, 400)
        ),
        next_step: Some(next.into()),
    }
}

fn config_finding(facts: &Facts, name: &str, label: &str, reason: &str, message: &str) -> Finding {
    let env_refs = env_refs(spec(facts, name));
    let mut summary = format!("{label} cannot be created ({reason}): {message}");
    let mut next = None;
    if let Some(c) = MISSING_KEY.as_ref().and_then(|r| r.captures(message)) {
        let (key, kind, object) = (&c[1], &c[2], &c[4]);
        let vars: Vec<&str> = env_refs
            .iter()
            .filter(|r| {
                r.kind.eq_ignore_ascii_case(kind)
                    && r.object == object
                    && r.key.as_deref() == Some(key)
            })
            .map(|r| r.var.as_str())
            .collect();
        summary = if vars.is_empty() {
            format!("{label} cannot be created: {kind} `{object}` has no key `{key}` ({reason})")
        } else {
            format!(
                "{label} cannot be created: env var {} refers to key `{key}` of {kind} `{object}`, which has no such key ({reason})",
                vars.join(", ")
            )
        };
        next = Some(format!(
            "add key `{key}` to {kind} `{object}`, or point the reference at an existing key (or mark it optional: true)"
        ));
    } else if let Some(c) = MISSING_OBJECT.as_ref().and_then(|r| r.captures(message)) {
        let kind = if c[1].eq_ignore_ascii_case("secret") {
            "Secret"
        } else {
            "ConfigMap"
        };
        let object = &c[2];
        let vars: Vec<&str> = env_refs
            .iter()
            .filter(|r| r.kind == kind && r.object == object)
            .map(|r| r.var.as_str())
            .collect();
        summary = if vars.is_empty() {
            format!("{label} cannot be created: {kind} `{object}` does not exist ({reason})")
        } else {
            format!(
                "{label} cannot be created: {kind} `{object}` does not exist, and {} refers to it ({reason})",
                vars.join(", ")
            )
        };
        next = Some(format!(
            "create {kind} `{object}` in the pod's namespace, or fix the reference"
        ));
    }
    Finding {
        severity: Severity::Critical,
        container: Some(name.to_owned()),
        summary,
        next_step: next,
    }
}

/// One reference from a container's environment to a Secret or ConfigMap.
struct EnvRef {
    /// `FOO` for `env`, `envFrom` for a whole object.
    var: String,
    kind: &'static str,
    object: String,
    key: Option<String>,
}

fn env_refs(container: Option<&Container>) -> Vec<EnvRef> {
    let Some(c) = container else {
        return Vec::new();
    };
    let mut refs = Vec::new();
    for e in c.env.as_deref().unwrap_or(&[]) {
        let Some(from) = &e.value_from else { continue };
        if let Some(s) = &from.secret_key_ref {
            refs.push(EnvRef {
                var: e.name.clone(),
                kind: "Secret",
                object: s.name.clone(),
                key: Some(s.key.clone()),
            });
        }
        if let Some(m) = &from.config_map_key_ref {
            refs.push(EnvRef {
                var: e.name.clone(),
                kind: "ConfigMap",
                object: m.name.clone(),
                key: Some(m.key.clone()),
            });
        }
    }
    for f in c.env_from.as_deref().unwrap_or(&[]) {
        if let Some(s) = &f.secret_ref {
            refs.push(EnvRef {
                var: "envFrom".into(),
                kind: "Secret",
                object: s.name.clone(),
                key: None,
            });
        }
        if let Some(m) = &f.config_map_ref {
            refs.push(EnvRef {
                var: "envFrom".into(),
                kind: "ConfigMap",
                object: m.name.clone(),
                key: None,
            });
        }
    }
    refs
}

/// The last line of a log that reads like an error.
fn last_error_line(log: &str) -> Option<String> {
    let re = ERROR_LINE.as_ref()?;
    log.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && re.is_match(l))
        .map(|l| pod::cut(l, 240))
}

/// A variable the log says is missing that the container's `env` does not set.
fn missing_env_finding(facts: &Facts, name: &str, label: &str) -> Option<Finding> {
    let log = &facts.logs.get(name)?.lines;
    let re = MISSING_ENV.as_ref()?;
    let c = spec(facts, name)?;
    let set: Vec<&str> = c
        .env
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let var = log
        .lines()
        .rev()
        .filter(|l| ERROR_LINE.as_ref().is_some_and(|e| e.is_match(l)) || l.contains("KeyError"))
        .find_map(|l| {
            re.captures_iter(l)
                .filter_map(|m| m.get(1))
                .map(|m| m.as_str())
                .find(|v| !set.contains(v))
        })?;
    let from: Vec<String> = c
        .env_from
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .filter_map(|f| {
            f.config_map_ref
                .as_ref()
                .map(|m| format!("ConfigMap {}", m.name))
                .or_else(|| f.secret_ref.as_ref().map(|s| format!("Secret {}", s.name)))
        })
        .collect();
    let similar: Vec<&str> = set
        .iter()
        .copied()
        .filter(|s| {
            let tail = |v: &str| v.rsplit('_').next().unwrap_or(v).to_owned();
            tail(s) == tail(var) && s.chars().next() == var.chars().next()
        })
        .collect();
    let mut summary = format!(
        "{label}'s log names the environment variable {var}, which its env does not set (it sets: {})",
        set.join(", ")
    );
    if !similar.is_empty() {
        summary.push_str(&format!("; similar: {}", similar.join(", ")));
    }
    let before = facts.owner.as_ref().and_then(|o| {
        let revision = o.owner.previous_revision.as_deref()?;
        let c = o.previous_containers.iter().find(|c| c.name == name)?;
        let e = c.env.as_deref()?.iter().find(|e| e.name == var)?;
        let from = e.value_from.as_ref().and_then(|f| {
            f.secret_key_ref
                .as_ref()
                .map(|s| format!(" from Secret {} key {}", s.name, s.key))
                .or_else(|| {
                    f.config_map_key_ref
                        .as_ref()
                        .map(|m| format!(" from ConfigMap {} key {}", m.name, m.key))
                })
        });
        Some(format!(
            "; revision {revision} set it{}",
            from.unwrap_or_default()
        ))
    });
    if let Some(before) = &before {
        summary.push_str(before);
    }
    if !from.is_empty() && before.is_none() {
        summary.push_str(&format!(
            " (envFrom {} could set it, but the crash shows it does not)",
            from.join(", ")
        ));
    }
    Some(Finding {
        severity: Severity::Critical,
        container: Some(name.to_owned()),
        summary,
        next_step: Some(format!(
            "set {var} in the pod template{}, or roll back to {}",
            if similar.is_empty() {
                String::new()
            } else {
                format!(" (was it renamed to {}?)", similar.join(", "))
            },
            facts
                .owner
                .as_ref()
                .and_then(|o| Some((
                    o.deployment.as_deref()?,
                    o.owner.previous_revision.as_deref()?
                )))
                .filter(|_| before.is_some())
                .map_or_else(
                    || "the revision that set it".to_owned(),
                    |(d, r)| format!(
                        "revision {r}: kubectl rollout undo deployment/{d} --to-revision={r}"
                    )
                )
        )),
    })
}

fn owner(facts: &Facts, failing: &bool, out: &mut Vec<Finding>) {
    let Some(o) = &facts.owner else { return };
    let Some(deployment) = &o.deployment else {
        return;
    };
    let Some(rollout) = &o.owner.rollout else {
        return;
    };
    let changed = match (&o.owner.previous_revision, o.owner.changes.is_empty()) {
        (Some(r), false) => format!(
            "; changed since revision {r}: {}",
            o.owner.changes.join("; ")
        ),
        _ => String::new(),
    };
    if o.stuck {
        out.push(Finding {
            severity: Severity::Warning,
            container: None,
            summary: format!("Deployment {deployment}: {rollout}{changed}"),
            next_step: Some(format!(
                "kubectl rollout undo deployment/{deployment} returns to the previous revision"
            )),
        });
    } else if o.in_progress && o.newest_revision && *failing {
        out.push(Finding {
            severity: Severity::Warning,
            container: None,
            summary: format!(
                "this pod belongs to the new revision{} of Deployment {deployment}, which is failing mid-rollout: {rollout}{changed}",
                o.revision.as_deref().map_or_else(String::new, |r| format!(" ({r})"))
            ),
            next_step: Some(format!("fix the new pod template, or roll back: kubectl rollout undo deployment/{deployment}")),
        });
    } else {
        out.push(Finding {
            severity: Severity::Info,
            container: None,
            summary: format!("owned by {}: {rollout}", o.owner.chain.join(" → ")),
            next_step: None,
        });
    }
}
