//! [`OpenAiCompatible`]: `/v1/chat/completions` over reqwest.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use serde_json::{Map, Value};
use tracing::Instrument;

use super::recover::stream::{Assembler, SseDecoder};
use super::retry::{RetryPolicy, parse_retry_after, retryable_status};
use super::{
    AssistantContent, ChatBackend, ChatRequest, ChatResponse, ChatStream, Message, StreamEvent,
    ToolChoice, body, recover,
};
use crate::error::{Error, Result};

/// The default base URL: a local llama.cpp `llama-server`.
pub const DEFAULT_BASE_URL: &str = "http://localhost:8080/v1";

/// A chat backend for any OpenAI-compatible server: llama.cpp, vLLM, Ollama,
/// LM Studio, OpenAI.
///
/// Cheap to clone: clones share one pooled HTTP client, built on first use
/// (or yours, from [`client`](Self::client)). Setters chain by value; a setting
/// that cannot be used (a bad URL, header or key) is kept (the first one) and
/// reported by [`check`](ChatBackend::check), which the agent calls before its
/// first request, and by every request after, as [`Error::Config`]; never by a
/// panic. A base URL with credentials in it (`https://user:pass@host/v1`) is
/// shown without them in `Debug` output and errors.
///
/// [`chat`](ChatBackend::chat) asks for a whole answer, within [`timeout`](Self::timeout);
/// [`chat_stream`](ChatBackend::chat_stream) asks for a stream (`"stream": true` and
/// `stream_options.include_usage`) and yields the answer as it arrives, with an
/// [`idle_timeout`](Self::idle_timeout) between chunks instead of a limit on
/// the whole answer. Both retry only before the response starts.
///
/// ```no_run
/// use toolcall::OpenAiCompatible;
/// let backend = OpenAiCompatible::new("http://localhost:8080/v1")
///     .model("qwen3-4b")
///     .temperature(0.2)
///     .timeout(std::time::Duration::from_secs(60));
/// ```
#[derive(Clone)]
pub struct OpenAiCompatible {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    base_url: String,
    /// `base_url` without credentials, for `Debug` and errors.
    shown_url: String,
    url: Option<reqwest::Url>,
    model: String,
    api_key: Option<HeaderValue>,
    client: OnceLock<reqwest::Client>,
    headers: HeaderMap,
    timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    retry: RetryPolicy,
    tool_choice: ToolChoice,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u64>,
    extra_body: Map<String, Value>,
    tool_message_name: bool,
    /// `gen_ai.provider.name` in traces.
    provider: String,
    /// The server's host and port, for traces.
    host: Option<String>,
    port: Option<u16>,
    assistant_content: AssistantContent,
    /// The first setting that could not be used.
    problem: Option<String>,
}

/// The default wait for the next chunk of a stream.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

