//! [`DynamicTool`]: a tool whose name, schema and behaviour are known only at run time.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::{IntoToolOutput, ToolAnnotations, ToolOutput};
use crate::error::{Error, Result};

type DynFn = dyn Fn(Value) -> BoxFuture<'static, Result<ToolOutput, String>> + Send + Sync;

/// A tool known only at run time: a name, a description, a raw JSON Schema and
/// an async closure over [`serde_json::Value`] (a remote MCP server's tools are such).
///
/// Arguments are validated against the schema before the closure runs, with the JSON
/// Schema draft the schema declares in `$schema` (draft 4, 6, 7, 2019-09 or 2020-12;
/// 2020-12 when it declares none). The closure's `Ok` value converts through
/// [`IntoToolOutput`] (a [`Value`] that is a JSON string is sent as its text, anything
/// else as compact JSON); its `Err` text is what the model is told.
///
/// ```
/// use serde_json::{json, Value};
/// use toolcall::DynamicTool;
/// use toolcall::tool::ToolAnnotations;
///
/// let echo = DynamicTool::new(
///     "echo",
///     "Echoes its input.",
///     json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
///     |args: Value| async move { Ok::<_, String>(args["text"].clone()) },
/// )?
/// .with_annotations(ToolAnnotations::read_only());
/// assert!(echo.annotations().is_read_only());
/// # Ok::<(), toolcall::Error>(())
/// ```
#[derive(Clone)]
pub struct DynamicTool {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) schema: Value,
    pub(crate) output_schema: Option<Value>,
    pub(crate) annotations: ToolAnnotations,
    pub(crate) approval: bool,
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
        T: IntoToolOutput,
        E: fmt::Display,
    {
        let name = name.into();
        if name.is_empty() {
            return Err(Error::InvalidTool {
                name,
                reason: "the name is empty".into(),
            });
        }
        let validator = crate::schema::compile_declared(&name, &schema)?;
        let call: Arc<DynFn> = Arc::new(move |args| {
            let fut = call(args);
            Box::pin(async move {
                match fut.await {
                    Ok(out) => out.into_tool_output().map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            })
        });
        Ok(Self {
            name,
            description: description.into(),
            schema,
            output_schema: None,
            annotations: ToolAnnotations::default(),
            approval: false,
            validator: Arc::new(validator),
            call,
        })
    }

    /// Sets the JSON Schema of the tool's structured output (MCP's `outputSchema`).
    #[must_use]
    pub fn with_output_schema(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
        self
    }

    /// Sets what the tool does to the world.
    #[must_use]
    pub fn with_annotations(mut self, annotations: ToolAnnotations) -> Self {
        self.annotations = annotations;
        self
    }

    /// Whether an operator must approve each call before it runs (see
    /// [`Tool::requires_approval`](crate::Tool::requires_approval)).
    #[must_use]
    pub fn with_approval(mut self, required: bool) -> Self {
        self.approval = required;
        self
    }

    /// Whether each call needs an operator's approval.
    #[must_use]
    pub fn requires_approval(&self) -> bool {
        self.approval
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

    /// The JSON Schema of its structured output, when known.
    #[must_use]
    pub fn output_schema(&self) -> Option<&Value> {
        self.output_schema.as_ref()
    }

    /// What the tool does to the world.
    #[must_use]
    pub fn annotations(&self) -> &ToolAnnotations {
        &self.annotations
    }
}

impl fmt::Debug for DynamicTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicTool")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("schema", &self.schema)
            .field("annotations", &self.annotations)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn noop(_v: Value) -> Result<Value, String> {
        Ok(Value::Null)
    }

    #[test]
    fn rejects_empty_name_and_bad_schema() {
        assert!(matches!(
            DynamicTool::new("", "d", json!({"type": "object"}), noop),
            Err(Error::InvalidTool { .. })
        ));
        assert!(matches!(
            DynamicTool::new("x", "d", json!({"type": 12}), noop),
            Err(Error::InvalidTool { .. })
        ));
    }

    /// `prefixItems` exists from 2020-12 on; draft 7 ignores it.
    #[test]
    fn validates_with_the_declared_draft_and_2020_12_by_default() {
        let body = json!({"type": "object", "properties": {"pair": {"type": "array", "prefixItems": [{"type": "integer"}]}}});
        let args = json!({"pair": ["not a number"]});
        let plain = DynamicTool::new("a", "d", body.clone(), noop).unwrap();
        assert!(!plain.validator.is_valid(&args), "2020-12 when undeclared");

        let mut declared = body.clone();
        declared["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        let t = DynamicTool::new("b", "d", declared, noop).unwrap();
        assert!(!t.validator.is_valid(&args));

        let mut seven = body;
        seven["$schema"] = json!("http://json-schema.org/draft-07/schema#");
        let t = DynamicTool::new("c", "d", seven, noop).unwrap();
        assert!(t.validator.is_valid(&args), "draft 7 ignores prefixItems");
    }

    #[test]
    fn an_unknown_meta_schema_falls_back_to_2020_12() {
        let schema = json!({"$schema": "https://example.invalid/my-meta", "type": "object",
            "properties": {"n": {"type": "integer"}}});
        let t = DynamicTool::new("x", "d", schema, noop).unwrap();
        assert!(t.validator.is_valid(&json!({"n": 1})));
        assert!(!t.validator.is_valid(&json!({"n": "one"})));
    }
}
