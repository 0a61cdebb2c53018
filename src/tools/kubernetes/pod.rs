//! Reading a Pod: its containers, their states and terminations, which container a call means.

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateTerminated, ContainerStatus, Pod,
};
use serde::Serialize;

use super::error::Error;

/// The annotation kubectl reads to pick a container when none is named.
pub(crate) const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// How a container's run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Termination {
    /// Why it ended (`OOMKilled`, `Error`, `Completed`), when the runtime said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The exit code (137 is SIGKILL, often the OOM killer).
    pub exit_code: i32,
    /// The signal that ended it, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The container's termination message, cut to 300 bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the run started (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the run ended (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

impl Termination {
    pub(crate) fn from_k8s(t: &ContainerStateTerminated) -> Self {
        Self {
            reason: t.reason.clone().filter(|r| !r.is_empty()),
            exit_code: t.exit_code,
            signal: t.signal.filter(|&s| s != 0),
            message: t
                .message
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(|m| cut(m, 300)),
            started_at: t.started_at.as_ref().map(|t| t.0.to_string()),
            finished_at: t.finished_at.as_ref().map(|t| t.0.to_string()),
        }
    }

    /// `OOMKilled`, or `exit code 1` when the runtime gave no reason.
    pub(crate) fn reason_text(&self) -> String {
        self.reason
            .clone()
            .unwrap_or_else(|| format!("exit code {}", self.exit_code))
    }
}

/// The first `max` bytes of `text`, on a character boundary.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

/// The pod's regular containers.
pub(crate) fn containers(pod: &Pod) -> &[Container] {
    pod.spec.as_ref().map_or(&[], |s| s.containers.as_slice())
}

/// The pod's init containers.
pub(crate) fn init_containers(pod: &Pod) -> &[Container] {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or(&[])
}

/// A container's spec, regular or init, by name.
pub(crate) fn container_spec<'p>(pod: &'p Pod, name: &str) -> Option<&'p Container> {
    containers(pod)
        .iter()
        .chain(init_containers(pod))
        .find(|c| c.name == name)
}

/// The statuses of the regular containers.
pub(crate) fn statuses(pod: &Pod) -> &[ContainerStatus] {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[])
}

/// The statuses of the init containers.
pub(crate) fn init_statuses(pod: &Pod) -> &[ContainerStatus] {
    pod.status
        .as_ref()
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or(&[])
}

/// A container's status, regular or init, by name.
pub(crate) fn status<'p>(pod: &'p Pod, name: &str) -> Option<&'p ContainerStatus> {
    statuses(pod)
        .iter()
        .chain(init_statuses(pod))
        .chain(ephemeral_statuses(pod))
        .find(|s| s.name == name)
}

/// The last run's termination, when the container has restarted or ended before.
pub(crate) fn last_termination(status: &ContainerStatus) -> Option<Termination> {
    status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(Termination::from_k8s)
}

/// `running since 2025-06-10T09:45:36Z`, `waiting: CrashLoopBackOff (back-off …)`,
/// `terminated: Error, exit code 1`.
pub(crate) fn state_text(state: Option<&ContainerState>) -> String {
    let Some(state) = state else {
        return "unknown".into();
    };
    if let Some(waiting) = &state.waiting {
        let reason = waiting.reason.as_deref().unwrap_or("unknown reason");
        return match waiting.message.as_deref().filter(|m| !m.is_empty()) {
            Some(message) => format!("waiting: {reason} ({})", cut(message, 300)),
            None => format!("waiting: {reason}"),
        };
    }
    if let Some(terminated) = &state.terminated {
        let t = Termination::from_k8s(terminated);
        return match &t.reason {
            Some(reason) => format!("terminated: {reason}, exit code {}", t.exit_code),
            None => format!("terminated: exit code {}", t.exit_code),
        };
    }
    if let Some(running) = &state.running {
        return match &running.started_at {
            Some(at) => format!("running since {}", at.0),
            None => "running".into(),
        };
    }
    "unknown".into()
}

/// `istio-proxy (running since …, 5 restarts, last OOMKilled)`.
fn describe(pod: &Pod, name: &str) -> String {
    let Some(status) = status(pod, name) else {
        return format!("{name} (no status yet)");
    };
    let mut text = format!("{name} ({}", state_text(status.state.as_ref()));
    if status.restart_count > 0 {
        text.push_str(&format!(", {} restarts", status.restart_count));
    }
    if let Some(t) = last_termination(status) {
        text.push_str(&format!(", last run ended: {}", t.reason_text()));
    }
    text.push(')');
    text
}

