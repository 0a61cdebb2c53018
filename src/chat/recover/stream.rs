//! Streams: server-sent events read tolerantly, and the one assembler that folds
//! chunks into a [`ChatResponse`], for live streams and buffered ones alike.

use std::borrow::Cow;
use std::collections::VecDeque;

use super::content::{self, Draft, DraftCall, Ending, Meta};
use super::error_body::{self, truncate};
use super::raw::{LenientStr, RawCompletion, RawJson, RawMessage};
use super::scan;
use crate::chat::{ChatResponse, StreamEvent, Usage};
use crate::error::{Error, Result};

/// One unit the decoder hands on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// The data of one event, as sent (its UTF-8 not yet checked).
    Data(&'a [u8]),
    /// An error sent instead of data: `event: error`, or llama.cpp's old `error: {…}` line.
    Error(&'a str),
}

/// A line-based reader of server-sent events, tolerant where servers differ from
/// the spec: `\n` or `\r\n`, `data:` with or without the space, comments and
/// keep-alives, an event split across reads, a last event with no blank line
/// after it, an `error:` line, a JSON line with no `data:` before it.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    /// The unfinished line.
    line: Vec<u8>,
    /// The data lines of the current event, joined by `\n`.
    data: Vec<u8>,
    /// Whether the current event is `event: error`.
    error_event: bool,
    /// Whether the current event has a data line.
    has_data: bool,
}

impl SseDecoder {
    /// Reads `bytes`, handing every finished event to `sink`.
    pub(crate) fn feed(
        &mut self,
        bytes: &[u8],
        sink: &mut dyn FnMut(Frame<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut rest = bytes;
        while let Some(at) = memchr::memchr(b'\n', rest) {
            let (head, tail) = rest.split_at(at);
            rest = tail.get(1..).unwrap_or_default();
            if self.line.is_empty() {
                // The common case, `data: {…}` and a blank line in the same read: no copy.
                if !self.has_data
                    && !self.error_event
                    && let Some(value) = head.strip_prefix(b"data:")
                    && let Some(after) = rest
                        .strip_prefix(b"\n")
                        .or_else(|| rest.strip_prefix(b"\r\n"))
                {
                    let value = value.strip_prefix(b" ").unwrap_or(value);
                    let value = value.strip_suffix(b"\r").unwrap_or(value);
                    rest = after;
                    sink(Frame::Data(value))?;
                    continue;
                }
                self.line_done(head, sink)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                let result = self.line_done(&line, sink);
                line.clear();
                self.line = line;
                result?;
            }
        }
        self.line.extend_from_slice(rest);
        Ok(())
    }

    /// The end of the body: the unfinished line and event are handed on too.
    pub(crate) fn end(&mut self, sink: &mut dyn FnMut(Frame<'_>) -> Result<()>) -> Result<()> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, sink)?;
        }
        self.dispatch(sink)
    }

    fn line_done(
        &mut self,
        line: &[u8],
        sink: &mut dyn FnMut(Frame<'_>) -> Result<()>,
    ) -> Result<()> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return self.dispatch(sink);
        }
        if line.first() == Some(&b':') {
            return Ok(()); // a comment or keep-alive
        }
        if line.first() == Some(&b'{') {
            // JSON with no `data:` before it.
            return self.data_line(line);
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(at) => (
                line.get(..at).unwrap_or_default(),
                line.get(at + 1..).unwrap_or_default(),
            ),
            None => (line, &b""[..]),
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match field {
            b"data" => self.data_line(value),
            b"event" => {
                self.error_event = value.trim_ascii() == b"error";
                Ok(())
            }
            b"error" => {
                self.dispatch(sink)?;
                sink(Frame::Error(&String::from_utf8_lossy(value)))
            }
            _ => Ok(()), // id, retry, and fields nobody defined
        }
    }

    fn data_line(&mut self, value: &[u8]) -> Result<()> {
        if self.has_data {
            self.data.push(b'\n');
        }
        self.data.extend_from_slice(value);
        self.has_data = true;
        Ok(())
    }

    fn dispatch(&mut self, sink: &mut dyn FnMut(Frame<'_>) -> Result<()>) -> Result<()> {
        let error = std::mem::take(&mut self.error_event);
        if !std::mem::take(&mut self.has_data) {
            return Ok(());
        }
        let result = if error {
            sink(Frame::Error(&String::from_utf8_lossy(&self.data)))
        } else {
            sink(Frame::Data(&self.data))
        };
        self.data.clear();
        result
    }
}

/// Folds stream chunks into one response, and (when asked) into live events.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    content: Option<String>,
    reasoning: Option<String>,
    slots: Vec<Slot>,
    legacy: Option<DraftCall>,
    meta: Meta,
    chunks: usize,
    done: bool,
    /// A `finish_reason` of `""` was seen (kept as the reason if no real one comes).
    empty_finish: bool,
    live: Option<Live>,
    /// Reused for each fragment's arguments.
    scratch: String,
    /// The last chunk read in full, when the next ones may differ from it in one piece only.
    template: Template,
    /// Every chunk read in full (the tests' reference for the template).
    #[cfg(test)]
    pub(super) no_template: bool,
    /// Chunks read through the template.
    #[cfg(test)]
    pub(super) hits: usize,
}

/// A tool call being put together from fragments.
#[derive(Debug, Default)]
struct Slot {
    index: Option<u64>,
    call: DraftCall,
}

impl Slot {
    /// A name and arguments that are whole JSON: a later fragment with a new id
    /// or a new name is another call.
    fn is_complete(&self) -> bool {
        !self.call.name.is_empty() && content::is_json(&self.call.arguments)
    }
}

impl Assembler {
    /// An assembler that also produces live events.
    pub(crate) fn live() -> Self {
        Self {
            live: Some(Live::default()),
            ..Self::default()
        }
    }

