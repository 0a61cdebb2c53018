//! JSON Schemas for tool parameters, reshaped the way OpenAI-compatible servers accept them.
//!
//! schemars writes a full JSON Schema document: a `$schema` key, a root `title`
//! and `description`, `["T", "null"]` type arrays for `Option<T>`, `format`s such
//! as `uint32`. Servers (and the grammars llama.cpp builds from schemas) want less:
//!
//! * **default mode**: an object schema with subschemas inlined, no `$schema`,
//!   no root `title`/`description`, no `format`; an `Option<T>` field is typed
//!   `T` and left out of `required`; no `null` in `type` arrays, enums or
//!   `anyOf`; no `additionalProperties` key;
//! * **strict mode** (OpenAI's `"strict": true`): every property listed in
//!   `required`, `additionalProperties: false` on every object, and an
//!   `Option<T>` typed `["T", "null"]`.
//!
//! Arguments are still checked against the full schema with unknown keys refused,
//! so a model that writes `container` for `container_name` is told so.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The two schemas a typed tool needs: what the model is shown, and what its
/// arguments are checked against.
pub(crate) struct ToolSchemas {
    pub(crate) parameters: Value,
    pub(crate) validation: Value,
}

/// schemars' own output for `T`: draft 7, subschemas inlined, no `$schema`.
fn raw_schema<T: JsonSchema>() -> Schema {
    SchemaSettings::draft07()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator()
        .into_root_schema_for::<T>()
}

/// Builds the parameters schema of `T`, in strict mode or not.
#[must_use]
pub fn parameters_for<T: JsonSchema>(strict: bool) -> Value {
    let mut value = raw_schema::<T>().to_value();
    reshape(&mut value, strict);
    value
}

pub(crate) fn schemas_for<T: JsonSchema>(strict: bool) -> ToolSchemas {
    let raw = raw_schema::<T>().to_value();
    let mut parameters = raw.clone();
    reshape(&mut parameters, strict);
    let mut validation = raw;
    close_objects(&mut validation);
    ToolSchemas {
        parameters,
        validation,
    }
}

/// Reshapes a schemars schema in place (see the module docs).
pub fn reshape(schema: &mut Value, strict: bool) {
    if let Value::Object(root) = schema {
        root.remove("$schema");
        root.remove("title");
        root.remove("description");
        if !root.contains_key("type") && !root.contains_key("anyOf") && !root.contains_key("oneOf")
        {
            root.insert("type".into(), Value::String("object".into()));
        }
        if root.get("type").and_then(Value::as_str) == Some("object")
            && !root.contains_key("properties")
        {
            root.insert("properties".into(), Value::Object(Map::new()));
        }
    }
    reshape_node(schema, strict);
}

fn reshape_node(node: &mut Value, strict: bool) {
    match node {
        Value::Object(map) => {
            map.remove("format");
            if !strict {
                drop_null_type(map);
                if map.get("default") == Some(&Value::Null) {
                    map.remove("default");
                }
                if map
                    .get("additionalProperties")
                    .is_some_and(Value::is_boolean)
                {
                    map.remove("additionalProperties");
                }
            } else {
                map.remove("default");
                if let Some(Value::Object(props)) = map.get("properties") {
                    let all: Vec<Value> = props.keys().cloned().map(Value::String).collect();
                    map.insert("required".into(), Value::Array(all));
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
            }
            for_each_subschema(map, &mut |sub| reshape_node(sub, strict));
        }
        Value::Array(items) => {
            for item in items {
                reshape_node(item, strict);
            }
        }
        _ => {}
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null") || v.get("const") == Some(&Value::Null)
}

/// Outside strict mode, `Option<T>` is "leave it out", never "send null".
fn drop_null_type(map: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t.as_str() != Some("null"));
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(branches)) = map.get_mut(key) else {
            continue;
        };
        let before = branches.len();
        branches.retain(|b| !is_null_schema(b));
        if branches.len() == 1 && before > 1 {
            // `anyOf: [T, null]` becomes T, keeping this node's own keys
            // (its description) over the branch's.
            if let Some(Value::Object(only)) = branches.pop() {
                map.remove(key);
                for (k, v) in only {
                    map.entry(k).or_insert(v);
                }
            }
        }
    }
}

/// Calls `f` on every value under `map` that holds subschemas: the members of
/// name-to-subschema maps (`properties`, `$defs`, …) and every other key's value
/// (a subschema or an array of them), but never literal values (`enum`, `const`,
/// `default`, `examples`, `required`).
fn for_each_subschema(map: &mut Map<String, Value>, f: &mut impl FnMut(&mut Value)) {
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" | "definitions" | "$defs" | "patternProperties" => {
                if let Value::Object(children) = child {
                    children.values_mut().for_each(&mut *f);
                }
            }
            "enum" | "const" | "default" | "examples" | "required" => {}
            _ => f(child),
        }
    }
}

