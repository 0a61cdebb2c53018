//! [`OpenAiCompatible`]: `/v1/chat/completions` over reqwest.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::{Map, Value};
use tracing::Instrument;

use super::retry::{RetryPolicy, parse_retry_after, retryable_status};
use super::{ChatBackend, ChatRequest, ChatResponse, Message, ToolChoice, recover};
use crate::error::{Error, Result};

/// The default base URL: a local llama.cpp `llama-server`.
pub const DEFAULT_BASE_URL: &str = "http://localhost:8080/v1";

/// A chat backend for any OpenAI-compatible server: llama.cpp, vLLM, Ollama,
/// LM Studio, OpenAI.
///
/// Cheap to clone: clones share one pooled HTTP client. Setters chain by value;
/// a setting that cannot be used (a bad URL or header) is reported by the first
/// [`chat`](ChatBackend::chat) call as [`Error::Config`], never by a panic.
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
    url: Option<reqwest::Url>,
    model: String,
    api_key: Option<HeaderValue>,
    client: Option<reqwest::Client>,
    headers: HeaderMap,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    tool_choice: ToolChoice,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u64>,
    extra_body: Map<String, Value>,
    tool_message_name: bool,
    problem: Option<String>,
}

impl OpenAiCompatible {
    /// A backend for the server at `base_url` (ending in `/v1`; a trailing `/` is fine).
    #[must_use]
    pub fn new(base_url: impl Into<String>) -> Self {
        let base_url = base_url.into();
        let mut inner = Inner {
            base_url: String::new(),
            url: None,
            model: String::new(),
            api_key: None,
            client: None,
            headers: HeaderMap::new(),
            timeout: Some(Duration::from_secs(300)),
            retry: RetryPolicy::default(),
            tool_choice: ToolChoice::Auto,
            temperature: None,
            top_p: None,
            max_tokens: None,
            extra_body: Map::new(),
            tool_message_name: true,
            problem: None,
        };
        inner.set_base_url(base_url);
        match reqwest::Client::builder().build() {
            Ok(c) => inner.client = Some(c),
            Err(e) => inner.problem = Some(format!("the HTTP client could not be built: {e}")),
        }
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
            Err(_) => i.problem = Some("the API key has characters a header cannot carry".into()),
        })
    }

    /// Uses your own `reqwest::Client` (proxies, TLS roots, pool settings).
    #[must_use]
    pub fn client(self, client: reqwest::Client) -> Self {
        self.edit(|i| i.client = Some(client))
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
            _ => i.problem = Some(format!("header `{label}` is not a valid HTTP header")),
        })
    }

    /// The time one request may take, body included (default 300 s); `None` for no limit.
    #[must_use]
    pub fn timeout(self, timeout: impl Into<Option<Duration>>) -> Self {
        let timeout = timeout.into();
        self.edit(|i| i.timeout = timeout)
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
    /// of the same name this crate would send.
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

    /// The base URL.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The model name.
    #[must_use]
    pub fn model_name(&self) -> &str {
        &self.inner.model
    }

    /// The request body this backend would send for `request`, as bytes.
    ///
    /// # Errors
    /// [`Error::Config`] if serialization fails (it does not for well-formed messages).
    pub fn body(&self, request: ChatRequest<'_>) -> Result<Vec<u8>> {
        serde_json::to_vec(&Body {
            inner: &self.inner,
            request,
        })
        .map_err(|e| Error::Config(format!("the request could not be serialized: {e}")))
    }
}

impl Inner {
    fn set_base_url(&mut self, base_url: String) {
        let trimmed = base_url.trim_end_matches('/');
        let full = format!("{trimmed}/chat/completions");
        match reqwest::Url::parse(&full) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => self.url = Some(u),
            _ => self.problem = Some(format!("`{base_url}` is not an http(s) URL")),
        }
        self.base_url = trimmed.to_owned();
    }
}

struct Body<'a> {
    inner: &'a Inner,
    request: ChatRequest<'a>,
}

