//! Serves the read-only Kubernetes and Postgres troubleshooting tools over MCP: on a
//! laptop over stdio, or in a cluster over Streamable HTTP with probes, metrics and JSON logs.
//!
//! ```text
//! cargo run --example mcp_server --features mcp,kubernetes,postgres -- stdio
//! cargo run --example mcp_server --features mcp,kubernetes,postgres -- http 127.0.0.1:8765
//! cargo run --example mcp_server --all-features -- http 0.0.0.0:8765 --stateless --metrics-addr 0.0.0.0:9090
//! ```
//!
//! It starts at once and always lists its tools. The cluster (`KUBECONFIG`, or the
//! in-cluster service account when `KUBERNETES_SERVICE_HOST` is set and `KUBECONFIG` is
//! not) and the database (`DATABASE_URL`, a read-only role) are connected on first use;
//! a missing or refused configuration is a tool error that says what to set.
//!
//! Over HTTP the endpoint is `/mcp`, with `/healthz` (alive) and `/readyz` (the
//! configured backends answer: the API server's `/version`, `SELECT 1`; within a second,
//! reused for three). Every flag of `http` also reads an environment variable
//! (`mcp_server http --help`): `MCP_ADDR`, `MCP_METRICS_ADDR` (Prometheus `/metrics`, with
//! feature `metrics`), `MCP_STATELESS` (session-era clients too are served without
//! sessions, so any replica answers any request), `MCP_ALLOWED_HOSTS` and
//! `MCP_ALLOWED_ORIGINS` (comma-separated), `MCP_MAX_CONCURRENCY`, `MCP_DRAIN_SECONDS`,
//! `MCP_SHUTDOWN_DELAY_SECONDS`. The bearer token is read from `MCP_BEARER_TOKEN` only
//! (a flag would show in `ps`). On SIGTERM: `/readyz` turns 503, after the shutdown delay
//! new connections are refused, and in-flight calls get the drain deadline.
//!
//! Logs go to stderr, as JSON lines by default over HTTP and as text over stdio
//! (`--log-format` / `TOOLCALL_LOG_FORMAT`), at the level in `TOOLCALL_LOG` (`RUST_LOG`
//! syntax; default `info,rmcp=warn` over HTTP, `warn` over stdio). They never hold the token or the
//! database URL.
//!
//! For tests only: `TOOLCALL_TEST_SLOW_TOOL=1` adds a `test_slow` tool that waits
//! `seconds` before it answers (graceful-shutdown and scale-out tests).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use toolcall::mcp::{HttpServer, McpServer};
use toolcall::{DynamicTool, ToolRegistry};

#[derive(Parser, Debug)]
#[command(
    name = "mcp_server",
    about = "Read-only Kubernetes and PostgreSQL tools over MCP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as `json` or `text` (default: json over HTTP, text over stdio).
    #[arg(long, global = true, env = "TOOLCALL_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve MCP over stdin and stdout.
    Stdio,
    /// Serve MCP over Streamable HTTP at /mcp.
    Http(HttpArgs),
}

#[derive(clap::Args, Debug)]
struct HttpArgs {
    /// The address to listen on.
    #[arg(env = "MCP_ADDR", default_value = "127.0.0.1:8765")]
    addr: String,
    /// Serve Prometheus metrics at /metrics on this address (a port apart from MCP's).
    #[cfg(feature = "metrics")]
    #[arg(long, env = "MCP_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Serve session-era clients without sessions too (for replicas without session affinity).
    #[arg(long, env = "MCP_STATELESS")]
    stateless: bool,
    /// The `Host` names clients use, comma-separated (default: loopback names only).
    #[arg(long, env = "MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    allowed_hosts: Vec<String>,
    /// The browser `Origin`s accepted, comma-separated (default: loopback origins).
    #[arg(long, env = "MCP_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// How many MCP requests are served at once (503 past it).
    #[arg(long, env = "MCP_MAX_CONCURRENCY", default_value_t = toolcall::mcp::DEFAULT_MAX_CONCURRENCY)]
    max_concurrency: usize,
    /// Seconds in-flight calls get to finish after SIGTERM.
    #[arg(
        long = "drain-seconds",
        env = "MCP_DRAIN_SECONDS",
        default_value_t = 10.0
    )]
    drain: f64,
    /// Seconds the server keeps serving after SIGTERM with /readyz already failing.
    #[arg(
        long = "shutdown-delay-seconds",
        env = "MCP_SHUTDOWN_DELAY_SECONDS",
        default_value_t = 0.0
    )]
    shutdown_delay: f64,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Json,
    Text,
}

