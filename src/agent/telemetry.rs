//! The run's spans, named and attributed as the OpenTelemetry GenAI semantic conventions say:
//! `invoke_agent` around a run, `chat {model}` (client kind) around each request.
//! (`execute_tool {name}` is the dispatcher's, in `registry::dispatch`.)

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Value, json};
use tracing::field::Empty;

use crate::chat::{BackendInfo, ChatResponse, Message, Usage};
use crate::error::Error;

/// The `invoke_agent` span.
pub(super) fn run_span(
    info: &BackendInfo<'_>,
    agent: Option<&str>,
    tools: usize,
    max_steps: usize,
    stream: bool,
) -> tracing::Span {
    tracing::info_span!(
        "invoke_agent",
        otel.name = %format_args!("invoke_agent{}{}", if agent.is_some() { " " } else { "" }, agent.unwrap_or_default()),
        otel.kind = "internal",
        otel.status_code = Empty,
        gen_ai.operation.name = "invoke_agent",
        gen_ai.provider.name = info.provider,
        gen_ai.agent.name = agent,
        gen_ai.request.model = info.model,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
        tools = i64::try_from(tools).unwrap_or(i64::MAX),
        max_steps = i64::try_from(max_steps).unwrap_or(i64::MAX),
        stream,
    )
}

/// The `chat {model}` span of one request.
pub(super) fn chat_span(info: &BackendInfo<'_>, step: usize) -> tracing::Span {
    tracing::info_span!(
        "chat",
        otel.name = %format_args!("chat{}{}", if info.model.is_some() { " " } else { "" }, info.model.unwrap_or_default()),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = info.provider,
        gen_ai.request.model = info.model,
        server.address = info.address,
        server.port = info.port.map(i64::from),
        gen_ai.response.model = Empty,
        gen_ai.response.id = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.system_instructions = Empty,
        gen_ai.input.messages = Empty,
        gen_ai.output.messages = Empty,
        error.type = Empty,
        step = i64::try_from(step).unwrap_or(i64::MAX),
    )
}

/// Records what the response says on its `chat` span.
pub(super) fn record_response(span: &tracing::Span, response: &ChatResponse, content: bool) {
    if span.is_disabled() {
        return;
    }
    if let Some(model) = &response.model {
        span.record("gen_ai.response.model", model.as_str());
    }
    if let Some(id) = &response.id {
        span.record("gen_ai.response.id", id.as_str());
    }
    if let Some(reason) = &response.finish_reason {
        record_finish_reasons(span, reason);
    }
    if let Some(usage) = response.usage {
        record_usage(span, usage);
    }
    if content {
        let output = json!([assistant_parts(
            &response.message,
            response.finish_reason.as_deref()
        )]);
        span.record("gen_ai.output.messages", output.to_string().as_str());
    }
}

/// `gen_ai.response.finish_reasons`: a string array in OpenTelemetry, its JSON text in
/// plain `tracing`.
fn record_finish_reasons(span: &tracing::Span, reason: &str) {
    #[cfg(feature = "otel")]
    {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        span.set_attribute(
            "gen_ai.response.finish_reasons",
            opentelemetry::Value::Array(
                vec![opentelemetry::StringValue::from(reason.to_owned())].into(),
            ),
        );
    }
    #[cfg(not(feature = "otel"))]
    span.record(
        "gen_ai.response.finish_reasons",
        json!([reason]).to_string().as_str(),
    );
}

/// Records token counts on a `chat` or `invoke_agent` span.
/// (As signed integers: OpenTelemetry has no unsigned ones, and tracing-opentelemetry
/// turns a `u64` into a string.)
pub(super) fn record_usage(span: &tracing::Span, usage: Usage) {
    let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    span.record("gen_ai.usage.input_tokens", signed(usage.prompt_tokens));
    span.record(
        "gen_ai.usage.output_tokens",
        signed(usage.completion_tokens),
    );
}

/// Records the error that ended a request or a run.
pub(super) fn record_error(span: &tracing::Span, error: &Error) {
    if span.is_disabled() {
        return;
    }
    span.record("error.type", error_type(error).as_ref());
    span.record("otel.status_code", "ERROR");
}

/// A low-cardinality name for the error (`error.type`): the HTTP status for an error
/// answer, else the kind of failure.
fn error_type(error: &Error) -> Cow<'static, str> {
    match error {
        Error::Api(e) => Cow::Owned(e.status.to_string()),
        Error::Transport { .. } => "transport".into(),
        Error::Timeout(_) => "timeout".into(),
        Error::Truncated { .. } => "truncated".into(),
        Error::InvalidResponse { .. } => "invalid_response".into(),
        Error::StepLimit { .. } => "step_limit".into(),
        Error::Resume(_) => "resume_refused".into(),
        Error::Config(_) | Error::DuplicateTool(_) | Error::InvalidTool { .. } => {
            "configuration".into()
        }
        _ => "_OTHER".into(),
    }
}

/// Records the request's messages on its `chat` span (opt-in content): the system
/// prompt as `gen_ai.system_instructions`, the rest as `gen_ai.input.messages`, in the
/// conventions' role-and-parts shape.
pub(super) fn record_input(span: &tracing::Span, messages: &[Message]) {
    if span.is_disabled() {
        return;
    }
    let mut system = Vec::new();
    let mut input = Vec::with_capacity(messages.len());
    for m in messages {
        match m {
            Message::System { content } => system.push(text_part(content)),
            Message::User { content } => input.push(json!({"role": "user", "parts": [text_part(content)]})),
            Message::Assistant(a) => input.push(assistant_parts(a, None)),
            Message::Tool(t) => input.push(json!({
                "role": "tool",
                "parts": [{"type": "tool_call_response", "id": t.tool_call_id, "response": t.content}],
            })),
        }
    }
    if !system.is_empty() {
        span.record(
            "gen_ai.system_instructions",
            Value::Array(system).to_string().as_str(),
        );
    }
    span.record(
        "gen_ai.input.messages",
        Value::Array(input).to_string().as_str(),
    );
}

fn text_part(content: &str) -> Value {
    json!({"type": "text", "content": content})
}

#[derive(Serialize)]
struct CallPart<'a> {
    r#type: &'static str,
    id: &'a str,
    name: &'a str,
    arguments: Value,
}

fn assistant_parts(a: &crate::chat::AssistantMessage, finish: Option<&str>) -> Value {
    let mut parts = Vec::new();
    if let Some(reasoning) = a.reasoning.as_deref().filter(|r| !r.is_empty()) {
        parts.push(json!({"type": "reasoning", "content": reasoning}));
    }
    if let Some(text) = a.content.as_deref().filter(|t| !t.trim().is_empty()) {
        parts.push(text_part(text));
    }
    for c in &a.tool_calls {
        let arguments = serde_json::from_str(&c.function.arguments)
            .unwrap_or_else(|_| Value::String(c.function.arguments.clone()));
        parts.push(json!(CallPart {
            r#type: "tool_call",
            id: &c.id,
            name: &c.function.name,
            arguments,
        }));
    }
    let mut message = json!({"role": "assistant", "parts": parts});
    if let (Some(reason), Value::Object(map)) = (finish, &mut message) {
        map.insert("finish_reason".into(), Value::String(reason.to_owned()));
    }
    message
}
