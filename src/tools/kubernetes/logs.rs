//! `get_kubernetes_pod_logs`: a container's log, and the previous run's when it restarted.

use std::borrow::Cow;

use futures::AsyncReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::error::{Error, Target};
use super::pod::{self, Termination};
use super::{Cluster, PodArgs};
use crate::tool::Tool;

const DESCRIPTION: &str = "Retrieves logs from a specific pod in a Kubernetes cluster. Useful for debugging crashes or errors.";

/// `get_kubernetes_pod_logs`: a container's recent log, and the previous run's when it restarted.
///
/// Answers with the container's recent log (at most the cluster's `tail_lines`
/// and `limit_bytes`, sent to the API server as `tailLines` and `limitBytes`).
/// When the container has restarted, the previous run's log and how it ended
/// (reason, exit code, times) come too, since that is where a crash's cause is;
/// the two logs then share the budget. With no container named on a pod with
/// several, the `kubectl.kubernetes.io/default-container` is used, or the model
/// is told the containers and their states.
#[derive(Debug, Clone)]
pub struct PodLogs {
    cluster: Cluster,
}

impl PodLogs {
    /// The tool, on `cluster`.
    #[must_use]
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }
}

impl Tool for PodLogs {
    const NAME: &'static str = "get_kubernetes_pod_logs";
    type Args = PodArgs;
    type Output = LogsReport;
    type Error = Error;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Pod logs")
    }

    fn description(&self) -> Cow<'static, str> {
        DESCRIPTION.into()
    }

    async fn call(&self, args: PodArgs) -> Result<LogsReport, Error> {
        self.cluster.allow(&args.namespace)?;
        self.cluster
            .logs(
                &args.namespace,
                &args.pod_name,
                args.container_name.as_deref(),
                None,
                Runs::Auto,
            )
            .await
    }
}

/// The arguments of [`PodLogsWithOptions`]: namespace, pod and container plus `tail_lines` and `previous`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct LogOptionsArgs {
    /// The Kubernetes namespace where the pod is located, e.g., '''default''', '''istio-system'''
    pub namespace: String,
    /// The full name of the pod, e.g., '''my-app-7f5dcf7f9c-2q9k8'''
    pub pod_name: String,
    /// The specific container within the pod to get logs from. Optional.
    pub container_name: Option<String>,
    /// How many of the last log lines to return. Optional.
    pub tail_lines: Option<u32>,
    /// true: only the log of the previous (crashed or restarted) run; false: only the current run. Leave it out to get the current run and, when the container restarted, the previous one too.
    pub previous: Option<bool>,
}

/// `get_kubernetes_pod_logs` with `tail_lines` and `previous` parameters: an
/// opt-in variant of [`PodLogs`] for models that handle more parameters. Use one
/// or the other (they share the name).
#[derive(Debug, Clone)]
pub struct PodLogsWithOptions {
    cluster: Cluster,
}

impl PodLogsWithOptions {
    /// The tool, on `cluster`.
    #[must_use]
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }
}

impl Tool for PodLogsWithOptions {
    const NAME: &'static str = "get_kubernetes_pod_logs";
    type Args = LogOptionsArgs;
    type Output = LogsReport;
    type Error = Error;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Pod logs")
    }

    fn description(&self) -> Cow<'static, str> {
        DESCRIPTION.into()
    }

    async fn call(&self, args: LogOptionsArgs) -> Result<LogsReport, Error> {
        self.cluster.allow(&args.namespace)?;
        let runs = match args.previous {
            None => Runs::Auto,
            Some(true) => Runs::Previous,
            Some(false) => Runs::Current,
        };
        self.cluster
            .logs(
                &args.namespace,
                &args.pod_name,
                args.container_name.as_deref(),
                args.tail_lines,
                runs,
            )
            .await
    }
}

