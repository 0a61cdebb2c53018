//! OpenTelemetry export of the agent's traces (feature `otel`), over OTLP/HTTP with protobuf.
//!
//! The spans themselves are always there, as `tracing` spans named and attributed the way
//! the OpenTelemetry GenAI semantic conventions say (see [`crate::agent`]); this module only
//! sends them somewhere. [`init_from_env`] reads the standard variables:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`, and does nothing when no endpoint
//! is set. Which spans go out follows `RUST_LOG` (default `info`).
//!
//! ```no_run
//! # fn main() -> toolcall::Result<()> {
//! let _traces = toolcall::otel::init_from_env()?; // flushes when dropped, at the end of main
//! // … run agents …
//! # Ok(()) }
//! ```

use std::fmt;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::error::{Error, Result};

/// Keeps the exporter running; flushes what is left and shuts it down when dropped.
#[must_use = "dropping the guard flushes and stops the exporter"]
pub struct Guard {
    provider: SdkTracerProvider,
}

impl Guard {
    /// The tracer provider, to make tracers of your own.
    #[must_use]
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::debug!(error = %e, "flushing the trace exporter failed");
        }
        if let Err(e) = self.provider.shutdown() {
            tracing::debug!(error = %e, "shutting the trace exporter down failed");
        }
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

/// Exports traces over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, by installing a global `tracing`
/// subscriber with a tracing-opentelemetry layer; `Ok(None)` (and nothing installed)
/// when neither is set. Keep the [`Guard`] until the program ends: dropping it flushes.
/// To add the export to a subscriber of your own, use [`layer_from_env`].
///
/// # Errors
/// [`Error::Config`] when the exporter cannot be built or a global subscriber is
/// already installed.
pub fn init_from_env() -> Result<Option<Guard>> {
    let Some((layer, guard)) = layer_from_env()? else {
        return Ok(None);
    };
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .map_err(|e| Error::Config(format!("a tracing subscriber is already installed: {e}")))?;
    Ok(Some(guard))
}

/// The exporting layer [`init_from_env`] installs, for a subscriber of your own (spans
/// filtered by `RUST_LOG`, default `info`), and its [`Guard`]; `Ok(None)` when no
/// endpoint is set.
///
/// # Errors
/// [`Error::Config`] when the exporter cannot be built.
pub fn layer_from_env<S>() -> Result<Option<(impl tracing_subscriber::Layer<S>, Guard)>>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| Error::Config(format!("the OTLP trace exporter could not be built: {e}")))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().build())
        .build();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("toolcall"))
        .with_filter(filter);
    Ok(Some((layer, Guard { provider })))
}
