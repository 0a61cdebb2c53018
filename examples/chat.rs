//! A command-line chat with an OpenAI-compatible server (llama.cpp, vLLM, Ollama, LM Studio,
//! OpenAI): ask a question, watch the model call tools, read its answer as it streams.
//!
//! The tools: `word_count` and `unix_time_now`; with the `kubernetes` feature and a
//! kubeconfig (or inside a cluster), the Kubernetes troubleshooting tools; with the
//! `postgres` feature and `DATABASE_URL`, the read-only Postgres tools.
//!
//! ```text
//! cargo run --example chat -- --help
//! cargo run --example chat -- --base-url "$(scripts/local-llm.sh)" --first-tool-choice unix_time_now "What is the Unix time now?"
//! OPENAI_MODEL=qwen3-4b cargo run --example chat --all-features -- "Why does pod billing-service-5d8f7b9c4-x2k7p in namespace production restart?"
//! ```
//!
//! The answer goes to stdout; tool calls, a spinner (when stderr is a terminal), usage and
//! `--trace` bodies go to stderr. `NO_COLOR` turns colour off. Built with `--features otel` and
//! with `OTEL_EXPORTER_OTLP_ENDPOINT` set, it exports the run's GenAI spans over OTLP/HTTP.

use std::borrow::Cow;
use std::convert::Infallible;
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use toolcall::agent::{Event, RunEvent, ToolChoicePolicy};
use toolcall::chat::{AssistantContent, DEFAULT_BASE_URL, ToolChoice};
use toolcall::schemars::{self, JsonSchema};
use toolcall::tool::Json;
use toolcall::{Agent, Error, OpenAiCompatible, Tool, ToolRegistry};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Ask an OpenAI-compatible chat server a question; the model may call tools.
#[derive(Parser, Debug)]
#[command(name = "chat", version)]
struct Cli {
    /// The question. Read from stdin when none is given and stdin is not a terminal.
    question: Vec<String>,
    /// The server's base URL, ending in /v1.
    #[arg(long, env = "OPENAI_BASE_URL", default_value = DEFAULT_BASE_URL)]
    base_url: String,
    /// The model name (llama.cpp serves its one model whatever the name).
    #[arg(long, env = "OPENAI_MODEL", default_value = "")]
    model: String,
    /// A bearer key.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Ask for whole answers instead of streams.
    #[arg(long)]
    no_stream: bool,
    /// Print every request and response body on stderr (streams: each event).
    #[arg(long)]
    trace: bool,
    /// The most chat requests for one question.
    #[arg(long, default_value_t = 10)]
    max_steps: usize,
    /// `tool_choice`: auto, none, required, or a tool's name.
    #[arg(long, default_value = "auto", value_parser = parse_choice)]
    tool_choice: ToolChoice,
    /// The first request's `tool_choice` (small models: `required`, or a tool's name);
    /// later requests send --tool-choice.
    #[arg(long, value_parser = parse_choice)]
    first_tool_choice: Option<ToolChoice>,
    /// When the model answers with nothing, ask once more with this `tool_choice`.
    #[arg(long, value_parser = parse_choice)]
    retry_empty: Option<ToolChoice>,
    /// `max_tokens` of each request.
    #[arg(long)]
    max_tokens: Option<u64>,
    /// `temperature` of each request.
    #[arg(long)]
    temperature: Option<f64>,
    /// How an assistant turn with only tool calls is sent back.
    #[arg(long, value_enum, default_value_t = ContentShape::Empty)]
    assistant_content: ContentShape,
}

/// `--assistant-content`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ContentShape {
    /// `"content": ""` (every server we know of takes it).
    Empty,
    /// `"content": null`.
    Null,
    /// No `content` key.
    Omit,
}

fn parse_choice(s: &str) -> Result<ToolChoice, String> {
    Ok(match s.trim() {
        "" => return Err("a tool choice cannot be empty".into()),
        "auto" => ToolChoice::Auto,
        "none" => ToolChoice::None,
        "required" => ToolChoice::Required,
        name => ToolChoice::Function(name.to_owned()),
    })
}

