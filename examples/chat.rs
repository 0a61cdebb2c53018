//! Asks a real OpenAI-compatible server a question, with two small local tools.
//!
//! The server comes from the environment: `OPENAI_BASE_URL` (default `http://localhost:8080/v1`,
//! a llama.cpp `llama-server --jinja`), `OPENAI_MODEL` and `OPENAI_API_KEY`.
//!
//! ```text
//! OPENAI_MODEL=qwen3-4b cargo run --example chat -- "How many words are in 'the quick brown fox'?"
//! ```

use std::borrow::Cow;
use std::convert::Infallible;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use toolcall::schemars::{self, JsonSchema};
use toolcall::tool::Json;
use toolcall::{Agent, Error, OpenAiCompatible, Tool, ToolRegistry};

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

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // With `--features otel` and OTEL_EXPORTER_OTLP_ENDPOINT set, the run's GenAI spans go out
    // over OTLP/HTTP; they are flushed when `_traces` is dropped at the end of main.
    #[cfg(feature = "otel")]
    let _traces = toolcall::otel::init_from_env().unwrap_or_else(|e| {
        eprintln!("traces are off: {e}");
        None
    });
    let question = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let question = if question.trim().is_empty() {
        "What is the Unix time now?".to_owned()
    } else {
        question
    };
    let backend = OpenAiCompatible::from_env();
    let base_url = backend.base_url().to_owned();
    let agent = Agent::new(backend, ToolRegistry::new().with(WordCount).with(Now))
        .system("You are a concise assistant. Use the tools when they help.");
    match agent.run(question).await {
        Ok(run) => {
            println!("{}", run.answer());
            let u = run.usage();
            eprintln!(
                "({} requests, {} tokens)",
                run.steps().len(),
                u.total_tokens
            );
            ExitCode::SUCCESS
        }
        Err(Error::Transport { .. }) | Err(Error::Timeout(_)) => {
            eprintln!(
                "no chat server answered at {base_url}.\n\
                 Start one (e.g. `llama-server --jinja -m qwen3-4b.gguf --port 8080`) \
                 or point OPENAI_BASE_URL / OPENAI_MODEL / OPENAI_API_KEY at one."
            );
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}
