//! What a message means once it has arrived, however it arrived: end tokens,
//! `<think>`, calls left in the text, tool-name slips, ids, truncation.
//!
//! A whole body ([`Draft::from_message`]) and a stream ([`super::stream::Assembler`])
//! both end in [`finish`], so the two paths give the same [`ChatResponse`].

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::raw::{LenientStr, RawJson, RawMessage};
use crate::chat::{AssistantMessage, ChatResponse, FunctionCall, ToolCall, Usage};
use crate::error::{Error, Result, Truncation};

/// A message as it arrived, before the rules run.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub(crate) content: Option<String>,
    pub(crate) reasoning: Option<String>,
    pub(crate) calls: Vec<DraftCall>,
    /// The legacy `function_call`, used only when there are no `tool_calls`.
    pub(crate) function_call: Option<DraftCall>,
}

/// A tool call as it arrived.
#[derive(Debug, Default, Clone)]
pub(crate) struct DraftCall {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The arguments' JSON text (a JSON string's contents, or an object's text).
    pub(crate) arguments: String,
}

impl Draft {
    /// A whole message.
    pub(crate) fn from_message(mut raw: RawMessage<'_>) -> Self {
        let reasoning = raw.reasoning_text().map(std::borrow::Cow::into_owned);
        let calls = raw
            .tool_calls
            .into_iter()
            .flatten()
            .map(|mut c| {
                let id = c.id.take().map(LenientStr::into_string).unwrap_or_default();
                let (name, args) = c.parts();
                DraftCall {
                    id,
                    name: name.map(std::borrow::Cow::into_owned).unwrap_or_default(),
                    arguments: arguments_text(args),
                }
            })
            .collect();
        let function_call = raw.function_call.map(|f| DraftCall {
            id: String::new(),
            name: f.name.map(LenientStr::into_string).unwrap_or_default(),
            arguments: arguments_text(f.arguments),
        });
        Self {
            content: raw.content.map(std::borrow::Cow::into_owned),
            reasoning,
            calls,
            function_call,
        }
    }
}

/// Everything about a response but its message.
#[derive(Debug, Default)]
pub(crate) struct Meta {
    pub(crate) finish_reason: Option<String>,
    pub(crate) usage: Option<Usage>,
    pub(crate) id: Option<String>,
    pub(crate) model: Option<String>,
}

/// How the body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// A whole body, or a stream that sent a `finish_reason` or `[DONE]`.
    Complete,
    /// A stream that stopped with neither.
    Cut,
}

/// The finish reasons that mean "stopped at the token limit".
fn is_length(reason: Option<&str>) -> bool {
    matches!(reason, Some("length" | "max_tokens" | "model_length"))
}