/// Text to count words in.
#[derive(Deserialize, JsonSchema)]
struct WordCountArgs {
    /// The text.
    text: String,
}

/// Counts the words of a text.
struct WordCount;

/// How many words.
#[derive(Serialize, JsonSchema)]
struct Count {
    /// The number of words.
    words: usize,
}

impl Tool for WordCount {
    const NAME: &'static str = "word_count";
    type Args = WordCountArgs;
    type Output = Json<Count>;
    type Error = Infallible;

    fn description(&self) -> Cow<'static, str> {
        "Counts the words in a text.".into()
    }

    async fn call(&self, args: WordCountArgs) -> Result<Json<Count>, Infallible> {
        Ok(Json(Count {
            words: args.text.split_whitespace().count(),
        }))
    }
}

/// No arguments.
#[derive(Deserialize, JsonSchema)]
struct NoArgs {}

/// The current Unix time.
struct Now;

impl Tool for Now {
    const NAME: &'static str = "unix_time_now";
    type Args = NoArgs;
    type Output = u64;
    type Error = String;

    fn description(&self) -> Cow<'static, str> {
        "Returns the current time as seconds since the Unix epoch (UTC).".into()
    }

    async fn call(&self, _args: NoArgs) -> Result<u64, String> {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .map_err(|e| e.to_string())
    }
}

/// What the person sees on stderr: a spinner while waiting, a line per tool call.
struct Ui {
    spinner: Option<ProgressBar>,
    color: bool,
    /// Answer text printed on stdout and not yet ended by a newline.
    open_line: bool,
}

impl Ui {
    fn new() -> Self {
        let terminal = std::io::stderr().is_terminal();
        let color = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self {
            spinner: None,
            color,
            open_line: false,
        }
    }

    fn wait(&mut self, what: String) {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let bar = self.spinner.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        bar.set_message(what);
    }

    fn stop_waiting(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }

