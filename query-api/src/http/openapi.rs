//! The OpenAPI 3 document, generated from the handlers' annotations and the body types, with
//! the pair lists described exactly as this deployment accepts them; serialised once.

use bytes::Bytes;
use salvo::oapi::OpenApi;
use salvo::oapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};

use super::bodies;
use super::state::AppState;
use super::status::Answer;

/// The OpenAPI 3 document of `app`, serialised once, with the pair lists described exactly
/// as this deployment accepts them.
pub fn document(app: &Router, state: &AppState) -> Document {
    let doc = OpenApi::new("ltp query-api", env!("CARGO_PKG_VERSION"))
        .info(
            salvo::oapi::Info::new("ltp query-api", env!("CARGO_PKG_VERSION")).description(
                "Last traded prices of Kraken pairs, fed by the ingestor over NATS and cached \
                 in memory or Redis. Every price carries its time and age; a price older than \
                 the cache TTL is never served.",
            ),
        )
        .add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        )
        .merge_router(app);
    let mut value = serde_json::to_value(&doc).unwrap_or_default();
    let served: Vec<&str> = state.served.pairs.iter().map(|p| p.as_str()).collect();
    describe_pair_lists(&mut value, &served, state.config.limits.max_pairs);
    describe_max_age(&mut value);
    let json = serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec());
    Document(Bytes::from(json))
}

/// Replaces the free-text schema of the `pair` and `pairs` query parameters with what the
/// handlers accept: empty, or a comma-separated list of at most `max_pairs` served pairs, as a
/// `pattern` (a plain string would promise that any text is valid, while anything but served
/// pairs is a 400). The pattern gives the canonical form; the handlers also accept lower case,
/// Kraken's names, spaces around elements and empty elements. Not an array with `explode: false`: its `[""]`
/// and `[]` are the same `pair=`, so no schema of items can say which is valid.
fn describe_pair_lists(doc: &mut serde_json::Value, served: &[&str], max_pairs: u32) {
    // Pair names are upper-case letters and digits around a `/`: nothing to escape.
    let one = format!("(?:{})", served.join("|"));
    let more = max_pairs.saturating_sub(1);
    let schema = serde_json::json!({
        "type": "string",
        "pattern": format!("^(?:{one}(?:,{one}){{0,{more}}})?$"),
    });
    for (path, name) in [("/api/v1/ltp", "pair"), ("/api/v1/ltp/refresh", "pairs")] {
        set_parameter_schema(doc, path, name, &schema);
    }
}

/// `max_age` as `freshness.rs` accepts it.
fn describe_max_age(doc: &mut serde_json::Value) {
    let schema = serde_json::json!({
        "type": "string",
        "pattern": "^(?:[0-9]+(?:ms|s|m)?)?$",
        "example": "2s",
    });
    set_parameter_schema(doc, "/api/v1/ltp", "max_age", &schema);
}

/// Replaces the schema of the query parameter `name` in every operation of `path`.
fn set_parameter_schema(
    doc: &mut serde_json::Value,
    path: &str,
    name: &str,
    schema: &serde_json::Value,
) {
    let item = doc.get_mut("paths").and_then(|p| p.get_mut(path));
    let Some(item) = item.and_then(|i| i.as_object_mut()) else {
        return;
    };
    for operation in item.values_mut() {
        let parameters = operation.get_mut("parameters");
        let Some(parameters) = parameters.and_then(|p| p.as_array_mut()) else {
            continue;
        };
        for parameter in parameters
            .iter_mut()
            .filter(|p| p["name"] == name && p["in"] == "query")
        {
            parameter["schema"] = schema.clone();
        }
    }
}

/// Serves the prepared OpenAPI document.
#[derive(Debug, Clone)]
pub struct Document(Bytes);

#[async_trait]
impl Handler for Document {
    async fn handle(
        &self,
        _req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        bodies::write(res, Answer::Done.status(), self.0.clone());
    }
}
