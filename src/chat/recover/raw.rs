//! The serde types servers' bodies are read into: one set for whole messages and
//! streamed deltas alike (a delta is a message with an `index` on its calls).
//!
//! Every field is optional and every scalar lenient, so an odd value never makes a
//! body unreadable; what the values mean is decided in [`super::content`] and
//! [`super::stream`].

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::scan;

use crate::chat::Usage;

/// Reads a completion or chunk: the common shapes by a quick scan, everything
/// else (and anything the scan is unsure of) by serde_json, with the same result.
pub(crate) fn read(text: &str) -> serde_json::Result<RawCompletion<'_>> {
    match scan::completion(text) {
        Some(raw) => Ok(raw),
        None => serde_json::from_str(text),
    }
}

/// A chat completion, a stream chunk, or an error object sent in their place.
#[derive(Deserialize, Default, Debug, PartialEq)]
pub(crate) struct RawCompletion<'a> {
    #[serde(default, borrow)]
    pub(crate) id: Option<LenientStr<'a>>,
    #[serde(default, borrow)]
    pub(crate) model: Option<LenientStr<'a>>,
    /// `chat.completion`, `chat.completion.chunk`, or `error` (vLLM's error object).
    #[serde(default, borrow)]
    pub(crate) object: Option<LenientStr<'a>>,
    #[serde(default, borrow)]
    pub(crate) choices: Option<Vec<RawChoice<'a>>>,
    #[serde(default)]
    pub(crate) usage: Option<RawUsage>,
    /// `{"error": …}` sent with a 2xx status.
    #[serde(default, borrow)]
    pub(crate) error: Option<RawJson<'a>>,
}

/// One choice: a whole `message`, or a streamed `delta` (read the same way).
#[derive(Deserialize, Default, Debug, PartialEq)]
pub(crate) struct RawChoice<'a> {
    #[serde(default, borrow)]
    pub(crate) message: Option<RawMessage<'a>>,
    #[serde(default, borrow)]
    pub(crate) delta: Option<RawMessage<'a>>,
    #[serde(default, borrow)]
    pub(crate) finish_reason: Option<LenientStr<'a>>,
}

/// An assistant message or a delta of one.
#[derive(Deserialize, Default, Debug, PartialEq)]
pub(crate) struct RawMessage<'a> {
    #[serde(default, borrow, deserialize_with = "content")]
    pub(crate) content: Option<Cow<'a, str>>,
    /// llama.cpp, DeepSeek, older vLLM.
    #[serde(default, borrow)]
    pub(crate) reasoning_content: Option<LenientStr<'a>>,
    /// Ollama, LM Studio, vLLM (which since late 2025 sends both, with the same text).
    #[serde(default, borrow)]
    pub(crate) reasoning: Option<LenientStr<'a>>,
    #[serde(default, borrow, deserialize_with = "calls")]
    pub(crate) tool_calls: Option<Vec<RawToolCall<'a>>>,
    /// The legacy single call.
    #[serde(default, borrow)]
    pub(crate) function_call: Option<RawFunction<'a>>,
}

impl<'a> RawMessage<'a> {
    /// The reasoning text: `reasoning_content`, else `reasoning`, never both.
    pub(crate) fn reasoning_text(&mut self) -> Option<Cow<'a, str>> {
        let first = self.reasoning_content.take().map(|s| s.0);
        let second = self.reasoning.take().map(|s| s.0);
        match (first, second) {
            (Some(a), _) if !a.is_empty() => Some(a),
            (_, b) => b,
        }
    }
}

/// A tool call, whole or a fragment.
#[derive(Deserialize, Default, Debug, PartialEq)]
pub(crate) struct RawToolCall<'a> {
    /// Set on stream fragments; some servers send `0` on every call.
    #[serde(default, deserialize_with = "lenient_index")]
    pub(crate) index: Option<u64>,
    #[serde(default, borrow)]
    pub(crate) id: Option<LenientStr<'a>>,
    #[serde(default, borrow)]
    pub(crate) function: Option<RawFunction<'a>>,
    /// Flattened calls (`{"name":…, "arguments":…}`) some servers send.
    #[serde(default, borrow)]
    pub(crate) name: Option<LenientStr<'a>>,
    #[serde(default, borrow, alias = "parameters")]
    pub(crate) arguments: Option<RawJson<'a>>,
}