    /// A line on stderr, above the spinner.
    fn line(&mut self, text: &str) {
        self.end_answer_line();
        match &self.spinner {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn answer_text(&mut self, text: &str) {
        self.stop_waiting();
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        self.open_line = !text.ends_with('\n');
    }

    fn end_answer_line(&mut self) {
        if std::mem::take(&mut self.open_line) {
            println!();
        }
    }
}

/// `--trace`: the crate logs each body at `trace` level; print them pretty.
struct TraceBodies(Arc<Mutex<Ui>>);

#[derive(Default)]
struct Fields {
    message: String,
    body: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => value.clone_into(&mut self.message),
            "body" | "data" => self.body = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "body" | "data" => self.body = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for TraceBodies {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(body) = fields.body else { return };
        let shown = match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(v) if fields.message == "chat stream event" => v.to_string(),
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or(body),
            Err(_) => body,
        };
        if let Ok(mut ui) = self.0.lock() {
            let title = ui.dim(&format!("── {} ──", fields.message));
            ui.line(&format!("{title}\n{shown}"));
        }
    }
}

fn tools() -> ToolRegistry {
    #[allow(unused_mut)]
    let mut tools = ToolRegistry::new().with(WordCount).with(Now);
    #[cfg(feature = "kubernetes")]
    {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let configured = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
            || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
            || home.is_some_and(|h| h.join(".kube/config").is_file());
        if configured {
            use toolcall::tools::kubernetes::Cluster;
            if let Ok(k8s) = Cluster::lazy_tools(|| async { Cluster::infer().await }) {
                tools = tools.merge(k8s);
            }
        }
    }
    #[cfg(feature = "postgres")]
    if std::env::var_os("DATABASE_URL").is_some_and(|v| !v.is_empty()) {
        use toolcall::tools::postgres::Database;
        tools = tools.merge(Database::lazy_tools(Database::from_env));
    }
    tools
}

/// What to tell a person when a run fails: one line, with what to do.
fn advice(error: &Error, cli: &Cli) -> String {
    let url = cli.base_url.trim_end_matches('/');
    match error {
        Error::Transport { .. } => format!(
            "no chat server answered at {url}: start one (`scripts/local-llm.sh` starts a small \
             local one and prints its URL) or pass --base-url"
        ),
        Error::Timeout(_) => format!("the server at {url} did not answer in time; try again"),
        Error::Api(api) => {
            let said = api.message.trim();
            let lower = said.to_lowercase();
            let about_tools = lower.contains("tool")
                && [
                    "support",
                    "jinja",
                    "enable-auto-tool-choice",
                    "tool-call-parser",
                ]
                .iter()
                .any(|w| lower.contains(w));
            match api.status {
                _ if about_tools => format!(
                    "the server cannot do tool calls with this model (HTTP {}: {said}); \
                     llama.cpp: start llama-server with --jinja; vLLM: --enable-auto-tool-choice \
                     --tool-call-parser …; Ollama: pick a model with tool support",
                    api.status
                ),
                401 | 403 => format!(
                    "the server refused the API key (HTTP {}: {said}); set OPENAI_API_KEY or pass --api-key",
                    api.status
                ),
                404 if lower.contains("model") => format!(
                    "the server has no model `{}` (HTTP 404: {said}); see `curl {url}/models` and pass --model",
                    cli.model
                ),
                404 => format!(
                    "nothing answers at {url}/chat/completions (HTTP 404: {said}); does --base-url end in /v1?"
                ),
                503 => format!(
                    "the server is not ready, most likely still loading its model (HTTP 503: {said}); \
                     wait a moment and try again"
                ),
                status => format!("the server answered HTTP {status}: {said}"),
            }
        }
        Error::StepLimit { steps, .. } => {
            format!("no answer within {steps} requests; raise --max-steps")
        }
        Error::Config(problem) => format!("{problem}; check --base-url and --api-key"),
        other => {
            let mut line = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                line.push_str(": ");
                line.push_str(&s.to_string());
                source = s.source();
            }
            line
        }
    }
}

