//! Runs the agent on a remote MCP server's tools: the server is started as a child process
//! and spoken to over stdio; its tools become the agent's tools.
//!
//! ```text
//! cargo run --example mcp_agent --features mcp -- <server command…>
//! cargo run --example mcp_agent --features mcp -- npx -y @modelcontextprotocol/server-everything
//! MCP_AGENT_QUESTION="Why is billing-service-v1-abcdef failing in default?" \
//!   cargo run --example mcp_agent --features mcp -- target/debug/examples/mcp_server stdio
//! ```
//!
//! The question comes from `MCP_AGENT_QUESTION`, else from standard input when it is not a
//! terminal, else a default that asks the model what the tools can do. The model server comes
//! from `OPENAI_BASE_URL` (default `http://localhost:8080/v1`), `OPENAI_MODEL`, `OPENAI_API_KEY`.
//! Each tool call is printed to stderr as it happens.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use toolcall::agent::Event;
use toolcall::mcp::McpClient;
use toolcall::{Agent, Error, OpenAiCompatible};

#[tokio::main]
async fn main() -> ExitCode {
    let command: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, args)) = command.split_first() else {
        eprintln!("usage: cargo run --example mcp_agent --features mcp -- <server command…>");
        return ExitCode::from(64);
    };
    let client = match McpClient::spawn(program, args).await {
        Ok(client) => client,
        Err(e) => {
            eprintln!(
                "mcp_agent: could not start `{}`: {}",
                command.join(" "),
                chain(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    let tools = match client.tools().await {
        Ok(tools) => tools,
        Err(e) => {
            eprintln!("mcp_agent: {}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let names: Vec<&str> = tools.names().collect();
    eprintln!("mcp_agent: {} tools: {}", names.len(), names.join(", "));

    let question = question();
    let backend = OpenAiCompatible::from_env();
    let base_url = backend.base_url().to_owned();
    let agent = Agent::new(backend, tools)
        .system("You are a careful assistant. Use the tools to find facts before answering; answer briefly.")
        .observer(|event: &Event<'_>| match event {
            Event::ToolStarted { call, .. } => {
                eprintln!("→ {}({})", call.function.name, call.function.arguments);
            }
            Event::ToolFinished { call, duration, error, .. } => {
                let outcome = error.map_or_else(|| "ok".to_owned(), |e| format!("error: {e}"));
                eprintln!("← {} in {:.1?}: {outcome}", call.function.name, duration);
            }
            _ => {}
        });
    let result = agent.run(question).await;
    let code = match result {
        Ok(run) => {
            println!("{}", run.answer());
            eprintln!(
                "({} requests, {} tokens)",
                run.steps().len(),
                run.usage().total_tokens
            );
            ExitCode::SUCCESS
        }
        Err(Error::Transport { .. } | Error::Timeout(_)) => {
            eprintln!(
                "mcp_agent: no chat server answered at {base_url}; start one (e.g. `llama-server --jinja`) \
                 or set OPENAI_BASE_URL / OPENAI_MODEL / OPENAI_API_KEY"
            );
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("mcp_agent: {}", chain(&e));
            ExitCode::FAILURE
        }
    };
    if let Err(e) = client.close().await {
        eprintln!("mcp_agent: {}", chain(&e));
    }
    code
}

fn question() -> String {
    if let Ok(q) = std::env::var("MCP_AGENT_QUESTION")
        && !q.trim().is_empty()
    {
        return q;
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut text = String::new();
        if stdin.lock().read_to_string(&mut text).is_ok() && !text.trim().is_empty() {
            return text.trim().to_owned();
        }
    }
    "Which tools do you have, and what could you find out with them? Try one.".to_owned()
}

/// An error and its causes on one line, each said once.
fn chain(e: &dyn std::error::Error) -> String {
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