/// What a logs tool answers. Serialized with `logs` first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LogsReport {
    /// The log text (the current run's, or the previous run's when that was asked for).
    pub logs: String,
    /// The container the log is from.
    pub container: String,
    /// Whether lines were cut: the line or byte limit was reached, so older
    /// lines may be missing.
    pub truncated: bool,
    /// The container's state now: `running since …`, `waiting: CrashLoopBackOff (…)`, ….
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// How many times the container has restarted.
    #[serde(skip_serializing_if = "is_zero")]
    pub restarts: i32,
    /// How the run in `logs` ended, when only the previous run was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination: Option<Termination>,
    /// The previous run, when the container has restarted: how it ended and its log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousRun>,
    /// How the container was picked, or why the current log is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The run before the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PreviousRun {
    /// How it ended (reason, exit code, start and finish times), when known.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub termination: Option<Termination>,
    /// Its log, when the API server still had it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
    /// Whether its log was cut.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Why its log is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// Which runs' logs to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    /// The current run, and the previous one when the container restarted.
    Auto,
    /// Only the current run.
    Current,
    /// Only the previous run.
    Previous,
}

/// One log, read within its limits.
pub(crate) struct Fetched {
    pub(crate) text: String,
    pub(crate) truncated: bool,
    /// The byte limit cut the body, so the newest lines are missing.
    cut_by_bytes: bool,
    /// Complete lines kept.
    lines: usize,
}

impl Cluster {
    async fn logs(
        &self,
        namespace: &str,
        pod_name: &str,
        container: Option<&str>,
        tail_lines: Option<u32>,
        runs: Runs,
    ) -> Result<LogsReport, Error> {
        let pod = self.pod(namespace, pod_name).await?;
        let chosen = pod::choose_container(&pod, pod_name, container)?;
        let status = pod::status(&pod, &chosen.name);
        let restarts = status.map_or(0, |s| s.restart_count);
        let last = status.and_then(pod::last_termination);
        let state = status.map(|s| pod::state_text(s.state.as_ref()));

        let mut lines = tail_lines.unwrap_or(self.limits.tail_lines).max(1);
        let mut bytes = self.limits.limit_bytes;
        let both = runs == Runs::Auto && (restarts > 0 || last.is_some());
        if both {
            lines = lines.div_ceil(2);
            bytes = bytes.div_ceil(2);
        }
        let fetch = |previous: bool| {
            self.fetch_log(namespace, pod_name, &chosen.name, previous, lines, bytes)
        };

        let mut report = LogsReport {
            logs: String::new(),
            container: chosen.name.clone(),
            truncated: false,
            state,
            restarts,
            termination: None,
            previous: None,
            note: chosen.note.clone(),
        };
        match runs {
            Runs::Previous => {
                let log = fetch(true).await?;
                report.logs = log.text;
                report.truncated = log.truncated;
                report.termination = last;
            }
            Runs::Current => {
                let log = fetch(false).await?;
                report.logs = log.text;
                report.truncated = log.truncated;
            }
            Runs::Auto => {
                let (current, previous) = if both {
                    let (c, p) = tokio::join!(fetch(false), fetch(true));
                    (c, Some(p))
                } else {
                    (fetch(false).await, None)
                };
                match current {
                    Ok(log) => {
                        report.logs = log.text;
                        report.truncated = log.truncated;
                    }
                    // "container … is waiting to start" (image pull, pending, crash
                    // loop): the state, and the previous run if any, still tell why.
                    Err(Error::BadRequest { message }) => {
                        push_note(&mut report.note, &format!("no current log: {message}"));
                    }
                    Err(e) => return Err(e),
                }
                report.previous = previous.map(|p| match p {
                    Ok(log) => PreviousRun {
                        termination: last,
                        logs: Some(log.text),
                        truncated: log.truncated,
                        error: None,
                    },
                    Err(e) => PreviousRun {
                        termination: last,
                        logs: None,
                        truncated: false,
                        error: Some(e.to_string()),
                    },
                });
            }
        }
        self.scrub(&mut report.logs);
        self.scrub_opt(&mut report.state);
        self.scrub_opt(&mut report.note);
        if let Some(t) = &mut report.termination {
            self.scrub_opt(&mut t.message);
        }
        if let Some(p) = &mut report.previous {
            self.scrub_opt(&mut p.logs);
            self.scrub_opt(&mut p.error);
            if let Some(t) = &mut p.termination {
                self.scrub_opt(&mut t.message);
            }
        }
        Ok(report)
    }

