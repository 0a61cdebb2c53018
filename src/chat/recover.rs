//! Tolerant reading of what servers send: every leniency rule in one place.
//!
//! Real OpenAI-compatible servers (llama.cpp, vLLM, Ollama, LM Studio, OpenAI
//! itself, and proxies in front of them) disagree in small ways. The crate
//! *sends* one strict shape and *reads* all of these:
//!
//! | rule | what servers send | what we make of it |
//! |---|---|---|
//! | arguments | a JSON string, an object, `null`, missing | the JSON text (objects re-serialized, `null` → `{}`) |
//! | call id | missing, `""`, a number, a duplicate in one message | a unique id (`call_…`), or the number as text |
//! | call type | missing | `function` |
//! | index | present or missing | ignored |
//! | content | `null`, `""`, whitespace beside calls, an array of text parts | `None` when empty; parts joined |
//! | reasoning | `reasoning_content` / `reasoning`, or a `<think>…</think>` prefix | [`AssistantMessage::reasoning`], never the answer |
//! | legacy | `function_call` instead of `tool_calls` | one tool call |
//! | calls in content | a bare JSON object with a `tool_calls` array, `<tool_call>{…}</tool_call>` blocks, `[TOOL_CALLS][…]`, `<\|python_tag\|>{…}`, a lone `{"name", "arguments"}` object or an array of them | tool calls, removed from the text |
//! | finish_reason | `"stop"`, `"tool_calls"`, `""`, `"eos_token"`, missing, anything | kept as a string, never trusted |
//! | empty calls | `"tool_calls": []` on an answer | no calls |
//! | tool names | padded with spaces, or prefixed `functions.` | trimmed, prefix removed |
//! | end tokens | `<\|im_end\|>`, `<\|eot_id\|>`, `</s>`… leaked at the end of the text | removed |
//! | errors in a 200 | `{"error": {…}}` with no choices | an [`Error::Api`] with the server's words |
//! | unknown fields | anywhere | ignored |
//! | streaming | a `text/event-stream` body although `stream` was not asked for | the deltas joined, argument fragments by `index` |
//! | error bodies | `{"error":{"message":…}}`, `{"error":"…"}`, `{"detail":…}`, `{"message":…}`, text, HTML | an [`ApiError`] with the server's words |

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{AssistantMessage, ChatResponse, FunctionCall, ToolCall, Usage};
use crate::error::{ApiError, Error, Result};

/// Reads a chat completion body.
pub(crate) fn parse_response(body: &[u8]) -> Result<ChatResponse> {
    if is_stream(body) {
        return parse_stream(body);
    }
    let raw: RawResponse<'_> =
        serde_json::from_slice(body).map_err(|e| invalid(e.to_string(), body))?;
    let Some(choice) = raw.choices.into_iter().flatten().next() else {
        // Some gateways answer 200 with an error object: that is an error answer.
        if let Some(e) = raw.error.filter(|e| !e.is_null()) {
            let status = e
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (400..600).contains(c))
                .unwrap_or(200);
            return Err(Error::Api(Box::new(api_error(status, body))));
        }
        return Err(invalid("the response has no choices".to_owned(), body));
    };
    let raw_message = choice.message.or(choice.delta).unwrap_or_default();
    let message = recover_message(raw_message);
    Ok(ChatResponse {
        message,
        finish_reason: choice.finish_reason.map(|s| s.0),
        usage: raw.usage.map(Usage::from),
        id: raw.id.map(|s| s.0),
        model: raw.model,
    })
}

/// Whether a body is server-sent events rather than one JSON object.
fn is_stream(body: &[u8]) -> bool {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let rest = body.get(start..).unwrap_or_default();
    rest.starts_with(b"data:") || rest.starts_with(b"event:") || rest.starts_with(b": ")
}

fn invalid(reason: String, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    Error::InvalidResponse {
        reason,
        body: truncate(text.trim(), 512).to_owned(),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

#[derive(Deserialize)]
struct RawResponse<'a> {
    #[serde(default)]
    id: Option<LenientString>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default, borrow)]
    choices: Option<Vec<RawChoice<'a>>>,
    #[serde(default)]
    usage: Option<RawUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct RawChoice<'a> {
    #[serde(default, borrow)]
    message: Option<RawMessage<'a>>,
    /// A streamed chunk accidentally served as a whole response.
    #[serde(default, borrow)]
    delta: Option<RawMessage<'a>>,
    #[serde(default)]
    finish_reason: Option<LenientString>,
}

