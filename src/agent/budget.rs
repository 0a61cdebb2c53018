//! A context budget: each tool message gets at most a share of the model's context window,
//! and the history is made to fit the window (less room for the answer) before each request.
//!
//! Tokens are estimated cheaply from bytes, with a bytes-per-token ratio calibrated on the
//! server's own count: after each response, the ratio becomes the bytes of the prompt just
//! sent divided by the response's `usage.prompt_tokens`.

use crate::chat::Message;
use crate::error::{Error, Result};

/// The default share of the window one tool message may take.
pub const DEFAULT_TOOL_SHARE: f64 = 0.15;
/// The bytes-per-token ratio assumed before the server has counted anything: low (so
/// estimates run high) for JSON and logs, which tokenize densely.
pub const DEFAULT_BYTES_PER_TOKEN: f64 = 3.0;

/// Where the window size comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Window {
    Fixed(u64),
    FromServer { fallback: Option<u64> },
}

/// How much of the model's context window a conversation may use.
///
/// Off unless set with [`Agent::context_budget`](crate::Agent::context_budget). With it,
/// each tool message is cut to [`tool_share`](Self::tool_share) of the window (besides the
/// dispatcher's byte cap), and before each request the largest tool messages are cut
/// first, fairly (to one level, so that smaller ones stay whole), until the history fits
/// the window less [`answer_reserve`](Self::answer_reserve). The system prompt, user
/// messages and assistant messages are never cut. A cut leaves a marker that tells the
/// model how much was cut and how to ask for less; each is reported as a
/// [`RunEvent::ContextCut`](super::RunEvent::ContextCut).
///
/// A setting it cannot use (a share outside `(0, 1]`, a ratio that is not positive) is
/// kept and reported as [`Error::Config`] before the run's first request.
///
/// ```
/// use toolcall::agent::ContextBudget;
/// let fixed = ContextBudget::new(32_768).tool_share(0.10).answer_reserve(2_048);
/// let read = ContextBudget::from_server().fallback(8_192); // llama.cpp's `/props`
/// # let _ = (fixed, read);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ContextBudget {
    window: Window,
    tool_share: f64,
    reserve: Option<u64>,
    bytes_per_token: f64,
    problem: Option<String>,
}

impl ContextBudget {
    /// A window of `tokens`.
    #[must_use]
    pub fn new(tokens: u64) -> Self {
        Self::with(Window::Fixed(tokens))
    }

    /// The window the server reports ([`ChatBackend::context_window`](crate::ChatBackend::context_window):
    /// llama.cpp's `/props`), read once per agent; no budget when it reports none (unless
    /// a [`fallback`](Self::fallback) is set).
    #[must_use]
    pub fn from_server() -> Self {
        Self::with(Window::FromServer { fallback: None })
    }

    fn with(window: Window) -> Self {
        Self {
            window,
            tool_share: DEFAULT_TOOL_SHARE,
            reserve: None,
            bytes_per_token: DEFAULT_BYTES_PER_TOKEN,
            problem: None,
        }
    }

    /// The window to use when the server reports none.
    #[must_use]
    pub fn fallback(mut self, tokens: u64) -> Self {
        if let Window::FromServer { fallback } = &mut self.window {
            *fallback = Some(tokens);
        }
        self
    }

    /// The share of the window one tool message may take (default 0.15), in `(0, 1]`.
    #[must_use]
    pub fn tool_share(mut self, share: f64) -> Self {
        if share > 0.0 && share <= 1.0 {
            self.tool_share = share;
        } else {
            self.note(format!(
                "the tool share of the context window must be in (0, 1], not {share}"
            ));
        }
        self
    }

    /// Tokens kept free for the answer (default: a quarter of the window, at most 4096).
    #[must_use]
    pub fn answer_reserve(mut self, tokens: u64) -> Self {
        self.reserve = Some(tokens);
        self
    }

    /// The bytes-per-token ratio assumed until the server's first `usage` (default 3.0).
    #[must_use]
    pub fn bytes_per_token(mut self, ratio: f64) -> Self {
        if ratio.is_finite() && ratio > 0.0 {
            self.bytes_per_token = ratio;
        } else {
            self.note(format!(
                "the bytes-per-token ratio must be positive, not {ratio}"
            ));
        }
        self
    }

    fn note(&mut self, problem: String) {
        if self.problem.is_none() {
            self.problem = Some(problem);
        }
    }

    /// Reports the first setting this budget could not use.
    ///
    /// # Errors
    /// [`Error::Config`] with that problem.
    pub fn check(&self) -> Result<()> {
        match &self.problem {
            Some(p) => Err(Error::Config(p.clone())),
            None => Ok(()),
        }
    }

