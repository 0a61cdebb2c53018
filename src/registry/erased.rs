//! The object-safe face of [`Tool`] and [`DynamicTool`], behind which the registry keeps them.

use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::Result;
use crate::schema;
use crate::tool::{DynamicTool, IntoToolOutput, Tool, ToolAnnotations, ToolError, ToolOutput};

/// What the registry knows of a tool, computed once at registration.
pub(crate) struct Meta {
    pub(crate) name: String,
    pub(crate) description: String,
    /// The schema the model is shown (`parameters`, MCP's `inputSchema`).
    pub(crate) input_schema: Value,
    pub(crate) output_schema: Option<Value>,
    pub(crate) annotations: ToolAnnotations,
    /// Each call needs an operator's approval.
    pub(crate) approval: bool,
    /// `{"type":"function","function":{…}}`.
    pub(crate) definition: Value,
}

impl Meta {
    fn new(
        name: String,
        description: String,
        input_schema: Value,
        output_schema: Option<Value>,
        annotations: ToolAnnotations,
        strict: bool,
        approval: bool,
    ) -> Self {
        let mut function = serde_json::Map::new();
        function.insert("name".into(), Value::String(name.clone()));
        function.insert("description".into(), Value::String(description.clone()));
        function.insert("parameters".into(), input_schema.clone());
        if strict {
            function.insert("strict".into(), Value::Bool(true));
        }
        let definition = serde_json::json!({"type": "function", "function": function});
        Self {
            name,
            description,
            input_schema,
            output_schema,
            annotations,
            approval,
            definition,
        }
    }
}

/// A tool behind dynamic dispatch.
pub(crate) trait ErasedTool: Send + Sync {
    fn meta(&self) -> &Meta;
    fn validate(&self, args: &Value) -> Result<(), ToolError>;
    fn call<'a>(&'a self, args: Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>>;
}

pub(crate) struct Typed<T: Tool> {
    tool: T,
    meta: Meta,
    validation: Value,
    validator: jsonschema::Validator,
}

impl<T: Tool> Typed<T> {
    pub(crate) fn new(tool: T) -> Result<Self> {
        let strict = tool.strict();
        let schemas = schema::schemas_for::<T::Args>(strict);
        let validator = schema::compile(T::NAME, &schemas.validation)?;
        let meta = Meta::new(
            T::NAME.to_owned(),
            tool.description().into_owned(),
            schemas.parameters,
            T::Output::output_schema(),
            tool.annotations(),
            strict,
            tool.requires_approval(),
        );
        Ok(Self {
            tool,
            meta,
            validation: schemas.validation,
            validator,
        })
    }
}

fn failed(tool: &str, message: impl Into<String>) -> ToolError {
    ToolError::Failed {
        tool: tool.to_owned(),
        message: message.into(),
    }
}

impl<T: Tool> ErasedTool for Typed<T> {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn validate(&self, args: &Value) -> Result<(), ToolError> {
        schema::check(&self.validator, &self.validation, args).map_err(|message| {
            ToolError::InvalidArguments {
                tool: T::NAME.to_owned(),
                message,
            }
        })
    }

    fn call<'a>(&'a self, args: Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: T::Args =
                serde_json::from_value(args).map_err(|e| ToolError::InvalidArguments {
                    tool: T::NAME.to_owned(),
                    message: e.to_string(),
                })?;
            match self.tool.call(args).await {
                Ok(output) => output
                    .into_tool_output()
                    .map_err(|e| failed(T::NAME, format!("its {e}"))),
                Err(e) => Err(failed(T::NAME, e.to_string())),
            }
        })
    }
}

pub(crate) struct Dynamic {
    tool: DynamicTool,
    meta: Meta,
}

impl Dynamic {
    pub(crate) fn new(tool: DynamicTool) -> Self {
        let mut parameters = tool.schema.clone();
        if let Value::Object(map) = &mut parameters {
            map.remove("$schema");
        }
        let meta = Meta::new(
            tool.name.clone(),
            tool.description.clone(),
            parameters,
            tool.output_schema.clone(),
            tool.annotations.clone(),
            false,
            tool.approval,
        );
        Self { tool, meta }
    }
}

impl ErasedTool for Dynamic {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn validate(&self, args: &Value) -> Result<(), ToolError> {
        schema::check(&self.tool.validator, &self.tool.schema, args).map_err(|message| {
            ToolError::InvalidArguments {
                tool: self.tool.name.clone(),
                message,
            }
        })
    }

    fn call<'a>(&'a self, args: Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            (self.tool.call)(args)
                .await
                .map_err(|message| failed(&self.tool.name, message))
        })
    }
}

type Connect =
    dyn Fn() -> BoxFuture<'static, std::result::Result<super::ToolRegistry, String>> + Send + Sync;

/// Connects a family of tools on first use (see [`super::ToolRegistry::lazy`]).
pub(crate) struct Connector {
    connect: Box<Connect>,
    ready: tokio::sync::OnceCell<super::ToolRegistry>,
}

impl Connector {
    pub(crate) fn new(connect: Box<Connect>) -> Self {
        Self {
            connect,
            ready: tokio::sync::OnceCell::new(),
        }
    }
}

/// A tool described by a template and run by the registry its connector makes.
pub(crate) struct Lazy {
    /// The template tool: its description and argument checks.
    template: std::sync::Arc<dyn ErasedTool>,
    connector: std::sync::Arc<Connector>,
}

impl Lazy {
    pub(crate) fn new(
        template: std::sync::Arc<dyn ErasedTool>,
        connector: std::sync::Arc<Connector>,
    ) -> Self {
        Self {
            template,
            connector,
        }
    }
}

impl ErasedTool for Lazy {
    fn meta(&self) -> &Meta {
        self.template.meta()
    }

    fn validate(&self, args: &Value) -> Result<(), ToolError> {
        self.template.validate(args)
    }

    fn call<'a>(&'a self, args: Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let name = self.template.meta().name.as_str();
            let connector = &self.connector;
            // A failed connection is not kept: the next call tries again.
            let registry = connector
                .ready
                .get_or_try_init(|| (connector.connect)())
                .await
                .map_err(|message| failed(name, message))?;
            registry.dispatch_value(name, args).await
        })
    }
}