    /// Reads one log, asking the API server for at most `lines` lines and `bytes`
    /// bytes and never holding more than `bytes`.
    ///
    /// The API server applies `limitBytes` from the start of the `tailLines`
    /// window, so when the byte limit cuts, the newest lines are the ones lost:
    /// ask once more for as many lines as fitted, less a tenth, which keeps the end.
    pub(crate) async fn fetch_log(
        &self,
        namespace: &str,
        pod_name: &str,
        container: &str,
        previous: bool,
        lines: u32,
        bytes: u64,
    ) -> Result<Fetched, Error> {
        let first = self
            .fetch_log_once(namespace, pod_name, container, previous, lines, bytes)
            .await?;
        let fitted = u32::try_from(first.lines).unwrap_or(u32::MAX);
        if !first.cut_by_bytes || fitted < 2 || fitted >= lines {
            return Ok(first);
        }
        let fewer = fitted - fitted.div_ceil(10);
        let mut second = self
            .fetch_log_once(namespace, pod_name, container, previous, fewer, bytes)
            .await?;
        second.truncated = true;
        Ok(second)
    }

    async fn fetch_log_once(
        &self,
        namespace: &str,
        pod_name: &str,
        container: &str,
        previous: bool,
        lines: u32,
        bytes: u64,
    ) -> Result<Fetched, Error> {
        let api = kube::Api::<Pod>::namespaced(self.client.clone(), namespace);
        let params = LogParams {
            container: Some(container.to_owned()),
            previous,
            tail_lines: Some(i64::from(lines)),
            limit_bytes: Some(i64::try_from(bytes).unwrap_or(i64::MAX)),
            ..LogParams::default()
        };
        let read = async {
            let stream = api.log_stream(pod_name, &params).await?;
            let mut body = Vec::new();
            stream
                .take(bytes)
                .read_to_end(&mut body)
                .await
                .map_err(kube::Error::ReadEvents)?;
            Ok(body)
        };
        let body = self
            .bounded(
                read,
                Target::Pod {
                    namespace,
                    pod: pod_name,
                },
            )
            .await?;
        Ok(read_log(&body, lines, bytes))
    }
}

fn push_note(note: &mut Option<String>, text: &str) {
    match note {
        Some(n) => {
            n.push_str("; ");
            n.push_str(text);
        }
        None => *note = Some(text.to_owned()),
    }
}

/// Turns a log body into text: lossy UTF-8, a line cut by the byte limit
/// dropped, the final newline removed, and whether a limit was reached.
fn read_log(body: &[u8], lines: u32, bytes: u64) -> Fetched {
    let mut text = String::from_utf8_lossy(body).into_owned();
    let cut_by_bytes = body.len() as u64 >= bytes;
    if cut_by_bytes
        && !text.ends_with('\n')
        && let Some(end) = text.rfind('\n')
    {
        text.truncate(end + 1);
    }
    let count = text.lines().count();
    while text.ends_with('\n') || text.ends_with('\r') {
        text.pop();
    }
    Fetched {
        text,
        truncated: cut_by_bytes || count >= lines as usize,
        cut_by_bytes,
        lines: count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_log_is_whole() {
        let f = read_log(b"a\nb\n", 10, 1024);
        assert_eq!(f.text, "a\nb");
        assert!(!f.truncated);
    }

    #[test]
    fn reaching_the_line_limit_marks_truncation() {
        let f = read_log(b"a\nb\nc\n", 3, 1024);
        assert_eq!(f.text, "a\nb\nc");
        assert!(f.truncated);
    }

    #[test]
    fn a_line_cut_by_the_byte_limit_is_dropped() {
        let f = read_log(b"first\nsecond\nthi", 100, 16);
        assert_eq!(f.text, "first\nsecond");
        assert!(f.truncated);
    }

    #[test]
    fn invalid_utf8_does_not_fail() {
        let f = read_log(b"ok \xff\xfe here\n", 100, 1024);
        assert!(f.text.starts_with("ok "));
    }

    #[test]
    fn previous_run_serializes_termination_first() {
        let run = PreviousRun {
            termination: Some(Termination {
                reason: Some("OOMKilled".into()),
                exit_code: 137,
                signal: None,
                message: None,
                started_at: None,
                finished_at: Some("2025-06-10T09:42:55Z".into()),
            }),
            logs: Some("killed".into()),
            truncated: false,
            error: None,
        };
        assert_eq!(
            serde_json::to_string(&run).unwrap(),
            r#"{"reason":"OOMKilled","exit_code":137,"finished_at":"2025-06-10T09:42:55Z","logs":"killed"}"#
        );
    }
}
