//! An OTLP/HTTP trace receiver inside the test: accepts `POST /v1/traces` with a protobuf
//! `ExportTraceServiceRequest` (decoded with the opentelemetry-proto types) and keeps every span.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::net::TcpListener;

/// One received span, with the ids as lowercase hex.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The span's name.
    pub name: String,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// `service.name` of the resource that sent it.
    pub service: String,
    /// The `code.module.name` attribute: the Rust module that opened the span.
    pub module: String,
}

/// A running receiver; stops with the test's runtime.
pub struct OtlpReceiver {
    /// Where it listens; the collector base URL is `http://{addr}`.
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    /// Requests that were not a decodable export.
    rejected: Arc<Mutex<Vec<String>>>,
}

impl OtlpReceiver {
    /// Binds a free loopback port and serves until the runtime stops.
    pub async fn start() -> OtlpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let rejected = Arc::new(Mutex::new(Vec::new()));
        let (store, errors) = (spans.clone(), rejected.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (store, errors) = (store.clone(), errors.clone());
                let service = service_fn(move |req| receive(req, store.clone(), errors.clone()));
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        OtlpReceiver {
            addr,
            spans,
            rejected,
        }
    }

    /// The collector URL to configure (`telemetry.otlp_endpoint`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("lock").clone()
    }

    /// What could not be decoded (should stay empty).
    pub fn rejected(&self) -> Vec<String> {
        self.rejected.lock().expect("lock").clone()
    }
}

async fn receive(
    req: Request<hyper::body::Incoming>,
    store: Arc<Mutex<Vec<ReceivedSpan>>>,
    errors: Arc<Mutex<Vec<String>>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await?.to_bytes();
    let decoded = ExportTraceServiceRequest::decode(body);
    let status = match decoded {
        Ok(export) if path == "/v1/traces" => {
            store.lock().expect("lock").extend(flatten(export));
            StatusCode::OK
        }
        Ok(_) => {
            errors.lock().expect("lock").push(format!("POST {path}"));
            StatusCode::NOT_FOUND
        }
        Err(err) => {
            errors.lock().expect("lock").push(format!("{path}: {err}"));
            StatusCode::BAD_REQUEST
        }
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    Ok(response)
}

fn flatten(export: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource_spans in export.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|r| string_attribute(&r.attributes, "service.name"))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            out.extend(scope.spans.into_iter().map(|s| received(s, &service)));
        }
    }
    out
}

fn received(span: Span, service: &str) -> ReceivedSpan {
    ReceivedSpan {
        module: string_attribute(&span.attributes, "code.module.name").unwrap_or_default(),
        name: span.name,
        trace_id: hex(&span.trace_id),
        span_id: hex(&span.span_id),
        parent_span_id: hex(&span.parent_span_id),
        service: service.to_owned(),
    }
}

fn string_attribute(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(|v| match v {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
