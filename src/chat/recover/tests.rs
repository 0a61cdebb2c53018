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

// ---- streams: framing, assembly, and the same result as a whole body ----

use std::collections::VecDeque;

use super::stream::{Assembler, Frame, SseDecoder};
use crate::chat::StreamEvent;
use crate::error::Truncation;

/// Feeds `body` to a decoder in pieces of `width` bytes and assembles it live.
fn assemble_in_pieces(body: &[u8], width: usize) -> (Vec<StreamEvent>, Result<ChatResponse>) {
    let mut decoder = SseDecoder::default();
    let mut assembler = Assembler::live();
    let mut events = VecDeque::new();
    let mut result = Ok(());
    for piece in body.chunks(width.max(1)) {
        result = decoder.feed(piece, &mut |f| assembler.frame(f, &mut events));
        if result.is_err() {
            break;
        }
    }
    let response = result
        .and_then(|()| decoder.end(&mut |f| assembler.frame(f, &mut events)))
        .and_then(|()| assembler.finish(&mut events));
    (events.into_iter().collect(), response)
}

fn frames(body: &[u8], width: usize) -> Vec<String> {
    let mut decoder = SseDecoder::default();
    let mut out = Vec::new();
    let mut sink = |f: Frame<'_>| {
        out.push(match f {
            Frame::Data(d) => format!("data {}", String::from_utf8_lossy(d)),
            Frame::Error(e) => format!("error {e}"),
        });
        Ok(())
    };
    for piece in body.chunks(width) {
        decoder.feed(piece, &mut sink).unwrap();
    }
    decoder.end(&mut sink).unwrap();
    out
}

#[test]
fn decoder_reads_every_framing_at_every_split() {
    let body = b": keep-alive\r\ndata:{\"a\":1}\r\n\r\n:\n\ndata: {\"b\":\n\xe2\x9c\x93\nid: 7\nretry: 100\n\nevent: error\ndata: {\"error\":\"x\"}\n\nerror: {\"e\":2}\n\n{\"bare\":true}\n\ndata: [DONE]";
    let expected = [
        "data {\"a\":1}",
        "data {\"b\":",
        "error {\"error\":\"x\"}",
        "error {\"e\":2}",
        "data {\"bare\":true}",
        "data [DONE]",
    ];
    // The second event is `{"b":` then a bare `✓` line, which is no field: only the data line counts.
    for width in 1..=body.len() {
        assert_eq!(frames(body, width), expected, "width {width}");
    }
}

#[test]
fn fixture_stream_gives_the_same_response_at_every_split() {
    let body = include_bytes!("../../../tests/fixtures/llm/stream_tool_call.sse");
    let whole = parse_response(body).unwrap();
    for width in [1, 2, 3, 7, 64, 333, body.len()] {
        let (events, response) = assemble_in_pieces(body, width);
        let response = response.unwrap();
        assert_eq!(response, whole, "width {width}");
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Done(Box::new(whole.clone())))
        );
    }
}

#[test]
fn reasoning_and_reasoning_content_together_are_read_once() {
    let r =
        response_with(json!({"content": "42", "reasoning": "same", "reasoning_content": "same"}));
    assert_eq!(r.message.reasoning.as_deref(), Some("same"));
    let body = concat!(
        "data: {\"choices\":[{\"delta\":{\"reasoning\":\"a\",\"reasoning_content\":\"a\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"reasoning\":\"b\",\"reasoning_content\":\"b\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n\n",
    );
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(r.message.reasoning.as_deref(), Some("ab"));
    assert_eq!(r.message.content.as_deref(), Some("x"));
}

