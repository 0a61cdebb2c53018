//! The registry: definitions, dispatch, and every way a call can go wrong without ending the run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::seed;
use toolcall::schemars::{self, JsonSchema};
use toolcall::{DynamicTool, Error, Tool, ToolError, ToolRegistry};

/// Arguments of `divide`.
#[derive(Deserialize, JsonSchema)]
struct DivideArgs {
    /// The dividend.
    a: i64,
    /// The divisor.
    b: i64,
    /// Round the result, if set.
    round: Option<bool>,
}

#[derive(Serialize)]
struct Quotient {
    value: f64,
}

struct Divide;

impl Tool for Divide {
    const NAME: &'static str = "divide";
    type Args = DivideArgs;
    type Output = Quotient;
    type Error = String;

    fn description(&self) -> Cow<'static, str> {
        "Divides a by b.".into()
    }

    async fn call(&self, args: DivideArgs) -> Result<Quotient, String> {
        if args.b == 0 {
            return Err("division by zero; pass a non-zero b".into());
        }
        let value = args.a as f64 / args.b as f64;
        Ok(Quotient {
            value: if args.round == Some(true) {
                value.round()
            } else {
                value
            },
        })
    }
}

struct StrictDivide;

impl Tool for StrictDivide {
    const NAME: &'static str = "strict_divide";
    type Args = DivideArgs;
    type Output = f64;
    type Error = String;
    fn description(&self) -> Cow<'static, str> {
        "Divides, strictly.".into()
    }
    fn strict(&self) -> bool {
        true
    }
    async fn call(&self, args: DivideArgs) -> Result<f64, String> {
        Ok(args.a as f64 / args.b as f64)
    }
}

