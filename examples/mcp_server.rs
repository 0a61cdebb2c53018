//! Serves the read-only Kubernetes and Postgres troubleshooting tools over MCP.
//!
//! ```text
//! cargo run --example mcp_server --features mcp,kubernetes,postgres -- stdio
//! cargo run --example mcp_server --features mcp,kubernetes,postgres -- http 127.0.0.1:8765
//! ```
//!
//! It starts at once and always lists its tools. The cluster (`KUBECONFIG`, or the
//! in-cluster service account) and the database (`DATABASE_URL`, a read-only role) are
//! connected on first use; a missing or refused configuration is a tool error that says
//! what to set. Over HTTP the endpoint is `/mcp` (health at `/healthz`); set
//! `MCP_BEARER_TOKEN` to require `Authorization: Bearer …`, and `MCP_ALLOWED_HOSTS`
//! (comma-separated) when clients reach it by a name other than a loopback one.
//! Logs go to stderr (`RUST_LOG`-style level in `TOOLCALL_LOG`, default `warn`).

use std::net::SocketAddr;
use std::process::ExitCode;

use toolcall::ToolRegistry;
use toolcall::mcp::{HttpServer, McpServer};

const USAGE: &str =
    "usage: mcp_server stdio | mcp_server http [ADDRESS:PORT] (default 127.0.0.1:8765)";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let server = McpServer::new(tools()).instructions(
        "Read-only Kubernetes and PostgreSQL troubleshooting tools. Start with the pod's logs, \
         memory and CPU; query the database read-only.",
    );
    let result = match args.first().map(String::as_str) {
        Some("stdio") => server.serve_stdio().await,
        Some("http") => {
            let addr = args.get(1).map_or("127.0.0.1:8765", String::as_str);
            let Ok(addr) = addr.parse::<SocketAddr>() else {
                eprintln!("mcp_server: `{addr}` is not an address:port\n{USAGE}");
                return ExitCode::from(64);
            };
            let mut http =
                HttpServer::new(server).bearer_token(std::env::var("MCP_BEARER_TOKEN").ok());
            if let Ok(hosts) = std::env::var("MCP_ALLOWED_HOSTS") {
                http =
                    http.allowed_hosts(hosts.split(',').map(str::trim).filter(|h| !h.is_empty()));
            }
            eprintln!("mcp_server: serving MCP on http://{addr}/mcp");
            http.serve(addr).await
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp_server: {}", causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// Every tool, each family connected on first use.
fn tools() -> ToolRegistry {
    let registry = ToolRegistry::new();
    #[cfg(feature = "kubernetes")]
    let registry = {
        use toolcall::tools::kubernetes::Cluster;
        match Cluster::lazy_tools(|| async { Cluster::infer().await }) {
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
    registry.read_only()
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