struct Messages<'a> {
    messages: &'a [Message],
    tool_name: bool,
}

impl Serialize for Messages<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.messages.len()))?;
        for m in self.messages {
            seq.serialize_element(&m.wire(self.tool_name))?;
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
                },
            )?;
        }
        let tools = self.request.tools.filter(|t| t.get().trim() != "[]");
        if let Some(tools) = tools {
            if ours("tools") {
                map.serialize_entry("tools", tools)?;
            }
            if ours("tool_choice") {
                map.serialize_entry("tool_choice", &i.tool_choice)?;
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
        for (k, v) in extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// One failed attempt: the error, and whether (and when) to retry.
struct Failed {
    error: Error,
    retry: bool,
    retry_after: Option<Duration>,
}

impl OpenAiCompatible {
    async fn attempt(
        &self,
        client: &reqwest::Client,
        url: &reqwest::Url,
        body: Bytes,
    ) -> std::result::Result<ChatResponse, Failed> {
        let i = &*self.inner;
        let mut rb = client
            .post(url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        if let Some(key) = &i.api_key {
            rb = rb.header(AUTHORIZATION, key.clone());
        }
        if !i.headers.is_empty() {
            rb = rb.headers(i.headers.clone());
        }
        if let Some(t) = i.timeout {
            rb = rb.timeout(t);
        }
        let transport = |e: reqwest::Error| {
            let retry = e.is_connect();
            let error = if e.is_timeout() {
                Error::Timeout(i.timeout.unwrap_or_default())
            } else {
                Error::Transport {
                    url: i.base_url.clone(),
                    source: e.without_url(),
                }
            };
            Failed {
                error,
                retry,
                retry_after: None,
            }
        };
        let response = rb.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = response.bytes().await.map_err(transport)?;
        tracing::trace!(status, body = %String::from_utf8_lossy(&bytes), "chat response");
        if !(200..300).contains(&status) {
            let api = recover::api_error(status, &bytes);
            let retry = retryable_status(status, api.code.as_deref());
            return Err(Failed {
                error: Error::Api(Box::new(api)),
                retry,
                retry_after,
            });
        }
        recover::parse_response(&bytes).map_err(|error| Failed {
            error,
            retry: false,
            retry_after: None,
        })
    }
}

#[async_trait::async_trait]
impl ChatBackend for OpenAiCompatible {
    async fn chat(&self, request: ChatRequest<'_>) -> Result<ChatResponse> {
        let i = &*self.inner;
        if let Some(problem) = &i.problem {
            return Err(Error::Config(problem.clone()));
        }
        let (Some(client), Some(url)) = (&i.client, &i.url) else {
            return Err(Error::Config(
                "the backend has no HTTP client or URL".into(),
            ));
        };
        let body = Bytes::from(self.body(request)?);
        tracing::trace!(body = %String::from_utf8_lossy(&body), "chat request");
        let mut retries = 0;
        loop {
            let span = tracing::debug_span!("chat_http", attempt = retries + 1);
            match self
                .attempt(client, url, body.clone())
                .instrument(span)
                .await
            {
                Ok(response) => return Ok(response),
                Err(failed) if failed.retry && retries < i.retry.max_retries => {
                    let wait = i.retry.delay(retries, failed.retry_after);
                    tracing::debug!(error = %failed.error, ?wait, "retrying chat request");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                Err(failed) => return Err(failed.error),
            }
        }
    }
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &*self.inner;
        f.debug_struct("OpenAiCompatible")
            .field("base_url", &i.base_url)
            .field("model", &i.model)
            .field("api_key", &i.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &i.timeout)
            .field("retry", &i.retry)
            .field("tool_choice", &i.tool_choice)
            .field("extra_body", &i.extra_body)
            .finish_non_exhaustive()
    }
}

impl Default for OpenAiCompatible {
    fn default() -> Self {
        Self::new(DEFAULT_BASE_URL)
    }
}
