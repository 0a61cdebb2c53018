//! A quick reader for the shapes completions and stream chunks nearly always have.
//!
//! A stream sends one small JSON object per token or two, and reading each through
//! serde's generated visitors costs several times what the bytes do. This scanner
//! walks the object once, borrows every string it keeps, and skips what it does not
//! need. It gives up (`None`) on anything it is not sure of: numbers or objects where
//! text is expected, content as an array of parts, duplicate fields, escapes it
//! cannot decode, deep nesting, anything that is not JSON. The caller then reads the
//! text with serde_json into the same types, so the answer is always the one serde
//! gives; the tests check that on every fixture and on mutated ones.

use std::borrow::Cow;

use super::raw::{
    LenientStr, RawChoice, RawCompletion, RawFunction, RawJson, RawMessage, RawToolCall, RawUsage,
};

/// Reads `text` as a completion or chunk, or `None` to leave it to serde_json.
pub(crate) fn completion(text: &str) -> Option<RawCompletion<'_>> {
    let mut s = Scanner::new(text, 0);
    let raw = s.completion()?;
    s.at_end().then_some(raw)
}

/// The string whose opening quote is at `open` in `text`: its value (borrowed when it
/// has no escapes) and where it ends, just past its closing quote.
pub(crate) fn string_at(text: &str, open: usize) -> Option<(Cow<'_, str>, usize)> {
    let mut s = Scanner::new(text, open);
    let value = s.string()?;
    Some((value, s.at))
}

/// Where the string whose opening quote is at `open` in `text` ends, just past its
/// closing quote; its escapes are checked, not decoded.
pub(crate) fn string_end(text: &str, open: usize) -> Option<usize> {
    if text.as_bytes().get(open) != Some(&b'"') {
        return None;
    }
    let mut s = Scanner::new(text, open + 1);
    s.string_tail()?;
    Some(s.at)
}

/// Deeper than this, the scan gives up (serde_json has its own limit).
const MAX_DEPTH: u32 = 64;

/// A position in the text being read.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
}

/// Which fields of one object have been seen: a duplicate is left to serde_json.
#[derive(Default)]
struct Seen(u32);

