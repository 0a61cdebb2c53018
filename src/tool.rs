//! The [`Tool`] trait, [`ToolError`] (what the model is told) and [`DynamicTool`].

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// A function the model may call, with typed arguments and output.
///
/// The JSON Schema of [`Tool::Args`] is made by schemars and reshaped the way
/// OpenAI-compatible servers accept it (see [`crate::schema`]): each field's doc
/// comment becomes its `description`, an `Option<T>` field is optional.
///
/// The output becomes the `role: tool` message's content: a `String` output is
/// sent as it is (pre-rendered text), anything else as compact JSON.
///
/// ```
/// use toolcall::{schemars::JsonSchema, Tool};
/// use serde::Deserialize;
///
/// /// Arguments of `add`.
/// #[derive(Deserialize, JsonSchema)]
/// struct AddArgs {
///     /// The first number.
///     a: i64,
///     /// The second number.
///     b: i64,
/// }
///
/// struct Add;
///
/// impl Tool for Add {
///     const NAME: &'static str = "add";
///     type Args = AddArgs;
///     type Output = i64;
///     type Error = std::convert::Infallible;
///
///     fn description(&self) -> std::borrow::Cow<'static, str> {
///         "Adds two integers.".into()
///     }
///
///     async fn call(&self, args: AddArgs) -> Result<i64, Self::Error> {
///         Ok(args.a + args.b)
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a toolcall `Tool`",
    note = "implement `toolcall::Tool` for it (NAME, Args, Output, Error, description, call), or build a `toolcall::DynamicTool`"
)]
pub trait Tool: Send + Sync + 'static {
    /// The name the model calls the tool by (snake_case, unique in a registry).
    const NAME: &'static str;

    /// The arguments, read from the model's JSON. Unknown keys are refused.
    type Args: DeserializeOwned + JsonSchema + Send + 'static;

    /// The result. A `String` is sent as it is; anything else as compact JSON.
    type Output: Serialize + Send + 'static;

    /// The tool's own failure. Its `Display` text is what the model is told.
    type Error: fmt::Display + Send + 'static;

    /// What the tool does, for the model.
    fn description(&self) -> Cow<'static, str>;

    /// Whether to emit the schema in OpenAI's strict mode (every property
    /// required, `Option<T>` typed `["T","null"]`, `additionalProperties: false`,
    /// and `"strict": true` on the function). Off by default.
    fn strict(&self) -> bool {
        false
    }

    /// Runs the tool.
    fn call(
        &self,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// Why a tool call produced no result. Never ends a run: its text goes back to
/// the model in the `role: tool` message so it can correct itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The model called a tool that is not registered.
    #[error("unknown tool `{name}`; available tools: {}", .available.join(", "))]
    UnknownTool {
        /// The name the model used.
        name: String,
        /// The registered names.
        available: Vec<String>,
    },

    /// The call's `arguments` were not JSON.
    #[error("the arguments for `{tool}` are not valid JSON ({message}); send one JSON object")]
    InvalidJson {
        /// The tool called.
        tool: String,
        /// The parser's message.
        message: String,
    },

    /// The arguments were JSON but did not fit the tool's schema.
    #[error("invalid arguments for `{tool}`: {message}")]
    InvalidArguments {
        /// The tool called.
        tool: String,
        /// Every mismatch, with where it is, and the parameters expected.
        message: String,
    },

    /// The tool ran and failed.
    #[error("`{tool}` failed: {message}")]
    Failed {
        /// The tool called.
        tool: String,
        /// The tool's own error text.
        message: String,
    },

    /// The tool did not finish within the agent's per-call timeout.
    #[error("`{tool}` did not finish within {after:?}")]
    Timeout {
        /// The tool called.
        tool: String,
        /// The timeout.
        after: Duration,
    },
}

impl ToolError {
    /// The text the model reads in the `role: tool` message.
    #[must_use]
    pub fn to_model_text(&self) -> String {
        format!("error: {self}")
    }
}

/// Renders a tool's output as tool-message content: a JSON string as its text,
/// anything else as compact JSON.
pub(crate) fn render_output<T: Serialize + 'static>(
    tool: &str,
    value: T,
) -> Result<String, ToolError> {
    // Text outputs are sent as they are, without a round trip through JSON.
    let value: Box<dyn std::any::Any> = Box::new(value);
    let value = match value.downcast::<String>() {
        Ok(text) => return Ok(*text),
        Err(other) => other,
    };
    let value = match value.downcast::<Value>() {
        Ok(v) => match *v {
            Value::String(text) => return Ok(text),
            other => return serialize(tool, &other),
        },
        Err(other) => other,
    };
    match value.downcast::<T>() {
        Ok(v) => serialize(tool, &*v),
        Err(_) => Err(ToolError::Failed {
            tool: tool.to_owned(),
            message: "its output could not be rendered".into(),
        }),
    }
}