    /// Reads one frame; live events (if any) go to `events`.
    pub(crate) fn frame(
        &mut self,
        frame: Frame<'_>,
        events: &mut VecDeque<StreamEvent>,
    ) -> Result<()> {
        match frame {
            Frame::Error(text) => Err(error_body::error_in_success(200, text.trim().as_bytes())),
            Frame::Data(data) => self.data_bytes(data, events),
        }
    }

    /// One event's data: through the template if it fits (only the new piece's
    /// UTF-8 is checked then), else read in full.
    fn data_bytes(&mut self, data: &[u8], events: &mut VecDeque<StreamEvent>) -> Result<()> {
        #[cfg(test)]
        let quick = !self.no_template;
        #[cfg(not(test))]
        let quick = true;
        if quick && let Some(hit) = self.template.read(data) {
            self.chunks += 1;
            #[cfg(test)]
            {
                self.hits += 1;
            }
            match hit {
                Hit::Text(Piece::Text, piece) => self.text_piece(&piece, events),
                Hit::Text(_, piece) => self.reasoning_piece(piece, events),
                Hit::Arguments(index, arguments) => {
                    self.call_part(index, 0, None, None, Some(arguments));
                }
            }
            return Ok(());
        }
        match std::str::from_utf8(data) {
            Ok(text) => self.data(text, events),
            Err(_) => self.data(&String::from_utf8_lossy(data), events),
        }
    }

    fn data(&mut self, data: &str, events: &mut VecDeque<StreamEvent>) -> Result<()> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        match super::raw::read(data) {
            Ok(chunk) => {
                let template = Template::candidate(&chunk, data);
                self.chunk(chunk, data, events)?;
                self.template.keep(template, data);
                Ok(())
            }
            // Several `data:` lines with no blank line between them: one chunk a line.
            Err(_) if data.contains('\n') => {
                for line in data.lines() {
                    self.data(line, events)?;
                }
                Ok(())
            }
            Err(e) => Err(Error::InvalidResponse {
                reason: format!("a stream chunk is not JSON: {e}"),
                body: truncate(data, 512).to_owned(),
            }),
        }
    }