impl<'a> RawToolCall<'a> {
    /// The name and the raw arguments, from `function` or the flattened fields.
    pub(crate) fn parts(self) -> (Option<Cow<'a, str>>, Option<RawJson<'a>>) {
        let (name, arguments) = match self.function {
            Some(f) => (f.name.or(self.name), f.arguments.or(self.arguments)),
            None => (self.name, self.arguments),
        };
        (name.map(|n| n.0), arguments)
    }
}

/// `function` of a call, or the legacy `function_call`.
#[derive(Deserialize, Default, Debug, PartialEq)]
pub(crate) struct RawFunction<'a> {
    #[serde(default, borrow)]
    pub(crate) name: Option<LenientStr<'a>>,
    #[serde(default, borrow, alias = "parameters")]
    pub(crate) arguments: Option<RawJson<'a>>,
}

/// One JSON value's text, exactly as it arrived (never `null`: that reads as `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawJson<'a>(pub(crate) &'a str);

impl<'a> RawJson<'a> {
    /// The value's text.
    pub(crate) fn get(self) -> &'a str {
        self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawJson<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        <&'de RawValue>::deserialize(d).map(|raw| RawJson(raw.get()))
    }
}

/// Token counts; numbers as numbers, strings or floats.
#[derive(Deserialize, Default, Debug, PartialEq)]
pub(crate) struct RawUsage {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(crate) prompt_tokens: u64,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(crate) completion_tokens: u64,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(crate) total_tokens: u64,
}

impl From<RawUsage> for Usage {
    fn from(u: RawUsage) -> Self {
        Usage::new(u.prompt_tokens, u.completion_tokens, u.total_tokens)
    }
}

/// A string, number or boolean read as text (an array or object as `""`),
/// borrowed from the body when it has no escapes.
#[derive(Debug, PartialEq)]
pub(crate) struct LenientStr<'a>(pub(crate) Cow<'a, str>);

impl LenientStr<'_> {
    /// The text, owned.
    pub(crate) fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for LenientStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(Text { join_parts: false })
            .map(|text| LenientStr(text.unwrap_or_default()))
    }
}

/// Reads any JSON value as text: scalars as their text, `null` as `None`, an
/// array of `{"type":"text","text":…}` parts joined (when `join_parts`, else `""`),
/// an object as its `text` (or `""`).
struct Text {
    join_parts: bool,
}

impl<'de> Visitor<'de> for Text {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
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
        Ok(Some(Cow::Owned(text)))
    }
    fn visit_map<A: de::MapAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        // A single part object: its `text`.
        let mut text = String::new();
        while let Some(key) = a.next_key::<String>()? {
            if self.join_parts && key == "text" {
                if let Value::String(s) = a.next_value::<Value>()? {
                    text = s;
                }
            } else {
                a.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Some(Cow::Owned(text)))
    }
}

/// `content` as a string, `null`, or an array of `{"type":"text","text":…}` parts.
fn content<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Cow<'de, str>>, D::Error> {
    d.deserialize_any(Text { join_parts: true })
}

/// `tool_calls` as an array (entries that are not objects skipped), `null`, or one object.
fn calls<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Vec<RawToolCall<'de>>>, D::Error> {
    d.deserialize_any(Calls)
}

struct Calls;

impl<'de> Visitor<'de> for Calls {
    type Value = Option<Vec<RawToolCall<'de>>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tool calls")
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(entry) = a.next_element::<MaybeCall<'de>>()? {
            out.extend(entry.0);
        }
        Ok(Some(out))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, a: A) -> std::result::Result<Self::Value, A::Error> {
        RawToolCall::deserialize(de::value::MapAccessDeserializer::new(a)).map(|c| Some(vec![c]))
    }
}

/// One entry of a `tool_calls` array: a call object, or anything else (skipped).
struct MaybeCall<'a>(Option<RawToolCall<'a>>);

impl<'de> Deserialize<'de> for MaybeCall<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match d.deserialize_any(Calls)? {
            Some(mut calls) if calls.len() == 1 => Ok(MaybeCall(calls.pop())),
            _ => Ok(MaybeCall(None)),
        }
    }
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    Ok(Option::<LenientStr<'de>>::deserialize(d)?
        .and_then(|s| s.0.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        // `as` saturates: a count past u64::MAX is u64::MAX, never a panic.
        .map_or(0, |n| n as u64))
}

fn lenient_index<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    Ok(Option::<LenientStr<'de>>::deserialize(d)?.and_then(|s| s.0.trim().parse::<u64>().ok()))
}
