//! [`HttpServer`]: an [`McpServer`] over Streamable HTTP, on axum, with the rules a
//! network listener needs.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use futures::future::BoxFuture;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use subtle::ConstantTimeEq;
use tokio::sync::{Mutex, Semaphore};
use tokio_util::sync::CancellationToken;

use super::McpServer;
#[cfg(feature = "metrics")]
use super::metrics::{METRICS_CONTENT_TYPE, METRICS_PATH, Metrics};
use crate::error::{Error, Result};

/// The path MCP is served on.
pub const MCP_PATH: &str = "/mcp";
/// The path of the health endpoint (`200 ok` while the process serves).
pub const HEALTH_PATH: &str = "/healthz";
/// The path of the readiness endpoint (`200 ready` while the
/// [readiness check](HttpServer::readiness) passes and no shutdown has begun, else `503`).
pub const READY_PATH: &str = "/readyz";
/// The default time the readiness check may take before it counts as failed.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(1);
/// The default time a readiness answer is reused (probes of several kubelets, or a
/// probe and a person, share one check).
pub const DEFAULT_READY_CACHE: Duration = Duration::from_secs(3);
/// The default limit of a request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The default number of MCP requests served at once.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;
/// The default time in-flight calls get to finish after a shutdown signal.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);

/// An [`McpServer`] over MCP's Streamable HTTP transport, at [`MCP_PATH`].
///
/// - **DNS-rebinding protection**: the `Host` header must be one of the allowed hosts
///   (loopback names by default) and a present `Origin` one of the allowed origins
///   (`http://localhost`, `http://127.0.0.1`, `http://[::1]`, any port, by default);
///   otherwise `403`.
/// - An optional **bearer token**, compared in constant time: `401` without it.
/// - A **body limit** (`413` past it) and a **concurrency limit** (`503` with
///   `Retry-After` past it).
/// - **Both protocol eras**: requests of the 2026-07-28 revision are served statelessly;
///   session-era clients (`initialize`, revisions 2024-11-05 … 2025-11-25) get an
///   `Mcp-Session-Id` session, or are served statelessly too with
///   [`HttpServer::stateless`] (for several replicas without session affinity). A bad
///   `MCP-Protocol-Version` header is a `400`.
/// - A health endpoint at [`HEALTH_PATH`] and a readiness endpoint at [`READY_PATH`]
///   (your [`readiness`](HttpServer::readiness) check, answered within a second and
///   reused for a few), outside the token.
/// - **Graceful shutdown** on SIGTERM or Ctrl-C with [`HttpServer::serve`]: readiness
///   turns `503`, after the optional [`shutdown_delay`](HttpServer::shutdown_delay) new
///   connections are refused, and in-flight calls get the [`drain`](HttpServer::drain)
///   deadline to finish.
/// - With feature `metrics`, Prometheus [`Metrics`](super::Metrics) on a listener of their
///   own ([`HttpServer::metrics_addr`]); every MCP request is also logged at `debug`
///   (method, status, time; never a body or a header).
///
/// ```no_run
/// # async fn run() -> toolcall::Result<()> {
/// use toolcall::mcp::{HttpServer, McpServer};
/// use toolcall::ToolRegistry;
///
/// HttpServer::new(McpServer::new(ToolRegistry::new()))
///     .bearer_token(std::env::var("MCP_TOKEN").ok())
///     .serve("127.0.0.1:8765".parse().expect("an address"))
///     .await
/// # }
/// ```
#[derive(Clone)]
pub struct HttpServer {
    server: McpServer,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
    bearer_token: Option<Arc<str>>,
    max_body_bytes: usize,
    max_concurrency: usize,
    stateless: bool,
    drain: Duration,
    shutdown_delay: Duration,
    readiness: Option<Arc<CheckFn>>,
    ready_timeout: Duration,
    ready_cache: Duration,
    #[cfg(feature = "metrics")]
    metrics: Option<Metrics>,
    #[cfg(feature = "metrics")]
    metrics_addr: Option<SocketAddr>,
}

