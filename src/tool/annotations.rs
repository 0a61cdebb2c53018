//! [`ToolAnnotations`]: what a tool does to the world, as MCP's tool annotations say it.

use serde::{Deserialize, Serialize};

/// Hints about a tool's behaviour, named and serialized as MCP's tool annotations
/// (`title`, `readOnlyHint`, `destructiveHint`, `idempotentHint`, `openWorldHint`).
///
/// They are hints for hosts and policies (for example [`ToolRegistry::read_only`](crate::ToolRegistry::read_only)),
/// never a security boundary: a tool that writes must be kept away from the model by
/// other means. `None` means "not said"; MCP then assumes the least favourable value
/// (not read-only, destructive, not idempotent, open world).
///
/// ```
/// use toolcall::tool::ToolAnnotations;
///
/// let a = ToolAnnotations::read_only().title("Pod logs");
/// assert!(a.is_read_only());
/// assert_eq!(
///     serde_json::to_value(&a)?,
///     serde_json::json!({"title": "Pod logs", "readOnlyHint": true, "destructiveHint": false,
///                        "idempotentHint": true, "openWorldHint": false}),
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ToolAnnotations {
    /// A human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The tool does not change its environment.
    #[serde(
        default,
        rename = "readOnlyHint",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_only: Option<bool>,
    /// A tool that changes its environment may destroy something (meaningful when not read-only).
    #[serde(
        default,
        rename = "destructiveHint",
        skip_serializing_if = "Option::is_none"
    )]
    pub destructive: Option<bool>,
    /// Calling it twice with the same arguments has no further effect.
    #[serde(
        default,
        rename = "idempotentHint",
        skip_serializing_if = "Option::is_none"
    )]
    pub idempotent: Option<bool>,
    /// The tool reaches an open world of entities (the web) rather than a closed one (a database).
    #[serde(
        default,
        rename = "openWorldHint",
        skip_serializing_if = "Option::is_none"
    )]
    pub open_world: Option<bool>,
}

impl ToolAnnotations {
    /// Nothing said.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A tool that only reads a closed system: read-only, not destructive, idempotent,
    /// closed world.
    #[must_use]
    pub fn read_only() -> Self {
        Self {
            title: None,
            read_only: Some(true),
            destructive: Some(false),
            idempotent: Some(true),
            open_world: Some(false),
        }
    }

    /// Sets the title.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets `readOnlyHint`.
    #[must_use]
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = Some(read_only);
        self
    }

    /// Sets `destructiveHint`.
    #[must_use]
    pub fn with_destructive(mut self, destructive: bool) -> Self {
        self.destructive = Some(destructive);
        self
    }

    /// Sets `idempotentHint`.
    #[must_use]
    pub fn with_idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// Sets `openWorldHint`.
    #[must_use]
    pub fn with_open_world(mut self, open_world: bool) -> Self {
        self.open_world = Some(open_world);
        self
    }

    /// Whether the tool says it is read-only (`readOnlyHint: true`).
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only == Some(true)
    }

    /// Whether nothing is said.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mcp_annotations() {
        let a: ToolAnnotations = serde_json::from_value(serde_json::json!({
            "readOnlyHint": false, "destructiveHint": true, "extra": 1
        }))
        .unwrap();
        assert!(!a.is_read_only());
        assert_eq!(a.destructive, Some(true));
        assert_eq!(a.idempotent, None);
        assert!(ToolAnnotations::new().is_empty());
        assert_eq!(
            serde_json::to_string(&ToolAnnotations::new()).unwrap(),
            "{}"
        );
    }
}