impl OpenAiCompatible {
    /// A backend for the server at `base_url` (ending in `/v1`; a trailing `/` is fine).
    #[must_use]
    pub fn new(base_url: impl Into<String>) -> Self {
        let base_url = base_url.into();
        let mut inner = Inner {
            base_url: String::new(),
            shown_url: String::new(),
            url: None,
            model: String::new(),
            api_key: None,
            client: OnceLock::new(),
            headers: HeaderMap::new(),
            timeout: Some(Duration::from_secs(300)),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            retry: RetryPolicy::default(),
            tool_choice: ToolChoice::Auto,
            temperature: None,
            top_p: None,
            max_tokens: None,
            extra_body: Map::new(),
            tool_message_name: true,
            provider: "openai".to_owned(),
            host: None,
            port: None,
            assistant_content: AssistantContent::default(),
            problem: None,
        };
        inner.set_base_url(base_url);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// A backend configured from the environment: `OPENAI_BASE_URL` (default
    /// [`DEFAULT_BASE_URL`]), `OPENAI_API_KEY` and `OPENAI_MODEL`, each optional.
    #[must_use]
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut backend =
            Self::new(var("OPENAI_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()));
        if let Some(key) = var("OPENAI_API_KEY") {
            backend = backend.api_key(key);
        }
        if let Some(model) = var("OPENAI_MODEL") {
            backend = backend.model(model);
        }
        backend
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// The model name sent as `model` (left out when empty).
    #[must_use]
    pub fn model(self, model: impl Into<String>) -> Self {
        let model = model.into();
        self.edit(|i| i.model = model)
    }

    /// A bearer key, sent as `Authorization: Bearer …`. Never printed.
    #[must_use]
    pub fn api_key(self, key: impl AsRef<str>) -> Self {
        let value = HeaderValue::from_str(&format!("Bearer {}", key.as_ref()));
        self.edit(|i| match value {
            Ok(mut v) => {
                v.set_sensitive(true);
                i.api_key = Some(v);
            }
            Err(_) => i.note("the API key has characters a header cannot carry".into()),
        })
    }

    /// Uses your own `reqwest::Client` (proxies, TLS roots, pool settings);
    /// no default client is built then.
    #[must_use]
    pub fn client(self, client: reqwest::Client) -> Self {
        self.edit(|i| i.client = OnceLock::from(client))
    }

    /// Adds a header to every request.
    #[must_use]
    pub fn header(self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let name_ok = HeaderName::from_bytes(name.as_ref().as_bytes());
        let value_ok = HeaderValue::from_str(value.as_ref());
        let label = name.as_ref().to_owned();
        self.edit(|i| match (name_ok, value_ok) {
            (Ok(n), Ok(v)) => {
                i.headers.insert(n, v);
            }
            _ => i.note(format!("header `{label}` is not a valid HTTP header")),
        })
    }

    /// The time one non-streamed request may take, body included (default 300 s);
    /// `None` for no limit.
    #[must_use]
    pub fn timeout(self, timeout: impl Into<Option<Duration>>) -> Self {
        let timeout = timeout.into();
        self.edit(|i| i.timeout = timeout)
    }

    /// How long a stream may stay silent: the wait for the response to start, and
    /// between two chunks (default 120 s); `None` for no limit. A long answer that
    /// keeps arriving is never cut.
    #[must_use]
    pub fn idle_timeout(self, timeout: impl Into<Option<Duration>>) -> Self {
        let timeout = timeout.into();
        self.edit(|i| i.idle_timeout = timeout)
    }

    /// How failed requests are retried.
    #[must_use]
    pub fn retry(self, policy: RetryPolicy) -> Self {
        self.edit(|i| i.retry = policy)
    }

    /// `tool_choice`, sent whenever tools are (default [`ToolChoice::Auto`]).
    #[must_use]
    pub fn tool_choice(self, choice: ToolChoice) -> Self {
        self.edit(|i| i.tool_choice = choice)
    }

    /// `temperature`.
    #[must_use]
    pub fn temperature(self, t: f64) -> Self {
        self.edit(|i| i.temperature = Some(t))
    }

    /// `top_p`.
    #[must_use]
    pub fn top_p(self, p: f64) -> Self {
        self.edit(|i| i.top_p = Some(p))
    }

    /// `max_tokens`.
    #[must_use]
    pub fn max_tokens(self, n: u64) -> Self {
        self.edit(|i| i.max_tokens = Some(n))
    }

    /// Adds a field to every request body, untouched (`seed`,
    /// `parallel_tool_calls`, `chat_template_kwargs`, …). It overrides a field
    /// of the same name this crate would send (`stream_options` included).
    #[must_use]
    pub fn extra_body(self, key: impl Into<String>, value: Value) -> Self {
        let key = key.into();
        self.edit(|i| {
            i.extra_body.insert(key, value);
        })
    }

    /// Whether tool messages carry `name` (default `true`; some servers reject it).
    #[must_use]
    pub fn tool_message_name(self, on: bool) -> Self {
        self.edit(|i| i.tool_message_name = on)
    }

    /// The provider named in traces as `gen_ai.provider.name` (default `openai`, the API
    /// these servers speak; set e.g. `llama.cpp` or `vllm` to tell them apart).
    #[must_use]
    pub fn provider_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|i| i.provider = name)
    }

    /// How an assistant turn that carries only tool calls is sent back (default
    /// [`AssistantContent::EmptyString`], which every server we know of accepts).
    #[must_use]
    pub fn assistant_content(self, shape: AssistantContent) -> Self {
        self.edit(|i| i.assistant_content = shape)
    }

    /// The base URL, as given (credentials included, if it has any).
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The model name.
    #[must_use]
    pub fn model_name(&self) -> &str {
        &self.inner.model
    }

    /// The request body this backend would send for `request` with
    /// [`chat`](ChatBackend::chat), as bytes.
    ///
    /// # Errors
    /// [`Error::Config`] if serialization fails (it does not for well-formed messages).
    pub fn body(&self, request: ChatRequest<'_>) -> Result<Vec<u8>> {
        self.encode(request, false)
    }

    fn encode(&self, request: ChatRequest<'_>, stream: bool) -> Result<Vec<u8>> {
        Body {
            inner: &self.inner,
            request,
            stream,
        }
        .write()
        .map_err(|e| Error::Config(format!("the request could not be serialized: {e}")))
    }

    /// The HTTP client and URL, or the first setting problem.
    fn ready(&self) -> Result<(&reqwest::Client, &reqwest::Url)> {
        let i = &*self.inner;
        if let Some(problem) = &i.problem {
            return Err(Error::Config(problem.clone()));
        }
        let Some(url) = &i.url else {
            return Err(Error::Config("the backend has no URL".into()));
        };
        let client = match i.client.get() {
            Some(c) => c,
            None => {
                let built = reqwest::Client::builder()
                    .build()
                    .map_err(Error::HttpClient)?;
                i.client.get_or_init(|| built)
            }
        };
        Ok((client, url))
    }
}

/// A pooled connection the server had closed or reset before it sent any answer
/// (llama-cpp-python does so after a stream it could not produce): safe to send again.
fn closed_before_answer(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
            return matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe);
        }
        if s.to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// `url` with any `user:password@` replaced by `***@`.
