//! [`ToolRegistry`]: the `tools` array, tool metadata, composition, and dispatch by name;
//! [`Dispatcher`]: the per-call rules (timeout, output cap, span) around dispatch.

mod dispatch;
mod erased;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use serde_json::value::RawValue;

#[cfg(feature = "mcp")]
pub(crate) use dispatch::cap_text;
pub use dispatch::{CallOutcome, DEFAULT_MAX_OUTPUT, DEFAULT_TIMEOUT, Dispatcher};

use crate::chat::ToolCall;
use crate::error::{Error, Result};
use crate::tool::{DynamicTool, Tool, ToolAnnotations, ToolError, ToolOutput};
use erased::{Connector, Dynamic, ErasedTool, Lazy, Typed};

/// A registration problem kept by a chaining call until [`ToolRegistry::check`].
#[derive(Clone, Debug)]
enum Deferred {
    Duplicate(String),
    Invalid { name: String, reason: String },
}

impl Deferred {
    fn into_error(self) -> Error {
        match self {
            Self::Duplicate(name) => Error::DuplicateTool(name),
            Self::Invalid { name, reason } => Error::InvalidTool { name, reason },
        }
    }
}

/// One registered tool, as MCP and other hosts describe it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ToolInfo<'a> {
    /// The exact name calls use.
    pub name: &'a str,
    /// What the tool does, for the model.
    pub description: &'a str,
    /// The JSON Schema of its arguments, as the model is shown it.
    pub input_schema: &'a Value,
    /// The JSON Schema of its structured output, when known.
    pub output_schema: Option<&'a Value>,
    /// What it does to the world.
    pub annotations: &'a ToolAnnotations,
    /// Whether each call needs an operator's approval ([`Tool::requires_approval`]).
    pub requires_approval: bool,
}

/// The tools a model may call: emits the `tools` array and dispatches calls by name.
///
/// Cheap to clone (tools are shared). The `tools` array is serialized once,
/// on first use, and reused for every request. Names are matched exactly; the slips
/// models make in names are mended when their answer is read (see
/// [`chat::recover`](crate::chat::recover)).
///
/// ```
/// # use toolcall::{DynamicTool, ToolRegistry};
/// # use toolcall::tool::ToolAnnotations;
/// # use serde_json::json;
/// let echo = DynamicTool::new("echo", "Echoes.", json!({"type": "object", "properties": {}}),
///     |v: serde_json::Value| async move { Ok::<_, String>(v) })?
///     .with_annotations(ToolAnnotations::read_only());
/// let delete = DynamicTool::new("delete", "Deletes.", json!({"type": "object", "properties": {}}),
///     |_v: serde_json::Value| async move { Ok::<_, String>("deleted") })?;
/// let registry = ToolRegistry::new().with_dynamic(echo).merge(ToolRegistry::new().with_dynamic(delete));
/// assert_eq!(registry.names().collect::<Vec<_>>(), ["echo", "delete"]);
/// assert_eq!(registry.read_only().names().collect::<Vec<_>>(), ["echo"]);
/// # Ok::<(), toolcall::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: Vec<Arc<dyn ErasedTool>>,
    index: HashMap<String, usize>,
    tools_json: OnceLock<Arc<RawValue>>,
    /// The first registration problem met by a chaining call.
    deferred: Option<Deferred>,
}