    fn chunk(
        &mut self,
        mut chunk: RawCompletion<'_>,
        data: &str,
        events: &mut VecDeque<StreamEvent>,
    ) -> Result<()> {
        if error_body::is_error(&chunk) {
            return Err(error_body::error_in_success(200, data.as_bytes()));
        }
        self.chunks += 1;
        if self.meta.id.is_none() {
            self.meta.id = chunk
                .id
                .map(LenientStr::into_string)
                .filter(|s| !s.is_empty());
        }
        if self.meta.model.is_none() {
            self.meta.model = chunk
                .model
                .map(LenientStr::into_string)
                .filter(|s| !s.is_empty());
        }
        if let Some(u) = chunk.usage {
            self.meta.usage = Some(Usage::from(u));
        }
        for choice in chunk.choices.iter_mut().flatten() {
            // Some servers send `""` on every chunk: only a real reason ends the answer.
            match choice.finish_reason.take() {
                Some(reason) if reason.0.trim().is_empty() => self.empty_finish = true,
                Some(reason) => self.meta.finish_reason = Some(reason.into_string()),
                None => {}
            }
            if let Some(delta) = choice.delta.as_mut().or(choice.message.as_mut()) {
                self.delta(delta, events);
            }
        }
        Ok(())
    }

    fn delta(&mut self, delta: &mut RawMessage<'_>, events: &mut VecDeque<StreamEvent>) {
        if let Some(piece) = delta.reasoning_text() {
            self.reasoning_piece(piece, events);
        }
        if let Some(piece) = delta.content.take() {
            self.text_piece(&piece, events);
        }
        for (position, mut part) in delta.tool_calls.take().into_iter().flatten().enumerate() {
            let index = part.index;
            let id = part.id.take().map(|id| id.0);
            let (name, args) = part.parts();
            self.call_part(index, position, id, name, args);
        }
        if let Some(f) = delta.function_call.take() {
            let legacy = self.legacy.get_or_insert_with(DraftCall::default);
            if let Some(name) = f.name.map(LenientStr::into_string) {
                merge_name(&mut legacy.name, &name);
            }
            content::push_arguments(&mut legacy.arguments, f.arguments);
        }
    }

    fn reasoning_piece(&mut self, piece: Cow<'_, str>, events: &mut VecDeque<StreamEvent>) {
        if piece.is_empty() {
            return;
        }
        self.reasoning
            .get_or_insert_with(String::new)
            .push_str(&piece);
        if let Some(live) = &mut self.live {
            live.reason(piece.into_owned(), events);
        }
    }

    fn text_piece(&mut self, piece: &str, events: &mut VecDeque<StreamEvent>) {
        if let Some(live) = &mut self.live {
            live.text(piece, events);
        }
        self.content.get_or_insert_with(String::new).push_str(piece);
    }

    /// One entry of a delta's `tool_calls`, its arguments decoded.
    fn call_part(
        &mut self,
        index: Option<u64>,
        position: usize,
        id: Option<Cow<'_, str>>,
        name: Option<Cow<'_, str>>,
        args: Option<RawJson<'_>>,
    ) {
        let mut arguments = std::mem::take(&mut self.scratch);
        content::push_arguments(&mut arguments, args);
        self.fragment(index, position, id, name, &arguments);
        arguments.clear();
        self.scratch = arguments;
    }

