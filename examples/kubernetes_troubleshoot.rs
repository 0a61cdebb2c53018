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
//! Set `TOOLS=all` to offer every read-only tool (the diagnosis, log search, pod
//! status and pod list) as well as logs, memory and CPU.
//!
//! With `--no-llm` no model is asked: the diagnosis tool's findings are printed,
//! most severe first (add `--evidence` for the evidence they were drawn from, as JSON):
//!
//! ```text
//! cargo run --example kubernetes_troubleshoot --features kubernetes -- --no-llm orders orders-api-6f7d9c8b5d-k4m2p
//! ```

use std::process::ExitCode;
use std::time::Duration;

use toolcall::agent::Event;
use toolcall::tools::kubernetes::{Cluster, PodContextArgs};
use toolcall::{Agent, Error, OpenAiCompatible, Tool};

const SYSTEM: &str = "You are a Kubernetes troubleshooter. Use the tools to look at the pod's logs, \
memory and CPU before answering. Name the root cause and the fix in a few sentences.";

#[tokio::main]
async fn main() -> ExitCode {
    // With `--features otel` and OTEL_EXPORTER_OTLP_ENDPOINT set, the run's GenAI spans go out
    // over OTLP/HTTP; they are flushed when `_traces` is dropped at the end of main.
    #[cfg(feature = "otel")]
    let _traces = toolcall::otel::init_from_env().unwrap_or_else(|e| {
        eprintln!("traces are off: {e}");
        None
    });
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let no_llm = args.iter().any(|a| a == "--no-llm");
    let show_evidence = args.iter().any(|a| a == "--evidence");
    args.retain(|a| a != "--no-llm" && a != "--evidence");
    let (Some(namespace), Some(pod)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: cargo run --example kubernetes_troubleshoot --features kubernetes -- [--no-llm [--evidence]] <namespace> <pod> [\"question\"]"
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
            eprintln!("{}", start_problem(&cluster, &e));
            return ExitCode::from(2);
        }
        Err(_) => {
            eprintln!(
                "the Kubernetes API server of {} did not answer within 10s; check the VPN, proxy or cluster address",
                context(&cluster)
            );
            return ExitCode::from(2);
        }
    }

    if no_llm {
        return diagnose(&cluster, namespace, pod, show_evidence).await;
    }

    let registry = if std::env::var("TOOLS").is_ok_and(|v| v == "all") {
        cluster.tools()
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

/// Prints the diagnosis's findings and, when asked, its evidence.
async fn diagnose(cluster: &Cluster, namespace: &str, pod: &str, show_evidence: bool) -> ExitCode {
    match cluster
        .diagnose_pod()
        .call(PodContextArgs::new(namespace, pod))
        .await
    {
        Ok(diagnosis) => {
            println!("pod {pod} in namespace {namespace}");
            for f in &diagnosis.findings {
                let severity = format!("{:?}", f.severity).to_uppercase();
                println!("[{severity}] {}", f.summary);
                if let Some(next) = &f.next_step {
                    println!("    next: {next}");
                }
            }
            if show_evidence {
                match serde_json::to_string_pretty(&diagnosis.evidence) {
                    Ok(evidence) => println!("\nevidence:\n{evidence}"),
                    Err(e) => eprintln!("the evidence could not be printed: {e}"),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("no diagnosis: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `context `prod` (user `alice`)`, or `the current context`.
fn context(cluster: &Cluster) -> String {
    match (cluster.get_context(), cluster.get_user()) {
        (Some(c), Some(u)) => format!("context `{c}` (user `{u}`)"),
        (Some(c), None) => format!("context `{c}`"),
        _ => "the current context".into(),
    }
}

/// One line saying why the first request failed and what to do.
fn start_problem(cluster: &Cluster, error: &kube::Error) -> String {
    let who = context(cluster);
    match error {
        kube::Error::Api(status) if status.code == 401 => format!(
            "the Kubernetes API server rejected the credentials of {who} (401 Unauthorized): log in again / refresh the token (your cloud CLI's get-credentials command or your OIDC login), then retry"
        ),
        kube::Error::Api(status) if status.code == 403 => format!(
            "the credentials of {who} are valid but not allowed ({}); grant the read-only RBAC rules from the tools::kubernetes docs",
            status.message.trim()
        ),
        kube::Error::Api(status) => format!(
            "the Kubernetes API server of {who} answered {}: {}",
            status.code,
            status.message.trim()
        ),
        kube::Error::Auth(e) => {
            format!("could not get credentials for {who}: {e}; log in again / refresh the token")
        }
        other => {
            let mut cause: &dyn std::error::Error = other;
            while let Some(next) = cause.source() {
                cause = next;
            }
            format!(
                "the Kubernetes API server of {who} cannot be reached: {cause}; check the cluster address in the kubeconfig, the VPN or proxy, and that the cluster is up"
            )
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