impl ToolRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a typed tool, chaining. A duplicate name or an unusable schema is
    /// recorded and reported by [`ToolRegistry::check`] and by every agent run.
    #[must_use]
    pub fn with<T: Tool>(mut self, tool: T) -> Self {
        if let Err(e) = self.register(tool) {
            self.defer(e);
        }
        self
    }

    /// Adds a run-time tool, chaining; problems are recorded as with [`ToolRegistry::with`].
    #[must_use]
    pub fn with_dynamic(mut self, tool: DynamicTool) -> Self {
        if let Err(e) = self.register_dynamic(tool) {
            self.defer(e);
        }
        self
    }

    /// Adds every tool of `other` after this registry's own, as axum's `Router::merge`
    /// does: a name both have is recorded as [`Error::DuplicateTool`] (reported by
    /// [`ToolRegistry::check`] and every agent run) and the tool already here is kept;
    /// nothing is silently replaced. A problem `other` had recorded is carried over.
    #[must_use]
    pub fn merge(mut self, other: ToolRegistry) -> Self {
        for tool in other.tools {
            let name = tool.meta().name.as_str();
            if self.index.contains_key(name) {
                self.defer(Error::DuplicateTool(name.to_owned()));
            } else {
                self.insert(tool);
            }
        }
        if let Some(problem) = other.deferred {
            self.defer(problem.into_error());
        }
        self
    }

    /// Tools whose backend is connected on first use: `template` describes them (names,
    /// descriptions, schemas, annotations; its tools are never run), and `connect` makes
    /// the registry that runs them, on the first call of any of them. When `connect`
    /// fails, that call answers its message (say what to set) and the next call tries
    /// again; concurrent first calls wait for one attempt.
    ///
    /// A server can so start at once and always list its tools, whether or not the
    /// cluster or database behind them is reachable yet.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use toolcall::{DynamicTool, ToolRegistry};
    /// use serde_json::json;
    ///
    /// fn ping(answer: &'static str) -> toolcall::Result<DynamicTool> {
    ///     DynamicTool::new("ping", "Pings the database.", json!({"type": "object"}),
    ///         move |_v: serde_json::Value| async move { Ok::<_, String>(answer) })
    /// }
    /// static CONFIGURED: AtomicBool = AtomicBool::new(false);
    ///
    /// let template = ToolRegistry::new().with_dynamic(ping("never run")?);
    /// let tools = ToolRegistry::lazy(template, || async {
    ///     if !CONFIGURED.load(Ordering::SeqCst) {
    ///         return Err("set PING_DATABASE_URL to the database to ping".to_owned());
    ///     }
    ///     Ok(ToolRegistry::new().with_dynamic(ping("pong").map_err(|e| e.to_string())?))
    /// });
    /// assert_eq!(tools.names().collect::<Vec<_>>(), ["ping"]);
    /// let err = tools.dispatch("ping", "{}").await.unwrap_err();
    /// assert_eq!(err.to_string(), "`ping` failed: set PING_DATABASE_URL to the database to ping");
    /// CONFIGURED.store(true, Ordering::SeqCst);
    /// assert_eq!(tools.dispatch("ping", "{}").await.unwrap().text, "pong");
    /// # Ok::<(), toolcall::Error>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn lazy<F, Fut>(template: ToolRegistry, connect: F) -> ToolRegistry
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<ToolRegistry, String>> + Send + 'static,
    {
        let connector = Arc::new(Connector::new(Box::new(move || Box::pin(connect()))));
        let mut lazy = ToolRegistry {
            deferred: template.deferred,
            ..ToolRegistry::default()
        };
        for tool in template.tools {
            lazy.insert(Arc::new(Lazy::new(tool, connector.clone())));
        }
        lazy
    }

    /// Adds a typed tool.
    ///
    /// # Errors
    /// [`Error::DuplicateTool`] when the name is taken; [`Error::InvalidTool`]
    /// when its schema does not compile.
    pub fn register<T: Tool>(&mut self, tool: T) -> Result<&mut Self> {
        self.ensure_free(T::NAME)?;
        let typed = Typed::new(tool)?;
        self.insert(Arc::new(typed));
        Ok(self)
    }

    /// Adds a run-time tool.
    ///
    /// # Errors
    /// [`Error::DuplicateTool`] when the name is taken.
    pub fn register_dynamic(&mut self, tool: DynamicTool) -> Result<&mut Self> {
        self.ensure_free(&tool.name)?;
        self.insert(Arc::new(Dynamic::new(tool)));
        Ok(self)
    }

    fn ensure_free(&self, name: &str) -> Result<()> {
        if self.index.contains_key(name) {
            return Err(Error::DuplicateTool(name.to_owned()));
        }
        Ok(())
    }

    fn insert(&mut self, tool: Arc<dyn ErasedTool>) {
        self.index
            .insert(tool.meta().name.clone(), self.tools.len());
        self.tools.push(tool);
        self.tools_json = OnceLock::new();
    }

    fn defer(&mut self, error: Error) {
        if self.deferred.is_some() {
            return;
        }
        self.deferred = Some(match error {
            Error::DuplicateTool(name) => Deferred::Duplicate(name),
            Error::InvalidTool { name, reason } => Deferred::Invalid { name, reason },
            other => Deferred::Invalid {
                name: String::new(),
                reason: other.to_string(),
            },
        });
    }

    /// Reports the first problem a chaining call met.
    ///
    /// # Errors
    /// That problem ([`Error::DuplicateTool`] or [`Error::InvalidTool`]).
    pub fn check(&self) -> Result<()> {
        match &self.deferred {
            None => Ok(()),
            Some(problem) => Err(problem.clone().into_error()),
        }
    }

    /// Keeps only the tools for which `keep` is true, in order.
    #[must_use]
    pub fn filter(self, mut keep: impl FnMut(&ToolInfo<'_>) -> bool) -> Self {
        let mut kept = Self {
            deferred: self.deferred,
            ..Self::default()
        };
        for tool in self.tools {
            if keep(&info(tool.as_ref())) {
                kept.insert(tool);
            }
        }
        kept
    }

    /// Keeps only the tools that say they are read-only (`readOnlyHint: true`).
    #[must_use]
    pub fn read_only(self) -> Self {
        self.filter(|t| t.annotations.is_read_only())
    }

    /// The registered tool names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|t| t.meta().name.as_str())
    }

    /// Every tool's name, description, schemas and annotations, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = ToolInfo<'_>> {
        self.tools.iter().map(|t| info(t.as_ref()))
    }

    /// The tool called exactly `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<ToolInfo<'_>> {
        self.lookup(name).map(|t| info(t.as_ref()))
    }

    /// How many tools are registered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether no tool is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The `tools` array as JSON values (a fresh copy).
    #[must_use]
    pub fn definitions(&self) -> Vec<Value> {
        self.tools
            .iter()
            .map(|t| t.meta().definition.clone())
            .collect()
    }

    /// The `tools` array, serialized once and shared.
    #[must_use]
    pub fn tools_json(&self) -> &RawValue {
        self.tools_json.get_or_init(|| {
            let defs: Vec<&Value> = self.tools.iter().map(|t| &t.meta().definition).collect();
            // Serializing `Value`s cannot fail; an empty array is the harmless fallback.
            serde_json::value::to_raw_value(&defs)
                .or_else(|_| serde_json::value::to_raw_value(&[(); 0]))
                .map(Arc::from)
                .unwrap_or_else(|_| Arc::from(RawValue::NULL.to_owned()))
        })
    }

    /// Runs one call with its arguments as text (a model's `arguments`): looks the tool
    /// up, parses and checks the arguments, runs it. No timeout or cap: see [`Dispatcher`].
    ///
    /// # Errors
    /// A [`ToolError`] saying what went wrong, to be sent to the model.
    pub async fn dispatch(&self, name: &str, arguments: &str) -> Result<ToolOutput, ToolError> {
        let tool = self.find(name)?;
        let args = parse_arguments(name, arguments)?;
        tool.validate(&args)?;
        tool.call(args).await
    }

    /// Runs one call with its arguments as a JSON value (as MCP hands them over);
    /// `null` means no arguments.
    ///
    /// # Errors
    /// A [`ToolError`] saying what went wrong, to be sent to the model.
    pub async fn dispatch_value(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<ToolOutput, ToolError> {
        let tool = self.find(name)?;
        let args = match arguments {
            Value::Null => Value::Object(serde_json::Map::new()),
            obj @ Value::Object(_) => obj,
            other => {
                return Err(ToolError::InvalidJson {
                    tool: name.to_owned(),
                    message: format!("expected a JSON object, got {}", json_kind(&other)),
                });
            }
        };
        tool.validate(&args)?;
        tool.call(args).await
    }

    fn find(&self, name: &str) -> Result<&Arc<dyn ErasedTool>, ToolError> {
        self.lookup(name).ok_or_else(|| ToolError::UnknownTool {
            name: name.to_owned(),
            available: self.names().map(str::to_owned).collect(),
        })
    }

    fn lookup(&self, name: &str) -> Option<&Arc<dyn ErasedTool>> {
        self.index.get(name).and_then(|&i| self.tools.get(i))
    }

    /// Runs a call and renders the outcome as tool-message content: the output's
    /// text, or `error: …` for the model. No timeout or cap: see [`Dispatcher`].
    pub async fn call(&self, call: &ToolCall) -> String {
        match self
            .dispatch(&call.function.name, &call.function.arguments)
            .await
        {
            Ok(output) => output.text,
            Err(e) => e.to_model_text(),
        }
    }
}