    /// One tool-call fragment: which call it belongs to, by id first, then index.
    fn fragment(
        &mut self,
        index: Option<u64>,
        position: usize,
        id: Option<Cow<'_, str>>,
        name: Option<Cow<'_, str>>,
        arguments: &str,
    ) {
        let id = id.filter(|s| !s.trim().is_empty());
        let name = name.filter(|s| !s.trim().is_empty());
        let by_id = id
            .as_deref()
            .and_then(|id| self.slots.iter().rposition(|s| s.call.id == id));
        let at = match (by_id, &id, index) {
            (Some(at), _, _) => Some(at),
            // A new id: the call at this index, if it has no id yet and is not done; else a new call.
            (None, Some(_), _) => index
                .and_then(|i| self.slots.iter().rposition(|s| s.index == Some(i)))
                .filter(|&at| {
                    self.slots
                        .get(at)
                        .is_some_and(|s| s.call.id.is_empty() && !s.is_complete())
                }),
            // No id: the call at this index, else (no index either) the last call.
            (None, None, Some(i)) => self.slots.iter().rposition(|s| s.index == Some(i)),
            // Neither: the last call, unless this is a later entry of one delta.
            (None, None, None) if position == 0 => self.slots.len().checked_sub(1),
            (None, None, None) => None,
        };
        // A whole call already there and a new name: another call.
        let at = at.filter(|&at| {
            let Some(slot) = self.slots.get(at) else {
                return false;
            };
            match &name {
                Some(n) if id.is_none() && slot.is_complete() => {
                    slot.call.name == *n && arguments.is_empty()
                }
                _ => true,
            }
        });
        let slot = match at.and_then(|at| self.slots.get_mut(at)) {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    index,
                    call: DraftCall::default(),
                });
                let Some(slot) = self.slots.last_mut() else {
                    return;
                };
                slot
            }
        };
        if let Some(id) = id
            && slot.call.id.is_empty()
        {
            slot.call.id = id.into_owned();
        }
        if let Some(name) = name {
            merge_name(&mut slot.call.name, &name);
        }
        slot.call.arguments.push_str(arguments);
    }

    /// The end of the stream: the response, or why there is none. Live events
    /// for what was held back, the calls, the usage and the response go to `events`.
    pub(crate) fn finish(self, events: &mut VecDeque<StreamEvent>) -> Result<ChatResponse> {
        let (response, live) = self.response()?;
        if let Some(live) = live {
            live.finish(response.clone(), events);
        }
        Ok(response)
    }

    /// The end of a live stream: what [`finish`](Self::finish) gives, the response
    /// moved into the last event rather than copied.
    pub(crate) fn finish_live(self, events: &mut VecDeque<StreamEvent>) -> Result<()> {
        let (response, live) = self.response()?;
        live.unwrap_or_default().finish(response, events);
        Ok(())
    }

    fn response(mut self) -> Result<(ChatResponse, Option<Live>)> {
        if self.chunks == 0 {
            return Err(Error::InvalidResponse {
                reason: "the stream has no chunks".to_owned(),
                body: String::new(),
            });
        }
        let ending = if self.done || self.meta.finish_reason.is_some() {
            Ending::Complete
        } else {
            Ending::Cut
        };
        if self.meta.finish_reason.is_none() && self.empty_finish {
            self.meta.finish_reason = Some(String::new());
        }
        let draft = Draft {
            content: self.content,
            reasoning: self.reasoning,
            calls: self.slots.into_iter().map(|s| s.call).collect(),
            function_call: self.legacy,
        };
        Ok((content::finish(draft, self.meta, ending)?, self.live))
    }
}

/// The last chunk read in full, kept when the next ones may repeat it byte for byte
/// but for one piece: its text, its reasoning, or the arguments of its one call
/// fragment. Servers send the same `id`, `model`, `created` and layout in every
/// chunk, so a chunk whose bytes equal the kept one's outside that piece's string,
/// and whose string there is well formed, reads as the kept one with the new piece,
/// which is all it adds to the answer. Anything else is read in full.
///
/// vLLM sends reasoning twice in each chunk (`reasoning` and `reasoning_content`,
/// the same text): a piece may have two strings, which must then be equal.
#[derive(Debug, Default)]
struct Template {
    text: String,
    /// Where the piece's strings open and close (their quotes) in `text`, in order;
    /// only the first `strings` are used.
    spans: [(usize, usize); 2],
    strings: usize,
    /// What the piece is; `None` when no chunk is kept.
    piece: Option<Piece>,
}

/// Which field a template's piece is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Text,
    Reasoning,
    /// The arguments of a call fragment with this `index` and no id or name.
    Arguments(Option<u64>),
}

/// What a chunk may be kept as: its piece and where the piece's strings are.
type Candidate = (Piece, [(usize, usize); 2], usize);