fn without_credentials(url: &str) -> String {
    let start = url.find("://").map_or(0, |at| at + 3);
    let rest = url.get(start..).unwrap_or_default();
    let authority = rest
        .find(['/', '?', '#'])
        .map_or(rest, |end| rest.get(..end).unwrap_or(rest));
    match authority.rfind('@') {
        Some(at) => format!(
            "{}***@{}",
            url.get(..start).unwrap_or_default(),
            rest.get(at + 1..).unwrap_or_default()
        ),
        None => url.to_owned(),
    }
}

impl Inner {
    fn set_base_url(&mut self, base_url: String) {
        let trimmed = base_url.trim_end_matches('/');
        self.shown_url = without_credentials(trimmed);
        let full = format!("{trimmed}/chat/completions");
        match reqwest::Url::parse(&full) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {
                self.host = u.host_str().map(str::to_owned);
                self.port = u.port_or_known_default();
                self.url = Some(u);
            }
            _ => {
                let shown = without_credentials(&base_url);
                self.note(format!("`{shown}` is not an http(s) URL"));
            }
        }
        self.base_url = trimmed.to_owned();
    }

    /// Keeps the first problem; later ones are usually consequences of it.
    fn note(&mut self, problem: String) {
        if self.problem.is_none() {
            self.problem = Some(problem);
        }
    }
}

struct Body<'a> {
    inner: &'a Inner,
    request: ChatRequest<'a>,
    stream: bool,
}