impl Seen {
    fn first(&mut self, bit: u32) -> Option<()> {
        let mask = 1 << bit;
        if self.0 & mask != 0 {
            return None;
        }
        self.0 |= mask;
        Some(())
    }
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str, at: usize) -> Self {
        Self { text, at, depth: 0 }
    }

    /// Whether only whitespace is left.
    fn at_end(&mut self) -> bool {
        self.ws();
        self.at == self.text.len()
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        match self.bytes().get(self.at) {
            // Servers send compact JSON: whitespace is the exception.
            Some(&b) if b > b' ' => Some(b),
            _ => {
                self.ws();
                self.bytes().get(self.at).copied()
            }
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// `null`, consumed, or `false` (nothing consumed).
    fn null(&mut self) -> Option<bool> {
        if self.peek()? != b'n' {
            return Some(false);
        }
        self.literal(b"null")?;
        Some(true)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes().get(self.at..end)? == word).then(|| self.at = end)
    }

    /// A string, borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.at;
        let end = start + quote_or_escape(self.bytes().get(start..)?)?;
        if self.bytes().get(end) == Some(&b'"') {
            self.at = end + 1;
            return self.text.get(start..end).map(Cow::Borrowed);
        }
        // Escapes: find the end, then let serde_json decode this one string.
        self.at = end;
        self.string_tail()?;
        let quoted = self.text.get(start - 1..self.at)?;
        let mut out = String::with_capacity(quoted.len());
        match quoted.get(1..quoted.len() - 1) {
            Some(inner) if unescape_into(&mut out, inner).is_some() => Some(Cow::Owned(out)),
            _ => serde_json::from_str::<String>(quoted).ok().map(Cow::Owned),
        }
    }

    /// Skips a string (its opening quote already read) up to and past its closing quote.
    fn string_tail(&mut self) -> Option<()> {
        loop {
            self.at += quote_or_escape(self.bytes().get(self.at..)?)?;
            let found = *self.bytes().get(self.at)?;
            self.at += 1;
            if found == b'"' {
                return Some(());
            }
            match self.bytes().get(self.at)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                b'u' => {
                    let hex = self.bytes().get(self.at + 1..self.at + 5)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.at += 5;
                }
                _ => return None,
            }
        }
    }

    /// A number, checked against JSON's grammar; its text.
    fn number(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.at;
        let b = self.bytes();
        let digits = |at: &mut usize| {
            let from = *at;
            while b.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at > from
        };
        let mut at = start;
        if b.get(at) == Some(&b'-') {
            at += 1;
        }
        match b.get(at)? {
            b'0' => at += 1,
            b'1'..=b'9' => {
                digits(&mut at);
            }
            _ => return None,
        }
        if b.get(at) == Some(&b'.') {
            at += 1;
            if !digits(&mut at) {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(at) {
            at += 1;
            if let Some(b'+' | b'-') = b.get(at) {
                at += 1;
            }
            if !digits(&mut at) {
                return None;
            }
        }
        self.at = at;
        self.text.get(start..at)
    }

    /// Skips one value of any kind; its text.
    fn skip(&mut self) -> Option<RawJson<'a>> {
        let start = {
            self.ws();
            self.at
        };
        match self.peek()? {
            b'"' => {
                self.at += 1;
                self.string_tail()?;
            }
            b'{' => self.object(|s, _| s.skip().map(drop))?,
            b'[' => self.array(|s| s.skip().map(drop))?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            _ => {
                self.number()?;
            }
        }
        self.text.get(start..self.at).map(RawJson)
    }

    /// An object, each key handed to `field`, which must read its value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.enter()?;
        if self.peek()? == b'}' {
            self.at += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            field(self, &key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array, each element read by `element`.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.enter()?;
        if self.peek()? == b']' {
            self.at += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            element(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A string or `null` where [`LenientStr`] is read; anything else gives up.
    fn text(&mut self) -> Option<Option<LenientStr<'a>>> {
        if self.null()? {
            return Some(None);
        }
        self.string().map(|s| Some(LenientStr(s)))
    }

    /// `null`, or what `read` makes of the value.
    fn or_null<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.null()? {
            return Some(None);
        }
        read(self).map(Some)
    }

    /// Any value but `null`, as its text.
    fn raw(&mut self) -> Option<Option<RawJson<'a>>> {
        if self.null()? {
            return Some(None);
        }
        self.skip().map(Some)
    }

    /// A plain integer that fits in `u64`; anything else gives up.
    fn count(&mut self) -> Option<u64> {
        let n = self.number()?;
        if !n.bytes().all(|b| b.is_ascii_digit()) || n.len() > 15 {
            return None; // floats, negatives, and counts where f64 rounding starts
        }
        n.parse().ok()
    }

    fn completion(&mut self) -> Option<RawCompletion<'a>> {
        let mut raw = RawCompletion::default();
        let mut seen = Seen::default();
        self.object(|s, key| {
            match key {
                "id" => {
                    seen.first(0)?;
                    raw.id = s.text()?;
                }
                "model" => {
                    seen.first(1)?;
                    raw.model = s.text()?;
                }
                "object" => {
                    seen.first(2)?;
                    raw.object = s.text()?;
                }
                "choices" => {
                    seen.first(3)?;
                    if !s.null()? {
                        // Filled in place: these structs are large, and moving them costs.
                        let choices = raw.choices.insert(Vec::with_capacity(1));
                        s.array(|s| {
                            choices.push(RawChoice::default());
                            s.choice(choices.last_mut()?)
                        })?;
                    }
                }
                "usage" => {
                    seen.first(4)?;
                    raw.usage = s.or_null(Self::usage)?;
                }
                "error" => {
                    seen.first(5)?;
                    raw.error = s.raw()?;
                }
                _ => {
                    s.skip()?;
                }
            }
            Some(())
        })?;
        Some(raw)
    }

    fn choice(&mut self, choice: &mut RawChoice<'a>) -> Option<()> {
        let mut seen = Seen::default();
        self.object(|s, key| {
            match key {
                "message" => {
                    seen.first(0)?;
                    s.message_into(&mut choice.message)?;
                }
                "delta" => {
                    seen.first(1)?;
                    s.message_into(&mut choice.delta)?;
                }
                "finish_reason" => {
                    seen.first(2)?;
                    choice.finish_reason = s.text()?;
                }
                _ => {
                    s.skip()?;
                }
            }
            Some(())
        })
    }

    /// A message or `null` into `slot`.
    fn message_into(&mut self, slot: &mut Option<RawMessage<'a>>) -> Option<()> {
        if self.null()? {
            *slot = None;
            return Some(());
        }
        self.message(slot.insert(RawMessage::default()))
    }

    fn message(&mut self, message: &mut RawMessage<'a>) -> Option<()> {
        let mut seen = Seen::default();
        self.object(|s, key| {
            match key {
                "content" => {
                    seen.first(0)?;
                    message.content = s.text()?.map(|t| t.0);
                }
                "reasoning_content" => {
                    seen.first(1)?;
                    message.reasoning_content = s.text()?;
                }
                "reasoning" => {
                    seen.first(2)?;
                    message.reasoning = s.text()?;
                }
                "tool_calls" => {
                    seen.first(3)?;
                    message.tool_calls = None;
                    if !s.null()? {
                        let calls = message.tool_calls.insert(Vec::with_capacity(1));
                        s.array(|s| {
                            calls.push(RawToolCall::default());
                            s.call(calls.last_mut()?)
                        })?;
                    }
                }
                "function_call" => {
                    seen.first(4)?;
                    message.function_call = s.or_null(Self::function)?;
                }
                _ => {
                    s.skip()?;
                }
            }
            Some(())
        })
    }

    fn call(&mut self, call: &mut RawToolCall<'a>) -> Option<()> {
        let mut seen = Seen::default();
        self.object(|s, key| {
            match key {
                "index" => {
                    seen.first(0)?;
                    call.index = s.or_null(Self::count)?;
                }
                "id" => {
                    seen.first(1)?;
                    call.id = s.text()?;
                }
                "function" => {
                    seen.first(2)?;
                    call.function = s.or_null(Self::function)?;
                }
                "name" => {
                    seen.first(3)?;
                    call.name = s.text()?;
                }
                "arguments" | "parameters" => {
                    seen.first(4)?;
                    call.arguments = s.raw()?;
                }
                _ => {
                    s.skip()?;
                }
            }
            Some(())
        })
    }

    fn function(&mut self) -> Option<RawFunction<'a>> {
        let mut function = RawFunction::default();
        let mut seen = Seen::default();
        self.object(|s, key| {
            match key {
                "name" => {
                    seen.first(0)?;
                    function.name = s.text()?;
                }
                "arguments" | "parameters" => {
                    seen.first(1)?;
                    function.arguments = s.raw()?;
                }
                _ => {
                    s.skip()?;
                }
            }
            Some(())
        })?;
        Some(function)
    }

    fn usage(&mut self) -> Option<RawUsage> {
        let mut usage = RawUsage::default();
        let mut seen = Seen::default();
        self.object(|s, key| {
            let (bit, slot) = match key {
                "prompt_tokens" => (0, &mut usage.prompt_tokens),
                "completion_tokens" => (1, &mut usage.completion_tokens),
                "total_tokens" => (2, &mut usage.total_tokens),
                _ => return s.skip().map(drop),
            };
            seen.first(bit)?;
            *slot = s.or_null(Self::count)?.unwrap_or(0);
            Some(())
        })?;
        Some(usage)
    }
}

