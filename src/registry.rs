//! [`ToolRegistry`]: the `tools` array and dispatch by name.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::chat::ToolCall;
use crate::error::{Error, Result};
use crate::schema;
use crate::tool::{DynamicTool, Tool, ToolError, render_output};

/// A registration problem kept by a chaining `with*` call until [`ToolRegistry::check`].
#[derive(Clone, Debug)]
enum Deferred {
    Duplicate(String),
    Invalid { name: String, reason: String },
}

/// A tool behind dynamic dispatch: the object-safe face of [`Tool`] and [`DynamicTool`].
pub(crate) trait ErasedTool: Send + Sync {
    fn name(&self) -> &str;
    /// `{"type":"function","function":{…}}`.
    fn definition(&self) -> &Value;
    fn call<'a>(&'a self, args: Value) -> BoxFuture<'a, Result<String, ToolError>>;
    fn validate(&self, args: &Value) -> Result<(), ToolError>;
}

struct Typed<T: Tool> {
    tool: T,
    definition: Value,
    validation: Value,
    validator: jsonschema::Validator,
}

fn definition(name: &str, description: &str, parameters: Value, strict: bool) -> Value {
    let mut function = serde_json::Map::new();
    function.insert("name".into(), Value::String(name.to_owned()));
    function.insert("description".into(), Value::String(description.to_owned()));
    function.insert("parameters".into(), parameters);
    if strict {
        function.insert("strict".into(), Value::Bool(true));
    }
    serde_json::json!({"type": "function", "function": function})
}

impl<T: Tool> Typed<T> {
    fn new(tool: T) -> Result<Self> {
        let strict = tool.strict();
        let schemas = schema::schemas_for::<T::Args>(strict);
        let validator = schema::compile(T::NAME, &schemas.validation)?;
        let definition = definition(T::NAME, &tool.description(), schemas.parameters, strict);
        Ok(Self {
            tool,
            definition,
            validation: schemas.validation,
            validator,
        })
    }
}

impl<T: Tool> ErasedTool for Typed<T> {
    fn name(&self) -> &str {
        T::NAME
    }

    fn definition(&self) -> &Value {
        &self.definition
    }

    fn validate(&self, args: &Value) -> Result<(), ToolError> {
        schema::check(&self.validator, &self.validation, args).map_err(|message| {
            ToolError::InvalidArguments {
                tool: T::NAME.to_owned(),
                message,
            }
        })
    }

    fn call<'a>(&'a self, args: Value) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            let args: T::Args =
                serde_json::from_value(args).map_err(|e| ToolError::InvalidArguments {
                    tool: T::NAME.to_owned(),
                    message: e.to_string(),
                })?;
            match self.tool.call(args).await {
                Ok(output) => render_output(T::NAME, output),
                Err(e) => Err(ToolError::Failed {
                    tool: T::NAME.to_owned(),
                    message: e.to_string(),
                }),
            }
        })
    }
}

struct Dynamic {
    tool: DynamicTool,
    definition: Value,
}

impl ErasedTool for Dynamic {
    fn name(&self) -> &str {
        &self.tool.name
    }

    fn definition(&self) -> &Value {
        &self.definition
    }

    fn validate(&self, args: &Value) -> Result<(), ToolError> {
        schema::check(&self.tool.validator, &self.tool.schema, args).map_err(|message| {
            ToolError::InvalidArguments {
                tool: self.tool.name.clone(),
                message,
            }
        })
    }

    fn call<'a>(&'a self, args: Value) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            match (self.tool.call)(args).await {
                Ok(v) => render_output(&self.tool.name, v),
                Err(message) => Err(ToolError::Failed {
                    tool: self.tool.name.clone(),
                    message,
                }),
            }
        })
    }
}

