//! `search_kubernetes_pod_logs`: a container's log filtered by regex and time, read as a stream.

use std::borrow::Cow;
use std::collections::VecDeque;

use futures::{AsyncBufRead, AsyncBufReadExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use regex::{Regex, RegexBuilder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::error::{Error, Target};
use super::{Cluster, pod};
use crate::tool::Tool;

/// Longest line kept whole; the rest of a longer line is dropped (and said so).
const MAX_LINE_BYTES: usize = 16 * 1024;

/// The arguments of [`SearchLogs`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct SearchLogsArgs {
    /// The Kubernetes namespace where the pod is located, e.g., '''default'''
    pub namespace: String,
    /// The full name of the pod, e.g., '''my-app-7f5dcf7f9c-2q9k8'''
    pub pod_name: String,
    /// The container to read. Optional: the pod's only or default container, or a failing init container.
    pub container_name: Option<String>,
    /// A regular expression: only lines matching it are returned, e.g. '''error|timeout'''. Case-insensitive unless case_sensitive is true. Optional.
    pub grep: Option<String>,
    /// A regular expression: lines matching it are left out, e.g. '''healthz'''. Optional.
    pub exclude: Option<String>,
    /// true: grep and exclude match case-sensitively. Optional.
    pub case_sensitive: Option<bool>,
    /// Only lines from this recent period, e.g. '''15m''', '''2h''', '''1h30m'''. Optional.
    pub since: Option<String>,
    /// Only lines written after this RFC 3339 time, e.g. '''2025-06-10T09:40:00Z'''. Optional.
    pub since_time: Option<String>,
    /// How many of the last matching lines to return. Optional.
    pub tail_lines: Option<u32>,
    /// true: the log of the previous (crashed or restarted) run. Optional.
    pub previous: Option<bool>,
    /// The kubeconfig context (cluster) to look in. Optional.
    pub context: Option<String>,
}

/// `search_kubernetes_pod_logs`: the lines of a container's log that match
/// `grep` and not `exclude`, within `since` / `since_time`, newest kept.
///
/// The log is read as a stream: each line is tested as it arrives and only the
/// last matching lines that fit the answer's limits are held, so memory stays
/// flat however long the log is. With a filter the API server is asked for the
/// last [`Cluster::scan_lines`] lines; without one, for `tail_lines`. The
/// answer says how many lines matched of how many were read.
#[derive(Debug, Clone)]
pub struct SearchLogs {
    cluster: Cluster,
}

impl SearchLogs {
    /// The tool, on `cluster`.
    #[must_use]
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }
}

impl Tool for SearchLogs {
    const NAME: &'static str = "search_kubernetes_pod_logs";
    type Args = SearchLogsArgs;
    type Output = SearchReport;
    type Error = Error;

    fn annotations(&self) -> crate::tool::ToolAnnotations {
        crate::tool::ToolAnnotations::read_only().title("Search pod logs")
    }

    fn description(&self) -> Cow<'static, str> {
        "Searches the logs of a pod's container: only lines matching a regular expression (grep), without lines matching another (exclude), from a recent period (since, e.g. 15m) or after a time (since_time). Returns the newest matching lines and how many lines matched of how many were read. Useful to find errors in long logs.".into()
    }

    async fn call(&self, args: SearchLogsArgs) -> Result<SearchReport, Error> {
        let cluster = self.cluster.select(args.context.as_deref())?;
        cluster.allow(&args.namespace)?;
        let mut report = cluster.search_logs_report(&args).await?;
        cluster.scrub(&mut report.logs);
        cluster.scrub_opt(&mut report.note);
        Ok(report)
    }
}

/// What `search_kubernetes_pod_logs` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SearchReport {
    /// The matching lines, oldest first.
    pub logs: String,
    /// The container the log is from.
    pub container: String,
    /// How many lines were read.
    pub lines_read: u64,
    /// How many of them matched.
    pub lines_matched: u64,
    /// How many matching lines are in `logs` (the newest ones).
    pub lines_returned: usize,
    /// Whether older matching lines were left out to keep within the limits.
    pub truncated: bool,
    /// Whether the read stopped at the line limit, so older lines were not searched.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub scan_limit_reached: bool,
    /// How the container was picked, or what else to know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The filters of one search.
struct Filter {
    grep: Option<Regex>,
    exclude: Option<Regex>,
}