#[derive(Deserialize, Default)]
struct RawMessage<'a> {
    #[serde(default, deserialize_with = "content")]
    content: Option<String>,
    #[serde(default, alias = "reasoning")]
    reasoning_content: Option<LenientString>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<RawToolCall<'a>>>,
    #[serde(default, borrow)]
    function_call: Option<RawFunction<'a>>,
}

#[derive(Deserialize)]
struct RawToolCall<'a> {
    #[serde(default)]
    id: Option<LenientString>,
    #[serde(default, borrow)]
    function: Option<RawFunction<'a>>,
    /// Flattened calls (`{"name":…, "arguments":…}`) some servers send.
    #[serde(default)]
    name: Option<String>,
    #[serde(default, borrow, alias = "parameters")]
    arguments: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawFunction<'a> {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, borrow, alias = "parameters")]
    arguments: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawUsage {
    #[serde(default, deserialize_with = "lenient_u64")]
    prompt_tokens: u64,
    #[serde(default, deserialize_with = "lenient_u64")]
    completion_tokens: u64,
    #[serde(default, deserialize_with = "lenient_u64")]
    total_tokens: u64,
}

impl From<RawUsage> for Usage {
    fn from(u: RawUsage) -> Self {
        Usage::new(u.prompt_tokens, u.completion_tokens, u.total_tokens)
    }
}

/// A string, number or boolean read as text (an array or object as `""`).
struct LenientString(String);

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(Text { join_parts: false })
            .map(|text| LenientString(text.unwrap_or_default()))
    }
}

/// Reads any JSON value as text: scalars as their text, `null` as `None`, an
/// array of `{"type":"text","text":…}` parts joined (when `join_parts`, else `""`),
/// an object as `""`.
struct Text {
    join_parts: bool,
}

impl<'de> Visitor<'de> for Text {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut text = String::new();
        while let Some(part) = a.next_element::<Value>()? {
            if !self.join_parts {
                continue;
            }
            match part {
                Value::String(s) => text.push_str(&s),
                Value::Object(o) => {
                    if let Some(Value::String(s)) = o.get("text") {
                        text.push_str(s);
                    }
                }
                _ => {}
            }
        }
        Ok(Some(text))
    }
    fn visit_map<A: de::MapAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        // A single part object: its `text`.
        let mut text = String::new();
        while let Some((key, value)) = a.next_entry::<String, Value>()? {
            if let (true, "text", Value::String(s)) = (self.join_parts, key.as_str(), value) {
                text = s;
            }
        }
        Ok(Some(text))
    }
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    Ok(Option::<LenientString>::deserialize(d)?
        .and_then(|s| s.0.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map_or(0, |n| n as u64))
}

/// `content` as a string, `null`, or an array of `{"type":"text","text":…}` parts.
fn content<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    d.deserialize_any(Text { join_parts: true })
}

/// The arguments as JSON text: a JSON string's contents, or an object's text.
fn arguments_text(raw: Option<&RawValue>) -> String {
    let Some(raw) = raw else {
        return "{}".to_owned();
    };
    let text = raw.get().trim();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).unwrap_or_default()
    } else if text == "null" {
        "{}".to_owned()
    } else {
        text.to_owned()
    }
}

/// Tool-name slips models make: padding, and a `functions.` namespace prefix
/// (the way some chat templates show tools). Names are matched exactly afterwards.
fn normalise_names(calls: &mut [ToolCall]) {
    for call in calls {
        let name = call.function.name.trim();
        let name = name.strip_prefix("functions.").unwrap_or(name).trim();
        if name.len() != call.function.name.len() {
            call.function.name = name.to_owned();
        }
    }
}

/// A fresh, process-unique call id, for calls that came without one.
pub(crate) fn new_call_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    format!("call_{start:x}{:06}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn recover_message(raw: RawMessage<'_>) -> AssistantMessage {
    let reasoning = raw.reasoning_content.map(|s| s.0);
    let mut calls: Vec<ToolCall> = Vec::new();
    for c in raw.tool_calls.into_iter().flatten() {
        let (name, args) = match c.function {
            Some(f) => (f.name, f.arguments.or(c.arguments)),
            None => (c.name, c.arguments),
        };
        calls.push(ToolCall {
            id: c.id.map(|s| s.0).unwrap_or_default(),
            function: FunctionCall {
                name: name.unwrap_or_default(),
                arguments: arguments_text(args),
            },
        });
    }
    if calls.is_empty()
        && let Some(f) = raw.function_call
    {
        calls.push(ToolCall {
            id: String::new(),
            function: FunctionCall {
                name: f.name.unwrap_or_default(),
                arguments: arguments_text(f.arguments),
            },
        });
    }
    finish_message(raw.content, reasoning, calls)
}