impl Body<'_> {
    /// The body as JSON: what its `Serialize` gives, written directly (the messages,
    /// most of it, by [`body::messages`]; numbers and extra fields by serde_json).
    fn write(&self) -> serde_json::Result<Vec<u8>> {
        let i = self.inner;
        let request = &self.request;
        let extra = &i.extra_body;
        let ours = |k: &str| extra.is_empty() || !extra.contains_key(k);
        let tools = request.tools.filter(|t| t.get().trim() != "[]");
        let mut out = Vec::with_capacity(self.size_hint(tools.map_or(0, |t| t.get().len())));
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, k: &str| {
            out.push(if first { b'{' } else { b',' });
            first = false;
            body::string(out, k);
            out.push(b':');
        };
        if !i.model.is_empty() && ours("model") {
            key(&mut out, "model");
            body::string(&mut out, &i.model);
        }
        if ours("messages") {
            key(&mut out, "messages");
            body::messages(
                &mut out,
                request.messages,
                i.tool_message_name,
                i.assistant_content,
            );
        }
        if let Some(tools) = tools {
            if ours("tools") {
                key(&mut out, "tools");
                out.extend_from_slice(tools.get().as_bytes());
            }
            if ours("tool_choice") {
                key(&mut out, "tool_choice");
                let choice = request.tool_choice.unwrap_or(&i.tool_choice);
                serde_json::to_writer(&mut out, choice)?;
            }
        }
        if let Some(t) = i.temperature.filter(|_| ours("temperature")) {
            key(&mut out, "temperature");
            serde_json::to_writer(&mut out, &t)?;
        }
        if let Some(p) = i.top_p.filter(|_| ours("top_p")) {
            key(&mut out, "top_p");
            serde_json::to_writer(&mut out, &p)?;
        }
        if let Some(n) = i.max_tokens.filter(|_| ours("max_tokens")) {
            key(&mut out, "max_tokens");
            serde_json::to_writer(&mut out, &n)?;
        }
        if self.stream {
            if ours("stream") {
                key(&mut out, "stream");
                out.extend_from_slice(b"true");
            }
            if ours("stream_options") {
                key(&mut out, "stream_options");
                out.extend_from_slice(b"{\"include_usage\":true}");
            }
        }
        for (k, v) in extra {
            key(&mut out, k);
            serde_json::to_writer(&mut out, v)?;
        }
        if first {
            out.push(b'{');
        }
        out.push(b'}');
        Ok(out)
    }

    /// A little more than the body will take, so it is written without regrowing.
    fn size_hint(&self, tools: usize) -> usize {
        let text: usize = self
            .request
            .messages
            .iter()
            .map(|m| {
                let calls = match m {
                    Message::Assistant(a) => a
                        .tool_calls
                        .iter()
                        .map(|c| {
                            c.id.len() + c.function.name.len() + c.function.arguments.len() + 64
                        })
                        .sum(),
                    _ => 0,
                };
                m.content().map_or(0, str::len) + calls + 64
            })
            .sum();
        text + text / 8 + tools + 256
    }
}

/// One failed attempt: the error, and whether (and when) to retry.
struct Failed {
    error: Error,
    retry: bool,
    retry_after: Option<Duration>,
}

impl OpenAiCompatible {
    fn transport_error(&self, e: reqwest::Error, limit: Option<Duration>) -> Error {
        if e.is_timeout() {
            Error::Timeout(limit.unwrap_or_default())
        } else {
            Error::Transport {
                url: self.inner.shown_url.clone(),
                source: e.without_url(),
            }
        }
    }