/// The names of the pod's ephemeral (debug) containers.
pub(crate) fn ephemeral_names(pod: &Pod) -> Vec<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.ephemeral_containers.as_deref())
        .unwrap_or(&[])
        .iter()
        .map(|c| c.name.as_str())
        .collect()
}

/// The statuses of the ephemeral containers.
pub(crate) fn ephemeral_statuses(pod: &Pod) -> &[ContainerStatus] {
    pod.status
        .as_ref()
        .and_then(|s| s.ephemeral_container_statuses.as_deref())
        .unwrap_or(&[])
}

/// Whether the init container `name` is a sidecar (`restartPolicy: Always`).
pub(crate) fn is_sidecar(pod: &Pod, name: &str) -> bool {
    init_containers(pod)
        .iter()
        .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
}

/// The init container holding the pod back, when it has a log to read: the
/// first one, in order, that has neither finished with exit code 0 nor started
/// as a sidecar, and that runs, ran or is crash-looping.
pub(crate) fn blocking_init(pod: &Pod) -> Option<&ContainerStatus> {
    for spec in init_containers(pod) {
        let status = init_statuses(pod).iter().find(|s| s.name == spec.name)?;
        let state = status.state.as_ref();
        let sidecar = spec.restart_policy.as_deref() == Some("Always");
        if sidecar && status.started == Some(true) {
            continue;
        }
        if state
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0)
        {
            continue;
        }
        let ran = status.restart_count > 0
            || state.is_some_and(|s| s.running.is_some() || s.terminated.is_some())
            || status
                .last_state
                .as_ref()
                .is_some_and(|s| s.terminated.is_some());
        return ran.then_some(status);
    }
    None
}

/// Which container a call is about.
#[derive(Debug)]
pub(crate) struct Chosen {
    /// Its name.
    pub(crate) name: String,
    /// Set when no container was named and one was picked: says how.
    pub(crate) note: Option<String>,
}

/// Picks the container a call means: the one named (it must exist), the only
/// one, or the `kubectl.kubernetes.io/default-container`. Otherwise the model is
/// told the containers and their states so it can pick.
pub(crate) fn choose_container(
    pod: &Pod,
    pod_name: &str,
    requested: Option<&str>,
) -> Result<Chosen, Error> {
    let all: Vec<&str> = containers(pod)
        .iter()
        .chain(init_containers(pod))
        .map(|c| c.name.as_str())
        .chain(ephemeral_names(pod))
        .collect();
    if let Some(name) = requested.map(str::trim).filter(|n| !n.is_empty()) {
        if all.contains(&name) {
            return Ok(Chosen {
                name: name.to_owned(),
                note: None,
            });
        }
        return Err(Error::ContainerNotFound {
            pod: pod_name.to_owned(),
            container: name.to_owned(),
            available: all.iter().map(|&n| n.to_owned()).collect(),
        });
    }
    // A pod held back by an init container: its log is where the cause is,
    // the app containers have not started.
    if let Some(init) = blocking_init(pod) {
        return Ok(Chosen {
            name: init.name.clone(),
            note: Some(format!(
                "no container named: init container `{}` is holding the pod back ({}), so this is its log; the app containers have not started",
                init.name,
                state_text(init.state.as_ref())
            )),
        });
    }
    let regular = containers(pod);
    if let [only] = regular {
        return Ok(Chosen {
            name: only.name.clone(),
            note: None,
        });
    }
    let default = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER))
        .filter(|d| regular.iter().any(|c| &c.name == *d));
    if let Some(default) = default {
        let others: Vec<&str> = regular
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| n != default)
            .collect();
        return Ok(Chosen {
            name: default.clone(),
            note: Some(format!(
                "no container named: this is the pod's default container; the others are: {}",
                others
                    .iter()
                    .map(|n| describe(pod, n))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        });
    }
    Err(Error::ContainerRequired {
        pod: pod_name.to_owned(),
        containers: regular.iter().map(|c| describe(pod, &c.name)).collect(),
    })
}
