//! The HTTP front: every request is recorded, answered by an injection if
//! one matches, and otherwise dispatched by path to the token endpoint, the
//! admin endpoint, the query API, Graph or ARM. A multi-tenant emulator
//! (`multi`) picks the tenant's store first and answers through [`serve`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Uri};
use axum::Router;

use crate::reply::{cloud_error, Reply};
use crate::request::Call;
use crate::state::{RecordedRequest, Shared};
use crate::{admin, arm, graph, query, token};

/// One fallback handler for every path, so the emulator answers unknown
/// paths the way Azure does rather than with axum's 404.
pub(crate) fn app(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    serve(&shared, &method, &uri, &headers, &body).await
}

/// One request to the store `shared`: recorded, answered, given its
/// request ids. Both the single-tenant router and the multi-tenant one call it.
pub(crate) async fn serve(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Reply {
    record(shared, method, uri, headers, body);
    let reply = answer(shared, method, uri, headers, body).await;
    finish(uri, headers, reply)
}

/// The request ids an answer carries; Graph names its ids its own way
/// (`request-id`, set by its routes).
pub(crate) fn finish(uri: &Uri, headers: &HeaderMap, reply: Reply) -> Reply {
    if uri.path().starts_with("/v1.0/") {
        return reply;
    }
    let client_request_id = headers.get("x-ms-client-request-id").and_then(|v| v.to_str().ok());
    reply.with_request_ids(client_request_id)
}

/// The `Host` a request names, for the links answers carry.
pub(crate) fn host(headers: &HeaderMap) -> String {
    headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_owned()
}

/// Azure's answer to a path nothing serves.
pub(crate) fn no_resource(uri: &Uri) -> Reply {
    cloud_error(404, "NotFound", &format!("No HTTP resource was found that matches the request URI '{uri}'."))
}

async fn answer(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Reply {
    let injected = shared.state().take_injection(method.as_str(), uri.path());
    if let Some(injected) = injected {
        return injected;
    }
    let host = host(headers);
    let call = Call { method, uri, host: &host, headers, body };
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    // The token and admin endpoints answer at once; the APIs after the configured delay.
    let api = match segments.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] if method == Method::POST => {
            return token::issue(shared, tenant, &call, body)
        }
        ["_emulator", rest @ ..] => return admin::handle(shared, method, rest, body),
        // Managed identity: App Service's endpoint and IMDS's path.
        ["msi", "token"] | ["metadata", "identity", "oauth2", "token"] if method == Method::GET => {
            return token::managed_identity(shared, &call)
        }
        ["v1", "workspaces", _, "query"] if method == Method::POST => Api::Query,
        ["v1.0", ..] => Api::Graph,
        [first, ..] if first.eq_ignore_ascii_case("subscriptions") => Api::Arm,
        _ => return no_resource(uri),
    };
    let delay = shared.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reply = match api {
        Api::Query => query::handle(shared, segments[2], &call),
        Api::Graph => graph::handle(shared, &call),
        Api::Arm => {
            let remaining = match shared.take_arm_quota() {
                Some(Err(retry_after)) => {
                    return cloud_error(
                        429,
                        "SubscriptionRequestsThrottled",
                        "Number of requests for subscription exceeded the limit. Please try again after some time.",
                    )
                    .header("retry-after", retry_after.to_string())
                }
                quota => quota.and_then(Result::ok),
            };
            with_remaining_quota(arm::handle(shared, &call), method, remaining)
        }
    };
    // The change is made; the client is told otherwise (the ambiguous case).
    let after = shared.state().take_after_injection(method.as_str(), uri.path());
    if *method == Method::GET {
        let mut state = shared.state();
        if let Some(index) = state.after_read.iter().position(|(suffix, _)| uri.path().ends_with(suffix.as_str())) {
            let (_, mutation) = state.after_read.remove(index);
            state.apply(mutation);
        }
    }
    after.unwrap_or(reply)
}

/// ARM's remaining-quota header: the quota's own figure when the emulator
/// keeps one (`-reads` after a GET, `-writes` otherwise); without one, a
/// successful read says 11999, a full hourly read limit less this request.
fn with_remaining_quota(reply: Reply, method: &Method, remaining: Option<u64>) -> Reply {
    let kind = if *method == Method::GET { "reads" } else { "writes" };
    let name = format!("x-ms-ratelimit-remaining-subscription-{kind}");
    match remaining {
        Some(remaining) => reply.header(&name, remaining.to_string()),
        None if *method == Method::GET && reply.status() == 200 => reply.header(&name, "11999"),
        None => reply,
    }
}

/// The APIs the latency option delays.
enum Api {
    Arm,
    Query,
    Graph,
}

fn record(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) {
    let headers = headers
        .iter()
        .map(|(name, value)| {
            let value = if name == "authorization" {
                "[redacted]".to_owned()
            } else {
                value.to_str().unwrap_or("?").to_owned()
            };
            (name.to_string(), value)
        })
        .collect();
    let body = redact_secret(body);
    shared.state().requests.push(RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    });
}

fn redact_secret(body: &[u8]) -> Vec<u8> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    if !pairs.iter().any(|(key, _)| key == "client_secret") {
        return body.to_vec();
    }
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in &pairs {
        form.append_pair(key, if key == "client_secret" { "[redacted]" } else { value });
    }
    form.finish().into_bytes()
}