/// The rules every assistant message goes through, however it arrived:
/// `<think>` split, calls left in content, ids, empty content beside calls.
fn finish_message(
    mut content: Option<String>,
    reasoning: Option<String>,
    mut calls: Vec<ToolCall>,
) -> AssistantMessage {
    let mut reasoning = reasoning.filter(|s| !s.trim().is_empty());
    if let Some(text) = content.take() {
        let text = strip_end_tokens(&text);
        let (think, rest) = split_think(text);
        if let Some(think) = think.filter(|t| !t.trim().is_empty()) {
            reasoning = Some(match reasoning {
                Some(r) => format!("{r}\n{}", think.trim()),
                None => think.trim().to_owned(),
            });
        }
        content = Some(rest.to_owned());
    }
    if calls.is_empty()
        && let Some(text) = content.as_deref()
        && let Some((found, rest)) = calls_in_content(text)
    {
        calls = found;
        content = Some(rest);
    }
    assign_ids(&mut calls);
    normalise_names(&mut calls);
    if !calls.is_empty() && content.as_deref().is_some_and(|c| c.trim().is_empty()) {
        content = None;
    }
    AssistantMessage {
        content,
        reasoning,
        tool_calls: calls,
    }
}

/// A streamed body (`text/event-stream`, sent when a server streams anyway):
/// the chunks' deltas put back together, tool-call argument fragments joined by `index`.
fn parse_stream(body: &[u8]) -> Result<ChatResponse> {
    let text = String::from_utf8_lossy(body);
    let mut content: Option<String> = None;
    let mut reasoning = String::new();
    let mut calls: Vec<(u64, ToolCall)> = Vec::new();
    let mut response = ChatResponse::default();
    let mut chunks = 0;
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let data = data.trim();
        if data == "[DONE]" {
            break;
        }
        let chunk: RawChunk<'_> = serde_json::from_str(data)
            .map_err(|e| invalid(format!("a stream chunk is not JSON: {e}"), body))?;
        if let Some(e) = chunk.error {
            let said = message_of(&e).unwrap_or_default();
            return Err(invalid(
                format!("the stream ended with an error: {said}"),
                body,
            ));
        }
        chunks += 1;
        response.id = response.id.or(chunk.id.map(|s| s.0));
        response.model = response.model.or(chunk.model);
        if let Some(u) = chunk.usage {
            response.usage = Some(Usage::from(u));
        }
        for choice in chunk.choices.into_iter().flatten() {
            if let Some(reason) = choice.finish_reason {
                response.finish_reason = Some(reason.0);
            }
            let Some(delta) = choice.delta.or(choice.message) else {
                continue;
            };
            if let Some(piece) = delta.content {
                content.get_or_insert_with(String::new).push_str(&piece);
            }
            if let Some(piece) = delta.reasoning_content {
                reasoning.push_str(&piece.0);
            }
            for (position, part) in delta.tool_calls.into_iter().flatten().enumerate() {
                let index = part.index.unwrap_or(position as u64);
                let slot = match calls.iter().position(|(i, _)| *i == index) {
                    Some(at) => at,
                    None => {
                        calls.push((index, ToolCall::new("", "", "")));
                        calls.len() - 1
                    }
                };
                let Some((_, call)) = calls.get_mut(slot) else {
                    continue;
                };
                if let Some(id) = part.id.map(|s| s.0).filter(|s| !s.is_empty()) {
                    call.id = id;
                }
                let (name, args) = match part.function {
                    Some(f) => (f.name, f.arguments),
                    None => (None, None),
                };
                if let Some(name) = name.filter(|n| !n.is_empty()) {
                    if call.function.name.is_empty() {
                        call.function.name = name;
                    } else if call.function.name != name {
                        call.function.name.push_str(&name);
                    }
                }
                if let Some(raw) = args {
                    let raw = raw.get().trim();
                    if raw.starts_with('"') {
                        let piece = serde_json::from_str::<String>(raw).unwrap_or_default();
                        call.function.arguments.push_str(&piece);
                    } else if raw != "null" {
                        call.function.arguments.push_str(raw);
                    }
                }
            }
        }
    }
    if chunks == 0 {
        return Err(invalid("the stream has no chunks".to_owned(), body));
    }
    let calls = calls
        .into_iter()
        .map(|(_, mut call)| {
            if call.function.arguments.trim().is_empty() {
                call.function.arguments = "{}".to_owned();
            }
            call
        })
        .collect();
    response.message = finish_message(content, Some(reasoning), calls);
    Ok(response)
}

