//! [`McpServer`]: a [`ToolRegistry`] served as a Model Context Protocol server.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool as McpTool, ToolAnnotations as McpAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::registry::{Dispatcher, ToolInfo, ToolRegistry};
use crate::tool::{ToolAnnotations, ToolError};

/// The default number of tools per `tools/list` page.
pub const DEFAULT_PAGE_SIZE: usize = 100;

const INSTRUCTIONS: &str = "Read-only troubleshooting tools. Each tool's description says what it \
reads; a failed call answers with isError and a message that says what to change.";

/// A [`ToolRegistry`] served over MCP: `tools/list` describes every tool (input and
/// output schemas, annotations) in registration order, `tools/call` runs them through a
/// [`Dispatcher`] (the same timeout, output cap and span as the agent).
///
/// A tool's failure, or arguments that do not fit its schema, come back as a result
/// with `isError: true` and the message a model can act on; an unknown tool is a
/// protocol error (`-32602`). Cheap to clone.
///
/// Serve it over stdio with [`McpServer::serve_stdio`], or over Streamable HTTP with
/// [`HttpServer`](super::HttpServer).
///
/// ```
/// use toolcall::mcp::McpServer;
/// use toolcall::{DynamicTool, ToolRegistry};
/// use serde_json::json;
///
/// let echo = DynamicTool::new("echo", "Echoes its input.", json!({"type": "object"}),
///     |v: serde_json::Value| async move { Ok::<_, String>(v) })?;
/// let server = McpServer::new(ToolRegistry::new().with_dynamic(echo))
///     .instructions("Echo tools.")
///     .page_size(50);
/// assert_eq!(server.dispatcher().registry().len(), 1);
/// # Ok::<(), toolcall::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    dispatcher: Dispatcher,
    /// Every tool in MCP's shape, made once.
    tools: Vec<McpTool>,
    name: String,
    version: String,
    instructions: String,
    page_size: usize,
    #[cfg(feature = "metrics")]
    metrics: Option<super::Metrics>,
}

impl McpServer {
    /// Serves the tools in `registry` with the default per-call limits.
    #[must_use]
    pub fn new(registry: ToolRegistry) -> Self {
        Self::with_dispatcher(Dispatcher::new(registry))
    }

