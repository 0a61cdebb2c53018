//! Tolerant reading of what servers send: every leniency rule in one place.
//!
//! Real OpenAI-compatible servers (llama.cpp, vLLM, Ollama, LM Studio, OpenAI
//! itself, and proxies in front of them) disagree in small ways. The crate
//! *sends* one strict shape and *reads* all of these. A whole body and a stream
//! of the same answer go through the same rules and give the same
//! [`ChatResponse`].
//!
//! | rule | what servers send | what we make of it |
//! |---|---|---|
//! | arguments | a JSON string, an object, `null`, `""`, missing | the JSON text (objects re-serialized; `null`, `""` and missing → `{}`); what is sent back is always valid JSON |
//! | call id | missing, `""`, a number, a duplicate in one message | the number as text; else a fresh id of 9 letters and digits, unique in the process |
//! | call type | missing | `function` |
//! | call name | `functions.get_logs`, `" get_logs "`, `get_logs<\|channel\|>…` | `get_logs` |
//! | nameless call | an entry with no function name beside an answer (LM Studio) | dropped; with nothing left, the message is the answer |
//! | content | `null`, `""`, whitespace beside calls, an array of text parts | `None` when empty; parts joined |
//! | reasoning | `reasoning_content`, `reasoning`, both with the same text (vLLM), or a `<think>…</think>` prefix | read once into [`AssistantMessage::reasoning`](super::AssistantMessage::reasoning), never the answer |
//! | answer in reasoning | no content and no calls, only reasoning (vLLM with thinking off) | the reasoning is the answer, marked [`answer_from_reasoning`](super::ChatResponse::answer_from_reasoning) |
//! | legacy | `function_call` instead of `tool_calls`, whole or streamed | one tool call |
//! | calls in content | a bare JSON object with a `tool_calls` array, `<tool_call>{…}</tool_call>` blocks, `[TOOL_CALLS][…]`, `<\|python_tag\|>{…}`, a lone `{"name", "arguments"}` object or an array of them | tool calls, removed from the text; a broken `<tool_call>` block beside good ones is kept as a call with its text as arguments, so the good ones run and the model is told about the bad one |
//! | finish_reason | `"stop"`, `"tool_calls"`, `""`, `"eos_token"`, missing, anything | kept as a string, never trusted for the stop rule |
//! | cut at the token limit | `finish_reason: "length"` | an answer marked [`truncated`](super::ChatResponse::truncated); beside tool calls, an [`Error::Truncated`] carrying what arrived (a partial call is never run) |
//! | cut stream | a stream that ends with neither a `finish_reason` nor `[DONE]` | [`Error::Truncated`], whatever arrived |
//! | empty calls | `"tool_calls": []` on an answer | no calls |
//! | end tokens | `<\|im_end\|>`, `<\|eot_id\|>`, `</s>`… leaked at the end of the text | removed |
//! | errors in a 200 | `{"error": {…}}`, `{"object": "error", …}` (vLLM ≤ 0.10), as a body or a stream event; `event: error`; an `error: {…}` line (older llama.cpp); a JSON error body to a streaming request (proxies) | an [`Error::Api`] with the server's words, its `code` as the status when it is one; a partial answer before it is never a success |
//! | token counts | numbers, strings, floats, huge | read leniently; sums saturate |
//! | unknown fields | anywhere | ignored |
//! | stream framing | comments and keep-alives, `\r\n`, `data:` with or without the space, events split across reads, several `data:` lines with no blank line between, no `[DONE]`, `[DONE]` without the blank line | read |
//! | parallel streamed calls | every call at `index: 0` with its own id (Ollama-compatible endpoints); fragments with no index | one call per id; a fragment with no index follows its id (or the last call); a new id, or a new name after a whole call, opens a new call |
//! | unasked streaming | a `text/event-stream` body although `stream` was not asked for | folded by the same assembler as a live stream |
//! | error bodies | `{"error":{"message":…}}`, `{"error":"…"}`, `{"detail":…}`, `{"message":…}`, text, HTML | an [`ApiError`](crate::ApiError) with the server's words |
//!
//! Each body or event is first read by a quick scan of the shapes servers nearly
//! always send; what the scan is unsure of (content as parts, numbers where text
//! is expected, duplicate keys, anything malformed) is read by serde_json into the
//! same types, so the rules above see the same values either way.
//!
//! While streaming, text deltas are for showing progress: a leading `<think>`
//! block goes out as reasoning deltas, and text that may turn out to be a call
//! (or a leaked end token) is held back until the end. The last event,
//! [`StreamEvent::Done`](super::StreamEvent::Done), carries the response the rules
//! above made, which is what counts.

mod content;
mod error_body;
mod raw;
pub(crate) mod scan;
pub(crate) mod stream;

use content::{Draft, Ending, Meta};
use raw::RawCompletion;

pub(crate) use error_body::api_error;

use super::{ChatResponse, Usage};
use crate::error::{Error, Result};

/// Reads a chat completion body (a whole JSON body or a buffered stream).
pub(crate) fn parse_response(body: &[u8]) -> Result<ChatResponse> {
    if is_stream(body) {
        return stream::parse_stream(body);
    }
    let raw: RawCompletion<'_> = match std::str::from_utf8(body) {
        Ok(text) => raw::read(text),
        Err(_) => serde_json::from_slice(body),
    }
    .map_err(|e| invalid(e.to_string(), body))?;
    if error_body::is_error(&raw) {
        return Err(error_body::error_in_success(200, body));
    }
    let Some(choice) = raw.choices.into_iter().flatten().next() else {
        return Err(invalid("the response has no choices".to_owned(), body));
    };
    let message = choice.message.or(choice.delta).unwrap_or_default();
    let meta = Meta {
        finish_reason: choice.finish_reason.map(raw::LenientStr::into_string),
        usage: raw.usage.map(Usage::from),
        id: raw
            .id
            .map(raw::LenientStr::into_string)
            .filter(|s| !s.is_empty()),
        model: raw
            .model
            .map(raw::LenientStr::into_string)
            .filter(|s| !s.is_empty()),
    };
    content::finish(Draft::from_message(message), meta, Ending::Complete)
}

/// Whether a body is server-sent events rather than one JSON object.
pub(crate) fn is_stream(body: &[u8]) -> bool {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let rest = body.get(start..).unwrap_or_default();
    rest.starts_with(b":")
        || ["data", "event", "error", "id", "retry"]
            .iter()
            .any(|field| {
                rest.strip_prefix(field.as_bytes())
                    .is_some_and(|after| after.first() == Some(&b':'))
            })
}

fn invalid(reason: String, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    Error::InvalidResponse {
        reason,
        body: error_body::truncate(text.trim(), 512).to_owned(),
    }
}

#[cfg(test)]
mod tests;
