//! The admin endpoint the CLI and scripts use to drive the emulator while
//! it runs (no token: it exists only on this loopback emulator): create and
//! change incidents, merge them (unified mode), and read, set or advance the
//! emulator's clock.

use axum::http::Method;
use serde_json::{json, Value};

use crate::reply::{cloud_error, Reply};
use crate::state::{Mutation, NewIncident, Shared};

/// `/_emulator/...`.
pub(crate) fn handle(shared: &Shared, method: &Method, rest: &[&str], body: &[u8]) -> Reply {
    match (rest, method) {
        (["incidents", rest @ ..], &Method::POST) => incidents(shared, rest, body),
        (["merge"], &Method::POST) => merge(shared, body),
        (["clock"], &Method::GET) => clock(shared, b"{}"),
        (["clock"], &Method::POST) => clock(shared, body),
        _ => cloud_error(404, "NotFound", "No such admin resource."),
    }
}

/// `POST /_emulator/merge` with `{"sources": [...], "target": "..."}` (Graph
/// ids or ARM names): 200 with the target as ARM JSON, 404 for an unknown
/// incident, 409 `MergeRefused` when Microsoft's rules forbid the merge.
fn merge(shared: &Shared, body: &[u8]) -> Reply {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        sources: Vec<String>,
        target: String,
    }
    let request: Request = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => return cloud_error(400, "BadRequest", &format!("not a merge request: {e}")),
    };
    match shared.state().merge(&request.sources, &request.target) {
        Ok(target) => Reply::json(200, json!({"target": target})),
        Err(e @ crate::MergeError::NotFound(_)) => cloud_error(404, "NotFound", &e.to_string()),
        Err(e) => cloud_error(409, "MergeRefused", &e.to_string()),
    }
}

/// `GET /_emulator/clock`, or `POST` with `{"now": "<RFC 3339>"}` or
/// `{"advanceSeconds": n}`: answers `{"now": ...}` after the change.
fn clock(shared: &Shared, body: &[u8]) -> Reply {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Request {
        now: Option<String>,
        advance_seconds: Option<f64>,
    }
    let request: Request = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => return cloud_error(400, "BadRequest", &format!("not a clock request: {e}")),
    };
    let mut state = shared.state();
    if let Some(text) = request.now {
        match text.parse::<jiff::Timestamp>() {
            Ok(at) => state.clock.set(at),
            Err(e) => return cloud_error(400, "BadRequest", &format!("now: {e}")),
        }
    }
    if let Some(seconds) = request.advance_seconds {
        match jiff::SignedDuration::try_from_secs_f64(seconds) {
            Ok(by) => state.clock.advance(by),
            Err(e) => return cloud_error(400, "BadRequest", &format!("advanceSeconds: {e}")),
        }
    }
    // What the change made due is applied before the answer.
    state.flush_due();
    Reply::json(200, json!({"now": state.clock.text()}))
}

/// `POST /_emulator/incidents` with a [`NewIncident`] (or an array of them);
/// `POST /_emulator/incidents/{name}` with properties to merge, and an
/// optional `lastModifiedTimeUtc`.
fn incidents(shared: &Shared, rest: &[&str], body: &[u8]) -> Reply {
    let bad = |reason: String| cloud_error(400, "BadRequest", &reason);
    match rest {
        [] | [""] => {
            let specs: Vec<NewIncident> = match serde_json::from_slice::<Value>(body) {
                Ok(Value::Array(items)) => match items.into_iter().map(serde_json::from_value).collect() {
                    Ok(specs) => specs,
                    Err(e) => return bad(format!("not a list of incidents: {e}")),
                },
                Ok(item) => match serde_json::from_value(item) {
                    Ok(spec) => vec![spec],
                    Err(e) => return bad(format!("not an incident: {e}")),
                },
                Err(e) => return bad(format!("not JSON: {e}")),
            };
            let mut state = shared.state();
            let created: Vec<Value> =
                specs.into_iter().filter_map(|spec| state.apply(Mutation::Create(spec))).collect();
            Reply::json(201, Value::Array(created))
        }
        [name] => {
            let Ok(Value::Object(mut properties)) = serde_json::from_slice::<Value>(body) else {
                return bad("the body must be a JSON object of properties".into());
            };
            let modified_at = properties.remove("lastModifiedTimeUtc").and_then(|v| v.as_str().map(str::to_owned));
            match shared.state().apply(Mutation::Update { name: name.to_string(), properties, modified_at }) {
                Some(incident) => Reply::json(200, incident),
                None => cloud_error(404, "NotFound", &format!("Incident '{name}' was not found.")),
            }
        }
        _ => cloud_error(404, "NotFound", "No such admin resource."),
    }
}