    /// Whether the window is read from the server.
    pub(super) fn reads_server_window(&self) -> Option<Option<u64>> {
        match self.window {
            Window::Fixed(_) => None,
            Window::FromServer { fallback } => Some(fallback),
        }
    }

    /// The meter for a run with a window of `window` tokens.
    pub(super) fn meter(&self, window: Option<u64>) -> Option<Meter> {
        let window = match self.window {
            Window::Fixed(w) => w,
            Window::FromServer { fallback } => window.or(fallback)?,
        };
        let reserve = self.reserve.unwrap_or((window / 4).min(4096)).min(window);
        Some(Meter {
            window,
            reserve,
            share: self.tool_share,
            ratio: self.bytes_per_token,
        })
    }
}

/// Why a tool message was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CutReason {
    /// It was over its share of the window when it arrived.
    Share,
    /// The history did not fit the window before a request.
    Window,
}

/// One tool message cut to fit (see [`ContextBudget`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cut {
    /// The id of the call the message answers.
    pub tool_call_id: String,
    /// The tool's name, when known.
    pub tool: Option<String>,
    /// Its size before, in bytes.
    pub before: usize,
    /// Its size after (marker included), in bytes.
    pub after: usize,
    /// Why.
    pub reason: CutReason,
}

/// A run's budget in force: the window and the calibrated ratio.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Meter {
    window: u64,
    reserve: u64,
    share: f64,
    ratio: f64,
}

/// The smallest a cut message gets: the marker alone.
const MIN_KEEP: usize = 160;

impl Meter {
    /// The window, in tokens.
    #[cfg(test)]
    pub(super) fn window(&self) -> u64 {
        self.window
    }

    /// The bytes-per-token ratio now in use.
    #[cfg(test)]
    pub(super) fn ratio(&self) -> f64 {
        self.ratio
    }

    fn bytes(&self, tokens: u64) -> usize {
        (tokens as f64 * self.ratio) as usize
    }

    /// Estimated tokens of `bytes`.
    #[cfg(test)]
    pub(super) fn tokens(&self, bytes: usize) -> u64 {
        (bytes as f64 / self.ratio).ceil() as u64
    }

    /// Learns the ratio from a prompt of `sent` bytes that the server counted as `prompt_tokens`.
    pub(super) fn calibrate(&mut self, sent: usize, prompt_tokens: u64) {
        if prompt_tokens > 0 && sent > 0 {
            self.ratio = (sent as f64 / prompt_tokens as f64).clamp(1.0, 8.0);
        }
    }

    /// Cuts one new tool message to its share of the window.
    pub(super) fn cap(&self, content: String) -> (String, Option<(usize, usize)>) {
        let share = self.bytes((self.window as f64 * self.share) as u64);
        if content.len() <= share {
            return (content, None);
        }
        let before = content.len();
        let cut = cut(&content, share);
        let after = cut.len();
        (cut, Some((before, after)))
    }

    /// Cuts the largest tool messages, to one level, until `messages` (plus `extra` bytes
    /// of tool definitions) fits the window less the answer's room. Returns what was cut.
    pub(super) fn fit(&self, messages: &mut [Message], extra: usize) -> Vec<Cut> {
        let limit = self.bytes(self.window.saturating_sub(self.reserve));
        let total = extra + messages.iter().map(message_bytes).sum::<usize>();
        if total <= limit {
            return Vec::new();
        }
        let mut sizes: Vec<usize> = messages
            .iter()
            .filter_map(|m| match m {
                Message::Tool(t) => Some(t.content.len()),
                _ => None,
            })
            .collect();
        let tool_bytes: usize = sizes.iter().sum();
        let allowance = limit.saturating_sub(total - tool_bytes);
        // The water level: the largest L with sum(min(size, L)) <= allowance.
        sizes.sort_unstable();
        let mut left = allowance;
        let mut level = usize::MAX;
        let count = sizes.len();
        for (i, &size) in sizes.iter().enumerate() {
            let remaining = count - i;
            if size.saturating_mul(remaining) <= left {
                left -= size;
            } else {
                level = left / remaining;
                break;
            }
        }
        let mut cuts = Vec::new();
        for m in messages.iter_mut() {
            if let Message::Tool(t) = m
                && t.content.len() > level
            {
                let before = t.content.len();
                let keep = level.max(MIN_KEEP);
                if before <= keep {
                    continue;
                }
                t.content = cut(&t.content, keep);
                cuts.push(Cut {
                    tool_call_id: t.tool_call_id.clone(),
                    tool: t.name.clone(),
                    before,
                    after: t.content.len(),
                    reason: CutReason::Window,
                });
            }
        }
        cuts
    }
}

