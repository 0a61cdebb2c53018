//! One test per leniency rule of [`super`].

use serde_json::{Value, json};

use super::*;

fn response_with(message: Value) -> ChatResponse {
    let body =
        json!({"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]});
    parse_response(body.to_string().as_bytes()).unwrap()
}

/// 9 ASCII letters and digits: the only id shape Mistral's templates accept.
fn is_our_id(id: &str) -> bool {
    id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn call(name: &str, arguments: Value) -> Value {
    json!({"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}})
}

#[test]
fn arguments_as_json_string() {
    let r =
        response_with(json!({"role": "assistant", "tool_calls": [call("f", json!("{\"a\": 1}"))]}));
    assert_eq!(r.message.tool_calls[0].function.arguments, "{\"a\": 1}");
}

#[test]
fn arguments_as_object() {
    let r = response_with(json!({"tool_calls": [call("f", json!({"a": 1, "b": "x"}))]}));
    let args: Value = serde_json::from_str(&r.message.tool_calls[0].function.arguments).unwrap();
    assert_eq!(args, json!({"a": 1, "b": "x"}));
}

#[test]
fn arguments_null_or_missing_mean_empty_object() {
    let r = response_with(json!({"tool_calls": [
        call("f", Value::Null),
        {"id": "c2", "function": {"name": "g"}}
    ]}));
    assert_eq!(r.message.tool_calls[0].function.arguments, "{}");
    assert_eq!(r.message.tool_calls[1].function.arguments, "{}");
}

#[test]
fn missing_call_id_gets_a_unique_one() {
    let r = response_with(json!({"tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"type": "function", "function": {"name": "f", "arguments": "{}"}}
    ]}));
    let ids: Vec<&str> = r.message.tool_calls.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.iter().all(|id| is_our_id(id)), "{ids:?}");
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn empty_call_id_gets_a_unique_one() {
    let r = response_with(
        json!({"tool_calls": [{"id": "", "function": {"name": "f", "arguments": "{}"}}]}),
    );
    assert!(is_our_id(&r.message.tool_calls[0].id));
}

#[test]
fn numeric_call_id_becomes_text() {
    let r = response_with(
        json!({"tool_calls": [{"id": 7, "function": {"name": "f", "arguments": "{}"}}]}),
    );
    assert_eq!(r.message.tool_calls[0].id, "7");
}

#[test]
fn duplicate_ids_in_one_message_are_made_unique() {
    let r = response_with(json!({"tool_calls": [call("f", json!("{}")), call("f", json!("{}"))]}));
    assert_eq!(r.message.tool_calls[0].id, "c1");
    assert_ne!(r.message.tool_calls[1].id, "c1");
}

#[test]
fn missing_type_and_index_are_fine() {
    let r = response_with(
        json!({"tool_calls": [{"id": "x", "function": {"name": "f", "arguments": "{}"}}]}),
    );
    assert_eq!(r.message.tool_calls[0].function.name, "f");
}

#[test]
fn content_null_or_empty_beside_calls_is_none() {
    for content in [Value::Null, json!(""), json!("  \n ")] {
        let r = response_with(json!({"content": content, "tool_calls": [call("f", json!("{}"))]}));
        assert_eq!(r.message.content, None);
    }
}

#[test]
fn content_as_text_parts_is_joined() {
    let r = response_with(
        json!({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}),
    );
    assert_eq!(r.message.content.as_deref(), Some("ab"));
}

#[test]
fn unknown_fields_are_ignored() {
    let body = json!({
        "id": "x", "object": "chat.completion", "system_fingerprint": "fp", "timings": {"predicted_ms": 1.5},
        "choices": [{"index": 0, "logprobs": null, "message": {"role": "assistant", "content": "hi", "refusal": null, "annotations": []}, "finish_reason": "stop"}]
    });
    let r = parse_response(body.to_string().as_bytes()).unwrap();
    assert_eq!(r.message.content.as_deref(), Some("hi"));
}

#[test]
fn reasoning_content_is_kept_apart() {
    let r = response_with(json!({"content": "42", "reasoning_content": "think think"}));
    assert_eq!(r.message.content.as_deref(), Some("42"));
    assert_eq!(r.message.reasoning.as_deref(), Some("think think"));
    let r = response_with(json!({"content": "42", "reasoning": "via reasoning"}));
    assert_eq!(r.message.reasoning.as_deref(), Some("via reasoning"));
}

#[test]
fn think_prefix_is_reasoning_not_answer() {
    let r = response_with(json!({"content": "<think>\nlet me see\n</think>\n\nThe answer."}));
    assert_eq!(r.message.content.as_deref(), Some("The answer."));
    assert_eq!(r.message.reasoning.as_deref(), Some("let me see"));
}

#[test]
fn lone_closing_think_ends_reasoning() {
    let r = response_with(json!({"content": "pondering...</think>Done."}));
    assert_eq!(r.message.content.as_deref(), Some("Done."));
    assert_eq!(r.message.reasoning.as_deref(), Some("pondering..."));
}

#[test]
fn legacy_function_call_becomes_a_tool_call() {
    let r = response_with(
        json!({"content": null, "function_call": {"name": "f", "arguments": "{\"a\":1}"}}),
    );
    assert_eq!(r.message.tool_calls.len(), 1);
    assert_eq!(r.message.tool_calls[0].function.name, "f");
    assert_eq!(r.message.tool_calls[0].function.arguments, "{\"a\":1}");
    assert!(!r.message.tool_calls[0].id.is_empty());
}

#[test]
fn bare_json_tool_calls_object_in_content() {
    let content = r#"{"tool_calls": [{"name": "get_kubernetes_pod_logs", "arguments": {"namespace": "default", "pod_name": "p"}}]}"#;
    let r = response_with(json!({"content": content}));
    assert_eq!(r.message.tool_calls.len(), 1);
    assert_eq!(
        r.message.tool_calls[0].function.name,
        "get_kubernetes_pod_logs"
    );
    let args: Value = serde_json::from_str(&r.message.tool_calls[0].function.arguments).unwrap();
    assert_eq!(args["pod_name"], "p");
    assert_eq!(r.message.content, None);
}

#[test]
fn openai_shaped_tool_calls_in_fenced_content() {
    let content = "```json\n{\"tool_calls\": [{\"id\": \"a\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{}\"}}]}\n```";
    let r = response_with(json!({"content": content}));
    assert_eq!(r.message.tool_calls[0].id, "a");
    assert_eq!(r.message.tool_calls[0].function.name, "f");
}

#[test]
fn hermes_tool_call_blocks_in_content() {
    let content = "I will check.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n</tool_call>\n<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>";
    let r = response_with(json!({"content": content}));
    let names: Vec<&str> = r
        .message
        .tool_calls
        .iter()
        .map(|c| c.function.name.as_str())
        .collect();
    assert_eq!(names, ["f", "g"]);
    assert_eq!(r.message.content.as_deref(), Some("I will check."));
    assert_ne!(r.message.tool_calls[0].id, r.message.tool_calls[1].id);
}

#[test]
fn think_then_hermes_block() {
    let content =
        "<think>need logs</think>\n<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
    let r = response_with(json!({"content": content}));
    assert_eq!(r.message.tool_calls[0].function.name, "f");
    assert_eq!(r.message.reasoning.as_deref(), Some("need logs"));
    assert_eq!(r.message.content, None);
}

#[test]
fn json_answer_without_tool_calls_stays_text() {
    let r = response_with(json!({"content": "{\"status\": \"ok\"}"}));
    assert!(r.message.tool_calls.is_empty());
    assert_eq!(r.message.content.as_deref(), Some("{\"status\": \"ok\"}"));
}

#[test]
fn finish_reason_any_string_is_kept() {
    for (sent, kept) in [
        (json!("stop"), Some("stop")),
        (json!(""), Some("")),
        (json!("eos_token"), Some("eos_token")),
        (json!("something_new"), Some("something_new")),
        (Value::Null, None),
    ] {
        let body = json!({"choices": [{"message": {"content": "x"}, "finish_reason": sent}]});
        let r = parse_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(r.finish_reason.as_deref(), kept);
    }
    let body = json!({"choices": [{"message": {"content": "x"}}]});
    assert_eq!(
        parse_response(body.to_string().as_bytes())
            .unwrap()
            .finish_reason,
        None
    );
}

#[test]
fn empty_tool_calls_array_on_an_answer() {
    let body = json!({"choices": [{"message": {"content": "done", "tool_calls": []}, "finish_reason": "stop"}]});
    let r = parse_response(body.to_string().as_bytes()).unwrap();
    assert!(r.message.tool_calls.is_empty());
    assert_eq!(r.message.content.as_deref(), Some("done"));
}

#[test]
fn same_tool_twice_in_one_message() {
    let r = response_with(json!({"tool_calls": [
        {"id": "a", "function": {"name": "f", "arguments": "{\"n\":1}"}},
        {"id": "b", "function": {"name": "f", "arguments": "{\"n\":2}"}}
    ]}));
    assert_eq!(r.message.tool_calls.len(), 2);
    assert_eq!(r.message.tool_calls[1].function.arguments, "{\"n\":2}");
}

#[test]
fn usage_is_read_and_tolerates_gaps() {
    let body = json!({"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 5, "completion_tokens": 2}});
    let r = parse_response(body.to_string().as_bytes()).unwrap();
    assert_eq!(r.usage, Some(Usage::new(5, 2, 0)));
}

#[test]
fn leaked_end_tokens_are_removed() {
    let r = response_with(json!({"content": "Raise the limit.<|im_end|>\n"}));
    assert_eq!(r.message.content.as_deref(), Some("Raise the limit."));
    let r = response_with(json!({"content": "Done.</s><|eot_id|>"}));
    assert_eq!(r.message.content.as_deref(), Some("Done."));
    let r = response_with(json!({"content": "keep trailing space "}));
    assert_eq!(r.message.content.as_deref(), Some("keep trailing space "));
}

#[test]
fn error_object_in_a_200_is_an_api_error() {
    let body = br#"{"error": {"message": "Provider returned error", "code": 502}, "user_id": "u"}"#;
    let err = parse_response(body).unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (api.status, api.message.as_str()),
        (502, "Provider returned error")
    );
}

#[test]
fn no_choices_is_an_invalid_response() {
    let err = parse_response(br#"{"object": "chat.completion", "choices": []}"#).unwrap_err();
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err}");
    let err = parse_response(b"not json").unwrap_err();
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err}");
}

#[test]
fn error_body_openai_shape() {
    let e = api_error(429, br#"{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}"#);
    assert_eq!(e.message, "You exceeded your current quota");
    assert_eq!(e.code.as_deref(), Some("insufficient_quota"));
    assert_eq!(e.kind.as_deref(), Some("insufficient_quota"));
}

#[test]
fn error_body_error_string() {
    assert_eq!(
        api_error(404, br#"{"error": "model 'x' not found"}"#).message,
        "model 'x' not found"
    );
}

#[test]
fn error_body_detail() {
    assert_eq!(
        api_error(400, br#"{"detail": "Invalid request"}"#).message,
        "Invalid request"
    );
    let fastapi = br#"{"detail": [{"loc": ["body", "messages"], "msg": "field required", "type": "missing"}]}"#;
    assert_eq!(api_error(422, fastapi).message, "field required");
}

#[test]
fn error_body_message() {
    assert_eq!(
        api_error(400, br#"{"message": "bad things", "code": 400}"#).message,
        "bad things"
    );
}

#[test]
fn error_body_plain_text() {
    assert_eq!(api_error(503, b"Loading model\n").message, "Loading model");
    assert_eq!(api_error(502, b"").message, "bad gateway");
}

#[test]
fn error_body_html_proxy_page() {
    let html = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
    assert_eq!(api_error(502, html).message, "502 Bad Gateway");
}

#[test]
fn streamed_body_is_put_back_together() {
    let body = include_str!("../../../tests/fixtures/llm/stream_tool_call.sse");
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(r.message.tool_calls.len(), 1);
    let call = &r.message.tool_calls[0];
    assert_eq!(call.id, "call_S7tR3aM1nG9tO0oLcA2lL4iD6xYz8q");
    assert_eq!(call.function.name, "run_postgres_query");
    let args: Value = serde_json::from_str(&call.function.arguments).unwrap();
    assert!(
        args["sql_query"]
            .as_str()
            .unwrap()
            .starts_with("SELECT pod, container, restarts")
    );
    assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(r.message.content, None);
}

#[test]
fn streamed_text_answer_with_think() {
    let body = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"<think>hm\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"</think>Raise \"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"the limit.\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\n",
        "data: [DONE]\n\n"
    );
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(r.message.content.as_deref(), Some("Raise the limit."));
    assert_eq!(r.message.reasoning.as_deref(), Some("hm"));
    assert_eq!(r.usage, Some(Usage::new(3, 4, 7)));
}

#[test]
fn mistral_tool_calls_marker_in_content() {
    let r = response_with(
        json!({"content": "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": 1}}, {\"name\": \"g\", \"arguments\": {}}]"}),
    );
    let names: Vec<&str> = r
        .message
        .tool_calls
        .iter()
        .map(|c| c.function.name.as_str())
        .collect();
    assert_eq!(names, ["f", "g"]);
    assert_eq!(r.message.content, None);
}

#[test]
fn llama_python_tag_and_bare_call_object() {
    let r = response_with(
        json!({"content": "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"q\": \"x\"}}"}),
    );
    assert_eq!(r.message.tool_calls[0].function.name, "f");
    assert_eq!(r.message.tool_calls[0].function.arguments, r#"{"q":"x"}"#);
    let r = response_with(
        json!({"content": "{\"type\": \"function\", \"name\": \"g\", \"parameters\": {}}"}),
    );
    assert_eq!(r.message.tool_calls[0].function.name, "g");
}

#[test]
fn json_answers_that_only_resemble_calls_stay_text() {
    for answer in [
        r#"{"name": "istio-proxy", "status": "OOMKilled"}"#,
        r#"[{"name": "a", "restarts": 3}]"#,
        r#"{"name": "x", "arguments": 3}"#,
    ] {
        let r = response_with(json!({"content": answer}));
        assert!(r.message.tool_calls.is_empty(), "{answer}");
        assert_eq!(r.message.content.as_deref(), Some(answer));
    }
}