#[test]
fn an_answer_only_in_reasoning_is_the_answer_marked_so() {
    for message in [
        json!({"content": null, "reasoning_content": "the answer"}),
        json!({"content": "", "reasoning": "the answer", "reasoning_content": "the answer"}),
        json!({"content": "<think>the answer</think>"}),
    ] {
        let r = response_with(message.clone());
        assert_eq!(
            r.message.content.as_deref(),
            Some("the answer"),
            "{message}"
        );
        assert!(r.answer_from_reasoning, "{message}");
        assert_eq!(r.message.reasoning, None);
    }
    let r = response_with(json!({"content": "real", "reasoning": "thoughts"}));
    assert!(!r.answer_from_reasoning);
}

fn chunk(delta: Value) -> String {
    format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": delta}]})
    )
}

fn stream_of(deltas: &[Value], finish: &str) -> String {
    let mut body: String = deltas.iter().cloned().map(chunk).collect();
    body.push_str(&format!(
        "data: {}\n\ndata: [DONE]\n\n",
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    ));
    body
}

fn names_and_args(r: &ChatResponse) -> Vec<(String, String, String)> {
    r.message
        .tool_calls
        .iter()
        .map(|c| {
            (
                c.id.clone(),
                c.function.name.clone(),
                c.function.arguments.clone(),
            )
        })
        .collect()
}

#[test]
fn calls_all_at_index_0_with_their_own_ids_are_separate() {
    let body = stream_of(
        &[
            json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\""}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
            json!({"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}),
            json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{\"x\": 2}"}}]}),
        ],
        "tool_calls",
    );
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(
        names_and_args(&r),
        [
            ("a".into(), "f".into(), "{\"x\": 1}".into()),
            ("b".into(), "g".into(), "{}".into()),
            ("c".into(), "f".into(), "{\"x\": 2}".into())
        ]
    );
}