impl Filter {
    fn new(args: &SearchLogsArgs) -> Result<Self, Error> {
        let case_insensitive = !args.case_sensitive.unwrap_or(false);
        let build = |argument: &'static str, pattern: Option<&str>| {
            pattern
                .filter(|p| !p.is_empty())
                .map(|p| {
                    RegexBuilder::new(p)
                        .case_insensitive(case_insensitive)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| Error::InvalidArgument {
                            argument,
                            message: e.to_string(),
                        })
                })
                .transpose()
        };
        Ok(Self {
            grep: build("grep", args.grep.as_deref())?,
            exclude: build("exclude", args.exclude.as_deref())?,
        })
    }

    fn active(&self) -> bool {
        self.grep.is_some() || self.exclude.is_some()
    }

    fn keeps(&self, line: &str) -> bool {
        self.grep.as_ref().is_none_or(|g| g.is_match(line))
            && !self.exclude.as_ref().is_some_and(|x| x.is_match(line))
    }
}

/// The newest matching lines that fit `max_lines` and `max_bytes`.
struct Kept {
    lines: VecDeque<String>,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
    dropped: bool,
}

impl Kept {
    fn push(&mut self, line: String) {
        self.bytes += line.len() + 1;
        self.lines.push_back(line);
        while self.lines.len() > self.max_lines
            || (self.bytes > self.max_bytes && self.lines.len() > 1)
        {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.len() + 1;
            }
            self.dropped = true;
        }
    }
}

/// What a read of the stream found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) read: u64,
    pub(crate) matched: u64,
    pub(crate) long_lines: u64,
}

/// Reads `reader` line by line, keeping what `filter` keeps in `kept`.
async fn scan<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    filter: &Filter,
    kept: &mut Kept,
) -> std::io::Result<Scan> {
    let mut scan = Scan::default();
    let mut line: Vec<u8> = Vec::new();
    let mut cut = false;
    let mut finish = |line: &mut Vec<u8>, cut: &mut bool, scan: &mut Scan| {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let text = String::from_utf8_lossy(line);
        scan.read += 1;
        if *cut {
            scan.long_lines += 1;
        }
        if filter.keeps(&text) {
            scan.matched += 1;
            kept.push(text.into_owned());
        }
        line.clear();
        *cut = false;
    };
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            if !line.is_empty() {
                finish(&mut line, &mut cut, &mut scan);
            }
            return Ok(scan);
        }
        let (chunk, used, ends) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (buf.get(..i).unwrap_or_default(), i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        if chunk.len() > room {
            cut = true;
        }
        line.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        reader.consume_unpin(used);
        if ends {
            finish(&mut line, &mut cut, &mut scan);
        }
    }
}

/// Reads `15m`, `2h`, `1h30m`, `45s`, `1d` or a bare number of seconds.
pub(crate) fn parse_since(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return (seconds > 0).then_some(seconds);
    }
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: i64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    (number.is_empty() && total > 0).then_some(total)
}

