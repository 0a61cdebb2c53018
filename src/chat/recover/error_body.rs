//! Error bodies in every shape servers send, with an error status or inside a 2xx.

use serde_json::Value;

use super::raw::RawCompletion;
use crate::error::{ApiError, Error};

/// Reads an error body in any of the shapes servers send.
pub(crate) fn api_error(status: u16, body: &[u8]) -> ApiError {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    let mut err = ApiError::new(status, String::new());
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        // `{"error": {"code", "type"}}`, or the fields at the top (vLLM's `"object": "error"`).
        let holder = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
        err.code = holder.get("code").and_then(scalar_text);
        err.kind = holder.get("type").and_then(scalar_text);
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

/// An error object sent with a 2xx status (in a body or a stream event): an
/// [`Error::Api`] whose status is the object's `code` when that is an HTTP
/// error status, else `status`.
pub(crate) fn error_in_success(status: u16, body: &[u8]) -> Error {
    let mut api = api_error(status, body);
    if let Some(code) = api
        .code
        .as_deref()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|c| (400..600).contains(c))
    {
        api.status = code;
    }
    Error::Api(Box::new(api))
}

/// Whether a completion or chunk is an error object instead: `{"error": …}`
/// (not `null`), or `{"object": "error", …}` (vLLM up to 0.10).
pub(crate) fn is_error(raw: &RawCompletion<'_>) -> bool {
    raw.error.is_some_and(|e| e.get().trim() != "null")
        || raw.object.as_ref().is_some_and(|o| o.0 == "error")
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The human message in a JSON error body.
pub(crate) fn message_of(v: &Value) -> Option<String> {
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

/// At most `max` bytes of `s`, cut on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
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