#[test]
fn fragments_without_index_follow_their_id() {
    let body = stream_of(
        &[
            json!({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": ""}}]}),
            json!({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": ""}}]}),
            json!({"tool_calls": [{"id": "a", "function": {"arguments": "{\"n\":"}}]}),
            json!({"tool_calls": [{"id": "b", "function": {"arguments": "{}"}}]}),
            json!({"tool_calls": [{"id": "a", "function": {"arguments": "1}"}}]}),
        ],
        "tool_calls",
    );
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(
        names_and_args(&r),
        [
            ("a".into(), "f".into(), "{\"n\":1}".into()),
            ("b".into(), "g".into(), "{}".into())
        ]
    );
}

#[test]
fn id_arriving_late_joins_its_call_and_a_whole_call_is_not_reopened() {
    // The id comes on the second fragment of the same call: one call.
    let body = stream_of(
        &[
            json!({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{\"a\""}}]}),
            json!({"tool_calls": [{"index": 0, "id": "late", "function": {"arguments": ": 1}"}}]}),
        ],
        "tool_calls",
    );
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(
        names_and_args(&r),
        [("late".into(), "f".into(), "{\"a\": 1}".into())]
    );
    // Whole calls with no id or index, one a chunk: separate calls.
    let body = stream_of(
        &[
            json!({"tool_calls": [{"function": {"name": "f", "arguments": "{\"n\": 1}"}}]}),
            json!({"tool_calls": [{"function": {"name": "f", "arguments": "{\"n\": 2}"}}]}),
        ],
        "tool_calls",
    );
    let r = parse_response(body.as_bytes()).unwrap();
    let args: Vec<_> = names_and_args(&r).into_iter().map(|c| c.2).collect();
    assert_eq!(args, ["{\"n\": 1}", "{\"n\": 2}"]);
}

#[test]
fn flattened_and_legacy_calls_are_read_in_a_stream_too() {
    let body = stream_of(
        &[json!({"tool_calls": [{"index": 0, "id": "x", "name": "f", "arguments": {"a": 1}}]})],
        "tool_calls",
    );
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(
        names_and_args(&r),
        [("x".into(), "f".into(), "{\"a\":1}".into())]
    );
    let body = stream_of(
        &[
            json!({"function_call": {"name": "f", "arguments": ""}}),
            json!({"function_call": {"arguments": "{\"a\":"}}),
            json!({"function_call": {"arguments": "1}"}}),
        ],
        "function_call",
    );
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(r.message.tool_calls[0].function.name, "f");
    assert_eq!(r.message.tool_calls[0].function.arguments, "{\"a\":1}");
}

#[test]
fn tool_name_slips_are_normalised() {
    let r = response_with(json!({"tool_calls": [
        {"id": "1", "function": {"name": "functions.get_logs", "arguments": "{}"}},
        {"id": "2", "function": {"name": "  get_logs ", "arguments": "{}"}},
        {"id": "3", "function": {"name": "get_logs<|channel|>commentary", "arguments": "{}"}}
    ]}));
    let names: Vec<&str> = r
        .message
        .tool_calls
        .iter()
        .map(|c| c.function.name.as_str())
        .collect();
    assert_eq!(names, ["get_logs", "get_logs", "get_logs"]);
    let r = response_with(
        json!({"content": "<tool_call>{\"name\": \"functions.f\", \"arguments\": {}}</tool_call>"}),
    );
    assert_eq!(r.message.tool_calls[0].function.name, "f");
}

#[test]
fn a_call_without_a_name_is_dropped() {
    let r = response_with(json!({"content": "The answer.", "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "", "arguments": ""}}
    ]}));
    assert!(r.message.tool_calls.is_empty());
    assert_eq!(r.message.content.as_deref(), Some("The answer."));
    let r = response_with(json!({"tool_calls": [
        {"id": "1", "function": {"arguments": "{}"}},
        {"id": "2", "function": {"name": "g", "arguments": "{}"}}
    ]}));
    assert_eq!(names_and_args(&r), [("2".into(), "g".into(), "{}".into())]);
}

#[test]
fn broken_tool_call_block_is_kept_for_the_model_and_the_good_ones_run() {
    let content = "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>\n<tool_call>{\"name\": \"g\", \"arguments\": {\"b\": }</tool_call><tool_call>{\"name\": \"h\", \"arguments\": {}}</tool_call>";
    let r = response_with(json!({"content": content}));
    let calls = names_and_args(&r);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        (calls[0].1.as_str(), calls[0].2.as_str()),
        ("f", "{\"a\":1}")
    );
    assert_eq!(calls[1].1, "g");
    assert!(
        serde_json::from_str::<Value>(&calls[1].2).is_err(),
        "{}",
        calls[1].2
    );
    assert_eq!(calls[2].1, "h");
    assert_eq!(r.message.content, None);
}

#[test]
fn empty_arguments_are_an_empty_object_on_both_paths() {
    let r = response_with(json!({"tool_calls": [call("f", json!(""))]}));
    assert_eq!(r.message.tool_calls[0].function.arguments, "{}");
    let body = stream_of(
        &[
            json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}]}),
        ],
        "tool_calls",
    );
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(r.message.tool_calls[0].function.arguments, "{}");
}

#[test]
fn ids_we_make_are_nine_alphanumerics_and_never_repeat() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..100_000 {
        let id = content::new_call_id();
        assert!(is_our_id(&id), "{id}");
        assert!(seen.insert(id));
    }
}

