//! [`McpClient`]: a remote MCP server's tools, as run-time tools in a [`ToolRegistry`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ContentBlock,
    Implementation, Tool as McpTool,
};
use rmcp::service::{NotificationContext, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, Peer, RoleClient, ServiceExt};
use serde_json::Value;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::registry::ToolRegistry;
use crate::tool::{DynamicTool, ToolAnnotations, ToolOutput};

/// A connection to an MCP server, over stdio (a child process) or Streamable HTTP.
///
/// [`McpClient::tools`] lists the server's tools (every page) and makes each a
/// [`DynamicTool`] in a [`ToolRegistry`], with its annotations and output schema,
/// ready to [`merge`](ToolRegistry::merge) with local tools. A remote failure
/// (`isError`) becomes the tool error the model reads; structured content comes along
/// as [`ToolOutput::structured`]; a server that dies turns into tool errors that say so.
///
/// Dropping the client closes the session; a child process and its whole process group
/// are ended (drop it inside the tokio runtime). Tools made from it then answer that the
/// server is gone.
///
/// ```no_run
/// # async fn run() -> toolcall::Result<()> {
/// use toolcall::mcp::McpClient;
///
/// let client = McpClient::spawn("my-mcp-server", ["--stdio"]).await?;
/// let remote = client.tools_with_prefix("remote_").await?;
/// # Ok(()) }
/// ```
pub struct McpClient {
    service: RunningService<RoleClient, Handler>,
    label: Arc<str>,
    changes: watch::Receiver<u64>,
    /// The child's process group (its pid: it leads the group), ended on drop.
    group: Option<u32>,
    call_timeout: Duration,
}

/// The default time a remote call may take before it is a tool error.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Receives the server's notifications.
struct Handler {
    info: ClientConfig,
    changes: watch::Sender<u64>,
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

fn handler() -> (Handler, watch::Receiver<u64>) {
    let (tx, rx) = watch::channel(0);
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
    );
    (Handler { info, changes: tx }, rx)
}

impl McpClient {
    /// Starts `program` with `args` and speaks MCP over its stdin and stdout (its stderr
    /// is inherited). The child runs in a process group of its own, ended with the client.
    ///
    /// # Errors
    /// [`Error::Mcp`] when the program cannot start or the MCP handshake fails.
    pub async fn spawn<I, S>(program: impl AsRef<std::ffi::OsStr>, args: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = tokio::process::Command::new(program.as_ref());
        command.args(args);
        Self::stdio(command).await
    }

    /// Speaks MCP over the stdin and stdout of `command`, started in a process group of
    /// its own that is ended with the client.
    ///
    /// # Errors
    /// As [`McpClient::spawn`].
    pub async fn stdio(command: tokio::process::Command) -> Result<Self> {
        let label: Arc<str> = Arc::from(command.as_std().get_program().to_string_lossy().as_ref());
        let mut wrap = CommandWrap::from(command);
        wrap.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
        let transport = TokioChildProcess::new(wrap)
            .map_err(|e| Error::mcp("could not start the MCP server process", e))?;
        let group = transport.id();
        let (handler, changes) = handler();
        let service = match handler.serve(transport).await {
            Ok(service) => service,
            Err(e) => {
                end_group(group);
                return Err(Error::mcp(
                    "the MCP handshake with the child process failed",
                    e,
                ));
            }
        };
        Ok(Self {
            service,
            label,
            changes,
            group,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        })
    }

    /// Connects to a Streamable HTTP endpoint (e.g. `http://127.0.0.1:8765/mcp`), with
    /// an optional bearer token.
    ///
    /// A call whose connection fails before any response arrives (a replica behind a
    /// load balancer went away) is sent once more on a fresh connection: always when the
    /// connection was refused, and when it was reset or closed mid-call only if the tool
    /// is annotated read-only or idempotent. A call that got a response is never repeated.
    ///
    /// # Errors
    /// [`Error::Mcp`] when the server cannot be reached or the handshake fails.
    pub async fn http(url: &str, bearer_token: Option<String>) -> Result<Self> {
        let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
        if let Some(token) = bearer_token.filter(|t| !t.is_empty()) {
            config = config.auth_header(token);
        }
        let transport = StreamableHttpClientTransport::from_config(config);
        let (handler, changes) = handler();
        let service = handler
            .serve(transport)
            .await
            .map_err(|e| Error::mcp("the MCP handshake over HTTP failed", e))?;
        Ok(Self {
            service,
            label: Arc::from(url),
            changes,
            group: None,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        })
    }

    /// The time one remote call of the tools made from now on may take (default 120 s).
    /// (A call to a stdio server whose process exited fails within a few seconds, even
    /// when something the server started still holds its pipes open.)
    #[must_use]
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The server's name and version, as it gave them.
    #[must_use]
    pub fn server_name(&self) -> Option<(String, String)> {
        self.service
            .peer_info()
            .and_then(|i| i.server_info.clone())
            .map(|s| (s.name, s.version))
    }