const USAGE: &str =
    "usage: mcp_server stdio | mcp_server http [ADDRESS:PORT] (default 127.0.0.1:8765)";

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(64);
        }
        Err(e) => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let http = matches!(cli.command, Command::Http(_));
    init_logs(cli.log_format, http);
    let server = McpServer::new(tools()).instructions(
        "Read-only Kubernetes and PostgreSQL troubleshooting tools. Start with the pod's logs, \
         memory and CPU; query the database read-only.",
    );
    let result = match cli.command {
        Command::Stdio => server.serve_stdio().await,
        Command::Http(args) => {
            let Ok(addr) = args.addr.parse::<SocketAddr>() else {
                eprintln!(
                    "mcp_server: `{}` is not an address:port\n{USAGE}",
                    args.addr
                );
                return ExitCode::from(64);
            };
            let Some(http) = http_server(server, &args) else {
                return ExitCode::from(64);
            };
            eprintln!("mcp_server: serving MCP on http://{addr}/mcp");
            http.serve(addr).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %causes(&e), "mcp_server: stopped");
            eprintln!("mcp_server: {}", causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// The HTTP server as the flags say; `None` (after a message) when a value is unusable.
fn http_server(server: McpServer, args: &HttpArgs) -> Option<HttpServer> {
    let seconds = |name: &str, value: f64| {
        let parsed = Duration::try_from_secs_f64(value).ok();
        if parsed.is_none() {
            eprintln!("mcp_server: --{name} must be a number of seconds, got {value}\n{USAGE}");
        }
        parsed
    };
    let drain = seconds("drain-seconds", args.drain)?;
    let delay = seconds("shutdown-delay-seconds", args.shutdown_delay)?;
    let token = std::env::var("MCP_BEARER_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let mut http = HttpServer::new(server)
        .bearer_token(token.clone())
        .stateless(args.stateless)
        .max_concurrency(args.max_concurrency)
        .drain(drain)
        .shutdown_delay(delay)
        .readiness(readiness());
    let hosts: Vec<&str> = args
        .allowed_hosts
        .iter()
        .map(|h| h.trim())
        .filter(|h| !h.is_empty())
        .collect();
    if !hosts.is_empty() {
        http = http.allowed_hosts(hosts.iter().copied());
    }
    let origins: Vec<&str> = args
        .allowed_origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if !origins.is_empty() {
        http = http.allowed_origins(origins.iter().copied());
    }
    #[cfg(feature = "metrics")]
    let metrics_addr = args.metrics_addr;
    #[cfg(not(feature = "metrics"))]
    let metrics_addr: Option<SocketAddr> = None;
    #[cfg(feature = "metrics")]
    if let Some(addr) = metrics_addr {
        http = http.metrics_addr(addr);
    }
    // What is configured, never the values of secrets.
    tracing::info!(
        addr = %args.addr,
        metrics_addr = metrics_addr.map(|a| a.to_string()),
        stateless = args.stateless,
        allowed_hosts = ?hosts,
        max_concurrency = args.max_concurrency,
        drain_s = args.drain,
        shutdown_delay_s = args.shutdown_delay,
        bearer_token = if token.is_some() { "set" } else { "not set" },
        kubernetes = kubernetes_source().label(),
        database = if database_configured() { "DATABASE_URL set" } else { "not configured" },
        "mcp_server: starting"
    );
    if token.is_none() && !args.addr.starts_with("127.") && !args.addr.starts_with("[::1]") {
        tracing::warn!("mcp_server: no MCP_BEARER_TOKEN while listening beyond loopback");
    }
    Some(http)
}

fn init_logs(format: Option<LogFormat>, http: bool) {
    use tracing_subscriber::EnvFilter;
    // rmcp logs every stateless request at `info`.
    let default = if http { "info,rmcp=warn" } else { "warn" };
    let filter =
        EnvFilter::try_from_env("TOOLCALL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = format.unwrap_or(if http {
        LogFormat::Json
    } else {
        LogFormat::Text
    });
    let _ = match json {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}

/// Where the Kubernetes configuration comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KubeSource {
    /// `KUBERNETES_SERVICE_HOST` is set and `KUBECONFIG` is not: the service account.
    InCluster,
    /// `KUBECONFIG` or `~/.kube/config`.
    Kubeconfig,
    None,
}

impl KubeSource {
    fn label(self) -> &'static str {
        match self {
            Self::InCluster => "in-cluster service account",
            Self::Kubeconfig => "kubeconfig",
            Self::None => "not configured",
        }
    }
}

fn kubernetes_source() -> KubeSource {
    if std::env::var_os("KUBECONFIG").is_some_and(|k| !k.is_empty()) {
        KubeSource::Kubeconfig
    } else if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        KubeSource::InCluster
    } else if std::env::var_os("HOME")
        .is_some_and(|h| std::path::Path::new(&h).join(".kube/config").exists())
    {
        KubeSource::Kubeconfig
    } else {
        KubeSource::None
    }
}