fn question(cli: &Cli) -> Option<String> {
    let asked = cli.question.join(" ");
    if !asked.trim().is_empty() {
        return Some(asked);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return None;
    }
    let mut text = String::new();
    stdin.lock().read_to_string(&mut text).ok()?;
    Some(text).filter(|t| !t.trim().is_empty())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(question) = question(&cli) else {
        eprintln!("error: no question; give one as arguments or on stdin (see --help)");
        return ExitCode::from(2);
    };
    let ui = Arc::new(Mutex::new(Ui::new()));
    let trace = cli.trace.then(|| {
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("toolcall::chat", tracing::Level::TRACE);
        tracing_subscriber::Layer::with_filter(TraceBodies(ui.clone()), filter)
    });
    // With `--features otel` and OTEL_EXPORTER_OTLP_ENDPOINT set, the run's GenAI spans go
    // out over OTLP/HTTP; the guard flushes them at the end.
    #[cfg(feature = "otel")]
    let (otel, _traces) = match toolcall::otel::layer_from_env() {
        Ok(Some((layer, guard))) => (Some(layer), Some(guard)),
        Ok(None) => (None, None),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    #[cfg(not(feature = "otel"))]
    let otel: Option<tracing_subscriber::layer::Identity> = None;
    let _ = tracing_subscriber::registry()
        .with(trace)
        .with(otel)
        .try_init();

    let mut backend = OpenAiCompatible::new(&cli.base_url)
        .model(&cli.model)
        .tool_choice(cli.tool_choice.clone())
        .assistant_content(match cli.assistant_content {
            ContentShape::Empty => AssistantContent::EmptyString,
            ContentShape::Null => AssistantContent::Null,
            ContentShape::Omit => AssistantContent::Omitted,
        });
    if let Some(key) = &cli.api_key {
        backend = backend.api_key(key);
    }
    if let Some(n) = cli.max_tokens {
        backend = backend.max_tokens(n);
    }
    if let Some(t) = cli.temperature {
        backend = backend.temperature(t);
    }

    let watch = ui.clone();
    let mut agent = Agent::new(backend, tools())
        .system("You are a concise assistant. Use the tools when they help.")
        .max_steps(cli.max_steps)
        .observer(move |event: &Event<'_>| {
            let Ok(mut ui) = watch.lock() else { return };
            match event {
                Event::RequestSent { step, .. } => {
                    ui.wait(format!("asking the model (request {step})"))
                }
                Event::ResponseReceived { .. } => ui.stop_waiting(),
                Event::ToolStarted { call, .. } => {
                    let args = call.function.arguments.trim();
                    let line = format!("→ {}({args})", ui.paint("1", &call.function.name));
                    ui.line(&line);
                    ui.wait(format!("running {}", call.function.name));
                }
                Event::ToolFinished {
                    call,
                    duration,
                    error,
                    ..
                } => {
                    let took = format!("{} ms", duration.as_millis());
                    let line = match error {
                        None => format!(
                            "{} {} {}",
                            ui.paint("32", "✓"),
                            call.function.name,
                            ui.dim(&took)
                        ),
                        Some(e) => format!(
                            "{} {} {}: {e}",
                            ui.paint("31", "✗"),
                            call.function.name,
                            ui.dim(&took)
                        ),
                    };
                    ui.line(&line);
                }
                Event::EmptyAnswerRetried { tool_choice, .. } => {
                    let line = ui.dim(&format!(
                        "(empty answer; asking again with tool_choice {tool_choice})"
                    ));
                    ui.line(&line);
                }
                _ => {}
            }
        });
    if let Some(first) = cli.first_tool_choice.clone() {
        agent = agent.tool_choice(ToolChoicePolicy::first_step(first));
    }
    if let Some(stricter) = cli.retry_empty.clone() {
        agent = agent.retry_empty_answer(stricter);
    }

    let started = Instant::now();
    let result = if cli.no_stream {
        agent.run(question).await
    } else {
        let mut events = agent.run_stream(question);
        let mut finished = None;
        while let Some(event) = events.next().await {
            match event {
                Ok(RunEvent::Text { text, .. }) => {
                    if let Ok(mut ui) = ui.lock() {
                        ui.answer_text(&text);
                    }
                }
                Ok(RunEvent::Done(run)) => finished = Some(Ok(*run)),
                Ok(_) => {}
                Err(e) => finished = Some(Err(e)),
            }
        }
        finished.unwrap_or_else(|| {
            Err(Error::InvalidResponse {
                reason: "the run ended without an answer".into(),
                body: String::new(),
            })
        })
    };
    let Ok(mut ui) = ui.lock() else {
        return ExitCode::FAILURE;
    };
    ui.stop_waiting();
    match result {
        Ok(run) => {
            if cli.no_stream {
                println!("{}", run.answer());
            } else {
                ui.end_answer_line();
            }
            let u = run.usage();
            let requests = run.steps().len();
            let line = ui.dim(&format!(
                "({requests} request{}, {} prompt + {} completion tokens, {:.1} s{})",
                if requests == 1 { "" } else { "s" },
                u.prompt_tokens,
                u.completion_tokens,
                started.elapsed().as_secs_f64(),
                if run.truncated() {
                    ", answer cut at the token limit"
                } else {
                    ""
                }
            ));
            ui.line(&line);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let line = format!("{} {}", ui.paint("31", "error:"), advice(&e, &cli));
            ui.line(&line);
            let setup = matches!(&e, Error::Transport { .. } | Error::Config(_))
                || matches!(&e, Error::Api(api) if matches!(api.status, 401 | 403 | 404 | 503));
            ExitCode::from(if setup { 2 } else { 1 })
        }
    }
}