/// Refuses unknown keys: every object schema with `properties` and no
/// `additionalProperties` gets `additionalProperties: false`.
fn close_objects(node: &mut Value) {
    match node {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for_each_subschema(map, &mut close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Compiles a typed tool's schema (schemars' draft 7 output) into a validator
/// (no remote `$ref`s are fetched).
pub(crate) fn compile(tool: &str, schema: &Value) -> Result<jsonschema::Validator> {
    build(tool, schema, jsonschema::Draft::Draft7)
}

/// Compiles a run-time schema with the draft it declares in `$schema`, 2020-12 when it
/// declares none or one this crate does not know.
pub(crate) fn compile_declared(tool: &str, schema: &Value) -> Result<jsonschema::Validator> {
    let declared = schema.get("$schema").and_then(Value::as_str);
    let draft = declared.map_or(jsonschema::Draft::Draft202012, draft_named);
    if declared.is_some() {
        // The draft is chosen here; the meta-schema is never fetched.
        let mut copy = schema.clone();
        if let Value::Object(map) = &mut copy {
            map.remove("$schema");
        }
        return build(tool, &copy, draft);
    }
    build(tool, schema, draft)
}

fn draft_named(uri: &str) -> jsonschema::Draft {
    use jsonschema::Draft;
    let uri = uri.trim_end_matches('#');
    if uri.contains("draft-04") {
        Draft::Draft4
    } else if uri.contains("draft-06") {
        Draft::Draft6
    } else if uri.contains("draft-07") {
        Draft::Draft7
    } else if uri.contains("2019-09") {
        Draft::Draft201909
    } else {
        Draft::Draft202012
    }
}

fn build(tool: &str, schema: &Value, draft: jsonschema::Draft) -> Result<jsonschema::Validator> {
    jsonschema::options()
        .with_draft(draft)
        .build(schema)
        .map_err(|e| Error::InvalidTool {
            name: tool.to_owned(),
            reason: format!("its JSON Schema does not compile: {e}"),
        })
}

/// The JSON Schema (2020-12, subschemas inlined) of a tool's structured output, when
/// `T` is described as an object: MCP's `outputSchema` must be one.
pub(crate) fn output_schema_for<T: JsonSchema>() -> Option<Value> {
    let schema = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    (schema.get("type").and_then(Value::as_str) == Some("object")).then_some(schema)
}

/// Checks `args` against a validator and says, for the model, everything that is
/// wrong and which parameters exist.
pub(crate) fn check(
    validator: &jsonschema::Validator,
    schema: &Value,
    args: &Value,
) -> std::result::Result<(), String> {
    if validator.is_valid(args) {
        return Ok(());
    }
    let mut problems = Vec::new();
    for err in validator.iter_errors(args) {
        let path = err.instance_path().to_string();
        if path.is_empty() {
            problems.push(err.to_string());
        } else {
            problems.push(format!("at {path}: {err}"));
        }
        if problems.len() == 8 {
            break;
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut message = problems.join("; ");
    if let Some(hint) = parameter_hint(schema) {
        message.push_str(". ");
        message.push_str(&hint);
    }
    Err(message)
}

/// "parameters: a (required), b" from an object schema.
pub(crate) fn parameter_hint(schema: &Value) -> Option<String> {
    let props = schema.get("properties")?.as_object()?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if props.is_empty() {
        return Some("this tool takes no parameters".into());
    }
    let list: Vec<String> = props
        .keys()
        .map(|k| {
            if required.contains(&k.as_str()) {
                format!("{k} (required)")
            } else {
                k.clone()
            }
        })
        .collect();
    Some(format!("expected parameters: {}", list.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    /// Root doc comment: must not appear.
    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Args {
        /// A name.
        name: String,
        /// How many, at most.
        limit: Option<u32>,
        /// A mode.
        mode: Option<Mode>,
        /// Nested.
        inner: Option<Inner>,
    }

    /// A mode.
    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Inner {
        /// A flag.
        flag: bool,
    }

    #[test]
    fn default_mode_has_no_nulls_formats_or_meta() {
        let s = parameters_for::<Args>(false);
        let text = s.to_string();
        for bad in [
            "$schema",
            "title",
            "format",
            "null",
            "additionalProperties",
            "$ref",
            "definitions",
        ] {
            assert!(!text.contains(bad), "{bad} in {text}");
        }
        assert_eq!(s["type"], "object");
        assert_eq!(s["required"], json!(["name"]));
        assert_eq!(s["properties"]["limit"]["type"], "integer");
        assert_eq!(
            s["properties"]["limit"]["description"],
            "How many, at most."
        );
        assert_eq!(s["properties"]["mode"]["enum"], json!(["fast", "slow"]));
        assert_eq!(s["properties"]["inner"]["type"], "object");
        assert_eq!(
            s["properties"]["inner"]["properties"]["flag"]["type"],
            "boolean"
        );
        assert!(s.get("description").is_none());
    }

    #[test]
    fn strict_mode_requires_everything_and_types_nulls() {
        let s = parameters_for::<Args>(true);
        assert_eq!(s["required"], json!(["name", "limit", "mode", "inner"]));
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(s["properties"]["limit"]["type"], json!(["integer", "null"]));
        assert_eq!(
            s["properties"]["inner"]["additionalProperties"],
            json!(false)
        );
        assert_eq!(s["properties"]["inner"]["type"], json!(["object", "null"]));
        assert_eq!(
            s["properties"]["mode"]["enum"],
            json!(["fast", "slow", null])
        );
        assert!(!s.to_string().contains("format"));
    }

    #[test]
    fn validation_refuses_unknown_keys_and_names_parameters() {
        let schemas = schemas_for::<Args>(false);
        let v = compile("t", &schemas.validation).unwrap();
        let err = check(&v, &schemas.parameters, &json!({"name": "x", "lmit": 3})).unwrap_err();
        assert!(err.contains("lmit"), "{err}");
        assert!(
            err.contains("expected parameters: name (required), limit"),
            "{err}"
        );
        assert!(
            check(
                &v,
                &schemas.parameters,
                &json!({"name": "x", "limit": null})
            )
            .is_ok()
        );
        let err = check(&v, &schemas.parameters, &json!({"name": 5})).unwrap_err();
        assert!(err.contains("/name"), "{err}");
    }
}
