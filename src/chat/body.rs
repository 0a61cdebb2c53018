//! Messages written straight into a request body: byte for byte what serde_json
//! writes for [`WireMessage`](super::message::WireMessage), without the cost of its
//! serializer for each small value (a round's body holds hundreds of them).

use super::message::{AssistantContent, Message, ToolCall};
use super::recover::scan;

/// Appends `messages` as a JSON array.
pub(crate) fn messages(
    out: &mut Vec<u8>,
    messages: &[Message],
    tool_name: bool,
    empty: AssistantContent,
) {
    out.push(b'[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        message(out, m, tool_name, empty);
    }
    out.push(b']');
}

/// Appends one message: the fields and order of `WireMessage`.
fn message(out: &mut Vec<u8>, m: &Message, tool_name: bool, empty: AssistantContent) {
    out.extend_from_slice(b"{\"role\":");
    string(out, m.role());
    match m {
        Message::System { content } | Message::User { content } => {
            out.extend_from_slice(b",\"content\":");
            string(out, content);
        }
        Message::Assistant(a) => {
            match a.wire_content(empty) {
                Some(Some(c)) => {
                    out.extend_from_slice(b",\"content\":");
                    string(out, c);
                }
                Some(None) => out.extend_from_slice(b",\"content\":null"),
                None => {}
            }
            if !a.tool_calls.is_empty() {
                out.extend_from_slice(b",\"tool_calls\":[");
                for (i, call) in a.tool_calls.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    tool_call(out, call);
                }
                out.push(b']');
            }
        }
        Message::Tool(t) => {
            out.extend_from_slice(b",\"tool_call_id\":");
            string(out, &t.tool_call_id);
            if tool_name && let Some(name) = &t.name {
                out.extend_from_slice(b",\"name\":");
                string(out, name);
            }
            out.extend_from_slice(b",\"content\":");
            string(out, &t.content);
        }
    }
    out.push(b'}');
}

/// Appends a call as `ToolCall`'s `Serialize` does.
fn tool_call(out: &mut Vec<u8>, call: &ToolCall) {
    out.extend_from_slice(b"{\"id\":");
    string(out, &call.id);
    out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
    string(out, &call.function.name);
    out.extend_from_slice(b",\"arguments\":");
    string(out, call.function.wire_arguments());
    out.extend_from_slice(b"}}");
}

/// Appends `s` as a JSON string, escaped as serde_json escapes: `"`, `\` and the
/// control characters, with the short forms for `\b \f \n \r \t`.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    let hex = |n: u8| if n < 10 { b'0' + n } else { b'a' + n - 10 };
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut rest = bytes;
    loop {
        let at = scan::first_special(rest);
        let (plain, tail) = rest.split_at(at.min(rest.len()));
        out.extend_from_slice(plain);
        let Some((&b, after)) = tail.split_first() else {
            break;
        };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b & 0xF)]),
        }
        rest = after;
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::super::message::{AssistantContent, AssistantMessage, Message, ToolCall};
    use super::{messages, string};

    fn serde(messages: &[Message], tool_name: bool, empty: AssistantContent) -> Vec<u8> {
        let wire: Vec<_> = messages.iter().map(|m| m.wire(tool_name, empty)).collect();
        serde_json::to_vec(&wire).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut all = String::new();
        for c in (0u32..0x80).chain([0xe9, 0x2028, 0x1F600]) {
            all.push(char::from_u32(c).unwrap());
        }
        let cases = [
            "",
            "plain",
            "\"quoted\"",
            "back\\slash",
            "line\nbreak\r\n\ttab",
            "{\"pod\":\"web-1\",\"n\":[1,2]}",
            "ünïcödé 😀 \u{7f}\u{1}\u{1f}",
            all.as_str(),
        ];
        for s in cases {
            for prefix in ["", "12345678", "1234567"] {
                let s = format!("{prefix}{s}{prefix}");
                let mut ours = Vec::new();
                string(&mut ours, &s);
                assert_eq!(ours, serde_json::to_vec(&s).unwrap(), "{s:?}");
            }
        }
    }

    #[test]
    fn messages_are_written_as_serde_json_writes_them() {
        let mut called = AssistantMessage::text("");
        called.tool_calls = vec![
            ToolCall::new("c1", "get_kubernetes_pod_logs", "{\"pod\": \"web-1\"}"),
            ToolCall::new("c2", "run_postgres_query", "not json"),
            ToolCall::new("c3", "get_kubernetes_pod_cpu_data", ""),
            ToolCall::new("c\"4", "x\ny", " [1, {\"a\": null}] "),
        ];
        let mut both = called.clone();
        both.content = Some("Looking at \"web-1\".".into());
        let mut blank = called.clone();
        blank.content = Some("  \n".into());
        let history = vec![
            Message::system("You are an SRE.\nBe brief."),
            Message::user("Why is web-1 \"down\"?"),
            Message::Assistant(called),
            Message::tool(
                &ToolCall::new("c1", "get_kubernetes_pod_logs", "{}"),
                "OOMKilled\t\"istio-proxy\"\\",
            ),
            Message::Assistant(both),
            Message::Assistant(blank),
            Message::Assistant(AssistantMessage::text("istio-proxy was OOM-killed.")),
            Message::Assistant(AssistantMessage::default()),
        ];
        for tool_name in [true, false] {
            for empty in [
                AssistantContent::EmptyString,
                AssistantContent::Null,
                AssistantContent::Omitted,
            ] {
                let mut ours = Vec::new();
                messages(&mut ours, &history, tool_name, empty);
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    String::from_utf8(serde(&history, tool_name, empty)).unwrap()
                );
            }
        }
    }
}