/// A chunk read through the template: its new piece.
enum Hit<'d> {
    Text(Piece, Cow<'d, str>),
    Arguments(Option<u64>, RawJson<'d>),
}

impl Template {
    /// Whether `chunk` (read from `data`) can be kept: one choice, whose delta carries
    /// exactly one piece (or the same reasoning under both names), in strings written
    /// straight after their keys with no escapes.
    fn candidate(chunk: &RawCompletion<'_>, data: &str) -> Option<Candidate> {
        let [choice] = chunk.choices.as_deref()? else {
            return None;
        };
        let delta = choice.delta.as_ref().filter(|_| choice.message.is_none())?;
        let fields = [
            delta.content.is_some(),
            delta.reasoning_content.is_some(),
            delta.reasoning.is_some(),
            delta.tool_calls.is_some(),
            delta.function_call.is_some(),
        ];
        fn borrowed<'a>(s: Option<&LenientStr<'a>>) -> Option<&'a str> {
            match s {
                Some(LenientStr(Cow::Borrowed(text))) => Some(text),
                _ => None,
            }
        }
        let span = |inner: &str, key: &str| string_span(data, inner, key);
        match fields {
            [true, false, false, false, false] => match &delta.content {
                Some(Cow::Borrowed(text)) => {
                    Some((Piece::Text, [span(text, "content")?, (0, 0)], 1))
                }
                _ => None,
            },
            [false, true, false, false, false] => {
                let text = borrowed(delta.reasoning_content.as_ref())?;
                let at = span(text, "reasoning_content")?;
                Some((Piece::Reasoning, [at, (0, 0)], 1))
            }
            [false, false, true, false, false] => {
                let text = borrowed(delta.reasoning.as_ref())?;
                Some((Piece::Reasoning, [span(text, "reasoning")?, (0, 0)], 1))
            }
            [false, true, true, false, false] => {
                let a = borrowed(delta.reasoning_content.as_ref())?;
                let b = borrowed(delta.reasoning.as_ref())?;
                if a != b {
                    return None;
                }
                let (a, b) = (span(a, "reasoning_content")?, span(b, "reasoning")?);
                Some((Piece::Reasoning, [a.min(b), a.max(b)], 2))
            }
            [false, false, false, true, false] => {
                let [call] = delta.tool_calls.as_deref()? else {
                    return None;
                };
                let function = call.function.as_ref();
                if call.id.is_some()
                    || call.name.is_some()
                    || function.is_some_and(|f| f.name.is_some())
                {
                    return None;
                }
                let quoted = function.and_then(|f| f.arguments).or(call.arguments)?.get();
                let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
                let at = span(inner, "arguments").or_else(|| span(inner, "parameters"))?;
                Some((Piece::Arguments(call.index), [at, (0, 0)], 1))
            }
            _ => None,
        }
    }

    /// Keeps `data` as the template, or forgets the last one.
    fn keep(&mut self, candidate: Option<Candidate>, data: &str) {
        self.piece = None;
        if let Some((piece, spans, strings)) = candidate {
            self.text.clear();
            self.text.push_str(data);
            (self.piece, self.spans, self.strings) = (Some(piece), spans, strings);
        }
    }

    /// `data` read through the template, if it differs from it in the piece alone.
    fn read<'d>(&self, data: &'d [u8]) -> Option<Hit<'d>> {
        let piece = self.piece?;
        let (old, new) = (self.text.as_bytes(), data);
        let spans = self.spans.get(..self.strings)?;
        // Every string of the piece has the same new length.
        let inner: usize = spans.iter().map(|(open, close)| close - open - 1).sum();
        let fixed = old.len().checked_sub(inner)?;
        let grown = new.len().checked_sub(fixed)?;
        if grown % self.strings != 0 {
            return None;
        }
        let len = grown / self.strings;
        let (mut at_old, mut at_new, mut first) = (0, 0, None);
        for &(open, close) in spans {
            let same = old.get(at_old..=open)?;
            if new.get(at_new..at_new + same.len())? != same {
                return None;
            }
            at_new += same.len();
            let string = new.get(at_new..at_new + len)?;
            if first.is_some_and(|f| f != string) {
                return None;
            }
            first.get_or_insert(string);
            (at_old, at_new) = (close, at_new + len);
        }
        if new.get(at_new..)? != old.get(at_old..)? {
            return None;
        }
        // The rest is the template's bytes, so only the piece's UTF-8 needs checking.
        let open = spans.first()?.0;
        let quoted = std::str::from_utf8(new.get(open..=open + len + 1)?).ok()?;
        match piece {
            Piece::Arguments(index) => {
                (scan::string_end(quoted, 0)? == quoted.len()).then_some(())?;
                Some(Hit::Arguments(index, RawJson(quoted)))
            }
            _ => {
                let (text, end) = scan::string_at(quoted, 0)?;
                (end == quoted.len()).then_some(Hit::Text(piece, text))
            }
        }
    }
}