    /// Every tool of the server (all pages), as run-time tools.
    ///
    /// # Errors
    /// [`Error::Mcp`] when the list cannot be read, [`Error::InvalidTool`] when a
    /// tool's schema is unusable.
    pub async fn tools(&self) -> Result<ToolRegistry> {
        self.tools_with_prefix("").await
    }

    /// Every tool of the server, each named `prefix` + its remote name (to avoid clashes
    /// with other tools); calls go out under the remote name.
    ///
    /// # Errors
    /// As [`McpClient::tools`].
    pub async fn tools_with_prefix(&self, prefix: &str) -> Result<ToolRegistry> {
        let listed = self
            .service
            .peer()
            .list_all_tools()
            .await
            .map_err(|e| Error::mcp("could not list the MCP server's tools", e))?;
        let mut registry = ToolRegistry::new();
        for tool in listed {
            registry.register_dynamic(self.dynamic(prefix, tool)?)?;
        }
        Ok(registry)
    }

    fn dynamic(&self, prefix: &str, tool: McpTool) -> Result<DynamicTool> {
        let remote: Arc<str> = Arc::from(tool.name.as_ref());
        let peer = self.service.peer().clone();
        let label = self.label.clone();
        let timeout = self.call_timeout;
        let description = tool
            .description
            .as_deref()
            .map_or_else(|| tool.title.clone().unwrap_or_default(), str::to_owned);
        // A call cut off after it was sent may have run: it is sent again only to a
        // tool that says running twice is harmless.
        let repeatable = tool
            .annotations
            .as_ref()
            .is_some_and(|a| a.read_only_hint == Some(true) || a.idempotent_hint == Some(true));
        let child = self.group;
        let call = move |args: Value| {
            let (peer, remote, label) = (peer.clone(), remote.clone(), label.clone());
            async move {
                let call = call_remote(&peer, &remote, &label, args, repeatable);
                tokio::select! {
                    answer = tokio::time::timeout(timeout, call) => match answer {
                        Ok(answer) => answer,
                        Err(_) => Err(format!(
                            "the MCP server `{label}` did not answer within {timeout:?}; it may be stuck or gone"
                        )),
                    },
                    () = exited_a_while_ago(child) => Err(format!(
                        "the MCP server `{label}` is gone (its process exited); this tool cannot run now"
                    )),
                }
            }
        };
        let schema = Value::Object(tool.input_schema.as_ref().clone());
        let mut dynamic =
            DynamicTool::new(format!("{prefix}{}", tool.name), description, schema, call)?;
        if let Some(out) = &tool.output_schema {
            dynamic = dynamic.with_output_schema(Value::Object(out.as_ref().clone()));
        }
        let mut annotations = ToolAnnotations::new();
        if let Some(a) = &tool.annotations {
            annotations.read_only = a.read_only_hint;
            annotations.destructive = a.destructive_hint;
            annotations.idempotent = a.idempotent_hint;
            annotations.open_world = a.open_world_hint;
            annotations.title = a.title.clone();
        }
        if annotations.title.is_none() {
            annotations.title = tool.title.clone();
        }
        Ok(dynamic.with_annotations(annotations))
    }

    /// Changes whenever the server says its tool list changed
    /// (`notifications/tools/list_changed`): call [`McpClient::tools`] again then.
    #[must_use]
    pub fn tool_list_changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// Whether the session has ended (the server closed it, or died).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.service.is_transport_closed()
    }

    /// Closes the session and waits for it: a child process gets its stdin closed and a
    /// few seconds to exit, then its process group is ended.
    ///
    /// # Errors
    /// [`Error::Mcp`] when the session task failed.
    pub async fn close(mut self) -> Result<()> {
        let group = self.group.take();
        let closed = self.service.close().await;
        end_group(group);
        closed
            .map(|_| ())
            .map_err(|e| Error::mcp("the MCP session did not close cleanly", e))
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        end_group(self.group.take());
    }
}

