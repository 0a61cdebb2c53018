//! One MCP `tools/call` round trip through toolcall's MCP server, against a bare rmcp server
//! whose handler is written by hand for the same tool, in the same run.
//!
//! The tool is `echo` (`{"text": …}` → the text). Both servers are driven by the same rmcp
//! client, so the difference is the server side: toolcall's `McpServer` dispatches through the
//! registry (argument validation against the schema, timeout, output cap, span) and, over HTTP,
//! `HttpServer`'s guards (Host/Origin, token, concurrency limit); the bare server matches the
//! name and answers.
//!
//! Scenarios:
//! - `stdio/{bare,toolcall}`: over an in-process pipe pair, framed as stdio is;
//! - `http/{bare,toolcall}`: Streamable HTTP on loopback (axum), a session-era client.
//!
//! ```text
//! cargo bench --features mcp --bench mcp
//! ```
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    unreachable_pub
)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{
    StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use toolcall::mcp::{HttpServer, McpServer};
use toolcall::{DynamicTool, ToolRegistry};

fn schema() -> Value {
    json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})
}

/// The hand-written server: one tool, matched by name.
#[derive(Clone)]
struct Bare {
    tool: Tool,
}

impl Bare {
    fn new() -> Self {
        let Value::Object(schema) = schema() else {
            unreachable!()
        };
        Self {
            tool: Tool::new("echo", "Echoes its text.", Arc::new(schema)),
        }
    }
}

impl ServerHandler for Bare {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![self.tool.clone()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != "echo" {
            return Err(ErrorData::invalid_params("unknown tool", None));
        }
        let text = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("text"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

fn ours() -> McpServer {
    let echo = DynamicTool::new(
        "echo",
        "Echoes its text.",
        schema(),
        |v: Value| async move { Ok::<_, String>(v["text"].clone()) },
    )
    .unwrap();
    McpServer::new(ToolRegistry::new().with_dynamic(echo))
}

fn params() -> CallToolRequestParams {
    let mut p = CallToolRequestParams::new("echo");
    let Value::Object(args) = json!({"text": "istio-proxy was OOM-killed"}) else {
        unreachable!()
    };
    p.arguments = Some(args);
    p
}

async fn call(client: &RunningService<RoleClient, ()>) {
    let result = client.peer().call_tool(params()).await.unwrap();
    assert_eq!(result.is_error, Some(false));
}

async fn stdio_client<S: ServerHandler>(server: S) -> RunningService<RoleClient, ()> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server.serve(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    ().serve(client_io).await.unwrap()
}

async fn http_client(router: axum::Router) -> RunningService<RoleClient, ()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
    ().serve(transport).await.unwrap()
}

fn bare_router() -> axum::Router {
    let service: StreamableHttpService<Bare, LocalSessionManager> = StreamableHttpService::new(
        || Ok(Bare::new()),
        Default::default(),
        StreamableHttpServerConfig::default(),
    );
    axum::Router::new().nest_service("/mcp", service)
}

fn bench(c: &mut Criterion) {
    // One thread: client and server on the same runtime, as in `agent_loop`, so the figures
    // measure work rather than cross-thread wake-ups.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("stdio");
    let bare = rt.block_on(stdio_client(Bare::new()));
    let toolcall = rt.block_on(stdio_client(ours()));
    group.bench_function("bare", |b| b.to_async(&rt).iter(|| call(&bare)));
    group.bench_function("toolcall", |b| b.to_async(&rt).iter(|| call(&toolcall)));
    group.finish();

    let mut group = c.benchmark_group("http");
    let bare = rt.block_on(http_client(bare_router()));
    let ours = HttpServer::new(ours()).router(tokio_util::sync::CancellationToken::new());
    let toolcall = rt.block_on(http_client(ours));
    group.bench_function("bare", |b| b.to_async(&rt).iter(|| call(&bare)));
    group.bench_function("toolcall", |b| b.to_async(&rt).iter(|| call(&toolcall)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
