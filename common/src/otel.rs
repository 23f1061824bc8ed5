//! Traces across processes: W3C trace context (`traceparent`, `tracestate`) carried in HTTP and
//! NATS headers, spans exported over OTLP/HTTP (protobuf) when `telemetry.otlp_endpoint` is set
//! (docs/operations.md, "Tracing").
//!
//! When no endpoint is configured no layer is installed: [`enabled`] is false, the functions
//! here return at once, nothing is added to messages and nothing is exported. The spans of
//! traced operations (a refresh) still exist as plain `tracing` spans for the log lines.
//!
//! A traced operation's spans declare a `trace_id` field, recorded by [`adopt`] or [`tag`], so
//! the log lines written inside them carry the trace id (the JSON lines show the current
//! span's fields).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::{Level, Span};
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::registry::LookupSpan;

/// The W3C header carrying the trace and parent span ids.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header carrying vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

/// Whether spans are exported (an OTLP layer is installed).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// The installed provider, for [`flush`] and [`shutdown`].
static PROVIDER: Mutex<Option<SdkTracerProvider>> = Mutex::new(None);

/// True once [`layer`]'s layer is part of the installed subscriber.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP exporter for {url}: {source}")]
pub struct SetupError {
    url: String,
    #[source]
    source: opentelemetry_otlp::ExporterBuildError,
}

/// Crates whose spans are exported: ours, at `info` and above, whatever `logging.level` says
/// (the log lines have their own filter); dependencies' spans never.
const TRACED_TARGETS: [&str; 3] = ["query_api", "ingestor", "common"];

/// The layer exporting spans to `traces_url` (a collector's `…/v1/traces`) in batches, as
/// `service`. Nothing is exported until [`activate`] is called (after the subscriber with this
/// layer was installed).
pub(crate) fn layer<S>(
    traces_url: &str,
    service: &str,
) -> Result<Filtered<OpenTelemetryLayer<S, SdkTracer>, Targets, S>, SetupError>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url)
        .build()
        .map_err(|source| SetupError {
            url: traces_url.to_owned(),
            source,
        })?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    // Sampling follows OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (default: every trace,
    // and always the caller's decision when a `traceparent` says it sampled).
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("ltp");
    *PROVIDER.lock().unwrap_or_else(PoisonError::into_inner) = Some(provider);
    let targets = Targets::new().with_targets(TRACED_TARGETS.map(|t| (t, Level::INFO)));
    Ok(tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(targets))
}

/// Turns tracing on once the subscriber holding [`layer`] is installed; when it was not
/// installed (another subscriber was first), drops the provider instead.
pub(crate) fn activate(installed: bool) {
    if installed {
        ENABLED.store(true, Ordering::Relaxed);
    } else {
        PROVIDER
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// Exports every finished span now (blocks until the collector answered or timed out).
pub fn flush() {
    let provider = PROVIDER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(provider) = provider
        && let Err(err) = provider.force_flush()
    {
        tracing::warn!(error = %err, "spans not exported");
    }
}

/// Exports what is left and stops the exporter; spans after this are dropped.
pub(crate) fn shutdown() {
    let provider = PROVIDER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    ENABLED.store(false, Ordering::Relaxed);
    if let Some(provider) = provider {
        let _ = provider.shutdown();
    }
}

/// Makes `span` (just created, not yet entered) a child of the remote context in these header
/// values, and records its trace id. Without a valid `traceparent` the span starts a trace.
pub fn adopt(span: &Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    if !enabled() {
        return;
    }
    if let Some(traceparent) = traceparent {
        let mut carrier = HashMap::with_capacity(2);
        carrier.insert(TRACEPARENT.to_owned(), traceparent.to_owned());
        if let Some(state) = tracestate {
            carrier.insert(TRACESTATE.to_owned(), state.to_owned());
        }
        let parent = TraceContextPropagator::new().extract(&carrier);
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    tag(span);
}

/// Like [`adopt`], from a NATS message's headers.
pub fn adopt_nats(span: &Span, headers: Option<&async_nats::HeaderMap>) {
    if !enabled() {
        return;
    }
    let value = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
    adopt(span, value(TRACEPARENT), value(TRACESTATE));
}

/// Records `span`'s trace id in its `trace_id` field.
pub fn tag(span: &Span) {
    if !enabled() {
        return;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", tracing::field::display(span_context.trace_id()));
    }
}

/// The `traceparent` (and `tracestate`) naming `span` as the parent, for a request or message
/// it sends; empty when tracing is off.
pub fn headers_of(span: &Span) -> Vec<(&'static str, String)> {
    if !enabled() {
        return Vec::new();
    }
    let mut carrier: HashMap<String, String> = HashMap::with_capacity(2);
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    [TRACEPARENT, TRACESTATE]
        .into_iter()
        .filter_map(|name| carrier.remove(name).map(|value| (name, value)))
        .collect()
}

/// Adds [`headers_of`] `span` to NATS headers.
pub fn inject_nats(span: &Span, headers: &mut async_nats::HeaderMap) {
    for (name, value) in headers_of(span) {
        headers.insert(name, value.as_str());
    }
}