/// The bytes a message takes in a request body, roughly: content plus the JSON around it
/// (escapes are not counted; the calibration absorbs them).
pub(super) fn message_bytes(m: &Message) -> usize {
    match m {
        // {"role":"system","content":""},
        Message::System { content } | Message::User { content } => 32 + content.len(),
        Message::Assistant(a) => {
            32 + a.content.as_ref().map_or(0, String::len)
                + a.tool_calls
                    .iter()
                    // {"id":"","type":"function","function":{"name":"","arguments":""}},
                    .map(|c| 72 + c.id.len() + c.function.name.len() + c.function.arguments.len())
                    .sum::<usize>()
        }
        // {"role":"tool","tool_call_id":"","name":"","content":""},
        Message::Tool(t) => {
            56 + t.content.len() + t.tool_call_id.len() + t.name.as_ref().map_or(0, String::len)
        }
    }
}

/// `text` cut to about `keep` bytes: its head and tail, with a marker between them that
/// says what was cut and how to ask for less.
pub(super) fn cut(text: &str, keep: usize) -> String {
    let total = text.len();
    let marker = |removed: usize| {
        format!(
            "\n[cut {removed} of {total} bytes here to fit the model's context window; \
             to see what matters, ask for less: fewer lines (a smaller tail), a narrower \
             filter, or a LIMIT]\n"
        )
    };
    let room = keep.saturating_sub(marker(total).len());
    let mut head = room / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = total - (room - head).min(total - head);
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    let mut out = String::with_capacity(keep.max(MIN_KEEP));
    out.push_str(text.get(..head).unwrap_or_default());
    out.push_str(&marker(tail - head));
    out.push_str(text.get(tail..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ToolCall;

    #[test]
    fn cut_keeps_head_and_tail_and_says_how_to_ask_for_less() {
        let text = format!("{}{}", "a".repeat(5000), "z".repeat(5000));
        let out = cut(&text, 1000);
        assert!(out.len() <= 1000, "{}", out.len());
        assert!(out.starts_with('a') && out.ends_with('z'));
        assert!(out.contains("of 10000 bytes here"), "{out}");
        assert!(out.contains("LIMIT"));
        // Multi-byte text is cut on character boundaries.
        let out = cut(&"é".repeat(3000), 500);
        assert!(out.contains("[cut"));
        // A keep smaller than the marker leaves the marker alone.
        assert!(cut(&text, 10).starts_with("\n[cut 10000 of 10000"));
    }

    #[test]
    fn the_largest_are_cut_first_to_one_level() {
        let meter = ContextBudget::new(4096)
            .answer_reserve(1024)
            .meter(None)
            .unwrap();
        let call = |id: &str| ToolCall::new(id, "t", "{}");
        let mut messages = vec![
            Message::system("s"),
            Message::user("q"),
            Message::tool(&call("small"), "x".repeat(500)),
            Message::tool(&call("big"), "y".repeat(20_000)),
            Message::tool(&call("bigger"), "z".repeat(40_000)),
        ];
        let cuts = meter.fit(&mut messages, 0);
        let ids: Vec<&str> = cuts.iter().map(|c| c.tool_call_id.as_str()).collect();
        assert_eq!(ids, ["big", "bigger"]);
        assert_eq!(messages[2].content().unwrap().len(), 500);
        let (big, bigger) = (
            messages[3].content().unwrap().len(),
            messages[4].content().unwrap().len(),
        );
        assert!(big.abs_diff(bigger) <= 2, "{big} vs {bigger}");
        let total: usize = messages.iter().map(message_bytes).sum();
        assert!(meter.tokens(total) <= 3072, "{}", meter.tokens(total));
        // Everything fits now: nothing more is cut.
        assert!(meter.fit(&mut messages, 0).is_empty());
    }

    #[test]
    fn the_ratio_follows_the_server_count() {
        let mut meter = ContextBudget::new(1000).meter(None).unwrap();
        assert!((meter.ratio() - 3.0).abs() < 1e-9);
        meter.calibrate(4000, 1000);
        assert!((meter.ratio() - 4.0).abs() < 1e-9);
        meter.calibrate(4000, 0);
        assert!((meter.ratio() - 4.0).abs() < 1e-9);
        meter.calibrate(100, 1000);
        assert!((meter.ratio() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn bad_settings_are_reported_by_check() {
        assert!(ContextBudget::new(10).tool_share(1.5).check().is_err());
        assert!(ContextBudget::new(10).bytes_per_token(0.0).check().is_err());
        assert!(ContextBudget::new(10).tool_share(0.5).check().is_ok());
        assert_eq!(ContextBudget::from_server().meter(None), None);
        assert_eq!(
            ContextBudget::from_server()
                .fallback(100)
                .meter(Some(2000))
                .unwrap()
                .window(),
            2000
        );
    }
}