#[tokio::test]
async fn typed_tool_output_is_compact_json() {
    let r = ToolRegistry::new().with(Divide);
    assert_eq!(
        r.dispatch("divide", r#"{"a": 7, "b": 2}"#).await.unwrap(),
        r#"{"value":3.5}"#
    );
    assert_eq!(
        r.dispatch("divide", r#"{"a": 7, "b": 2, "round": true}"#)
            .await
            .unwrap(),
        r#"{"value":4.0}"#
    );
}

#[tokio::test]
async fn unknown_tool_lists_the_available_ones() {
    let r = seed::registry();
    let err = r.dispatch("get_pod_logs", "{}").await.unwrap_err();
    assert!(matches!(err, ToolError::UnknownTool { ref name, .. } if name == "get_pod_logs"));
    let text = err.to_model_text();
    assert!(
        text.contains("get_kubernetes_pod_logs") && text.contains("run_postgres_query"),
        "{text}"
    );
}

#[tokio::test]
async fn arguments_that_are_not_json() {
    let r = ToolRegistry::new().with(Divide);
    let err = r.dispatch("divide", r#"{"a": 1, "b": "#).await.unwrap_err();
    assert!(matches!(err, ToolError::InvalidJson { .. }), "{err:?}");
    assert!(err.to_model_text().contains("not valid JSON"));
    let err = r.dispatch("divide", "[1, 2]").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("expected a JSON object, got an array"),
        "{err}"
    );
}

#[tokio::test]
async fn double_encoded_and_empty_arguments() {
    let r = ToolRegistry::new().with(Divide);
    assert_eq!(
        r.dispatch("divide", r#""{\"a\": 4, \"b\": 2}""#)
            .await
            .unwrap(),
        r#"{"value":2.0}"#
    );
    let err = r.dispatch("divide", "").await.unwrap_err();
    assert!(
        err.to_string().contains("\"a\" is a required property"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_argument_key_is_an_error_not_dropped() {
    let r = seed::registry();
    let args = r#"{"namespace": "payments", "pod_name": "checkout", "container": "istio-proxy"}"#;
    let err = r
        .dispatch("get_kubernetes_pod_logs", args)
        .await
        .unwrap_err();
    let text = err.to_model_text();
    assert!(matches!(err, ToolError::InvalidArguments { .. }));
    assert!(text.contains("container"), "{text}");
    assert!(
        text.contains(
            "expected parameters: namespace (required), pod_name (required), container_name"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn schema_mismatch_says_where() {
    let r = ToolRegistry::new().with(Divide);
    let err = r
        .dispatch("divide", r#"{"a": "seven", "b": 2}"#)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/a") && text.contains("integer"), "{text}");
    let err = r.dispatch("divide", r#"{"a": 1}"#).await.unwrap_err();
    assert!(
        err.to_string().contains("\"b\" is a required property"),
        "{err}"
    );
}

#[tokio::test]
async fn null_for_an_optional_argument_is_accepted() {
    let r = ToolRegistry::new().with(Divide);
    assert!(
        r.dispatch("divide", r#"{"a": 1, "b": 1, "round": null}"#)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn tool_error_is_told_to_the_model() {
    let r = ToolRegistry::new().with(Divide);
    let err = r
        .dispatch("divide", r#"{"a": 1, "b": 0}"#)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_model_text(),
        "error: `divide` failed: division by zero; pass a non-zero b"
    );
}

#[tokio::test]
async fn duplicate_names_are_an_error_at_registration() {
    let mut r = ToolRegistry::new();
    r.register(Divide).unwrap();
    assert!(matches!(r.register(Divide), Err(Error::DuplicateTool(ref n)) if n == "divide"));
    let chained = ToolRegistry::new().with(Divide).with(Divide);
    assert!(matches!(chained.check(), Err(Error::DuplicateTool(_))));
    assert_eq!(chained.len(), 1);
}

#[test]
fn strict_mode_definition() {
    let r = ToolRegistry::new().with(StrictDivide);
    let def = &r.definitions()[0]["function"];
    assert_eq!(def["strict"], true);
    assert_eq!(def["parameters"]["required"], json!(["a", "b", "round"]));
    assert_eq!(def["parameters"]["additionalProperties"], false);
    assert_eq!(
        def["parameters"]["properties"]["round"]["type"],
        json!(["boolean", "null"])
    );
}

#[test]
fn default_mode_definition() {
    let r = ToolRegistry::new().with(Divide);
    let def = &r.definitions()[0];
    assert_eq!(
        def,
        &json!({"type": "function", "function": {
            "name": "divide",
            "description": "Divides a by b.",
            "parameters": {"type": "object", "properties": {
                "a": {"type": "integer", "description": "The dividend."},
                "b": {"type": "integer", "description": "The divisor."},
                "round": {"type": "boolean", "description": "Round the result, if set."}
            }, "required": ["a", "b"]}
        }})
    );
}

#[tokio::test]
async fn dynamic_tool_validates_against_its_schema() {
    let tool = DynamicTool::new(
        "lookup",
        "Looks a key up.",
        json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
               "properties": {"key": {"type": "string", "minLength": 1}}, "required": ["key"]}),
        |args: Value| async move {
            match args["key"].as_str() {
                Some("missing") => Err(format!("no entry for {}", args["key"])),
                Some(k) => Ok(json!({"key": k, "value": 42})),
                None => Ok(Value::Null),
            }
        },
    )
    .unwrap();
    let r = ToolRegistry::new().with_dynamic(tool).with(Divide);
    assert_eq!(
        r.dispatch("lookup", r#"{"key": "a"}"#).await.unwrap(),
        r#"{"key":"a","value":42}"#
    );
    let err = r.dispatch("lookup", r#"{"key": ""}"#).await.unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments { .. }), "{err:?}");
    let err = r
        .dispatch("lookup", r#"{"key": "missing"}"#)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "`lookup` failed: no entry for \"missing\"");
    let def = &r.definitions()[0]["function"];
    assert!(def["parameters"].get("$schema").is_none());
    assert_eq!(r.names().collect::<Vec<_>>(), ["lookup", "divide"]);
}

#[test]
fn tools_json_is_computed_once_and_shared() {
    let r = seed::registry();
    let first = r.tools_json() as *const _;
    let second = r.tools_json() as *const _;
    assert_eq!(first, second);
}

#[tokio::test]
async fn names_with_spaces_or_a_functions_prefix_are_found() {
    let r = ToolRegistry::new().with(Divide);
    let args = r#"{"a": 6, "b": 3}"#;
    assert_eq!(
        r.dispatch(" divide\n", args).await.unwrap(),
        r#"{"value":2.0}"#
    );
    assert_eq!(
        r.dispatch("functions.divide", args).await.unwrap(),
        r#"{"value":2.0}"#
    );
    assert!(r.dispatch("functions.other", args).await.is_err());
}