type CheckFn = dyn Fn() -> BoxFuture<'static, std::result::Result<(), String>> + Send + Sync;

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HttpServer");
        d.field("server", &self.server)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_origins", &self.allowed_origins)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_concurrency", &self.max_concurrency)
            .field("stateless", &self.stateless)
            .field("drain", &self.drain)
            .field("shutdown_delay", &self.shutdown_delay)
            .field("readiness", &self.readiness.is_some())
            .field("ready_timeout", &self.ready_timeout)
            .field("ready_cache", &self.ready_cache);
        #[cfg(feature = "metrics")]
        d.field("metrics", &self.metrics)
            .field("metrics_addr", &self.metrics_addr);
        d.finish()
    }
}

impl HttpServer {
    /// Serves `server` with the defaults above.
    #[must_use]
    pub fn new(server: McpServer) -> Self {
        Self {
            server,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: vec![
                "http://localhost:*".into(),
                "http://127.0.0.1:*".into(),
                "http://[::1]:*".into(),
            ],
            bearer_token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            stateless: false,
            drain: DEFAULT_DRAIN,
            shutdown_delay: Duration::ZERO,
            readiness: None,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            ready_cache: DEFAULT_READY_CACHE,
            #[cfg(feature = "metrics")]
            metrics: None,
            #[cfg(feature = "metrics")]
            metrics_addr: None,
        }
    }