/// The tools a model may call: emits the `tools` array and dispatches calls by name.
///
/// Cheap to clone (tools are shared). The `tools` array is serialized once,
/// on first use, and reused for every request.
///
/// ```
/// # use toolcall::{DynamicTool, ToolRegistry};
/// # use serde_json::json;
/// let echo = DynamicTool::new("echo", "Echoes.", json!({"type": "object", "properties": {}}),
///     |v: serde_json::Value| async move { Ok::<_, String>(v) })?;
/// let registry = ToolRegistry::new().with_dynamic(echo);
/// assert_eq!(registry.names().collect::<Vec<_>>(), ["echo"]);
/// # Ok::<(), toolcall::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: Vec<Arc<dyn ErasedTool>>,
    index: HashMap<String, usize>,
    tools_json: OnceLock<Arc<RawValue>>,
    /// The first registration problem met by a chaining `with*` call.
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
        let mut parameters = tool.schema.clone();
        if let Value::Object(map) = &mut parameters {
            map.remove("$schema");
        }
        let definition = definition(&tool.name, &tool.description, parameters, false);
        self.insert(Arc::new(Dynamic { tool, definition }));
        Ok(self)
    }

    fn ensure_free(&self, name: &str) -> Result<()> {
        if self.index.contains_key(name) {
            return Err(Error::DuplicateTool(name.to_owned()));
        }
        Ok(())
    }

    fn insert(&mut self, tool: Arc<dyn ErasedTool>) {
        self.index.insert(tool.name().to_owned(), self.tools.len());
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

    /// Reports the first problem a chaining `with*` call met.
    ///
    /// # Errors
    /// That problem ([`Error::DuplicateTool`] or [`Error::InvalidTool`]).
    pub fn check(&self) -> Result<()> {
        match &self.deferred {
            None => Ok(()),
            Some(Deferred::Duplicate(name)) => Err(Error::DuplicateTool(name.clone())),
            Some(Deferred::Invalid { name, reason }) => Err(Error::InvalidTool {
                name: name.clone(),
                reason: reason.clone(),
            }),
        }
    }

    /// The registered tool names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|t| t.name())
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
        self.tools.iter().map(|t| t.definition().clone()).collect()
    }

    /// The `tools` array, serialized once and shared.
    #[must_use]
    pub fn tools_json(&self) -> &RawValue {
        self.tools_json.get_or_init(|| {
            let defs: Vec<&Value> = self.tools.iter().map(|t| t.definition()).collect();
            // Serializing `Value`s cannot fail; an empty array is the harmless fallback.
            serde_json::value::to_raw_value(&defs)
                .or_else(|_| serde_json::value::to_raw_value(&[(); 0]))
                .map(Arc::from)
                .unwrap_or_else(|_| Arc::from(RawValue::NULL.to_owned()))
        })
    }

    /// Runs one call: looks the tool up, parses and checks the arguments, runs it.
    ///
    /// # Errors
    /// A [`ToolError`] saying what went wrong, to be sent to the model.
    pub async fn dispatch(&self, name: &str, arguments: &str) -> Result<String, ToolError> {
        let Some(tool) = self.lookup(name) else {
            return Err(ToolError::UnknownTool {
                name: name.to_owned(),
                available: self.names().map(str::to_owned).collect(),
            });
        };
        let args = parse_arguments(name, arguments)?;
        tool.validate(&args)?;
        tool.call(args).await
    }

    /// The tool called `name`, forgiving what models add around names: spaces,
    /// and a `functions.` namespace prefix.
    fn lookup(&self, name: &str) -> Option<&Arc<dyn ErasedTool>> {
        let find = |n: &str| self.index.get(n).and_then(|&i| self.tools.get(i));
        find(name).or_else(|| {
            let trimmed = name.trim();
            find(trimmed).or_else(|| find(trimmed.strip_prefix("functions.")?))
        })
    }

    /// Runs a call and renders the outcome as tool-message content: the output,
    /// or `error: …` for the model.
    pub async fn call(&self, call: &ToolCall) -> String {
        match self
            .dispatch(&call.function.name, &call.function.arguments)
            .await
        {
            Ok(content) => content,
            Err(e) => e.to_model_text(),
        }
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