#[test]
fn huge_token_counts_never_overflow() {
    let body = json!({"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 1e300, "completion_tokens": u64::MAX, "total_tokens": "18446744073709551615"}});
    let r = parse_response(body.to_string().as_bytes()).unwrap();
    let u = r.usage.unwrap();
    assert_eq!(u, Usage::new(u64::MAX, u64::MAX, u64::MAX));
    let mut sum = u;
    sum += u;
    assert_eq!(
        sum + Usage::new(1, 1, 1),
        Usage::new(u64::MAX, u64::MAX, u64::MAX)
    );
}

#[test]
fn errors_inside_a_200_in_every_shape() {
    let cases: [(&[u8], u16, &str); 5] = [
        (b"data: {\"choices\":[{\"delta\":{\"content\":\"part\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\",\"code\":503}}\n\n", 503, "boom"),
        (b"data: {\"choices\":[{\"delta\":{\"content\":\"part\"}}]}\n\ndata: {\"object\":\"error\",\"message\":\"too long\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}\n\n", 400, "too long"),
        (b"data: {\"choices\":[{\"delta\":{\"content\":\"part\"}}]}\n\nerror: {\"error\":{\"code\":500,\"message\":\"kv full\",\"type\":\"server_error\"}}\n\n", 500, "kv full"),
        (b"event: error\ndata: {\"message\":\"overloaded\"}\n\n", 200, "overloaded"),
        (b"{\"object\":\"error\",\"message\":\"no such model\",\"type\":\"NotFoundError\",\"param\":null,\"code\":404}", 404, "no such model"),
    ];
    for (body, status, words) in cases {
        let err = parse_response(body).unwrap_err();
        let Error::Api(api) = &err else {
            panic!("{}: {err:?}", String::from_utf8_lossy(body))
        };
        assert_eq!((api.status, api.message.as_str()), (status, words));
    }
}

#[test]
fn a_cut_stream_is_an_error_whatever_arrived() {
    let text = "data: {\"choices\":[{\"delta\":{\"content\":\"The pod was\"}}]}\n\n";
    let err = parse_response(text.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, Error::Truncated { by: Truncation::StreamEnded, partial } if partial.message.content.as_deref() == Some("The pod was")),
        "{err:?}"
    );
    let calls = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\"}}]}}]}\n\n";
    let err = parse_response(calls.as_bytes()).unwrap_err();
    let partial = err.partial().unwrap();
    assert_eq!(partial.message.tool_calls[0].function.name, "f");
    // A finish_reason without [DONE], or [DONE] without a finish_reason, is complete.
    let finished =
        "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\n";
    assert!(parse_response(finished.as_bytes()).is_ok());
    let done = "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: [DONE]";
    assert!(parse_response(done.as_bytes()).is_ok());
}

#[test]
fn token_limit_beside_calls_is_an_error_and_beside_text_a_mark() {
    let body = json!({"choices": [{"message": {"tool_calls": [call("f", json!("{\"a\": \"cut"))]}, "finish_reason": "length"}]});
    let err = parse_response(body.to_string().as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated {
                by: Truncation::TokenLimit,
                ..
            }
        ),
        "{err:?}"
    );
    let body =
        json!({"choices": [{"message": {"content": "Raise the"}, "finish_reason": "length"}]});
    let r = parse_response(body.to_string().as_bytes()).unwrap();
    assert!(r.truncated);
    assert_eq!(r.message.content.as_deref(), Some("Raise the"));
    let body = json!({"choices": [{"message": {"content": "Done."}, "finish_reason": "stop"}]});
    assert!(
        !parse_response(body.to_string().as_bytes())
            .unwrap()
            .truncated
    );
}

#[test]
fn live_text_holds_back_think_calls_and_end_tokens() {
    let body = stream_of(
        &[
            json!({"content": "<thi"}),
            json!({"content": "nk>weighing</th"}),
            json!({"content": "ink>\n\nRaise "}),
            json!({"content": "the limit.<|im"}),
            json!({"content": "_end|>"}),
        ],
        "stop",
    );
    let (events, response) = assemble_in_pieces(body.as_bytes(), 5);
    let response = response.unwrap();
    assert_eq!(
        response.message.content.as_deref(),
        Some("Raise the limit.")
    );
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let reasoning: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Reasoning(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Raise the limit.");
    assert_eq!(reasoning, "weighing");
    // A call left in the text is never shown as text.
    let body = stream_of(
        &[
            json!({"content": "<tool_"}),
            json!({"content": "call>{\"name\": \"f\", \"arguments\": {}}</tool_call>"}),
        ],
        "stop",
    );
    let (events, response) = assemble_in_pieces(body.as_bytes(), 1000);
    assert_eq!(response.unwrap().message.tool_calls[0].function.name, "f");
    assert!(
        !events.iter().any(|e| matches!(e, StreamEvent::Text(_))),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::ToolCall(c) if c.function.name == "f"))
    );
}