/// The rules every response goes through, streamed or not.
pub(crate) fn finish(draft: Draft, meta: Meta, ending: Ending) -> Result<ChatResponse> {
    let mut reasoning = draft.reasoning.filter(|s| !s.trim().is_empty());
    let mut calls: Vec<ToolCall> = draft
        .calls
        .into_iter()
        .filter_map(DraftCall::into_call)
        .collect();
    if calls.is_empty()
        && let Some(f) = draft.function_call.and_then(DraftCall::into_call)
    {
        calls.push(f);
    }
    let mut content = draft.content;
    if let Some(text) = content.take() {
        let text = strip_end_tokens(&text);
        let (think, rest) = split_think(text);
        if let Some(think) = think.map(str::trim).filter(|t| !t.is_empty()) {
            reasoning = Some(match reasoning {
                Some(r) => format!("{r}\n{think}"),
                None => think.to_owned(),
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
    let blank = |c: &Option<String>| c.as_deref().is_none_or(|c| c.trim().is_empty());
    if !calls.is_empty() && blank(&content) {
        content = None;
    }
    let mut answer_from_reasoning = false;
    if calls.is_empty() && blank(&content) && reasoning.is_some() {
        // vLLM with thinking turned off, and some templates, put the whole answer here.
        content = reasoning.take();
        answer_from_reasoning = true;
    }
    let truncated = is_length(meta.finish_reason.as_deref());
    let has_calls = !calls.is_empty();
    let response = ChatResponse {
        message: AssistantMessage {
            content,
            reasoning,
            tool_calls: calls,
        },
        finish_reason: meta.finish_reason,
        usage: meta.usage,
        id: meta.id,
        model: meta.model,
        truncated,
        answer_from_reasoning,
    };
    if ending == Ending::Cut {
        return Err(Error::Truncated {
            by: Truncation::StreamEnded,
            partial: Box::new(response),
        });
    }
    if truncated && has_calls {
        return Err(Error::Truncated {
            by: Truncation::TokenLimit,
            partial: Box::new(response),
        });
    }
    Ok(response)
}

impl DraftCall {
    /// The call, with its name cleaned; `None` when it has no name (LM Studio
    /// sends such an entry next to a real answer).
    fn into_call(self) -> Option<ToolCall> {
        let name = normalise_name(&self.name);
        if name.is_empty() {
            return None;
        }
        let arguments = if self.arguments.trim().is_empty() {
            "{}".to_owned()
        } else {
            self.arguments
        };
        Some(ToolCall {
            id: self.id,
            function: FunctionCall {
                name: name.to_owned(),
                arguments,
            },
        })
    }
}

/// A tool name as the model meant it: without padding, a `functions.` namespace
/// prefix, or a chat-template token glued to its end (`name<|channel|>…`).
pub(crate) fn normalise_name(name: &str) -> &str {
    let mut name = name.trim();
    if let Some(at) = name.find("<|") {
        name = name.get(..at).unwrap_or(name).trim_end();
    }
    for prefix in ["functions.", "function.", "tools."] {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest.trim_start();
        }
    }
    name
}

/// The arguments as JSON text: a JSON string's contents, or an object's text.
pub(crate) fn arguments_text(raw: Option<RawJson<'_>>) -> String {
    let mut out = String::new();
    push_arguments(&mut out, raw);
    out
}

/// Appends a fragment of arguments: a JSON string's contents, or other JSON's text
/// (`null` adds nothing).
pub(crate) fn push_arguments(out: &mut String, raw: Option<RawJson<'_>>) {
    let Some(raw) = raw else { return };
    let text = raw.get().trim();
    if let Some(quoted) = text.strip_prefix('"') {
        // The common escapes are decoded here; anything else (an unpaired surrogate) by serde_json.
        let decoded = quoted
            .strip_suffix('"')
            .is_some_and(|inner| super::scan::unescape_into(out, inner).is_some());
        if !decoded && let Ok(s) = serde_json::from_str::<std::borrow::Cow<'_, str>>(text) {
            out.push_str(&s);
        }
    } else if text != "null" {
        out.push_str(text);
    }
}

/// Whether `text` is one whole JSON value.
pub(crate) fn is_json(text: &str) -> bool {
    super::scan::is_json(text)
}

/// A fresh call id: 9 ASCII letters and digits (Mistral's templates accept no
/// other shape), never the same twice in one process.
pub(crate) fn new_call_id() -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    /// 62^9: the number of 9-character ids.
    const SPACE: u128 = 13_537_086_546_263_552;
    /// Odd and not a multiple of 31, so `n ↦ n·STEP mod SPACE` is one-to-one and
    /// consecutive ids look unrelated.
    const STEP: u128 = 5_501_281_259_398_227;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    let n = u128::from(start).wrapping_add(u128::from(NEXT.fetch_add(1, Ordering::Relaxed)));
    let mut x = (n % SPACE).wrapping_mul(STEP) % SPACE;
    let mut id = [b'A'; 9];
    for slot in id.iter_mut().rev() {
        let digit = usize::try_from(x % 62).unwrap_or(0);
        *slot = ALPHABET.get(digit).copied().unwrap_or(b'A');
        x /= 62;
    }
    id.iter().map(|&b| char::from(b)).collect()
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
///
/// A `<tool_call>` block that is not a call (broken JSON) becomes a call whose
/// arguments are the block's text, so the model is told what was wrong with it
/// while the good blocks run.
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
            calls.extend(calls_in_block(inner));
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

/// The calls in one `<tool_call>` block: one JSON call, several (one a line), or
/// a broken one kept so the model hears about it.
fn calls_in_block(inner: &str) -> Vec<ToolCall> {
    let inner = strip_fence(inner.trim());
    if inner.is_empty() {
        return Vec::new();
    }
    if let Ok(value) = serde_json::from_str::<Value>(inner)
        && let Some(calls) = calls_from_json(&value, true)
    {
        return calls;
    }
    let lines: Vec<&str> = inner.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() > 1 {
        let parsed: Option<Vec<Vec<ToolCall>>> = lines
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l.trim()).ok()?;
                calls_from_json(&v, true)
            })
            .collect();
        if let Some(parsed) = parsed {
            return parsed.into_iter().flatten().collect();
        }
    }
    vec![ToolCall {
        id: String::new(),
        function: FunctionCall {
            name: name_in_broken_json(inner).unwrap_or_default().to_owned(),
            arguments: inner.to_owned(),
        },
    }]
}

/// The `"name": "…"` value in text that is not valid JSON.
fn name_in_broken_json(text: &str) -> Option<&str> {
    let at = text.find("\"name\"")?;
    let rest = text.get(at + "\"name\"".len()..)?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    let name = normalise_name(rest.get(..end)?);
    (!name.is_empty()).then_some(name)
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
    let name = normalise_name(f.get("name")?.as_str()?).to_owned();
    let arguments = match f.get("arguments").or_else(|| f.get("parameters")) {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) if s.trim().is_empty() => "{}".to_owned(),
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