impl Cluster {
    async fn search_logs_report(&self, args: &SearchLogsArgs) -> Result<SearchReport, Error> {
        let filter = Filter::new(args)?;
        let since_seconds = match args
            .since
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(text) => Some(parse_since(text).ok_or_else(|| Error::InvalidArgument {
                argument: "since",
                message: format!("`{text}` is not a duration; use e.g. 30s, 15m, 2h or 1h30m"),
            })?),
            None => None,
        };
        let since_time = match args
            .since_time
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(text) => Some(text.parse::<k8s_openapi::jiff::Timestamp>().map_err(|e| {
                Error::InvalidArgument {
                    argument: "since_time",
                    message: format!("`{text}` is not an RFC 3339 time ({e})"),
                }
            })?),
            None => None,
        };

        let pod = self.pod(&args.namespace, &args.pod_name).await?;
        let chosen = pod::choose_container(&pod, &args.pod_name, args.container_name.as_deref())?;
        let tail = args.tail_lines.unwrap_or(self.limits.tail_lines).max(1);
        let scan_lines = if filter.active() {
            self.limits.scan_lines.max(tail)
        } else {
            tail
        };
        let params = LogParams {
            container: Some(chosen.name.clone()),
            previous: args.previous.unwrap_or(false),
            tail_lines: Some(i64::from(scan_lines)),
            since_seconds,
            // The API server takes one of the two.
            since_time: if since_seconds.is_some() {
                None
            } else {
                since_time
            },
            ..LogParams::default()
        };
        let mut kept = Kept {
            lines: VecDeque::new(),
            bytes: 0,
            max_lines: tail as usize,
            max_bytes: usize::try_from(self.limits.limit_bytes).unwrap_or(usize::MAX),
            dropped: false,
        };
        let api = kube::Api::<Pod>::namespaced(self.client.clone(), &args.namespace);
        let target = Target::Pod {
            namespace: &args.namespace,
            pod: &args.pod_name,
        };
        let read = async {
            let stream = api.log_stream(&args.pod_name, &params).await?;
            let mut stream = Box::pin(stream);
            scan(&mut stream, &filter, &mut kept)
                .await
                .map_err(kube::Error::ReadEvents)
        };
        let scanned = self.bounded(read, target).await?;

        let mut notes: Vec<String> = chosen.note.into_iter().collect();
        if scanned.long_lines > 0 {
            notes.push(format!(
                "{} lines longer than {} KiB were cut",
                scanned.long_lines,
                MAX_LINE_BYTES / 1024
            ));
        }
        if since_seconds.is_some() && since_time.is_some() {
            notes.push("since and since_time were both given; since was used".into());
        }
        if scanned.matched == 0 && filter.active() {
            notes.push("no line matched; widen grep, drop exclude or widen since".into());
        }
        let returned = kept.lines.len();
        let logs = Vec::from(kept.lines).join("\n");
        Ok(SearchReport {
            logs,
            container: chosen.name,
            lines_read: scanned.read,
            lines_matched: scanned.matched,
            lines_returned: returned,
            truncated: kept.dropped,
            scan_limit_reached: filter.active() && scanned.read >= u64::from(scan_lines),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(parse_since("15m"), Some(900));
        assert_eq!(parse_since("1h30m"), Some(5400));
        assert_eq!(parse_since("45"), Some(45));
        assert_eq!(parse_since("2d"), Some(172_800));
        assert_eq!(parse_since("m"), None);
        assert_eq!(parse_since("15 minutes"), None);
        assert_eq!(parse_since("0s"), None);
    }

    #[tokio::test]
    async fn a_long_log_is_scanned_with_bounded_memory() {
        use futures::TryStreamExt;
        // 300 000 lines (about 20 MiB) generated as they are read, and one line
        // of 1 MiB: nothing holds the whole log.
        let lines = (0..300_000u32).map(|i| {
            let line = if i == 1000 {
                format!("{}\n", "x".repeat(1 << 20))
            } else {
                format!("2025-06-10T10:00:00Z worker {i} status=ok latency=12ms\n")
            };
            Ok::<_, std::io::Error>(line.into_bytes())
        });
        let mut reader = futures::stream::iter(lines).into_async_read();
        let filter = Filter {
            grep: Regex::new("worker 29999[0-9] ").ok(),
            exclude: None,
        };
        let mut kept = Kept {
            lines: VecDeque::new(),
            bytes: 0,
            max_lines: 5,
            max_bytes: 4096,
            dropped: false,
        };
        let scan = scan(&mut reader, &filter, &mut kept).await.unwrap();
        assert_eq!((scan.read, scan.matched, scan.long_lines), (300_000, 10, 1));
        assert_eq!(kept.lines.len(), 5);
        assert!(kept.bytes <= 4096);
        assert!(kept.lines.back().unwrap().contains("worker 299999 "));
    }

    #[tokio::test]
    async fn a_scan_keeps_the_newest_matches_within_bounds() {
        let body: String = (0..1000)
            .map(|i| {
                if i % 10 == 0 {
                    format!("ERROR {i}\n")
                } else {
                    format!("info {i}\n")
                }
            })
            .collect();
        let mut reader = futures::io::Cursor::new(body.into_bytes());
        let args = SearchLogsArgs {
            namespace: "n".into(),
            pod_name: "p".into(),
            container_name: None,
            grep: Some("error".into()),
            exclude: Some("^ERROR 990$".into()),
            case_sensitive: None,
            since: None,
            since_time: None,
            tail_lines: None,
            previous: None,
            context: None,
        };
        let filter = Filter::new(&args).unwrap();
        let mut kept = Kept {
            lines: VecDeque::new(),
            bytes: 0,
            max_lines: 3,
            max_bytes: 1 << 20,
            dropped: false,
        };
        let scan = scan(&mut reader, &filter, &mut kept).await.unwrap();
        assert_eq!((scan.read, scan.matched), (1000, 99));
        assert_eq!(
            Vec::from(kept.lines),
            ["ERROR 960", "ERROR 970", "ERROR 980"]
        );
        assert!(kept.dropped);
    }
}