/// Where the quotes of `inner`, a string's contents borrowed from `data` and the
/// value of `key` there (not text deeper inside it), are.
fn string_span(data: &str, inner: &str, key: &str) -> Option<(usize, usize)> {
    let start = offset(data, inner)?;
    let (open, close) = (start.checked_sub(1)?, start + inner.len());
    let bytes = data.as_bytes();
    if bytes.get(open) != Some(&b'"') || bytes.get(close) != Some(&b'"') {
        return None;
    }
    let before = data.get(..open)?.trim_end().strip_suffix(':')?.trim_end();
    before
        .strip_suffix('"')
        .and_then(|b| b.strip_suffix(key))
        .is_some_and(|b| b.ends_with('"'))
        .then_some((open, close))
}

/// Where `part`, a slice of `text`, starts in it.
fn offset(text: &str, part: &str) -> Option<usize> {
    let at = part.as_ptr().addr().checked_sub(text.as_ptr().addr())?;
    (text.get(at..at + part.len())?.as_ptr() == part.as_ptr()).then_some(at)
}

/// A name sent whole (perhaps again in every fragment) or in pieces.
fn merge_name(current: &mut String, piece: &str) {
    if current.is_empty() {
        piece.clone_into(current);
    } else if current != piece {
        current.push_str(piece);
    }
}

/// Reads a whole streamed body (a server that streams although not asked).
pub(crate) fn parse_stream(body: &[u8]) -> Result<ChatResponse> {
    let mut decoder = SseDecoder::default();
    let mut assembler = Assembler::default();
    let mut events = VecDeque::new();
    let mut sink = |frame: Frame<'_>| assembler.frame(frame, &mut events);
    decoder.feed(body, &mut sink)?;
    decoder.end(&mut sink)?;
    assembler
        .finish(&mut events)
        .map_err(|e| with_body(e, body))
}

/// An unreadable-stream error with the body it came from.
fn with_body(error: Error, body: &[u8]) -> Error {
    match error {
        Error::InvalidResponse { reason, body: b } if b.is_empty() => Error::InvalidResponse {
            reason,
            body: truncate(String::from_utf8_lossy(body).trim(), 512).to_owned(),
        },
        other => other,
    }
}

/// The events for a whole response: what a stream of it would yield.
pub(crate) fn events_of(response: ChatResponse, events: &mut VecDeque<StreamEvent>) {
    Live::default().finish(response, events);
}

/// What live text deltas have shown so far, and what is held back until the end.
///
/// A leading `<think>` block goes out as reasoning. Text that may be a call left
/// in the text (a `<tool_call>` block, `[TOOL_CALLS]`, JSON) or a leaked end token
/// is held; at the end, whatever the final answer has beyond what was shown goes out.
#[derive(Debug, Default)]
struct Live {
    mode: Mode,
    pending: String,
    shown_text: String,
    shown_reasoning: String,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing but whitespace yet.
    #[default]
    Start,
    /// Inside a leading `<think>`.
    Think,
    /// Plain text.
    Text,
    /// Held until the end.
    Held,
}

/// Starts of text that may be calls left in content; held until the end.
const HOLD_STARTS: [&str; 6] = [
    "<tool_call>",
    "[TOOL_CALLS]",
    "<|python_tag|>",
    "{",
    "[",
    "```",
];

