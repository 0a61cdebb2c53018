//! Approval before a tool runs: the run stops before the calls that need an operator, its
//! state is saved as JSON, and a fresh agent (another process, after a restart) resumes it
//! with one call approved and one rejected. Offline: a scripted model answers.
//!
//! ```text
//! cargo run --example approval
//! ```

use std::error::Error;

use serde_json::{Value, json};
use toolcall::agent::{ApprovalPolicy, Decision, RunState};
use toolcall::chat::{ChatResponse, ScriptedBackend, ToolCall};
use toolcall::tool::ToolAnnotations;
use toolcall::{Agent, DynamicTool, ToolRegistry};

/// The tools: one that only reads, two that change the cluster.
fn tools() -> Result<ToolRegistry, toolcall::Error> {
    let status = DynamicTool::new(
        "get_pod_status",
        "Reads a pod's status.",
        json!({"type": "object", "properties": {"pod": {"type": "string"}}, "required": ["pod"]}),
        |v: Value| async move {
            Ok::<_, String>(format!(
                "{}: CrashLoopBackOff, OOMKilled 7 times",
                v.get("pod").and_then(Value::as_str).unwrap_or("?")
            ))
        },
    )?
    .with_annotations(ToolAnnotations::read_only());
    let restart = DynamicTool::new(
        "restart_pod",
        "Deletes a pod so that its ReplicaSet makes a new one.",
        json!({"type": "object", "properties": {"pod": {"type": "string"}}, "required": ["pod"]}),
        |v: Value| async move {
            println!(
                "    (restart_pod ran for {})",
                v.get("pod").unwrap_or(&Value::Null)
            );
            Ok::<_, String>("pod deleted; a new one is starting")
        },
    )?;
    let scale = DynamicTool::new(
        "scale_deployment",
        "Sets a deployment's replica count.",
        json!({"type": "object", "properties": {"deployment": {"type": "string"}, "replicas": {"type": "integer"}}}),
        |_v: Value| async move { Ok::<_, String>("scaled") },
    )?;
    Ok(ToolRegistry::new()
        .with_dynamic(status)
        .with_dynamic(restart)
        .with_dynamic(scale))
}

/// Every tool that does not say it is read-only needs approval; the state is signed.
fn policy() -> ApprovalPolicy {
    ApprovalPolicy::new()
        .not_read_only()
        .key("a secret the pausing and the resuming process share")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    #[cfg(feature = "otel")]
    let _traces = toolcall::otel::init_from_env()?;
    let pod = r#"{"pod": "billing-service-v1-abcdef"}"#;

    // Process 1: the model asks for three calls at once; two need approval.
    let model = ScriptedBackend::new([ChatResponse::tool_calls(vec![
        ToolCall::new("call_1", "get_pod_status", pod),
        ToolCall::new("call_2", "restart_pod", pod),
        ToolCall::new(
            "call_3",
            "scale_deployment",
            r#"{"deployment": "billing-service-v1", "replicas": 0}"#,
        ),
    ])]);
    let agent = Agent::new(model, tools()?)
        .system("You fix Kubernetes pods.")
        .approval(policy());
    let run = agent.run("billing-service keeps crashing; fix it").await?;
    let Some(paused) = run.into_interruption() else {
        return Err("the run was expected to stop for approval".into());
    };
    println!(
        "== paused: {} call(s) wait for an operator",
        paused.pending().len()
    );
    for call in paused.pending() {
        println!("  {} {}({})", call.id, call.name, call.arguments);
    }
    let saved = serde_json::to_string_pretty(paused.state())?;
    println!("== saved state ({} bytes of JSON):\n{saved}", saved.len());

    // Process 2, later: a fresh agent reads the state back; the operator decides.
    let state: RunState = serde_json::from_str(&saved)?;
    let decisions: Vec<Decision> = state
        .pending()
        .iter()
        .map(|call| match call.name.as_str() {
            "restart_pod" => Decision::approve(call),
            _ => Decision::reject(call, "scaling billing to zero needs a change ticket"),
        })
        .collect();
    println!("== decisions: restart approved, scale rejected");
    let model = ScriptedBackend::new([ChatResponse::text(
        "I restarted billing-service-v1-abcdef (it was OOMKilled 7 times); scaling to zero was \
         rejected by the operator, so raise its memory limit next.",
    )]);
    let agent = Agent::new(&model, tools()?)
        .system("You fix Kubernetes pods.")
        .approval(policy());
    let run = agent.resume_state(state, decisions).await?;
    println!("== what the model was sent after the resume (tool answers):");
    if let Some(messages) = model
        .requests()
        .first()
        .and_then(|r| r["messages"].as_array().cloned())
    {
        for m in messages.iter().filter(|m| m["role"] == "tool") {
            println!("  {} -> {}", m["tool_call_id"], m["content"]);
        }
    }
    println!(
        "== answer ({} requests in all):\n{}",
        run.steps().len(),
        run.answer()
    );
    Ok(())
}
