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
use toolcall::tool::{Json, ToolAnnotations};
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

/// The result of a division.
#[derive(Serialize, JsonSchema)]
struct Quotient {
    /// a / b.
    value: f64,
}

struct Divide;

impl Tool for Divide {
    const NAME: &'static str = "divide";
    type Args = DivideArgs;
    type Output = Json<Quotient>;
    type Error = String;

    fn description(&self) -> Cow<'static, str> {
        "Divides a by b.".into()
    }

    async fn call(&self, args: DivideArgs) -> Result<Json<Quotient>, String> {
        if args.b == 0 {
            return Err("division by zero; pass a non-zero b".into());
        }
        let value = args.a as f64 / args.b as f64;
        Ok(Json(Quotient {
            value: if args.round == Some(true) {
                value.round()
            } else {
                value
            },
        }))
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
        r.dispatch("divide", r#"{"a": 7, "b": 2}"#)
            .await
            .unwrap()
            .text,
        r#"{"value":3.5}"#
    );
    assert_eq!(
        r.dispatch("divide", r#"{"a": 7, "b": 2, "round": true}"#)
            .await
            .unwrap()
            .text,
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
            .unwrap()
            .text,
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
        r.dispatch("lookup", r#"{"key": "a"}"#).await.unwrap().text,
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
async fn names_are_matched_exactly() {
    let r = ToolRegistry::new().with(Divide);
    let args = r#"{"a": 6, "b": 3}"#;
    for name in [" divide\n", "functions.divide", "Divide"] {
        let err = r.dispatch(name, args).await.unwrap_err();
        assert!(
            matches!(err, ToolError::UnknownTool { name: ref n, .. } if n == name),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn typed_json_output_is_also_structured() {
    let r = ToolRegistry::new().with(Divide);
    let out = r.dispatch("divide", r#"{"a": 1, "b": 4}"#).await.unwrap();
    assert_eq!(out.text, r#"{"value":0.25}"#);
    assert_eq!(out.structured, Some(json!({"value": 0.25})));
    let info = r.get("divide").unwrap();
    let schema = info.output_schema.expect("Json<Quotient> has a schema");
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["properties"]["value"]["type"], "number");
    assert_eq!(schema["properties"]["value"]["description"], "a / b.");
    // A bare f64 output is text, with no output schema.
    let r = ToolRegistry::new().with(StrictDivide);
    let out = r
        .dispatch("strict_divide", r#"{"a": 1, "b": 4, "round": null}"#)
        .await
        .unwrap();
    assert_eq!((out.text.as_str(), out.structured), ("0.25", None));
    assert!(r.get("strict_divide").unwrap().output_schema.is_none());
}

#[tokio::test]
async fn dispatch_value_takes_objects_and_null() {
    let r = ToolRegistry::new().with(Divide);
    let out = r
        .dispatch_value("divide", json!({"a": 9, "b": 3}))
        .await
        .unwrap();
    assert_eq!(out.text, r#"{"value":3.0}"#);
    let err = r.dispatch_value("divide", Value::Null).await.unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments { .. }), "{err:?}");
    let err = r.dispatch_value("divide", json!([9, 3])).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("expected a JSON object, got an array"),
        "{err}"
    );
    let err = r
        .dispatch_value("divide", json!({"a": 9, "b": 3, "c": 1}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("c"), "{err}");
}

fn dynamic(name: &str, annotations: ToolAnnotations) -> DynamicTool {
    DynamicTool::new(
        name,
        format!("The {name} tool."),
        json!({"type": "object", "properties": {}}),
        |_v: Value| async move { Ok::<_, String>("done") },
    )
    .unwrap()
    .with_annotations(annotations)
}

#[test]
fn merge_keeps_order_and_reports_duplicates() {
    let a = ToolRegistry::new()
        .with_dynamic(dynamic("one", ToolAnnotations::read_only()))
        .with(Divide);
    let b = ToolRegistry::new()
        .with_dynamic(dynamic("two", ToolAnnotations::new()))
        .with_dynamic(dynamic("divide", ToolAnnotations::new()));
    let merged = a.merge(b);
    assert_eq!(merged.names().collect::<Vec<_>>(), ["one", "divide", "two"]);
    // The tool already there is kept, and the clash reported.
    assert_eq!(merged.get("divide").unwrap().description, "Divides a by b.");
    assert!(matches!(merged.check(), Err(Error::DuplicateTool(ref n)) if n == "divide"));
    let defs = merged.definitions();
    assert_eq!(defs.len(), 3);
    let emitted: Value = serde_json::from_str(merged.tools_json().get()).unwrap();
    assert_eq!(emitted, Value::Array(defs));

    // A problem recorded in the merged-in registry is carried over.
    let bad = ToolRegistry::new()
        .with_dynamic(dynamic("x", ToolAnnotations::new()))
        .with_dynamic(dynamic("x", ToolAnnotations::new()));
    let merged = ToolRegistry::new().merge(bad);
    assert!(matches!(merged.check(), Err(Error::DuplicateTool(ref n)) if n == "x"));
    assert!(ToolRegistry::new().merge(seed::registry()).check().is_ok());
}

#[test]
fn iter_describes_every_tool_and_read_only_filters() {
    let r = ToolRegistry::new()
        .with_dynamic(dynamic("look", ToolAnnotations::read_only().title("Look")))
        .with_dynamic(dynamic(
            "write",
            ToolAnnotations::new().with_read_only(false),
        ))
        .with(Divide);
    let infos: Vec<_> = r.iter().collect();
    assert_eq!(infos.len(), 3);
    assert_eq!(infos[0].name, "look");
    assert_eq!(infos[0].description, "The look tool.");
    assert_eq!(infos[0].annotations.title.as_deref(), Some("Look"));
    assert_eq!(
        infos[0].input_schema,
        &json!({"type": "object", "properties": {}})
    );
    assert_eq!(
        infos[2].input_schema,
        &r.definitions()[2]["function"]["parameters"]
    );
    let read_only = r.clone().read_only();
    assert_eq!(read_only.names().collect::<Vec<_>>(), ["look"]);
    let emitted: Value = serde_json::from_str(read_only.tools_json().get()).unwrap();
    assert_eq!(emitted.as_array().unwrap().len(), 1);
    let by_name = r.filter(|t| t.name.len() > 4);
    assert_eq!(by_name.names().collect::<Vec<_>>(), ["write", "divide"]);
}