#[test]
fn several_data_lines_without_blank_lines_are_several_chunks() {
    let body = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\ndata: [DONE]\n";
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(r.message.content.as_deref(), Some("ab"));
}

#[test]
fn an_empty_finish_reason_on_every_chunk_does_not_end_the_answer() {
    let cut =
        "data: {\"choices\":[{\"delta\":{\"content\":\"The pod\"},\"finish_reason\":\"\"}]}\n\n";
    let err = parse_response(cut.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated {
                by: Truncation::StreamEnded,
                ..
            }
        ),
        "{err:?}"
    );
    let done = format!("{cut}data: [DONE]\n\n");
    let r = parse_response(done.as_bytes()).unwrap();
    assert_eq!(r.finish_reason.as_deref(), Some(""));
    assert_eq!(r.message.content.as_deref(), Some("The pod"));
}

/// Bodies a real llama-cpp-python server (`python -m llama_cpp.server`, chat format
/// `chatml-function-calling`, SmolLM2-135M-Instruct) sent, recorded under `tests/fixtures/live/`.
mod live {
    use super::*;

    const NAMED: &str = include_str!("../../../tests/fixtures/live/python-named-choice.json");
    const NAMED_STREAM: &str =
        include_str!("../../../tests/fixtures/live/python-named-choice-stream.txt");

    #[test]
    fn a_call_beside_its_legacy_function_call_copy_is_one_call() {
        for body in [NAMED, NAMED_STREAM] {
            let r = parse_response(body.as_bytes()).unwrap();
            assert_eq!(r.message.tool_calls.len(), 1, "{body}");
            let call = &r.message.tool_calls[0];
            assert_eq!(call.function.name, "get_kubernetes_pod_logs");
            assert!(call.id.starts_with("call__0_get_kubernetes_pod_logs_cmpl-"));
            let args: Value = serde_json::from_str(&call.function.arguments).unwrap();
            assert_eq!(args["namespace"], "default_namespace");
            assert_eq!(r.message.content, None);
            assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
        }
    }

    #[test]
    fn the_streamed_call_equals_the_whole_one() {
        let whole = parse_response(NAMED.as_bytes()).unwrap();
        let streamed = parse_response(NAMED_STREAM.as_bytes()).unwrap();
        assert_eq!(
            streamed.message.tool_calls[0].function,
            whole.message.tool_calls[0].function
        );
        for width in [1, 5, 64, NAMED_STREAM.len()] {
            let (_, response) = assemble_in_pieces(NAMED_STREAM.as_bytes(), width);
            assert_eq!(response.unwrap(), streamed, "width {width}");
        }
    }
}

#[test]
fn live_required_choice_500_with_an_empty_message_says_what_happened() {
    let body = include_bytes!("../../../tests/fixtures/live/python-required-500.json");
    let e = error_body::api_error(500, body);
    assert_eq!(e.status, 500);
    assert_eq!(e.kind.as_deref(), Some("internal_server_error"));
    assert!(!e.message.is_empty());
}

/// Bodies llama.cpp's `llama-server --jinja` (SmolLM2-135M-Instruct) sent for the first request
/// of the istio-proxy troubleshooting conversation with `max_tokens: 32`: a text answer cut at
/// the limit, whole and streamed, with `timings` and `prompt_tokens_details` beside the usage.
mod live_llama_server {
    use super::*;

    const WHOLE: &str =
        include_str!("../../../tests/fixtures/live/llama-server-seed-request-1.json");
    const STREAM: &str =
        include_str!("../../../tests/fixtures/live/llama-server-seed-request-1-stream.txt");