    /// The `Host` values accepted (names, or `name:port`), replacing the loopback
    /// defaults: list the names clients use when serving beyond loopback.
    #[must_use]
    pub fn allowed_hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// The `Origin` values accepted (with a scheme; `:*` for any port), replacing the
    /// loopback defaults. Requests without an `Origin` (non-browser clients) pass.
    #[must_use]
    pub fn allowed_origins(mut self, origins: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Requires `Authorization: Bearer <token>` on MCP requests (`None` or an empty
    /// token for none).
    #[must_use]
    pub fn bearer_token(mut self, token: impl Into<Option<String>>) -> Self {
        self.bearer_token = token.into().filter(|t| !t.is_empty()).map(Arc::from);
        self
    }

    /// The largest request body accepted, in bytes.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// How many MCP requests are served at once (at least 1).
    #[must_use]
    pub fn max_concurrency(mut self, requests: usize) -> Self {
        self.max_concurrency = requests.max(1);
        self
    }

    /// Serves session-era clients without sessions too (no `Mcp-Session-Id`), so that
    /// any replica can answer any request.
    #[must_use]
    pub fn stateless(mut self, stateless: bool) -> Self {
        self.stateless = stateless;
        self
    }

    /// How long in-flight requests get to finish after a shutdown signal (after the
    /// [`shutdown_delay`](HttpServer::shutdown_delay)).
    #[must_use]
    pub fn drain(mut self, deadline: Duration) -> Self {
        self.drain = deadline;
        self
    }

    /// How long the server keeps accepting requests after a shutdown signal, with
    /// [`READY_PATH`] already answering `503` (default none). Behind a load balancer
    /// that learns of the shutdown late (a Kubernetes Service's endpoints), a few
    /// seconds here keep new connections from being refused meanwhile.
    #[must_use]
    pub fn shutdown_delay(mut self, delay: Duration) -> Self {
        self.shutdown_delay = delay;
        self
    }

    /// What [`READY_PATH`] checks: `Ok(())` when the backends the tools need answer,
    /// `Err(reason)` (sent as the `503` body: no secrets in it) when not. The check is
    /// cut at the [`ready_timeout`](HttpServer::ready_timeout) and its answer reused for
    /// [`ready_cache`](HttpServer::ready_cache); concurrent probes share one check.
    /// Without one, the server is ready while it serves.
    ///
    /// ```
    /// use toolcall::mcp::{HttpServer, McpServer};
    /// use toolcall::ToolRegistry;
    ///
    /// let http = HttpServer::new(McpServer::new(ToolRegistry::new()))
    ///     .readiness(|| async { Ok::<(), String>(()) }); // e.g. `SELECT 1`, the API server's `/version`
    /// # drop(http);
    /// ```
    #[must_use]
    pub fn readiness<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), String>> + Send + 'static,
    {
        self.readiness = Some(Arc::new(move || Box::pin(check()) as BoxFuture<'static, _>));
        self
    }

    /// How long the readiness check may take (default 1 s).
    #[must_use]
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// How long a readiness answer is reused (default 3 s; zero checks every time).
    #[must_use]
    pub fn ready_cache(mut self, cache: Duration) -> Self {
        self.ready_cache = cache;
        self
    }

    /// Records requests and tool calls in `metrics` (see [`Metrics`] for what is
    /// counted).
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    #[must_use]
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Serves the metrics (a new [`Metrics`] unless [`HttpServer::metrics`] gave one) at
    /// [`METRICS_PATH`](super::METRICS_PATH) on `addr`, a listener apart from MCP's
    /// (no token; keep it off the clients' network), from [`HttpServer::serve`] or
    /// [`HttpServer::serve_on`] until the server has drained.
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    #[must_use]
    pub fn metrics_addr(mut self, addr: SocketAddr) -> Self {
        self.metrics_addr = Some(addr);
        self
    }

    /// The axum router: MCP at [`MCP_PATH`], health at [`HEALTH_PATH`], readiness at
    /// [`READY_PATH`]. Its sessions end when `shutdown` is cancelled.
    pub fn router(&self, shutdown: CancellationToken) -> axum::Router {
        self.router_with(shutdown, self.ready_state())
    }

    fn ready_state(&self) -> Arc<ReadyState> {
        Arc::new(ReadyState {
            check: self.readiness.clone(),
            timeout: self.ready_timeout,
            cache: self.ready_cache,
            stopping: AtomicBool::new(false),
            last: Mutex::new(None),
        })
    }

    fn router_with(&self, shutdown: CancellationToken, ready: Arc<ReadyState>) -> axum::Router {
        let mut config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(self.allowed_hosts.clone())
            .with_allowed_origins(self.allowed_origins.clone())
            .enforce_origin_validation()
            .with_max_request_body_bytes(self.max_body_bytes)
            .with_legacy_session_mode(!self.stateless)
            .with_json_response(self.stateless)
            .with_cancellation_token(shutdown);
        if self.allowed_hosts.is_empty() {
            config = config.disable_allowed_hosts();
        }
        let recorder = self.recorder();
        let server = recorder.instrument(self.server.clone());
        let service: StreamableHttpService<McpServer, LocalSessionManager> =
            StreamableHttpService::new(move || Ok(server.clone()), Default::default(), config);
        let guard = Arc::new(Guard {
            token: self.bearer_token.clone(),
            permits: Arc::new(Semaphore::new(self.max_concurrency)),
            max_body_bytes: self.max_body_bytes,
            recorder,
        });
        let mcp = axum::Router::new()
            .nest_service(MCP_PATH, service)
            .layer(middleware::from_fn_with_state(guard, guard_mcp));
        let ready = axum::Router::new()
            .route(READY_PATH, get(readyz))
            .with_state(ready);
        axum::Router::new()
            .route(HEALTH_PATH, get(|| async { "ok" }))
            .merge(ready)
            .merge(mcp)
    }

    #[cfg(feature = "metrics")]
    fn recorder(&self) -> Recorder {
        Recorder(self.metrics.clone())
    }

    #[cfg(not(feature = "metrics"))]
    fn recorder(&self) -> Recorder {
        Recorder()
    }

    /// Binds `addr` and serves until SIGTERM or Ctrl-C, then lets in-flight requests
    /// finish within the drain deadline.
    ///
    /// # Errors
    /// [`Error::Mcp`] when the address cannot be bound or serving fails; a
    /// registration problem the registry recorded.
    pub async fn serve(self, addr: SocketAddr) -> Result<()> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::mcp("could not bind the HTTP address", e))?;
        self.serve_on(listener, shutdown_signal()).await
    }

    /// Serves on `listener` until `shutdown` completes, then lets in-flight requests
    /// finish within the drain deadline.
    ///
    /// # Errors
    /// As [`HttpServer::serve`].
    pub async fn serve_on(
        #[allow(unused_mut)] mut self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        self.server.dispatcher().registry().check()?;
        #[cfg(feature = "metrics")]
        let _metrics = match self.metrics_addr {
            Some(addr) => {
                let metrics = self.metrics.get_or_insert_with(Metrics::new).clone();
                Some(serve_metrics(addr, metrics).await?)
            }
            None => None,
        };
        let sessions = CancellationToken::new();
        let ready = self.ready_state();
        let router = self.router_with(sessions.clone(), ready.clone());
        let drain = self.drain;
        let delay = self.shutdown_delay;
        let stopping = CancellationToken::new();
        let graceful = {
            let stopping = stopping.clone();
            async move {
                shutdown.await;
                ready.stopping.store(true, Ordering::SeqCst);
                if !delay.is_zero() {
                    tracing::info!(
                        delay_ms = delay.as_millis() as u64,
                        "mcp http: not ready; still serving until the shutdown delay has passed"
                    );
                    tokio::time::sleep(delay).await;
                }
                tracing::info!(
                    drain_ms = drain.as_millis() as u64,
                    "mcp http: refusing new connections; draining in-flight requests"
                );
                stopping.cancel();
            }
        };
        let serve = axum::serve(listener, router).with_graceful_shutdown(graceful);
        let serve = std::pin::pin!(serve.into_future());
        // After the signal, open streams (sessions' GET streams) get the drain deadline.
        let deadline = async {
            stopping.cancelled().await;
            tokio::time::sleep(drain).await;
        };
        tokio::select! {
            result = serve => {
                tracing::info!("mcp http: drained; stopped");
                result.map_err(|e| Error::mcp("the HTTP server failed", e))
            }
            () = deadline => {
                sessions.cancel();
                tracing::warn!(
                    drain_ms = drain.as_millis() as u64,
                    "mcp http: drain deadline passed; open requests and streams closed"
                );
                Ok(())
            }
        }
    }
}

/// Binds the metrics listener and serves it until the returned guard drops.
#[cfg(feature = "metrics")]
async fn serve_metrics(addr: SocketAddr, metrics: Metrics) -> Result<tokio_util::sync::DropGuard> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::mcp("could not bind the metrics address", e))?;
    let bound = listener.local_addr().map_or(addr, |a| a);
    tracing::info!(addr = %bound, path = METRICS_PATH, "mcp http: serving metrics");
    let router = axum::Router::new().route(
        METRICS_PATH,
        get(move || {
            let text = metrics.encode();
            async move { ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text) }
        }),
    );
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        let serving = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stopped.cancelled().await });
        if let Err(e) = serving.await {
            tracing::warn!(error = %e, "mcp http: the metrics listener failed");
        }
    });
    Ok(stop.drop_guard())
}