#[derive(Deserialize)]
struct RawChunk<'a> {
    #[serde(default)]
    id: Option<LenientString>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default, borrow)]
    choices: Option<Vec<RawDeltaChoice<'a>>>,
    #[serde(default)]
    usage: Option<RawUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct RawDeltaChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<RawDelta<'a>>,
    #[serde(default, borrow)]
    message: Option<RawDelta<'a>>,
    #[serde(default)]
    finish_reason: Option<LenientString>,
}

#[derive(Deserialize)]
struct RawDelta<'a> {
    #[serde(default, deserialize_with = "content")]
    content: Option<String>,
    #[serde(default, alias = "reasoning")]
    reasoning_content: Option<LenientString>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<RawDeltaCall<'a>>>,
}

#[derive(Deserialize)]
struct RawDeltaCall<'a> {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<LenientString>,
    #[serde(default, borrow)]
    function: Option<RawFunction<'a>>,
}

/// Chat-template end tokens some servers leak at the end of the text.
const END_TOKENS: [&str; 6] = [
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<|endoftext|>",
    "</s>",
    "<end_of_turn>",
];

fn strip_end_tokens(text: &str) -> &str {
    let mut rest = text;
    while let Some(shorter) = END_TOKENS
        .iter()
        .find_map(|t| rest.trim_end().strip_suffix(t))
    {
        rest = shorter;
    }
    if rest.len() == text.len() {
        text
    } else {
        rest.trim_end()
    }
}

/// Splits a `<think>…</think>` prefix from the answer. An unclosed `<think>`
/// is all reasoning; a lone `</think>` (the template opened it) ends reasoning.
fn split_think(text: &str) -> (Option<&str>, &str) {
    let trimmed = text.trim_start();
    if let Some(end) = text.find("</think>") {
        let before = text.get(..end).unwrap_or_default();
        let before = before
            .trim_start()
            .strip_prefix("<think>")
            .unwrap_or(before);
        let after = text.get(end + "</think>".len()..).unwrap_or_default();
        return (Some(before), after.trim_start());
    }
    if let Some(rest) = trimmed.strip_prefix("<think>") {
        return (Some(rest), "");
    }
    (None, text)
}

/// Tool calls a server failed to parse and left in the text:
/// `<tool_call>{…}</tool_call>` blocks (Qwen/Hermes), a Mistral `[TOOL_CALLS]` or
/// Llama `<|python_tag|>` prefix, or the whole text (fenced or not) a JSON object with a
/// `tool_calls` array, one call object `{"name", "arguments"|"parameters"}`, or an
/// array of them. Returns the calls and the remaining text.
fn calls_in_content(text: &str) -> Option<(Vec<ToolCall>, String)> {
    if text.contains("<tool_call>") {
        let mut calls = Vec::new();
        let mut rest = String::new();
        let mut tail = text;
        while let Some(start) = tail.find("<tool_call>") {
            rest.push_str(tail.get(..start).unwrap_or_default());
            let after = tail.get(start + "<tool_call>".len()..).unwrap_or_default();
            let (inner, next) = match after.find("</tool_call>") {
                Some(end) => (
                    after.get(..end).unwrap_or_default(),
                    after.get(end + "</tool_call>".len()..).unwrap_or_default(),
                ),
                None => (after, ""),
            };
            let value: Value = serde_json::from_str(strip_fence(inner.trim())).ok()?;
            calls.extend(calls_from_json(&value, true)?);
            tail = next;
        }
        rest.push_str(tail);
        return (!calls.is_empty()).then(|| (calls, rest.trim().to_owned()));
    }
    let mut candidate = strip_fence(text.trim());
    let mut marked = false;
    for marker in ["[TOOL_CALLS]", "<|python_tag|>"] {
        if let Some(after) = candidate.strip_prefix(marker) {
            candidate = strip_fence(after.trim());
            marked = true;
        }
    }
    if !candidate.starts_with(['{', '[']) {
        return None;
    }
    let value: Value = serde_json::from_str(candidate).ok()?;
    let calls = calls_from_json(&value, marked)?;
    (!calls.is_empty()).then(|| (calls, String::new()))
}