    #[test]
    fn a_text_answer_cut_at_the_limit_is_marked_and_the_usage_read() {
        for body in [WHOLE, STREAM] {
            let r = parse_response(body.as_bytes()).unwrap();
            assert!(r.message.tool_calls.is_empty());
            let text = r.message.content.as_deref().unwrap();
            assert!(text.starts_with("To troubleshoot"), "{text}");
            assert_eq!(r.finish_reason.as_deref(), Some("length"));
            assert!(r.truncated);
            let usage = r.usage.unwrap();
            assert_eq!((usage.prompt_tokens, usage.completion_tokens), (79, 32));
        }
    }

    #[test]
    fn the_stream_gives_the_whole_answer_at_every_split() {
        let whole = parse_response(WHOLE.as_bytes()).unwrap();
        for width in [1, 3, 100, STREAM.len()] {
            let (events, response) = assemble_in_pieces(STREAM.as_bytes(), width);
            let response = response.unwrap();
            assert_eq!(
                response.message.content, whole.message.content,
                "width {width}"
            );
            let shown: String = events
                .iter()
                .filter_map(|e| match e {
                    StreamEvent::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(Some(shown.as_str()), response.message.content.as_deref());
        }
    }
}

#[test]
fn argument_fragments_are_a_strings_contents_or_other_jsons_text() {
    use super::content::push_arguments;
    use super::raw::RawJson;
    let read = |raw: &str| {
        let mut out = String::from(">");
        push_arguments(&mut out, Some(RawJson(raw)));
        out
    };
    assert_eq!(read(r#""{\"pod\":""#), r#">{"pod":"#);
    assert_eq!(read(r#""plain""#), ">plain");
    assert_eq!(read(r#""""#), ">");
    assert_eq!(read(r#" "\u00e9\n" "#), ">é\n");
    assert_eq!(read(r#"{"a": [1, 2]}"#), r#">{"a": [1, 2]}"#);
    assert_eq!(read("null"), ">");
    assert_eq!(read(r#"""#), ">", "not JSON: nothing added, no panic");
}

/// Every fixture file of `tests/fixtures/{llm,live,seed}`: its name and text, in order.
pub(super) fn fixture_files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in [
        "tests/fixtures/llm",
        "tests/fixtures/live",
        "tests/fixtures/seed",
    ] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    out
}

/// A small deterministic random source (xorshift) for the edit tests.
pub(super) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// Every event stream the fixtures hold, as bodies.
fn fixture_streams() -> Vec<(String, String)> {
    fixture_files()
        .into_iter()
        .filter(|(name, text)| {
            name.ends_with(".sse") || (name.ends_with(".txt") && text.contains("data:"))
        })
        .collect()
}

/// A body folded live, with or without the template; ids the reader made are blanked.
fn fold(body: &str, template: bool) -> (String, usize) {
    let mut decoder = SseDecoder::default();
    let mut assembler = Assembler::live();
    assembler.no_template = !template;
    let mut events = VecDeque::new();
    let result = decoder
        .feed(body.as_bytes(), &mut |f| assembler.frame(f, &mut events))
        .and_then(|()| decoder.end(&mut |f| assembler.frame(f, &mut events)));
    let hits = assembler.hits;
    let response = result.and_then(|()| assembler.finish(&mut events));
    let blank = |r: &mut ChatResponse| {
        for c in &mut r.message.tool_calls {
            if is_our_id(&c.id) {
                c.id.clear();
            }
        }
    };
    let events: Vec<StreamEvent> = events
        .into_iter()
        .map(|e| match e {
            StreamEvent::ToolCall(mut c) => {
                if is_our_id(&c.id) {
                    c.id.clear();
                }
                StreamEvent::ToolCall(c)
            }
            StreamEvent::Done(mut r) => {
                blank(&mut r);
                StreamEvent::Done(r)
            }
            other => other,
        })
        .collect();
    let response = response.map(|mut r| {
        blank(&mut r);
        r
    });
    (format!("{events:?}\n{response:?}"), hits)
}

#[test]
fn chunks_read_through_the_template_give_what_a_full_read_gives() {
    let streams = fixture_streams();
    assert!(streams.len() >= 10, "{} streams", streams.len());
    let mut hits = 0;
    for (name, body) in &streams {
        let (quick, n) = fold(body, true);
        assert_eq!(quick, fold(body, false).0, "{name}");
        hits += n;
    }
    // Most chunks of a stream repeat the one before but for their piece.
    assert!(hits > 60, "{hits} chunks read through the template");
}

#[test]
fn edited_chunks_read_through_the_template_as_a_full_read_reads_them() {
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let edits = [
        "\"",
        "\\",
        "\\n",
        "\\\"",
        "\\u00e9",
        "\\ud800",
        "\\x",
        "\u{1}",
        "x",
        "\u{e9}",
        ",\"content\":\"y\"",
        "\"a\":1,",
        "}",
        "{",
        " ",
        "null",
        "0",
    ];
    let streams = fixture_streams();
    let (mut cases, mut hits) = (0, 0);
    for round in 0..40 {
        for (name, body) in &streams {
            let lines: Vec<&str> = body.split_inclusive('\n').collect();
            let mut edited = String::new();
            for line in &lines {
                let mut line = (*line).to_owned();
                if line.starts_with("data:") && next().is_multiple_of(3) {
                    let edit = edits[(next() % edits.len() as u64) as usize];
                    // Mostly inside the piece: near the end of the line's first string after `":"`.
                    let at = match line.rfind("\":\"") {
                        Some(at) if !next().is_multiple_of(4) => at + 3 + (next() % 4) as usize,
                        _ => (next() % line.len() as u64) as usize,
                    };
                    let at = (0..=at.min(line.len()))
                        .rev()
                        .find(|i| line.is_char_boundary(*i))
                        .unwrap();
                    if edit.len() == 1
                        && at < line.len()
                        && line.is_char_boundary(at + 1)
                        && next().is_multiple_of(2)
                    {
                        line.replace_range(at..=at, edit); // same length: the positions still line up
                    } else {
                        line.insert_str(at, edit);
                    }
                }
                edited.push_str(&line);
            }
            let (quick, n) = fold(&edited, true);
            assert_eq!(
                quick,
                fold(&edited, false).0,
                "{name}, round {round}:\n{edited}"
            );
            cases += 1;
            hits += n;
        }
    }
    assert!(
        cases > 400 && hits > 200,
        "{cases} streams, {hits} template reads"
    );
}

#[test]
fn reasoning_sent_under_both_names_is_read_through_the_template_only_when_both_agree() {
    let chunk = |a: &str, b: &str| {
        format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"reasoning\":\"{a}\",\"reasoning_content\":\"{b}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        )
    };
    let body = [
        chunk("The pod ", "The pod "),
        chunk("was ", "was "),
        chunk("OOM", "oom"), // the copies differ: read in full
        chunk("-killed", "-killed"),
        chunk("", ""),
        chunk("\\n", "\\n"),
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Raise the limit.\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (quick, hits) = fold(&body, true);
    assert_eq!(quick, fold(&body, false).0);
    assert_eq!(
        hits, 3,
        "every agreeing chunk that follows one read in full"
    );
    assert!(quick.contains("The pod was oom-killed\\n"), "{quick}");
}

#[test]
fn generated_streams_read_the_same_through_the_template() {
    let mut next = xorshift(0x6a09_e667_f3bc_c908);
    // Pieces as they appear inside a JSON string, escapes included.
    let pieces = [
        "The pod",
        " was",
        " OOM",
        "-killed",
        "\\n",
        "\\\"",
        "\\\\",
        "\\u00e9",
        "\\ud83d\\ude00",
        "é",
        "😀",
        "<",
        "[",
        "{",
        "}",
        "\\t",
        "",
        " ",
        "\\/",
        "1Gi",
        "</think>",
        "<think>",
    ];
    let arg_pieces = [
        "{\\\"",
        "namespace",
        "\\\": \\\"",
        "prod",
        "\\\", \\\"pod_name",
        "\\\": \\\"web-1",
        "\\\"}",
        "\\u0041",
        "",
        " ",
    ];
    // How each server wraps a delta: before it and after it.
    let styles: [(&str, &str); 5] = [
        (
            "{\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":",
            "}],\"created\":1764001200,\"id\":\"chatcmpl-a\",\"model\":\"qwen3-4b\",\"system_fingerprint\":\"b1\",\"object\":\"chat.completion.chunk\"}",
        ),
        (
            "{\"id\":\"chatcmpl-b\",\"object\":\"chat.completion.chunk\",\"created\":1764001200,\"model\":\"Qwen/Qwen3-8B\",\"choices\":[{\"index\":0,\"delta\":",
            ",\"logprobs\":null,\"finish_reason\":null}]}",
        ),
        (
            "{\"id\":\"chatcmpl-c\",\"object\":\"chat.completion.chunk\",\"created\":1764001200,\"model\":\"llama3.2\",\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,\"delta\":",
            ",\"finish_reason\":null}]}",
        ),
        (
            "{ \"id\": \"x\", \"choices\": [ { \"index\": 0, \"delta\": ",
            " } ] }",
        ),
        (
            "{\"id\":\"chatcmpl-d\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":",
            ",\"finish_reason\":null}],\"obfuscation\":\"OBF\"}",
        ),
    ];
    let mut hits = 0;
    for round in 0..300 {
        let (before, after) = styles[round % styles.len()];
        let pick = |next: &mut dyn FnMut() -> u64, from: &[&str]| {
            let mut s = String::new();
            for _ in 0..=(next() % 3) {
                s.push_str(from[(next() % from.len() as u64) as usize]);
            }
            s
        };
        let mut body = String::new();
        let mut event = |delta: String, next: &mut dyn FnMut() -> u64| {
            let after = after.replace("OBF", &format!("{:x}", next() % 4096));
            body.push_str(&format!("data: {before}{delta}{after}\n\n"));
        };
        event(
            "{\"role\":\"assistant\",\"content\":\"\"}".into(),
            &mut next,
        );
        for _ in 0..(next() % 12) {
            let text = pick(&mut next, &pieces);
            let delta = match next() % 4 {
                0 => format!("{{\"reasoning_content\":\"{text}\"}}"),
                1 => format!("{{\"reasoning\":\"{text}\",\"reasoning_content\":\"{text}\"}}"),
                _ => format!("{{\"content\":\"{text}\"}}"),
            };
            event(delta, &mut next);
        }
        for call in 0..(next() % 3) {
            event(
                format!(
                    "{{\"tool_calls\":[{{\"index\":{call},\"id\":\"call_{call}\",\"type\":\"function\",\"function\":{{\"name\":\"get_kubernetes_pod_logs\",\"arguments\":\"\"}}}}]}}"
                ),
                &mut next,
            );
            for _ in 0..(next() % 8) {
                let args = pick(&mut next, &arg_pieces);
                event(
                    format!(
                        "{{\"tool_calls\":[{{\"index\":{call},\"function\":{{\"arguments\":\"{args}\"}}}}]}}"
                    ),
                    &mut next,
                );
            }
        }
        body.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
        let (quick, n) = fold(&body, true);
        assert_eq!(quick, fold(&body, false).0, "round {round}:\n{body}");
        hits += n;
    }
    assert!(hits > 500, "{hits} chunks read through the template");
}
