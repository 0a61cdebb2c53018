//! How each tool's report becomes a tool answer: compact JSON, structured when an object.

use crate::tool::{IntoToolOutput, OutputError, ToolOutput};

macro_rules! serialized_output {
    ($($t:ty),*) => {$(
        impl IntoToolOutput for $t {
            fn into_tool_output(self) -> Result<ToolOutput, OutputError> {
                ToolOutput::serialized(&self)
            }
        }
    )*};
}

serialized_output!(
    super::LogsReport,
    super::ResourceReport,
    super::PodStatusReport,
    super::PodListReport,
    super::Diagnosis,
    super::SearchReport
);
