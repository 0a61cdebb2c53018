//! [`Metrics`]: what an [`HttpServer`](super::HttpServer) counts, in the Prometheus
//! (OpenMetrics) text format.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The path metrics are served on, on the metrics listener.
pub const METRICS_PATH: &str = "/metrics";

/// The content type of [`Metrics::encode`]'s text.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the call latency buckets, in seconds (5 ms … 60 s).
const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    tool: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabel {
    tool: String,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    calls: Family<CallLabels, Counter>,
    latency: Family<ToolLabel, Histogram>,
    in_flight: Gauge,
}

/// The MCP server's metrics, one registry per server (no process-global state):
///
/// | metric | labels | what |
/// |---|---|---|
/// | `mcp_requests_total` | `method`, `status` | MCP HTTP requests by JSON-RPC method (`tools/call`, `server/discover`, …; `other` for an unknown one, `response`, `batch`, `invalid`, `GET`, `DELETE`, and `unknown` when refused before the body was read) and HTTP status |
/// | `mcp_tool_calls_total` | `tool`, `outcome` | tool calls by registered tool and outcome (`ok`, `error`, `invalid_arguments`, `timeout`) |
/// | `mcp_tool_call_duration_seconds` | `tool` | a histogram of call latency, 5 ms … 60 s |
/// | `mcp_tool_calls_in_flight` | | calls running now |
///
/// Give it to [`HttpServer::metrics`](super::HttpServer::metrics) and serve it with
/// [`HttpServer::metrics_addr`](super::HttpServer::metrics_addr), or read
/// [`Metrics::encode`] yourself. Cheap to clone: clones share the counts.
///
/// ```
/// use toolcall::mcp::Metrics;
///
/// let metrics = Metrics::new();
/// assert!(metrics.encode().contains("# TYPE mcp_tool_calls_in_flight gauge"));
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty counts.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "mcp_requests",
            "MCP HTTP requests by JSON-RPC method and HTTP status",
            requests.clone(),
        );
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "mcp_tool_calls",
            "Tool calls by tool and outcome",
            calls.clone(),
        );
        let latency: Family<ToolLabel, Histogram> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "mcp_tool_call_duration",
            "Tool call latency",
            Unit::Seconds,
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "mcp_tool_calls_in_flight",
            "Tool calls running now",
            in_flight.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                calls,
                latency,
                in_flight,
            }),
        }
    }

    /// Every metric in the OpenMetrics text format ([`METRICS_CONTENT_TYPE`]).
    #[must_use]
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }

    /// Counts one MCP HTTP request: `method` as the body named it (see the table above).
    pub(crate) fn request(&self, method: &str, status: u16) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                status: status.to_string(),
            })
            .inc();
    }

    /// A call starts: counted in flight until the guard drops.
    pub(crate) fn call_started(&self) -> InFlight {
        self.inner.in_flight.inc();
        InFlight(self.inner.in_flight.clone())
    }

    /// A call of the registered tool `tool` ended with `outcome` after `duration`.
    pub(crate) fn call_finished(&self, tool: &str, outcome: &str, duration: Duration) {
        self.inner
            .calls
            .get_or_create(&CallLabels {
                tool: tool.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.inner
            .latency
            .get_or_create(&ToolLabel {
                tool: tool.to_owned(),
            })
            .observe(duration.as_secs_f64());
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Counts a call in flight while it lives.
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("tool_calls_in_flight", &self.inner.in_flight.get())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_encoded() {
        let metrics = Metrics::new();
        metrics.request("tools/call", 200);
        {
            let _running = metrics.call_started();
            assert!(metrics.encode().contains("mcp_tool_calls_in_flight 1"));
        }
        metrics.call_finished("echo", "ok", Duration::from_millis(3));
        let text = metrics.encode();
        assert!(
            text.contains(r#"mcp_requests_total{method="tools/call",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mcp_tool_calls_total{tool="echo",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mcp_tool_call_duration_seconds_bucket{le="0.005",tool="echo"} 1"#),
            "{text}"
        );
        assert!(text.contains("mcp_tool_calls_in_flight 0"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