/// Calls from a JSON value found in content. Unless the text was marked as tool
/// calls, a bare object must look exactly like a call, so a JSON answer stays an answer.
fn calls_from_json(value: &Value, marked: bool) -> Option<Vec<ToolCall>> {
    match value {
        Value::Object(map) => {
            if let Some(items) = map.get("tool_calls") {
                return items.as_array()?.iter().map(call_from_value).collect();
            }
            if marked || looks_like_call(map) {
                return Some(vec![call_from_value(value)?]);
            }
            None
        }
        Value::Array(items) if !items.is_empty() => {
            let all_calls = items
                .iter()
                .all(|i| i.as_object().is_some_and(|m| marked || looks_like_call(m)));
            if !all_calls {
                return None;
            }
            items.iter().map(call_from_value).collect()
        }
        _ => None,
    }
}

/// `{"name": "…", "arguments"|"parameters": {…}}`, optionally with `id`/`type`, or
/// `{"type": "function", "function": {…}}`, and nothing else.
fn looks_like_call(map: &serde_json::Map<String, Value>) -> bool {
    if let Some(Value::Object(f)) = map.get("function") {
        return map
            .keys()
            .all(|k| matches!(k.as_str(), "function" | "id" | "type"))
            && looks_like_call(f);
    }
    let has_name = map.get("name").is_some_and(Value::is_string);
    let has_args = ["arguments", "parameters"]
        .iter()
        .any(|k| map.get(*k).is_some_and(|v| v.is_object() || v.is_string()));
    has_name
        && has_args
        && map.keys().all(|k| {
            matches!(
                k.as_str(),
                "name" | "arguments" | "parameters" | "id" | "type"
            )
        })
}

fn strip_fence(s: &str) -> &str {
    let Some(body) = s.strip_prefix("```") else {
        return s;
    };
    let body = body.strip_prefix("json").unwrap_or(body);
    body.strip_suffix("```").unwrap_or(body).trim()
}

/// `{"name", "arguments"|"parameters"}` or `{"id", "type", "function": {…}}`.
fn call_from_value(v: &Value) -> Option<ToolCall> {
    let f = v.get("function").filter(|f| f.is_object()).unwrap_or(v);
    let name = f.get("name")?.as_str()?.to_owned();
    let arguments = match f.get("arguments").or_else(|| f.get("parameters")) {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let id = match v.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    Some(ToolCall {
        id,
        function: FunctionCall { name, arguments },
    })
}

/// Gives every call a non-empty id, unique within the message.
fn assign_ids(calls: &mut [ToolCall]) {
    for i in 0..calls.len() {
        let (before, rest) = calls.split_at_mut(i);
        let Some(call) = rest.first_mut() else { break };
        if call.id.trim().is_empty() || before.iter().any(|c| c.id == call.id) {
            call.id = new_call_id();
        }
    }
}

/// Reads an error body in any of the shapes servers send.
pub(crate) fn api_error(status: u16, body: &[u8]) -> ApiError {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    let mut err = ApiError::new(status, String::new());
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        if let Some(e) = v.get("error").filter(|e| e.is_object()) {
            err.code = e.get("code").and_then(scalar_text);
            err.kind = e.get("type").and_then(scalar_text);
        }
        if let Some(m) = message_of(&v) {
            err.message = m;
        } else {
            err.message = truncate(trimmed, 1000).to_owned();
        }
    } else if looks_like_html(trimmed) {
        err.message = html_text(trimmed);
    } else {
        err.message = truncate(trimmed, 1000).to_owned();
    }
    if err.message.is_empty() {
        err.message = status_text(status).to_owned();
    }
    err
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The human message in a JSON error body.
fn message_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => {
            for key in ["error", "detail", "message", "msg"] {
                if let Some(inner) = o.get(key)
                    && let Some(m) = message_of(inner)
                {
                    return Some(m);
                }
            }
            None
        }
        // FastAPI validation errors: `{"detail": [{"msg": …, "loc": […]}]}`.
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(message_of).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        _ => None,
    }
}

fn looks_like_html(s: &str) -> bool {
    let head = truncate(s, 200).to_ascii_lowercase();
    head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || head.contains("<head")
        || head.contains("<body")
}

/// The `<title>` of an HTML page, else its text with tags removed, shortened.
fn html_text(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    if let (Some(start), Some(end)) = (lower.find("<title>"), lower.find("</title>"))
        && let Some(t) = s.get(start + 7..end)
    {
        let t = t.trim();
        if !t.is_empty() {
            return t.to_owned();
        }
    }
    let mut out = String::new();
    let mut in_tag = false;
    for ch in s.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    truncate(&words.join(" "), 300).to_owned()
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "bad request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not found",
        429 => "too many requests",
        500 => "internal server error",
        502 => "bad gateway",
        503 => "service unavailable",
        504 => "gateway timeout",
        _ => "error",
    }
}

#[cfg(test)]
mod tests;