/// Ends a child's whole process group (what it started too).
fn end_group(group: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = group.and_then(|g| i32::try_from(g).ok()).filter(|&g| g > 1) {
        // ESRCH (already gone) is fine.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    #[cfg(not(unix))]
    let _ = group;
}

/// How often a call to a stdio server looks whether the server's process still runs.
const EXIT_POLL: Duration = Duration::from_millis(200);

/// How long a call goes on after the server's process exited, for an answer it wrote
/// before it died to arrive.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Resolves [`EXIT_GRACE`] after process `pid` exited; never for `None` (an HTTP server).
///
/// The transport reports a dead stdio server when its stdout closes, but a process the
/// server started may keep that pipe open after the server died; this catches it.
async fn exited_a_while_ago(pid: Option<u32>) {
    let Some(pid) = pid else {
        return std::future::pending().await;
    };
    while !exited(pid) {
        tokio::time::sleep(EXIT_POLL).await;
    }
    tokio::time::sleep(EXIT_GRACE).await;
}

/// Whether process `pid` has exited (a zombie, not yet reaped, has).
fn exited(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // After the command name, in parentheses, comes the state.
        return stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']));
    }
    #[cfg(unix)]
    {
        // No such process (a zombie still counts as one here).
        i32::try_from(pid).is_ok_and(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH)
        })
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// How long a call waits before it is sent again after its connection failed.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// One remote call; every failure is text the model reads. Over HTTP, a call whose
/// connection failed before any response arrived is sent once more, on a fresh
/// connection: always when it was never sent (connection refused), and when it was cut
/// off (connection reset or closed) only if `repeatable`.
async fn call_remote(
    peer: &Peer<RoleClient>,
    remote: &str,
    label: &str,
    args: Value,
    repeatable: bool,
) -> std::result::Result<ToolOutput, String> {
    let mut params = CallToolRequestParams::new(Cow::Owned(remote.to_owned()));
    match args {
        Value::Object(map) => params.arguments = Some(map),
        Value::Null => {}
        other => return Err(format!("arguments must be a JSON object, got {other}")),
    }
    let mut answer = peer.call_tool(params.clone()).await;
    if let Err(ServiceError::TransportSend(e)) = &answer {
        let retry = match connection_failure(e) {
            Some(ConnectionFailure::NotSent) => true,
            Some(ConnectionFailure::CutOff) => repeatable,
            None => false,
        };
        if retry {
            tracing::debug!(tool = remote, server = label, error = %e,
                "mcp client: the connection failed before any response; calling again");
            // The pool drops the broken connection meanwhile; the retry opens a new one.
            tokio::time::sleep(RETRY_PAUSE).await;
            answer = peer.call_tool(params).await;
        }
    }
    match answer {
        Ok(result) => read_result(result),
        Err(ServiceError::TransportClosed | ServiceError::TransportSend(_)) => Err(format!(
            "the MCP server `{label}` is gone (its connection closed); this tool cannot run now"
        )),
        Err(ServiceError::McpError(e)) => {
            Err(format!("the MCP server refused the call: {}", e.message))
        }
        Err(e) => Err(format!("the MCP server `{label}` did not answer: {e}")),
    }
}

/// How an HTTP call failed before any response arrived.
#[derive(Debug, PartialEq, Eq)]
enum ConnectionFailure {
    /// The connection could not be made: the request was never sent.
    NotSent,
    /// The connection was reset or closed before a response: the request may have run.
    CutOff,
}

/// Whether a transport error is a connection that failed before any response (and
/// how); `None` for everything else, an HTTP status included.
fn connection_failure(e: &rmcp::transport::DynamicTransportError) -> Option<ConnectionFailure> {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    let http = e
        .error
        .downcast_ref::<StreamableHttpError<reqwest::Error>>()?;
    match http {
        StreamableHttpError::Client(client) if client.is_connect() => {
            Some(ConnectionFailure::NotSent)
        }
        StreamableHttpError::Client(client) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(client);
            while let Some(cause) = source {
                if let Some(h) = cause.downcast_ref::<hyper::Error>()
                    && (h.is_incomplete_message() || h.is_closed() || h.is_canceled())
                {
                    return Some(ConnectionFailure::CutOff);
                }
                if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                    use std::io::ErrorKind::{
                        BrokenPipe, ConnectionAborted, ConnectionRefused, ConnectionReset,
                        UnexpectedEof,
                    };
                    return match io.kind() {
                        ConnectionRefused => Some(ConnectionFailure::NotSent),
                        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                            Some(ConnectionFailure::CutOff)
                        }
                        _ => None,
                    };
                }
                source = cause.source();
            }
            None
        }
        _ => None,
    }
}

/// A `tools/call` result as the text a model reads (and the structured content).
fn read_result(result: CallToolResult) -> std::result::Result<ToolOutput, String> {
    let mut parts: Vec<String> = Vec::new();
    for block in &result.content {
        parts.push(match block {
            ContentBlock::Text(t) => t.text.clone(),
            ContentBlock::Image(i) => format!("[image: {}]", i.mime_type),
            ContentBlock::Audio(a) => format!("[audio: {}]", a.mime_type),
            ContentBlock::Resource(r) => match &r.resource {
                rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
                rmcp::model::ResourceContents::BlobResourceContents { uri, .. } => {
                    format!("[resource: {uri}]")
                }
                _ => "[resource]".to_owned(),
            },
            ContentBlock::ResourceLink(l) => format!("[resource link: {}]", l.uri),
            #[allow(unreachable_patterns)]
            _ => "[content]".to_owned(),
        });
    }
    let mut text = parts.join("\n");
    if text.is_empty()
        && let Some(structured) = &result.structured_content
    {
        text = structured.to_string();
    }
    if result.is_error == Some(true) {
        return Err(if text.is_empty() {
            "the tool reported an error and said nothing more".to_owned()
        } else {
            text
        });
    }
    let structured = result.structured_content.filter(Value::is_object);
    Ok(ToolOutput::new(text, structured))
}

impl fmt::Debug for McpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpClient")
            .field("server", &self.label)
            .finish_non_exhaustive()
    }
}
