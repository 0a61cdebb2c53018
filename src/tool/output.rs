//! What a tool answers: [`ToolOutput`] (text and, optionally, structured JSON) and the
//! [`IntoToolOutput`] conversion, the way axum turns handler results into responses.

use std::borrow::Cow;
use std::fmt;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// A tool's answer: the text a model reads and, when the result is a JSON object, the same
/// result as structured JSON.
///
/// The [`Agent`](crate::Agent) sends `text` as the `role: tool` message; an MCP server
/// sends `text` as the result's text content and `structured` as its `structuredContent`.
///
/// ```
/// use toolcall::tool::{IntoToolOutput, Json, ToolOutput};
/// use serde_json::json;
///
/// let text = "2 pods restarting".to_owned().into_tool_output()?;
/// assert_eq!(text, ToolOutput::text("2 pods restarting"));
///
/// let json = Json(json!({"usage": "1Gi"})).into_tool_output()?;
/// assert_eq!(json.text, r#"{"usage":"1Gi"}"#);
/// assert_eq!(json.structured, Some(json!({"usage": "1Gi"})));
/// # Ok::<(), toolcall::tool::OutputError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ToolOutput {
    /// What the model reads.
    pub text: String,
    /// The result as a JSON object, when it is one (MCP's `structuredContent`).
    pub structured: Option<Value>,
}

impl ToolOutput {
    /// Text only.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            structured: None,
        }
    }

    /// Text and its structured form, both given.
    #[must_use]
    pub fn new(text: impl Into<String>, structured: Option<Value>) -> Self {
        Self {
            text: text.into(),
            structured,
        }
    }

    /// Any serializable value, as [`ToolOutput::json`] sends it; for implementing
    /// [`IntoToolOutput`] on one's own types.
    ///
    /// # Errors
    /// [`OutputError`] when the value cannot be serialized.
    pub fn serialized<T: Serialize + ?Sized>(value: &T) -> Result<Self, OutputError> {
        let value = serde_json::to_value(value).map_err(|e| OutputError(Box::new(e)))?;
        Ok(Self::json(value))
    }

    /// A JSON value: a JSON string is sent as its text; anything else as compact JSON,
    /// with the value kept as `structured` when it is an object.
    #[must_use]
    pub fn json(value: Value) -> Self {
        match value {
            Value::String(text) => Self::text(text),
            Value::Object(_) => Self {
                text: value.to_string(),
                structured: Some(value),
            },
            other => Self::text(other.to_string()),
        }
    }
}

/// A tool's output could not be turned into a [`ToolOutput`] (it failed to serialize).
#[derive(Debug, thiserror::Error)]
#[error("the output could not be serialized")]
pub struct OutputError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Converts a tool's result into a [`ToolOutput`], the way axum's `IntoResponse` turns a
/// handler's result into a response.
///
/// - `String`, `&'static str`, `Cow<'static, str>`: text, sent as it is;
/// - [`Json<T>`]: compact JSON text plus the value as structured JSON; its output schema
///   comes from `T`'s [`JsonSchema`] when that describes an object;
/// - [`serde_json::Value`]: a JSON string as its text, anything else as compact JSON
///   (structured when it is an object);
/// - numbers, `bool` and `()`: their text;
/// - [`ToolOutput`]: as it is.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a tool's output",
    note = "return a `String` for text, wrap a serializable value in `toolcall::tool::Json(…)`, or build a `toolcall::tool::ToolOutput`"
)]
pub trait IntoToolOutput: Send + 'static {
    /// Converts the result.
    ///
    /// # Errors
    /// [`OutputError`] when the value cannot be serialized.
    fn into_tool_output(self) -> Result<ToolOutput, OutputError>;

    /// The JSON Schema of the structured output, when it is known and describes an object.
    fn output_schema() -> Option<Value>
    where
        Self: Sized,
    {
        None
    }
}

impl IntoToolOutput for ToolOutput {
    fn into_tool_output(self) -> Result<ToolOutput, OutputError> {
        Ok(self)
    }
}

impl IntoToolOutput for String {
    fn into_tool_output(self) -> Result<ToolOutput, OutputError> {
        Ok(ToolOutput::text(self))
    }
}

impl IntoToolOutput for &'static str {
    fn into_tool_output(self) -> Result<ToolOutput, OutputError> {
        Ok(ToolOutput::text(self))
    }
}