/// Appends the decoded text of `inner`, the contents of a JSON string (between its
/// quotes). `None`, with nothing appended, for what it leaves to serde_json: a
/// `\u` escape of a surrogate that is not part of a pair, and anything that is not
/// a JSON string's contents.
pub(crate) fn unescape_into(out: &mut String, inner: &str) -> Option<()> {
    let start = out.len();
    let done = unescape(out, inner);
    if done.is_none() {
        out.truncate(start);
    }
    done
}

fn unescape(out: &mut String, inner: &str) -> Option<()> {
    let mut rest = inner;
    loop {
        // Runs of plain text between escapes are copied whole.
        let at = first_special(rest.as_bytes());
        let (plain, escape) = rest.split_at_checked(at)?;
        out.push_str(plain);
        match escape.as_bytes().first() {
            None => return Some(()),
            Some(b'\\') => {}
            Some(_) => return None, // a bare quote or a control character
        }
        let (decoded, used) = match escape.as_bytes().get(1)? {
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'/' => ('/', 2),
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            b'u' => {
                let unit = hex4(escape.get(2..6)?)?;
                match unit {
                    0xD800..=0xDBFF => {
                        let low = escape
                            .get(6..8)
                            .filter(|e| *e == "\\u")
                            .and(escape.get(8..12));
                        let low = hex4(low?)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        (char::from_u32(code)?, 12)
                    }
                    0xDC00..=0xDFFF => return None,
                    _ => (char::from_u32(unit)?, 6),
                }
            }
            _ => return None,
        };
        out.push(decoded);
        rest = escape.get(used..)?;
    }
}

