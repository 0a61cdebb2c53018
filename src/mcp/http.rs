//! [`HttpServer`]: an [`McpServer`] over Streamable HTTP, on axum, with the rules a
//! network listener needs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::McpServer;
use crate::error::{Error, Result};

/// The path MCP is served on.
pub const MCP_PATH: &str = "/mcp";
/// The path of the health endpoint (`200 ok` while the process serves).
pub const HEALTH_PATH: &str = "/healthz";
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
/// - A health endpoint at [`HEALTH_PATH`], outside the token.
/// - **Graceful shutdown** on SIGTERM or Ctrl-C with [`HttpServer::serve`].
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
#[derive(Debug, Clone)]
pub struct HttpServer {
    server: McpServer,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
    bearer_token: Option<Arc<str>>,
    max_body_bytes: usize,
    max_concurrency: usize,
    stateless: bool,
    drain: Duration,
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

    /// How long in-flight requests get to finish after a shutdown signal.
    #[must_use]
    pub fn drain(mut self, deadline: Duration) -> Self {
        self.drain = deadline;
        self
    }

    /// The axum router: MCP at [`MCP_PATH`], health at [`HEALTH_PATH`]. Its sessions
    /// end when `shutdown` is cancelled.
    pub fn router(&self, shutdown: CancellationToken) -> axum::Router {
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
        let server = self.server.clone();
        let service: StreamableHttpService<McpServer, LocalSessionManager> =
            StreamableHttpService::new(move || Ok(server.clone()), Default::default(), config);
        let guard = Arc::new(Guard {
            token: self.bearer_token.clone(),
            permits: Arc::new(Semaphore::new(self.max_concurrency)),
        });
        let mcp = axum::Router::new()
            .nest_service(MCP_PATH, service)
            .layer(middleware::from_fn_with_state(guard, guard_mcp));
        axum::Router::new()
            .route(HEALTH_PATH, get(|| async { "ok" }))
            .merge(mcp)
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
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        self.server.dispatcher().registry().check()?;
        let sessions = CancellationToken::new();
        let router = self.router(sessions.clone());
        let drain = self.drain;
        let stopping = CancellationToken::new();
        let graceful = {
            let stopping = stopping.clone();
            async move {
                shutdown.await;
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
            result = serve => result.map_err(|e| Error::mcp("the HTTP server failed", e)),
            () = deadline => {
                sessions.cancel();
                tracing::warn!(?drain, "mcp http: drain deadline passed; open streams closed");
                Ok(())
            }
        }
    }
}

struct Guard {
    token: Option<Arc<str>>,
    permits: Arc<Semaphore>,
}

async fn guard_mcp(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
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
            return response;
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
        return response;
    };
    let response = next.run(request).await;
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