    /// Sends once; a 2xx response is returned before its body is read.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        url: &reqwest::Url,
        body: Bytes,
        stream: bool,
    ) -> std::result::Result<reqwest::Response, Failed> {
        let i = &*self.inner;
        let mut rb = client
            .post(url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        if stream {
            rb = rb.header(ACCEPT, HeaderValue::from_static("text/event-stream"));
        }
        rb = self.with_auth(rb);
        // A whole answer has a whole-request limit; a stream, a limit on silence.
        let limit = if stream { i.idle_timeout } else { i.timeout };
        if let (false, Some(t)) = (stream, i.timeout) {
            rb = rb.timeout(t);
        }
        let failed = |error: Error, retry: bool| Failed {
            error,
            retry,
            retry_after: None,
        };
        let sent = match (stream, limit) {
            (true, Some(t)) => tokio::time::timeout(t, rb.send())
                .await
                .map_err(|_| failed(Error::Timeout(t), false))?,
            _ => rb.send().await,
        };
        let response = sent.map_err(|e| {
            let retry = e.is_connect() || closed_before_answer(&e);
            failed(self.transport_error(e, limit), retry)
        })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let read = response.bytes();
        let bytes = match (stream, limit) {
            (true, Some(t)) => tokio::time::timeout(t, read)
                .await
                .map_err(|_| failed(Error::Timeout(t), false))?,
            _ => read.await,
        }
        .map_err(|e| failed(self.transport_error(e, limit), false))?;
        tracing::trace!(status, body = %String::from_utf8_lossy(&bytes), "chat error response");
        let api = recover::api_error(status, &bytes);
        let retry = retryable_status(status, api.code.as_deref());
        Err(Failed {
            error: Error::Api(Box::new(api)),
            retry,
            retry_after,
        })
    }

    /// Sends `body`, retrying as the policy says, until a 2xx response starts.
    async fn send(&self, body: Bytes, stream: bool) -> Result<reqwest::Response> {
        let (client, url) = self.ready()?;
        let policy = self.inner.retry;
        let mut retries = 0;
        loop {
            let span = tracing::debug_span!("chat_http", attempt = retries + 1, stream);
            match self
                .attempt(client, url, body.clone(), stream)
                .instrument(span)
                .await
            {
                Ok(response) => return Ok(response),
                Err(failed) if failed.retry && retries < policy.max_retries => {
                    let wait = policy.delay(retries, failed.retry_after);
                    tracing::debug!(error = %failed.error, ?wait, "retrying chat request");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                Err(failed) => return Err(failed.error),
            }
        }
    }

    /// The next event of a stream, and what is left of it.
    async fn advance(
        &self,
        phase: Phase,
        request: ChatRequest<'_>,
    ) -> Option<(Result<StreamEvent>, Phase)> {
        let mut reading = match phase {
            Phase::Finished => return None,
            Phase::Queued(mut events) => {
                let event = events.pop_front()?;
                return Some((Ok(event), Phase::Queued(events)));
            }
            Phase::Start(Err(e)) => return Some((Err(e), Phase::Finished)),
            // Boxed, as is the fallback below: what runs once per stream must not grow
            // the future every event of the stream makes.
            Phase::Start(Ok(body)) => match Box::pin(self.send(body, true)).await {
                Ok(response) => Box::new(Reading::new(response)),
                Err(e) => return Some((Err(e), Phase::Finished)),
            },
            Phase::Reading(reading) => reading,
        };
        loop {
            if let Some(event) = reading.events.pop_front() {
                return Some((Ok(event), Phase::Reading(reading)));
            }
            if reading.ended && reading.framing_empty {
                // A 200 with an empty body: the server failed after sending its headers
                // (llama-cpp-python cannot stream some tool choices). Ask again, not streamed.
                tracing::debug!("the stream was empty: asking again without streaming");
                return match Box::pin(self.chat(request)).await {
                    Ok(response) => {
                        let mut events = VecDeque::new();
                        recover::stream::events_of(response, &mut events);
                        let event = events.pop_front()?;
                        Some((Ok(event), Phase::Queued(events)))
                    }
                    Err(e) => Some((Err(e), Phase::Finished)),
                };
            }
            if reading.ended {
                return None;
            }
            if let Err(e) = self.read(&mut reading).await {
                return Some((Err(e), Phase::Finished));
            }
        }
    }

    /// Reads one chunk of a stream into its events.
    async fn read(&self, r: &mut Reading) -> Result<()> {
        let limit = self.inner.idle_timeout;
        let next = {
            let chunk = r.response.chunk();
            futures::pin_mut!(chunk);
            // Most chunks are already here: the idle timer starts only when one is not.
            match (futures::poll!(chunk.as_mut()), limit) {
                (std::task::Poll::Ready(next), _) => next,
                (std::task::Poll::Pending, Some(t)) => tokio::time::timeout(t, chunk)
                    .await
                    .map_err(|_| Error::Timeout(t))?,
                (std::task::Poll::Pending, None) => chunk.await,
            }
        };
        match next.map_err(|e| self.transport_error(e, limit))? {
            Some(bytes) => r.feed(&bytes),
            None => r.end(),
        }
    }
}

/// Where a stream is.
enum Phase {
    /// Not sent yet: the body, or the settings problem.
    Start(Result<Bytes>),
    Reading(Box<Reading>),
    /// Events already known (a stream that was asked again without streaming).
    Queued(VecDeque<StreamEvent>),
    Finished,
}

/// A stream being read.
struct Reading {
    response: reqwest::Response,
    framing: Framing,
    decoder: SseDecoder,
    assembler: Assembler,
    events: VecDeque<StreamEvent>,
    ended: bool,
    /// The body ended with nothing in it but whitespace.
    framing_empty: bool,
}

/// What the body turned out to be.
enum Framing {
    /// Only whitespace so far.
    Unknown,
    /// Server-sent events.
    Events,
    /// One JSON body (a server that does not stream, or an error from a proxy).
    Json(Vec<u8>),
}

impl Reading {
    fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            framing: Framing::Unknown,
            decoder: SseDecoder::default(),
            assembler: Assembler::live(),
            events: VecDeque::new(),
            ended: false,
            framing_empty: false,
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<()> {
        if let Framing::Unknown = self.framing {
            match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                None => return Ok(()),
                Some(b'{' | b'[') => self.framing = Framing::Json(Vec::new()),
                Some(_) => self.framing = Framing::Events,
            }
        }
        match &mut self.framing {
            Framing::Json(body) => {
                body.extend_from_slice(bytes);
                Ok(())
            }
            _ => {
                let (assembler, events) = (&mut self.assembler, &mut self.events);
                self.decoder.feed(bytes, &mut |frame| {
                    if let super::recover::stream::Frame::Data(data) = &frame {
                        tracing::trace!(data = %String::from_utf8_lossy(data), "chat stream event");
                    }
                    assembler.frame(frame, events)
                })
            }
        }
    }

    fn end(&mut self) -> Result<()> {
        self.ended = true;
        let assembler = std::mem::take(&mut self.assembler);
        match std::mem::replace(&mut self.framing, Framing::Unknown) {
            Framing::Unknown => {
                self.framing_empty = true;
                Ok(())
            }
            Framing::Json(body) => {
                tracing::trace!(body = %String::from_utf8_lossy(&body), "chat response");
                let response = recover::parse_response(&body)?;
                recover::stream::events_of(response, &mut self.events);
                Ok(())
            }
            _ => {
                let mut assembler = assembler;
                let events = &mut self.events;
                self.decoder
                    .end(&mut |frame| assembler.frame(frame, events))?;
                assembler.finish_live(&mut self.events)
            }
        }
    }
}