impl IntoToolOutput for Cow<'static, str> {
    fn into_tool_output(self) -> Result<ToolOutput, OutputError> {
        Ok(ToolOutput::text(self))
    }
}

impl IntoToolOutput for Value {
    fn into_tool_output(self) -> Result<ToolOutput, OutputError> {
        Ok(ToolOutput::json(self))
    }
}

impl IntoToolOutput for () {
    fn into_tool_output(self) -> Result<ToolOutput, OutputError> {
        Ok(ToolOutput::text(""))
    }
}

macro_rules! display_output {
    ($($t:ty),*) => {$(
        impl IntoToolOutput for $t {
            fn into_tool_output(self) -> Result<ToolOutput, OutputError> {
                Ok(ToolOutput::text(self.to_string()))
            }
        }
    )*};
}
display_output!(
    bool, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

macro_rules! float_output {
    ($($t:ty),*) => {$(
        impl IntoToolOutput for $t {
            fn into_tool_output(self) -> Result<ToolOutput, OutputError> {
                // Serialized as JSON does: a non-finite float is `null`.
                Ok(ToolOutput::text(Value::from(self).to_string()))
            }
        }
    )*};
}
float_output!(f32, f64);

/// A serializable result: sent as compact JSON text and, when it is an object, as structured
/// JSON too, with `T`'s JSON Schema as the tool's output schema.
///
/// ```
/// use toolcall::tool::{IntoToolOutput, Json};
/// use toolcall::schemars::JsonSchema;
/// use serde::Serialize;
///
/// /// Memory of one container.
/// #[derive(Serialize, JsonSchema)]
/// struct Memory {
///     /// Bytes in use.
///     usage: u64,
/// }
///
/// let out = Json(Memory { usage: 1024 }).into_tool_output()?;
/// assert_eq!(out.text, r#"{"usage":1024}"#);
/// let schema = <Json<Memory> as IntoToolOutput>::output_schema().unwrap();
/// assert_eq!(schema["properties"]["usage"]["type"], "integer");
/// # Ok::<(), toolcall::tool::OutputError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize + JsonSchema + Send + 'static> IntoToolOutput for Json<T> {
    fn into_tool_output(self) -> Result<ToolOutput, OutputError> {
        ToolOutput::serialized(&self.0)
    }

    fn output_schema() -> Option<Value> {
        crate::schema::output_schema_for::<T>()
    }
}

impl fmt::Display for ToolOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_outputs_are_sent_as_they_are() {
        let text = r#"{"logs": "a; b"}"#.to_owned();
        assert_eq!(text.clone().into_tool_output().unwrap().text, text);
        assert_eq!(text.into_tool_output().unwrap().structured, None);
        assert_eq!("static".into_tool_output().unwrap().text, "static");
        assert_eq!(5u8.into_tool_output().unwrap().text, "5");
        assert_eq!(f64::NAN.into_tool_output().unwrap().text, "null");
        assert_eq!(().into_tool_output().unwrap().text, "");
    }

    #[test]
    fn json_values_are_compact_and_objects_structured() {
        let v = json!({"usage": "1Gi", "limit": null});
        let out = v.clone().into_tool_output().unwrap();
        assert_eq!(out.text, r#"{"usage":"1Gi","limit":null}"#);
        assert_eq!(out.structured, Some(v));
        let arr = Json(vec!["a"]).into_tool_output().unwrap();
        assert_eq!(arr.text, r#"["a"]"#);
        assert_eq!(arr.structured, None, "structured content is an object");
        assert_eq!(
            json!("plain").into_tool_output().unwrap(),
            ToolOutput::text("plain")
        );
    }

    #[test]
    fn output_schema_only_for_objects() {
        assert!(<Json<Vec<u8>> as IntoToolOutput>::output_schema().is_none());
        assert!(<String as IntoToolOutput>::output_schema().is_none());
        let schema =
            <Json<std::collections::BTreeMap<String, u8>> as IntoToolOutput>::output_schema();
        assert_eq!(schema.unwrap()["type"], "object");
    }

    #[test]
    fn unserializable_output_is_an_error() {
        let mut map = std::collections::HashMap::new();
        map.insert(vec![1u8], 1u8);
        let e = Json(map).into_tool_output().unwrap_err();
        assert_eq!(e.to_string(), "the output could not be serialized");
        assert!(std::error::Error::source(&e).is_some());
    }
}