fn info(tool: &dyn ErasedTool) -> ToolInfo<'_> {
    let meta = tool.meta();
    ToolInfo {
        name: &meta.name,
        description: &meta.description,
        input_schema: &meta.input_schema,
        output_schema: meta.output_schema.as_ref(),
        annotations: &meta.annotations,
        requires_approval: meta.approval,
    }
}

/// Parses a call's arguments: empty text or `null` mean "no arguments".
fn parse_arguments(tool: &str, arguments: &str) -> Result<Value, ToolError> {
    let trimmed = arguments.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    let value: Value = serde_json::from_str(trimmed).map_err(|e| ToolError::InvalidJson {
        tool: tool.to_owned(),
        message: e.to_string(),
    })?;
    match value {
        Value::Object(_) => Ok(value),
        // Some models double-encode: a JSON string holding the JSON object.
        Value::String(inner) => match serde_json::from_str::<Value>(&inner) {
            Ok(obj @ Value::Object(_)) => Ok(obj),
            _ => Err(ToolError::InvalidJson {
                tool: tool.to_owned(),
                message: "expected a JSON object, got a string".into(),
            }),
        },
        other => Err(ToolError::InvalidJson {
            tool: tool.to_owned(),
            message: format!("expected a JSON object, got {}", json_kind(&other)),
        }),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolRegistry")
            .field("tools", &self.names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