#[async_trait::async_trait]
impl ChatBackend for OpenAiCompatible {
    async fn chat(&self, request: ChatRequest<'_>) -> Result<ChatResponse> {
        self.ready()?;
        let body = Bytes::from(self.encode(request, false)?);
        tracing::trace!(body = %String::from_utf8_lossy(&body), "chat request");
        let response = self.send(body, false).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e, self.inner.timeout))?;
        tracing::trace!(body = %String::from_utf8_lossy(&bytes), "chat response");
        recover::parse_response(&bytes)
    }

    fn chat_stream<'a>(&'a self, request: ChatRequest<'a>) -> ChatStream<'a> {
        let start = self.ready().and_then(|_| self.encode(request, true));
        let start = start.map(|body| {
            tracing::trace!(body = %String::from_utf8_lossy(&body), "chat request");
            Bytes::from(body)
        });
        Box::pin(futures::stream::unfold(Phase::Start(start), move |phase| {
            self.advance(phase, request)
        }))
    }

    fn check(&self) -> Result<()> {
        self.ready().map(|_| ())
    }

    /// Reads llama.cpp's `GET /props` (next to `/v1`): `default_generation_settings.n_ctx`,
    /// or a top-level `n_ctx`; else vLLM's `max_model_len` in `GET /v1/models` (the entry of
    /// this backend's model, or the only one). A server that says neither: `Ok(None)`.
    async fn context_window(&self) -> Result<Option<u64>> {
        let i = &*self.inner;
        let root = i.base_url.strip_suffix("/v1").unwrap_or(&i.base_url);
        if let Some(n) = self
            .get_body(&format!("{root}/props"))
            .await?
            .and_then(|b| n_ctx(&b))
        {
            return Ok(Some(n));
        }
        let models = self.get_body(&format!("{}/models", i.base_url)).await?;
        Ok(models.and_then(|b| max_model_len(&b, &i.model)))
    }

    fn describe(&self) -> super::BackendInfo<'_> {
        let i = &*self.inner;
        super::BackendInfo {
            provider: Some(i.provider.as_str()),
            model: Some(i.model.as_str()).filter(|m| !m.is_empty()),
            address: i.host.as_deref(),
            port: i.port,
        }
    }
}