    /// Serves the tools of `dispatcher`, keeping its limits.
    #[must_use]
    pub fn with_dispatcher(dispatcher: Dispatcher) -> Self {
        let tools = dispatcher.registry().iter().map(to_mcp_tool).collect();
        Self {
            inner: Arc::new(Inner {
                dispatcher,
                tools,
                name: env!("CARGO_PKG_NAME").to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                instructions: INSTRUCTIONS.to_owned(),
                page_size: DEFAULT_PAGE_SIZE,
                #[cfg(feature = "metrics")]
                metrics: None,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        // Copy-on-write: the settings of a clone already handed out are left alone.
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// The name and version the server gives in `initialize` / `server/discover`
    /// (this crate's by default).
    #[must_use]
    pub fn server_info(self, name: impl Into<String>, version: impl Into<String>) -> Self {
        let (name, version) = (name.into(), version.into());
        self.edit(|i| {
            i.name = name;
            i.version = version;
        })
    }

    /// The short instructions hosts may show a model.
    #[must_use]
    pub fn instructions(self, text: impl Into<String>) -> Self {
        let text = text.into();
        self.edit(|i| i.instructions = text)
    }

    /// How many tools one `tools/list` page holds (default 100, at least 1).
    #[must_use]
    pub fn page_size(self, tools: usize) -> Self {
        self.edit(|i| i.page_size = tools.max(1))
    }

    /// Records tool calls in `metrics`.
    #[cfg(feature = "metrics")]
    pub(crate) fn with_metrics(self, metrics: super::Metrics) -> Self {
        self.edit(|i| i.metrics = Some(metrics))
    }

    /// The dispatcher calls go through.
    #[must_use]
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.inner.dispatcher
    }

    /// Serves MCP over this process's stdin and stdout until the client closes them.
    /// Nothing but protocol messages is written to stdout: log to stderr.
    ///
    /// # Errors
    /// [`Error::Mcp`] when the session cannot start or ends abnormally, or a
    /// registration problem the registry recorded.
    pub async fn serve_stdio(self) -> Result<()> {
        self.dispatcher().registry().check()?;
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::mcp("the stdio session did not start", e))?;
        running
            .waiting()
            .await
            .map_err(|e| Error::mcp("the stdio session ended abnormally", e))?;
        Ok(())
    }

    fn page(&self, cursor: Option<&str>) -> std::result::Result<ListToolsResult, ErrorData> {
        let start = match cursor {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .ok()
                .filter(|&n| n <= self.inner.tools.len())
                .ok_or_else(|| ErrorData::invalid_params("invalid cursor", None))?,
        };
        let end = start
            .saturating_add(self.inner.page_size)
            .min(self.inner.tools.len());
        let tools = self
            .inner
            .tools
            .get(start..end)
            .unwrap_or_default()
            .to_vec();
        let mut page = ListToolsResult::with_all_items(tools)
            .with_ttl_ms(60_000)
            .with_cache_scope(CacheScope::Public);
        if end < self.inner.tools.len() {
            page.next_cursor = Some(end.to_string());
        }
        Ok(page)
    }

    async fn call(
        &self,
        params: CallToolRequestParams,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        let name = params.name.as_ref();
        let registry = self.dispatcher().registry();
        if registry.get(name).is_none() {
            let available: Vec<&str> = registry.names().collect();
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{name}`"),
                Some(serde_json::json!({"available": available})),
            ));
        }
        let arguments = params.arguments.map_or(Value::Null, Value::Object);
        #[cfg(feature = "metrics")]
        let running = self
            .inner
            .metrics
            .as_ref()
            .map(super::Metrics::call_started);
        let outcome = self.dispatcher().call_value(name, arguments).await;
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.inner.metrics {
            drop(running);
            let label = match &outcome.error {
                None => "ok",
                Some(ToolError::Timeout { .. }) => "timeout",
                Some(ToolError::InvalidArguments { .. } | ToolError::InvalidJson { .. }) => {
                    "invalid_arguments"
                }
                Some(_) => "error",
            };
            metrics.call_finished(name, label, outcome.duration);
        }
        Ok(match outcome.error {
            None => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(outcome.text)]);
                result.structured_content = outcome.structured;
                result
            }
            // `isError` says it is an error, and the host knows which tool it called: a
            // tool's own failure is sent in its own words, other problems (arguments, the
            // timeout) as the model is told them. Cut to the cap.
            Some(e) => {
                let text = match e {
                    ToolError::Failed { message, .. } => message,
                    other => other.to_string(),
                };
                let text = crate::registry::cap_text(text, self.dispatcher().get_max_output());
                CallToolResult::error(vec![ContentBlock::text(text)])
            }
        })
    }
}

/// A registry tool in MCP's shape.
fn to_mcp_tool(info: ToolInfo<'_>) -> McpTool {
    let object = |v: &Value| match v {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    let mut tool = McpTool::new(
        info.name.to_owned(),
        info.description.to_owned(),
        Arc::new(object(info.input_schema)),
    );
    if let Some(schema) = info.output_schema {
        tool = tool.with_raw_output_schema(Arc::new(object(schema)));
    }
    if !info.annotations.is_empty() {
        tool = tool.with_annotations(to_mcp_annotations(info.annotations));
        if let Some(title) = &info.annotations.title {
            tool = tool.with_title(title.clone());
        }
    }
    tool
}

fn to_mcp_annotations(a: &ToolAnnotations) -> McpAnnotations {
    McpAnnotations::from_raw(
        a.title.clone(),
        a.read_only,
        a.destructive,
        a.idempotent,
        a.open_world,
    )
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new(self.inner.name.clone(), self.inner.version.clone());
        info.instructions = Some(self.inner.instructions.clone());
        info
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, ErrorData> {
        self.page(request.as_ref().and_then(|r| r.cursor.as_deref()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        self.call(request).await.map(CallToolResponse::from)
    }

    fn get_tool(&self, name: &str) -> Option<McpTool> {
        self.inner.tools.iter().find(|t| t.name == name).cloned()
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [rmcp::model::ProtocolVersion]> {
        Cow::Borrowed(rmcp::model::ProtocolVersion::KNOWN_VERSIONS)
    }
}