/// Readiness: the check, its last answer, and whether a shutdown began.
struct ReadyState {
    check: Option<Arc<CheckFn>>,
    timeout: Duration,
    cache: Duration,
    stopping: AtomicBool,
    last: Mutex<Option<(Instant, std::result::Result<(), String>)>>,
}

impl ReadyState {
    async fn ready(&self) -> std::result::Result<(), String> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err("shutting down".to_owned());
        }
        let Some(check) = &self.check else {
            return Ok(());
        };
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = last.as_ref()
            && at.elapsed() < self.cache
        {
            return answer.clone();
        }
        let answer = match tokio::time::timeout(self.timeout, check()).await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "the readiness check did not answer within {:?}",
                self.timeout
            )),
        };
        if let Err(reason) = &answer {
            tracing::warn!(%reason, "mcp http: not ready");
        }
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}

async fn readyz(State(state): State<Arc<ReadyState>>) -> Response {
    match state.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

/// Where request counts and tool-call metrics go (nowhere without feature `metrics`).
#[derive(Clone)]
struct Recorder(#[cfg(feature = "metrics")] Option<Metrics>);

impl Recorder {
    fn instrument(&self, server: McpServer) -> McpServer {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.0 {
            return server.with_metrics(metrics.clone());
        }
        server
    }

    fn request(&self, method: &str, status: StatusCode, started: Instant) {
        tracing::debug!(
            method,
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "mcp http: request"
        );
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.0 {
            metrics.request(method, status.as_u16());
        }
    }
}

struct Guard {
    token: Option<Arc<str>>,
    permits: Arc<Semaphore>,
    max_body_bytes: usize,
    recorder: Recorder,
}

async fn guard_mcp(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    guarded(&guard, request, next, Instant::now()).await
}

async fn guarded(guard: &Guard, request: Request, next: Next, started: Instant) -> Response {
    let done = |method: &str, response: Response| {
        guard.recorder.request(method, response.status(), started);
        response
    };
    if let Some(token) = &guard.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            let mut response =
                (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return done("unknown", response);
        }
    }
    let Ok(permit) = guard.permits.clone().try_acquire_owned() else {
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests at once\n",
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return done("unknown", response);
    };
    // The body is read here (within the limit) to name its method in logs and metrics.
    let (method, request) = if request.method() == axum::http::Method::POST {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, guard.max_body_bytes).await else {
            let response = (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large\n",
            )
                .into_response();
            return done("unknown", response);
        };
        (
            method_label(&bytes),
            Request::from_parts(parts, Body::from(bytes)),
        )
    } else if request.method() == axum::http::Method::GET {
        ("GET", request)
    } else if request.method() == axum::http::Method::DELETE {
        ("DELETE", request)
    } else {
        ("other", request)
    };
    let response = done(method, next.run(request).await);
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streaming {
        // A JSON answer is complete: the call is over.
        return response;
    }
    // An SSE answer carries the call's result later: the permit is held until it ends.
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &permit;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// JSON-RPC methods named in logs and metrics; anything else is `other`, so that a
/// client cannot grow the label set.
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "notifications/initialized",
    "notifications/cancelled",
    "server/discover",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "prompts/list",
    "logging/setLevel",
    "completion/complete",
];

/// The method a request body names: a known JSON-RPC method, `other`, `response` (a
/// client's answer), `batch` or `invalid`.
fn method_label(body: &[u8]) -> &'static str {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => return "batch",
        Some(b'{') => {}
        _ => return "invalid",
    }
    match serde_json::from_slice::<Probe<'_>>(body) {
        Ok(Probe {
            method: Some(method),
        }) => KNOWN_METHODS
            .iter()
            .find(|known| **known == method)
            .copied()
            .unwrap_or("other"),
        Ok(Probe { method: None }) => "response",
        Err(_) => "invalid",
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("mcp http: shutting down");
}

#[cfg(test)]
mod tests {
    use super::method_label;

    #[test]
    fn methods_are_named_from_a_closed_set() {
        assert_eq!(
            method_label(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#),
            "tools/call"
        );
        assert_eq!(
            method_label(br#"{"jsonrpc":"2.0","id":1,"method":"x/attacker-chosen"}"#),
            "other"
        );
        assert_eq!(
            method_label(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            "response"
        );
        assert_eq!(method_label(b" [{}]"), "batch");
        assert_eq!(method_label(b"{not json"), "invalid");
    }
}