impl OpenAiCompatible {
    /// `rb` with the bearer key and the extra headers every request carries.
    fn with_auth(&self, mut rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let i = &*self.inner;
        if let Some(key) = &i.api_key {
            rb = rb.header(AUTHORIZATION, key.clone());
        }
        if !i.headers.is_empty() {
            rb = rb.headers(i.headers.clone());
        }
        rb
    }

    /// The body of a `GET` next to the chat endpoint, with this backend's key and headers;
    /// `None` for an error status.
    async fn get_body(&self, url: &str) -> Result<Option<Bytes>> {
        let (client, _) = self.ready()?;
        let i = &*self.inner;
        let mut rb = self.with_auth(client.get(url));
        if let Some(t) = i.timeout {
            rb = rb.timeout(t);
        }
        let response = rb
            .send()
            .await
            .map_err(|e| self.transport_error(e, i.timeout))?;
        if !response.status().is_success() {
            return Ok(None);
        }
        response
            .bytes()
            .await
            .map(Some)
            .map_err(|e| self.transport_error(e, i.timeout))
    }
}

/// vLLM's `max_model_len` in a `/v1/models` body: the entry whose `id` is `model`, or
/// the only entry.
fn max_model_len(body: &[u8], model: &str) -> Option<u64> {
    let list: Value = serde_json::from_slice(body).ok()?;
    let data = list.get("data")?.as_array()?;
    let entry = data
        .iter()
        .find(|m| !model.is_empty() && m.get("id").and_then(Value::as_str) == Some(model))
        .or(match data.as_slice() {
            [only] => Some(only),
            _ => None,
        })?;
    entry
        .get("max_model_len")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
}

/// The context window in a `/props` body.
fn n_ctx(body: &[u8]) -> Option<u64> {
    let props: Value = serde_json::from_slice(body).ok()?;
    props
        .pointer("/default_generation_settings/n_ctx")
        .or_else(|| props.get("n_ctx"))
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &*self.inner;
        f.debug_struct("OpenAiCompatible")
            .field("base_url", &i.shown_url)
            .field("model", &i.model)
            .field("api_key", &i.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &i.timeout)
            .field("idle_timeout", &i.idle_timeout)
            .field("retry", &i.retry)
            .field("tool_choice", &i.tool_choice)
            .field("assistant_content", &i.assistant_content)
            .field("extra_body", &i.extra_body)
            .finish_non_exhaustive()
    }
}

impl Default for OpenAiCompatible {
    fn default() -> Self {
        Self::new(DEFAULT_BASE_URL)
    }
}

#[cfg(test)]
mod tests {
    //! The written body against the `Serialize` reference it replaced.

    use serde::Serialize;
    use serde::ser::{SerializeMap, SerializeSeq};
    use serde_json::json;

    use super::{AssistantContent, Body, ChatRequest, Message, OpenAiCompatible, ToolChoice};
    use crate::chat::{AssistantMessage, ToolCall};