/// Compact JSON, except that a value serializing to a JSON string is sent as its text.
fn serialize<T: Serialize + ?Sized>(tool: &str, value: &T) -> Result<String, ToolError> {
    let json = serde_json::to_string(value).map_err(|e| ToolError::Failed {
        tool: tool.to_owned(),
        message: format!("its output could not be serialized: {e}"),
    })?;
    if json.starts_with('"')
        && let Ok(text) = serde_json::from_str::<String>(&json)
    {
        return Ok(text);
    }
    Ok(json)
}

type DynFn = dyn Fn(Value) -> BoxFuture<'static, Result<Value, String>> + Send + Sync;

/// A tool known only at run time: a name, a description, a raw JSON Schema and
/// an async closure over [`serde_json::Value`] (a remote MCP server's tools are such).
///
/// Arguments are validated against the schema before the closure runs. The
/// closure's `Ok` value is rendered like a typed tool's output (a JSON string as
/// its text, anything else as compact JSON); its `Err` text is what the model is told.
///
/// ```
/// use serde_json::{json, Value};
/// use toolcall::DynamicTool;
///
/// let echo = DynamicTool::new(
///     "echo",
///     "Echoes its input.",
///     json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
///     |args: Value| async move { Ok::<_, String>(args["text"].clone()) },
/// )?;
/// # Ok::<(), toolcall::Error>(())
/// ```
#[derive(Clone)]
pub struct DynamicTool {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) schema: Value,
    pub(crate) validator: Arc<jsonschema::Validator>,
    pub(crate) call: Arc<DynFn>,
}

impl DynamicTool {
    /// Makes a tool from its parts.
    ///
    /// # Errors
    /// [`Error::InvalidTool`] when the name is empty or the schema is not a
    /// valid JSON Schema.
    pub fn new<F, Fut, T, E>(
        name: impl Into<String>,
        description: impl Into<String>,
        schema: Value,
        call: F,
    ) -> Result<Self>
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Into<Value>,
        E: fmt::Display,
    {
        let name = name.into();
        if name.is_empty() {
            return Err(Error::InvalidTool {
                name,
                reason: "the name is empty".into(),
            });
        }
        let validator = crate::schema::compile(&name, &schema)?;
        let call: Arc<DynFn> = Arc::new(move |args| {
            let fut = call(args);
            Box::pin(async move { fut.await.map(Into::into).map_err(|e| e.to_string()) })
        });
        Ok(Self {
            name,
            description: description.into(),
            schema,
            validator: Arc::new(validator),
            call,
        })
    }

    /// The tool's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tool's description.
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The tool's JSON Schema, as given.
    #[must_use]
    pub fn schema(&self) -> &Value {
        &self.schema
    }
}

impl fmt::Debug for DynamicTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicTool")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_output_is_sent_as_text() {
        let text = r#"{"logs": "a; b"}"#.to_owned();
        assert_eq!(render_output("t", text.clone()).unwrap(), text);
        assert_eq!(render_output("t", "static text").unwrap(), "static text");
    }

    #[test]
    fn structured_output_is_compact_json() {
        let v = serde_json::json!({"usage": "1Gi", "limit": null});
        assert_eq!(
            render_output("t", v).unwrap(),
            r#"{"usage":"1Gi","limit":null}"#
        );
        assert_eq!(render_output("t", 5u8).unwrap(), "5");
        assert_eq!(render_output("t", vec!["a"]).unwrap(), r#"["a"]"#);
    }

    #[test]
    fn unknown_tool_names_the_alternatives() {
        let e = ToolError::UnknownTool {
            name: "get_logs".into(),
            available: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            e.to_model_text(),
            "error: unknown tool `get_logs`; available tools: a, b"
        );
    }

    #[test]
    fn dynamic_tool_rejects_empty_name_and_bad_schema() {
        let f = |_v: Value| async { Ok::<Value, String>(Value::Null) };
        assert!(matches!(
            DynamicTool::new("", "d", serde_json::json!({"type": "object"}), f),
            Err(Error::InvalidTool { .. })
        ));
        assert!(matches!(
            DynamicTool::new("x", "d", serde_json::json!({"type": 12}), f),
            Err(Error::InvalidTool { .. })
        ));
    }
}
