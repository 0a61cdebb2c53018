//! Asks a model why a pod fails, with the Kubernetes tools on your current cluster.
//!
//! The cluster comes from `KUBECONFIG` (or `~/.kube/config`, its current context),
//! else the in-cluster service account. The model server comes from the environment:
//! `OPENAI_BASE_URL` (default `http://localhost:8080/v1`, a llama.cpp
//! `llama-server --jinja`), `OPENAI_MODEL` and `OPENAI_API_KEY`. The tools only
//! read (see the RBAC rules in the `tools::kubernetes` docs).
//!
//! ```text
//! cargo run --example kubernetes_troubleshoot --features kubernetes -- default billing-service-v1-abcdef
//! cargo run --example kubernetes_troubleshoot --features kubernetes -- orders orders-api-6f7d9c8b5d-k4m2p "Why does it keep restarting?"
//! ```
//!
//! Set `TOOLS=all` to offer pod status and pod list as well as the seed's three tools.

use std::process::ExitCode;
use std::time::Duration;

use toolcall::agent::Event;
use toolcall::tools::kubernetes::Cluster;
use toolcall::{Agent, Error, OpenAiCompatible};

const SYSTEM: &str = "You are a Kubernetes troubleshooter. Use the tools to look at the pod's logs, \
memory and CPU before answering. Name the root cause and the fix in a few sentences.";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(namespace), Some(pod)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: cargo run --example kubernetes_troubleshoot --features kubernetes -- <namespace> <pod> [\"question\"]"
        );
        return ExitCode::from(64);
    };
    let question = args.get(2..).map(|rest| rest.join(" ")).unwrap_or_default();
    let question = if question.trim().is_empty() {
        format!(
            "The pod {pod} in the {namespace} namespace is failing. Please troubleshoot and find the root cause."
        )
    } else {
        format!("{question} (pod {pod} in the {namespace} namespace)")
    };

    let cluster = match Cluster::infer().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("no Kubernetes cluster configured: {e}");
            report_causes(&e);
            eprintln!("Set KUBECONFIG or run inside a cluster with a service account.");
            return ExitCode::from(2);
        }
    };
    match tokio::time::timeout(
        Duration::from_secs(10),
        cluster.get_ref().apiserver_version(),
    )
    .await
    {
        Ok(Ok(version)) => eprintln!("cluster: Kubernetes {}", version.git_version),
        Ok(Err(e)) => {
            eprintln!("the Kubernetes API server of the current context did not answer: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            return ExitCode::from(2);
        }
        Err(_) => {
            eprintln!("the Kubernetes API server of the current context did not answer within 10s");
            return ExitCode::from(2);
        }
    }

    let registry = if std::env::var("TOOLS").is_ok_and(|v| v == "all") {
        cluster.all_tools()
    } else {
        cluster.seed_tools()
    };
    let backend = OpenAiCompatible::from_env();
    let base_url = backend.base_url().to_owned();
    let agent = Agent::new(backend, registry)
        .system(SYSTEM)
        .observer(|event: &Event<'_>| match event {
            Event::ToolStarted { call, .. } => {
                eprintln!("-> {}({})", call.function.name, call.function.arguments);
            }
            Event::ToolFinished { content, .. } => {
                let shown: String = content.chars().take(300).collect();
                let more = if shown.len() < content.len() {
                    " …"
                } else {
                    ""
                };
                eprintln!("<- {shown}{more}");
            }
            _ => {}
        });

    match agent.run(question).await {
        Ok(run) => {
            println!("{}", run.answer());
            let usage = run.usage();
            eprintln!(
                "({} chat requests, {} tokens)",
                run.steps().len(),
                usage.total_tokens
            );
            ExitCode::SUCCESS
        }
        Err(e @ (Error::Transport { .. } | Error::Timeout(_))) => {
            eprintln!("no chat server answered at {base_url}: {e}");
            eprintln!(
                "Start one (e.g. `llama-server --jinja -m qwen3-4b.gguf --port 8080`) \
                 or point OPENAI_BASE_URL / OPENAI_MODEL / OPENAI_API_KEY at one."
            );
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("error: {e}");
            report_causes(&e);
            ExitCode::FAILURE
        }
    }
}

fn report_causes(error: &Error) {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}