fn database_configured() -> bool {
    std::env::var_os("DATABASE_URL").is_some_and(|u| !u.is_empty())
}

/// The readiness check: each configured backend answers (all at once; the server cuts
/// the whole check at a second). A backend that is not configured is not checked: its
/// tools answer what to set.
fn readiness()
-> impl Fn() -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync + 'static {
    let checks = std::sync::Arc::new(Backends::default());
    move || {
        let checks = checks.clone();
        Box::pin(async move { checks.check().await })
    }
}

#[derive(Default)]
struct Backends {
    #[cfg(feature = "kubernetes")]
    kube: tokio::sync::OnceCell<kube::Client>,
    #[cfg(feature = "postgres")]
    db: tokio::sync::OnceCell<toolcall::tools::postgres::Database>,
}

impl Backends {
    async fn check(&self) -> Result<(), String> {
        let (kube, db) = tokio::join!(self.kube(), self.db());
        let problems: Vec<String> = [kube, db].into_iter().filter_map(Result::err).collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    #[cfg(feature = "kubernetes")]
    async fn kube(&self) -> Result<(), String> {
        let source = kubernetes_source();
        if source == KubeSource::None {
            return Ok(());
        }
        let client = self
            .kube
            .get_or_try_init(|| async {
                let mut config = kube_config(source).await?;
                config.default_retry = false;
                kube::Client::try_from(config).map_err(|e| format!("kubernetes: {}", causes(&e)))
            })
            .await?;
        client.apiserver_version().await.map(|_| ()).map_err(|e| {
            format!(
                "kubernetes: the API server did not answer /version: {}",
                causes(&e)
            )
        })
    }

    #[cfg(not(feature = "kubernetes"))]
    async fn kube(&self) -> Result<(), String> {
        Ok(())
    }

    #[cfg(feature = "postgres")]
    async fn db(&self) -> Result<(), String> {
        use toolcall::tools::postgres::Database;
        if !database_configured() {
            return Ok(());
        }
        let db = self
            .db
            .get_or_try_init(|| async {
                Database::from_env()
                    .connect_timeout(Duration::from_secs(1))
                    .pool_size(1)
                    .connect()
                    .await
                    .map_err(|e| format!("postgres: {}", causes(&e)))
            })
            .await?;
        db.query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| format!("postgres: SELECT 1 failed: {e}"))
    }

    #[cfg(not(feature = "postgres"))]
    async fn db(&self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(feature = "kubernetes")]
async fn kube_config(source: KubeSource) -> Result<kube::Config, String> {
    if source == KubeSource::InCluster {
        kube::Config::incluster()
            .map_err(|e| format!("kubernetes: in-cluster configuration: {}", causes(&e)))
    } else {
        kube::Config::infer()
            .await
            .map_err(|e| format!("kubernetes: {}", causes(&e)))
    }
}

/// Every tool, each family connected on first use.
fn tools() -> ToolRegistry {
    let registry = ToolRegistry::new();
    #[cfg(feature = "kubernetes")]
    let registry = {
        use toolcall::tools::kubernetes::Cluster;
        let connect = || async {
            if kubernetes_source() == KubeSource::InCluster
                && let Ok(config) = kube::Config::incluster()
            {
                return Cluster::from_config(config);
            }
            Cluster::infer().await
        };
        match Cluster::lazy_tools(connect) {
            Ok(tools) => registry.merge(tools),
            Err(e) => {
                eprintln!("mcp_server: no Kubernetes tools: {}", causes(&e));
                registry
            }
        }
    };
    #[cfg(feature = "postgres")]
    let registry = {
        use toolcall::tools::postgres::Database;
        registry.merge(Database::lazy_tools(Database::from_env))
    };
    let registry = if std::env::var_os("TOOLCALL_TEST_SLOW_TOOL").is_some_and(|v| v == "1") {
        registry.with_dynamic(slow_tool())
    } else {
        registry
    };
    registry.read_only()
}

/// For tests: waits `seconds` (default 3, at most 60), then answers `done`.
fn slow_tool() -> DynamicTool {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 60}},
    });
    let tool = DynamicTool::new(
        "test_slow",
        "Test only: waits `seconds`, then answers.",
        schema,
        |args: serde_json::Value| async move {
            let seconds = args
                .get("seconds")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(3.0)
                .clamp(0.0, 60.0);
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            Ok::<_, String>(format!("done after {seconds} s"))
        },
    );
    match tool {
        Ok(tool) => tool.with_annotations(toolcall::tool::ToolAnnotations::read_only()),
        // The schema above is valid: this does not happen.
        Err(e) => {
            eprintln!("mcp_server: the test tool: {e}");
            std::process::exit(70);
        }
    }
}

/// An error and its causes on one line, each cause said once (some repeat their source).
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}
