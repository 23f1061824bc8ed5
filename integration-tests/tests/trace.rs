//! One refresh traced across both processes (issue 16): query-api and the ingestor run in this
//! process (their `run`), with real NATS and the Kraken simulator, and export their spans over
//! OTLP/HTTP to a receiver inside the test. Its own test binary, because tracing is set up once
//! per process, by the global subscriber.

use std::time::Duration;

use common::config::{LogFormat, LoggingConfig, TelemetryConfig};
use common::{Pair, Subjects};
use futures::StreamExt;
use integration_tests::otlp::{OtlpReceiver, ReceivedSpan};
use integration_tests::query_api::{start_query_api, test_config as api_config};
use integration_tests::{TestNats, eventually, ingestor, unique_id};
use kraken_sim::{Rate, SimConfig, Simulator};

const PAIR: &str = "BTC/USD";
const WAIT: Duration = Duration::from_secs(30);
/// The client's trace and its span (the parent of query-api's first span).
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// Stops the log writer when the test ends, passing or not: it holds stdout's lock for good,
/// and the test harness prints its results there.
struct StopLogWriter;

impl Drop for StopLogWriter {
    fn drop(&mut self) {
        common::telemetry::flush();
    }
}

/// The span of `trace` named `name` opened in a module under `module`.
fn find<'a>(spans: &'a [ReceivedSpan], name: &str, module: &str) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|s| s.trace_id == CLIENT_TRACE && s.name == name && s.module.starts_with(module))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_refresh_is_one_trace_across_query_api_and_ingestor() {
    let receiver = OtlpReceiver::start().await;
    let logging = LoggingConfig {
        level: "warn".into(),
        format: LogFormat::Json,
    };
    let telemetry = TelemetryConfig {
        otlp_endpoint: receiver.endpoint(),
    };
    common::telemetry::init_traced(&logging, &telemetry, "ltp-it");
    let _stop = StopLogWriter;
    assert!(common::otel::enabled(), "the trace layer is installed");

    let nats = TestNats::start().await;
    let sim_config = SimConfig {
        rate: Rate::PerPair(Duration::from_millis(200)),
        ..SimConfig::default().with_pairs(&[PAIR]).expect("pair")
    };
    let sim = Simulator::start(sim_config).await.expect("simulator");
    let prefix = unique_id();
    let client = nats.client().await;
    let subject = Subjects::new(&prefix)
        .expect("prefix")
        .price(Pair::parse(PAIR).expect("pair"))
        .clone();
    let mut prices = client.subscribe(subject).await.expect("subscribe");
    let config = ingestor::test_config(&nats.url, &prefix, &sim.ws_url(), &sim.rest_url(), &[PAIR]);
    let ingestor = ingestor::start_ingestor(config).await;
    let api = start_query_api(api_config(&nats.url, &prefix, &[PAIR])).await;
    api.wait_ready(WAIT).await;

    // A streamed price names the ingest that produced it as its parent.
    let first_traced = async {
        while let Some(msg) = prices.next().await {
            if let Some(value) = msg.headers.as_ref().and_then(|h| h.get("traceparent")) {
                return value.as_str().to_owned();
            }
        }
        panic!("the price subscription ended");
    };
    let streamed = tokio::time::timeout(WAIT, first_traced)
        .await
        .expect("a price message with a traceparent");
    let parts: Vec<&str> = streamed.split('-').collect();
    assert_eq!(parts.len(), 4, "{streamed}");
    let (ingest_trace, ingest_span) = (parts[1].to_owned(), parts[2].to_owned());

    let reply = api
        .http
        .post(api.url(&format!("/api/v1/ltp/refresh?pairs={PAIR}")))
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .send()
        .await
        .expect("refresh");
    assert_eq!(reply.status(), 200, "{:?}", reply.text().await);

    let spans = eventually(WAIT, "the refresh's spans from both processes", || async {
        tokio::task::spawn_blocking(common::otel::flush)
            .await
            .expect("flush");
        let spans = receiver.spans();
        let complete = [
            ("refresh", "query_api::"),
            ("nats.request", "query_api::"),
            ("refresh.handle", "ingestor::"),
            ("kraken.ticker", "ingestor::"),
        ]
        .iter()
        .all(|(name, module)| find(&spans, name, module).is_some());
        complete.then_some(spans)
    })
    .await;
    assert!(receiver.rejected().is_empty(), "{:?}", receiver.rejected());
    let span = |name: &str, module: &str| find(&spans, name, module).expect("found").clone();
    let http = span("refresh", "query_api::http::");
    let request = span("nats.request", "query_api::bus::");
    let handle = span("refresh.handle", "ingestor::serve::");
    let kraken = span("kraken.ticker", "ingestor::kraken::");
    // One trace, each span the child of the one before it; the client's span is the root.
    assert_eq!(http.parent_span_id, CLIENT_SPAN, "{http:?}");
    assert_eq!(request.parent_span_id, http.span_id, "{request:?}");
    assert_eq!(handle.parent_span_id, request.span_id, "{handle:?}");
    assert_eq!(kraken.parent_span_id, handle.span_id, "{kraken:?}");
    assert!(
        spans.iter().all(|s| s.service == "ltp-it"),
        "resource named"
    );

    // The streamed price's parent is an exported `ingest` span of the ingestor.
    let ingest = eventually(WAIT, "the ingest span of a streamed price", || async {
        tokio::task::spawn_blocking(common::otel::flush)
            .await
            .expect("flush");
        receiver
            .spans()
            .into_iter()
            .find(|s| s.trace_id == ingest_trace && s.span_id == ingest_span)
    })
    .await;
    assert_eq!(ingest.name, "ingest");
    assert!(ingest.module.starts_with("ingestor::"), "{ingest:?}");

    api.stop().await.expect("query-api stops");
    let (stopped, _) = ingestor.stop().await;
    stopped.expect("ingestor stops");
}