impl Live {
    fn text(&mut self, piece: &str, events: &mut VecDeque<StreamEvent>) {
        // Every marker starts with `<` or `[`: plain text goes out as it is.
        if self.mode == Mode::Text
            && self.pending.is_empty()
            && memchr::memchr2(b'<', b'[', piece.as_bytes()).is_none()
        {
            self.show(piece.to_owned(), events);
            return;
        }
        self.pending.push_str(piece);
        loop {
            match self.mode {
                Mode::Held => return,
                Mode::Start => {
                    let t = self.pending.trim_start();
                    if t.is_empty() {
                        return;
                    }
                    if let Some(rest) = t.strip_prefix("<think>") {
                        self.pending = rest.trim_start().to_owned();
                        self.mode = Mode::Think;
                        continue;
                    }
                    if HOLD_STARTS.iter().any(|m| t.starts_with(m)) {
                        self.mode = Mode::Held;
                        return;
                    }
                    if "<think>".starts_with(t) || HOLD_STARTS.iter().any(|m| m.starts_with(t)) {
                        return; // may still become a marker
                    }
                    self.pending = t.to_owned();
                    self.mode = Mode::Text;
                }
                Mode::Think => {
                    if let Some(end) = self.pending.find("</think>") {
                        let thought = self.pending.get(..end).unwrap_or_default().to_owned();
                        let after = self
                            .pending
                            .get(end + "</think>".len()..)
                            .unwrap_or_default()
                            .to_owned();
                        self.reason(thought.trim_end().to_owned(), events);
                        self.pending = after;
                        self.mode = Mode::Start;
                        continue;
                    }
                    let keep = partial_suffix(&self.pending, &["</think>"]);
                    let cut = self.pending.len() - keep;
                    let thought: String = self.pending.drain(..cut).collect();
                    self.reason(thought, events);
                    return;
                }
                Mode::Text => {
                    if let Some(at) = TEXT_MARKERS
                        .iter()
                        .filter_map(|m| self.pending.find(m))
                        .min()
                    {
                        let shown: String = self.pending.drain(..at).collect();
                        self.show(shown, events);
                        self.mode = Mode::Held;
                        return;
                    }
                    let keep = partial_suffix(&self.pending, &TEXT_MARKERS);
                    let cut = self.pending.len() - keep;
                    let shown: String = self.pending.drain(..cut).collect();
                    self.show(shown, events);
                    return;
                }
            }
        }
    }

    fn show(&mut self, text: String, events: &mut VecDeque<StreamEvent>) {
        if !text.is_empty() {
            self.shown_text.push_str(&text);
            events.push_back(StreamEvent::Text(text));
        }
    }

    fn reason(&mut self, text: String, events: &mut VecDeque<StreamEvent>) {
        if !text.is_empty() {
            self.shown_reasoning.push_str(&text);
            events.push_back(StreamEvent::Reasoning(text));
        }
    }

    /// What the final response has beyond what was shown, then its calls, usage and itself.
    fn finish(mut self, response: ChatResponse, events: &mut VecDeque<StreamEvent>) {
        if let Some(reasoning) = &response.message.reasoning
            && let Some(rest) = reasoning.strip_prefix(self.shown_reasoning.as_str())
        {
            let rest = rest.to_owned();
            self.reason(rest, events);
        }
        if let Some(text) = &response.message.content
            && let Some(rest) = text.strip_prefix(self.shown_text.as_str())
        {
            let rest = rest.to_owned();
            self.show(rest, events);
        }
        for call in &response.message.tool_calls {
            events.push_back(StreamEvent::ToolCall(call.clone()));
        }
        if let Some(usage) = response.usage {
            events.push_back(StreamEvent::Usage(usage));
        }
        events.push_back(StreamEvent::Done(Box::new(response)));
    }
}

/// Markers inside text after which everything is held: calls left in the text,
/// leaked end tokens (the same list as in `content`), a late `</think>`.
const TEXT_MARKERS: [&str; 10] = [
    "<tool_call>",
    "[TOOL_CALLS]",
    "<|python_tag|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<|endoftext|>",
    "</s>",
    "<end_of_turn>",
    "</think>",
];

/// The length of the longest end of `text` that is the start of a marker.
fn partial_suffix(text: &str, markers: &[&str]) -> usize {
    let mut best = 0;
    for m in markers {
        for len in (1..m.len().min(text.len() + 1)).rev() {
            if len <= best {
                break;
            }
            if let (Some(tail), Some(head)) = (text.get(text.len() - len..), m.get(..len))
                && tail == head
            {
                best = len;
                break;
            }
        }
    }
    best
}