    struct Messages<'a> {
        messages: &'a [Message],
        tool_name: bool,
        empty: AssistantContent,
    }

    impl Serialize for Messages<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(self.messages.len()))?;
            for m in self.messages {
                seq.serialize_element(&m.wire(self.tool_name, self.empty))?;
            }
            seq.end()
        }
    }

    impl Serialize for Body<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            let i = self.inner;
            let extra = &i.extra_body;
            let ours = |k: &str| !extra.contains_key(k);
            let mut map = s.serialize_map(None)?;
            if !i.model.is_empty() && ours("model") {
                map.serialize_entry("model", &i.model)?;
            }
            if ours("messages") {
                map.serialize_entry(
                    "messages",
                    &Messages {
                        messages: self.request.messages,
                        tool_name: i.tool_message_name,
                        empty: i.assistant_content,
                    },
                )?;
            }
            let tools = self.request.tools.filter(|t| t.get().trim() != "[]");
            if let Some(tools) = tools {
                if ours("tools") {
                    map.serialize_entry("tools", tools)?;
                }
                if ours("tool_choice") {
                    let choice = self.request.tool_choice.unwrap_or(&i.tool_choice);
                    map.serialize_entry("tool_choice", choice)?;
                }
            }
            if let Some(t) = i.temperature.filter(|_| ours("temperature")) {
                map.serialize_entry("temperature", &t)?;
            }
            if let Some(p) = i.top_p.filter(|_| ours("top_p")) {
                map.serialize_entry("top_p", &p)?;
            }
            if let Some(n) = i.max_tokens.filter(|_| ours("max_tokens")) {
                map.serialize_entry("max_tokens", &n)?;
            }
            if self.stream {
                if ours("stream") {
                    map.serialize_entry("stream", &true)?;
                }
                if ours("stream_options") {
                    map.serialize_entry(
                        "stream_options",
                        &StreamOptions {
                            include_usage: true,
                        },
                    )?;
                }
            }
            for (k, v) in extra {
                map.serialize_entry(k, v)?;
            }
            map.end()
        }
    }

    #[derive(Serialize)]
    struct StreamOptions {
        include_usage: bool,
    }

    #[test]
    fn the_written_body_is_what_serde_json_writes() {
        let tools = serde_json::value::RawValue::from_string(
            r#"[{"type":"function","function":{"name":"get_kubernetes_pod_logs","parameters":{}}}]"#
                .to_owned(),
        )
        .unwrap();
        let empty_tools = serde_json::value::RawValue::from_string("[ ]".to_owned()).unwrap();
        let call = AssistantMessage {
            tool_calls: vec![ToolCall::new(
                "c1",
                "get_kubernetes_pod_logs",
                "{\"pod\":\"web\"}",
            )],
            ..AssistantMessage::default()
        };
        let history = vec![
            Message::system("Be brief."),
            Message::user("Why is \"web\" down?"),
            Message::Assistant(call.clone()),
            Message::tool(&call.tool_calls[0], "OOMKilled\n"),
        ];
        let backends = [
            OpenAiCompatible::new("http://localhost:8080/v1"),
            OpenAiCompatible::new("http://localhost:8080/v1")
                .model("qwen3-4b")
                .temperature(0.1)
                .top_p(0.95)
                .max_tokens(512)
                .tool_choice(ToolChoice::Required)
                .tool_message_name(false)
                .assistant_content(AssistantContent::Null),
            OpenAiCompatible::new("http://localhost:8080/v1")
                .model("m")
                .extra_body("stream", json!(false))
                .extra_body("messages", json!([]))
                .extra_body("tool_choice", json!("none"))
                .extra_body("chat_template_kwargs", json!({"enable_thinking": false}))
                .extra_body("weird \"key\"", json!(1.5)),
        ];
        let choice = ToolChoice::Function("run_postgres_query".into());
        let requests = [
            ChatRequest::new(&history),
            ChatRequest::new(&history).tools(&tools),
            ChatRequest::new(&history)
                .tools(&tools)
                .tool_choice(&choice),
            ChatRequest::new(&history).tools(&empty_tools),
            ChatRequest::new(&[]),
        ];
        for backend in &backends {
            for request in requests {
                for stream in [false, true] {
                    let body = Body {
                        inner: &backend.inner,
                        request,
                        stream,
                    };
                    let written = String::from_utf8(body.write().unwrap()).unwrap();
                    let reference = serde_json::to_string(&body).unwrap();
                    assert_eq!(written, reference);
                }
            }
        }
    }
}
