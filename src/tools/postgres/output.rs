//! How a query result becomes a tool answer: compact JSON, also structured.

use crate::tool::{IntoToolOutput, OutputError, ToolOutput};

impl IntoToolOutput for super::QueryResult {
    fn into_tool_output(self) -> Result<ToolOutput, OutputError> {
        ToolOutput::serialized(&self)
    }
}
