//! Analytics rules (`alertRules`): seeded with Microsoft's three examples
//! (`GetAllAlertRules.json`: a Scheduled, an incident-creation and a Fusion
//! rule), listed in pages of [`PAGE`] with a `$skipToken` nextLink, read,
//! written with ARM's etag rule (a stale body etag is 409 Conflict) and
//! deleted. A PUT gets a fresh etag and `lastModifiedUtc`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::config::TenantIdentity;
use crate::data::new_etag;
use crate::reply::{cloud_error, Reply};
use crate::request::{self, Call};
use crate::state::Shared;
use axum::http::Method;

/// Small, so a list of three walks a nextLink.
const PAGE: usize = 2;
const EXAMPLES: &str = include_str!("../../../tests/fixtures/azure-specs/alert-rules-2025-12-01/GetAllAlertRules.json");

/// Microsoft's example rules, by lower-cased name; a tenant other than the
/// default one has them under its own workspace.
pub(crate) fn seed(identity: &TenantIdentity) -> BTreeMap<String, Value> {
    let examples: Value = serde_json::from_str(EXAMPLES).unwrap_or_default();
    let rules = examples["responses"]["200"]["body"]["value"].as_array().cloned().unwrap_or_default();
    let other = *identity != TenantIdentity::default();
    rules
        .into_iter()
        .filter_map(|mut rule| {
            if other {
                rehome(&mut rule, identity);
            }
            Some((rule["name"].as_str()?.to_ascii_lowercase(), rule))
        })
        .collect()
}

/// Moves an example resource (its `id`) under `identity`'s workspace: what
/// follows `/providers/Microsoft.SecurityInsights` is kept.
pub(crate) fn rehome(resource: &mut Value, identity: &TenantIdentity) {
    const PROVIDER: &str = "/providers/Microsoft.SecurityInsights";
    let Some(id) = resource["id"].as_str() else { return };
    let Some(at) = id.find(PROVIDER) else { return };
    let id = format!("{}{}", identity.workspace().prefix(), &id[at + PROVIDER.len()..]);
    resource["id"] = Value::String(id);
}

/// `rest`: the path after `.../providers/Microsoft.SecurityInsights/alertRules`.
pub(crate) fn handle(shared: &Shared, call: &Call, rest: &[&str]) -> Reply {
    let query = call.query();
    match (rest, call.method) {
        ([], &Method::GET) => list(shared, call, request::param(&query, "$skipToken")),
        ([id], &Method::GET) => get(shared, id),
        ([id], &Method::PUT) => put(shared, id, call),
        ([id], &Method::DELETE) => delete(shared, id),
        _ => cloud_error(404, "NotFound", &format!("No HTTP resource was found that matches '{}'.", call.uri.path())),
    }
}

fn list(shared: &Shared, call: &Call, skip_token: Option<&str>) -> Reply {
    let state = shared.state();
    let skip = skip_token.and_then(|t| t.parse::<usize>().ok()).unwrap_or(0);
    let page: Vec<&Value> = state.alert_rules.values().skip(skip).take(PAGE).collect();
    let mut body = json!({ "value": page });
    if skip + PAGE < state.alert_rules.len() {
        let query = call.query();
        let version = request::param(&query, "api-version").unwrap_or_default();
        body["nextLink"] =
            json!(format!("http://{}{}?api-version={version}&$skipToken={}", call.host, call.uri.path(), skip + PAGE));
    }
    Reply::json(200, body)
}

fn not_found(id: &str) -> Reply {
    cloud_error(404, "NotFound", &format!("Alert rule '{id}' was not found."))
}

fn get(shared: &Shared, id: &str) -> Reply {
    match shared.state().alert_rules.get(&id.to_ascii_lowercase()) {
        Some(rule) => Reply::json(200, rule.clone()),
        None => not_found(id),
    }
}

fn put(shared: &Shared, id: &str, call: &Call) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(call.body) else {
        return cloud_error(400, "BadRequest", "The request body is not valid JSON.");
    };
    let (Some(kind), Some(properties)) = (body["kind"].as_str(), body["properties"].as_object()) else {
        return cloud_error(400, "BadRequest", "An alert rule needs 'kind' and 'properties'.");
    };
    if properties.get("enabled").and_then(Value::as_bool).is_none() {
        return cloud_error(400, "BadRequest", "The alert rule property 'enabled' is required.");
    }
    let mut state = shared.state();
    let key = id.to_ascii_lowercase();
    let stored = state.alert_rules.get(&key).cloned();
    let sent_etag = body["etag"].as_str();
    if let (Some(stored), Some(etag)) = (&stored, sent_etag) {
        if stored["etag"].as_str() != Some(etag) {
            let message = format!("Newer version of resource '{}' exists. Data was not saved", stored["id"]);
            return cloud_error(409, "Conflict", &message);
        }
    }
    let mut properties = properties.clone();
    // Read-only fields keep what the service holds; the rest is as sent.
    if let Some(kept) = stored.as_ref().and_then(|s| s["properties"].as_object()) {
        for field in ["displayName", "description", "severity", "tactics", "techniques"] {
            if kind == "Fusion" && kept.contains_key(field) {
                properties.insert(field.into(), kept[field].clone());
            }
        }
    }
    properties.insert("lastModifiedUtc".into(), json!(state.clock.text()));
    let resource_id = format!("{}/alertRules/{id}", shared.options.identity.workspace().prefix());
    let rule = json!({
        "id": resource_id, "name": id, "type": "Microsoft.SecurityInsights/alertRules",
        "kind": kind, "etag": new_etag(), "properties": properties,
    });
    state.alert_rules.insert(key, rule.clone());
    Reply::json(if stored.is_some() { 200 } else { 201 }, rule)
}

fn delete(shared: &Shared, id: &str) -> Reply {
    match shared.state().alert_rules.remove(&id.to_ascii_lowercase()) {
        Some(_) => Reply::empty(200),
        None => Reply::empty(204),
    }
}