/// Four hex digits as a number.
fn hex4(hex: &str) -> Option<u32> {
    if hex.len() != 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// Where the first `"` or `\\` is, or `None` if there is none or a control
/// character (which JSON strings may not hold) comes before it.
fn quote_or_escape(bytes: &[u8]) -> Option<usize> {
    let at = first_special(bytes);
    matches!(bytes.get(at), Some(b'"' | b'\\')).then_some(at)
}

/// Where the first `"`, `\\` or control character is (`bytes.len()` if none).
pub(crate) fn first_special(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    /// The high bit of every byte of `x` that is zero (exact for the lowest one).
    fn zeros(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x & HIGH
    }
    // Eight bytes at a time: the lowest byte that is a quote, a backslash or below 0x20.
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let mut x = [0; 8];
        x.copy_from_slice(word);
        let x = u64::from_le_bytes(x);
        let hits = zeros(x ^ (ONES * u64::from(b'"')))
            | zeros(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if hits != 0 {
            return at + (hits.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let tail = bytes.get(at..).unwrap_or_default();
    at + tail
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(tail.len())
}

/// Whether `text` is one JSON value (whitespace around it allowed), as serde_json
/// judges it: by the scan, and by serde_json where the scan gives up.
pub(crate) fn is_json(text: &str) -> bool {
    scanned_json(text) || serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// Whether the scan reads `text` as one JSON value (`false` also when it gives up).
fn scanned_json(text: &str) -> bool {
    let mut s = Scanner::new(text, 0);
    s.skip().is_some() && s.at_end()
}

#[cfg(test)]
mod tests {
    use super::super::raw::RawCompletion;
    use super::super::tests::{fixture_files, xorshift};
    use super::completion;

    /// Every whole body and every stream event the fixtures hold.
    fn corpus() -> Vec<String> {
        let mut out = Vec::new();
        for (name, text) in fixture_files() {
            if name.ends_with(".json") {
                out.push(text);
            } else if name.ends_with(".sse") || name.ends_with(".txt") {
                for line in text.lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        out.push(data.trim().to_owned());
                    }
                }
            }
        }
        out
    }

    /// What the scan gives, if anything, is what serde_json gives.
    fn agrees(text: &str) -> bool {
        let Some(fast) = completion(text) else {
            return false;
        };
        let slow: RawCompletion<'_> = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("the scan read what serde_json refuses ({e}): {text}"));
        assert_eq!(fast, slow, "{text}");
        true
    }

    #[test]
    fn every_fixture_reads_as_serde_reads_it() {
        let corpus = corpus();
        assert!(corpus.len() > 100, "{} texts", corpus.len());
        let fast = corpus.iter().filter(|t| agrees(t)).count();
        // Everything but `[DONE]`, error events and bodies that are not completions.
        let completions = corpus
            .iter()
            .filter(|t| {
                t.starts_with('{') && !t.contains("\"error\"") && !t.contains("\"messages\"")
            })
            .count();
        assert!(
            fast >= completions,
            "{fast} of {completions} read by the scan"
        );
    }

    #[test]
    fn what_it_is_unsure_of_is_left_to_serde() {
        for text in [
            r#"{"id":"a","id":"b"}"#,
            r#"{"choices":[{"delta":{"content":[{"type":"text","text":"hi"}]}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"}}]} x"#,
            r#"{"choices":[{"delta":{"content":"a"}}]"#,
            r#"{"choices":[{"delta":{"content":"a\q"}}]}"#,
            r#"{"choices":[{"delta":{"content":"a	b"}}]}"#,
            r#"{"id":12}"#,
            r#"{"usage":{"prompt_tokens":1e3}}"#,
            r#"{"usage":{"prompt_tokens":99999999999999999999}}"#,
            r#"{"usage":{"prompt_tokens":"12"}}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1.0}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"arguments":"{}","parameters":"{}"}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[null]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":{"index":0}}}]}"#,
            r#"{"created":01}"#,
            r#"{"created":1.}"#,
            r#"{"created":-}"#,
            r#"{"x":tru}"#,
            r#"{"x":[1,]}"#,
            r#"{"x":{"a":1,}}"#,
            r#"["choices"]"#,
            "",
        ] {
            assert!(completion(text).is_none(), "{text}");
        }
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(completion(&deep).is_none());
    }

    #[test]
    fn escapes_and_odd_spacing_read_as_serde_reads_them() {
        for text in [
            r#"{"choices":[{"delta":{"content":"line\none \"quoted\" \u00e9\ud83d\ude00"}}]}"#,
            r#"{"ch\u006fices":[{"delta":{"content":"key with an escape"}}]}"#,
            " {\n\t\"choices\" : [ { \"delta\" : { \"content\" : \"x\" } , \"finish_reason\" : null } ] }\r\n",
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":{"a":[1,2.5e-3,true,null,"\\"]}}}]}}],"usage":{"prompt_tokens":7,"total_tokens":null}}"#,
            r#"{"choices":null,"usage":null,"error":null,"id":null}"#,
            r#"{"object":"error","message":"boom","code":400}"#,
            r#"{"error":{"message":"boom"}}"#,
            r#"{"choices":[{"message":{"function_call":{"name":"f","parameters":"{}"}}}]}"#,
            r#"{"choices":[]}"#,
            "{}",
        ] {
            assert!(agrees(text), "{text}");
        }
    }

    /// Random edits of real texts: whenever the scan reads one, serde_json reads it the same.
    #[test]
    fn mutated_fixtures_never_read_differently() {
        const BYTES: &[u8] = b"\"\\{}[],:0-.eEnu \x01a";
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut read, mut tried, mut json) = (0, 0, 0);
        for text in corpus().iter().filter(|t| t.len() < 4000) {
            for _ in 0..200 {
                let mut bytes = text.as_bytes().to_vec();
                for _ in 0..=(next() % 2) {
                    let at = (next() as usize) % (bytes.len() + 1);
                    let byte = BYTES[(next() as usize) % BYTES.len()];
                    match next() % 3 {
                        0 if at < bytes.len() => {
                            bytes.remove(at);
                        }
                        1 if at < bytes.len() => bytes[at] = byte,
                        _ => bytes.insert(at, byte),
                    }
                }
                let Ok(mutated) = std::str::from_utf8(&bytes) else {
                    continue;
                };
                tried += 1;
                let serde_ok = serde_json::from_str::<serde::de::IgnoredAny>(mutated).is_ok();
                assert!(!super::scanned_json(mutated) || serde_ok, "{mutated}");
                json += usize::from(super::scanned_json(mutated));
                if agrees(mutated) {
                    read += 1;
                }
            }
        }
        assert!(tried > 10_000 && read > tried / 10, "{read} of {tried}");
        assert!(json >= read, "{json} whole values of {tried}");
    }

    #[test]
    fn escapes_decode_as_serde_decodes_them() {
        let pieces = [
            "a",
            "é",
            "😀",
            " ",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\n",
            "\\r",
            "\\t",
            "\\u00e9",
            "\\u0041",
            "\\u20AC",
            "\\ud83d\\ude00",
            "\\uD83D\\uDE00",
            "\\ud83d",
            "\\ude00",
            "\\ud83dx",
            "\\ud83d\\u0041",
            "\\u12",
            "\\u12G4",
            "\\u+123",
            "\\x",
            "\\",
            "\\u0000",
        ];
        let mut next = xorshift(0x1234_5678_9abc_def1);
        let (mut ours, mut total) = (0, 0);
        for _ in 0..20_000 {
            let mut inner = String::new();
            for _ in 0..=(next() % 5) {
                inner.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            }
            let serde = serde_json::from_str::<String>(&format!("\"{inner}\"")).ok();
            let mut out = String::from("kept:");
            let decoded = super::unescape_into(&mut out, &inner);
            total += 1;
            match (decoded, &serde) {
                (Some(()), Some(want)) => {
                    assert_eq!(out, format!("kept:{want}"), "{inner}");
                    ours += 1;
                }
                (Some(()), None) => panic!("decoded what serde_json refuses: {inner} as {out}"),
                (None, _) => assert_eq!(out, "kept:", "{inner}: a refusal appends nothing"),
            }
            // Everything but lone surrogates is decoded here.
            if serde.is_some() && !inner.to_ascii_lowercase().contains("\\ud") {
                assert!(decoded.is_some(), "left to serde_json: {inner}");
            }
        }
        assert!(ours > total / 3, "{ours} of {total}");
    }
}
