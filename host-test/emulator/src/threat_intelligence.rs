//! Threat-intelligence indicators (ThreatIntelligence.json, 2025-12-01),
//! shaped on Microsoft's examples and seeded with the two of
//! `GetThreatIntelligence.json`: `createIndicator` (a new indicator every
//! time, as the service does: it does not deduplicate patterns), the
//! indicators list (`$top`, `$skipToken`; `$filter` and `$orderby` are
//! accepted and not applied), get, PUT (update, or create under that name),
//! DELETE (200, or 204 when gone), `appendTags` (appended as sent, 200 with no
//! body), `replaceTags` (200 with the indicator), `metrics`, and
//! `queryIndicators` with its filtering criteria and paging: each page's
//! `nextLink` carries `$skipToken` and must be POSTed again; a GET of it is
//! refused, as the service refuses the SDKs that GET it.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use axum::http::Method;
use serde_json::{json, Map, Value};

use crate::config::TenantIdentity;
use crate::data::new_etag;
use crate::reply::{cloud_error, Reply};
use crate::request::{self, percent_decode, Call};
use crate::state::{Shared, State};
use crate::Emulator;

const EXAMPLES: &str =
    include_str!("../../../tests/fixtures/azure-specs/threat-intelligence-2025-12-01/GetThreatIntelligence.json");
/// `pageSize` when a query gives none.
const DEFAULT_QUERY_PAGE: usize = 100;

/// The workspace's indicators, in creation order.
#[derive(Default)]
pub(crate) struct Indicators {
    /// Lower-cased name -> indicator resource.
    by_name: BTreeMap<String, Value>,
    /// Names in creation order (what lists and queries page over).
    order: Vec<String>,
}

impl Indicators {
    /// Microsoft's example indicators; a tenant other than the default one
    /// has them under its own workspace.
    pub(crate) fn seeded(identity: &TenantIdentity) -> Indicators {
        let examples: Value = serde_json::from_str(EXAMPLES).unwrap_or_default();
        let mut indicators = Indicators::default();
        for mut indicator in examples["responses"]["200"]["body"]["value"].as_array().cloned().unwrap_or_default() {
            if *identity != TenantIdentity::default() {
                crate::alert_rules::rehome(&mut indicator, identity);
            }
            if let Some(name) = indicator["name"].as_str().map(str::to_ascii_lowercase) {
                indicators.order.push(name.clone());
                indicators.by_name.insert(name, indicator);
            }
        }
        indicators
    }

    fn all(&self) -> Vec<&Value> {
        self.order.iter().filter_map(|name| self.by_name.get(name)).collect()
    }

    fn insert(&mut self, name: &str, indicator: Value) {
        let key = name.to_ascii_lowercase();
        if self.by_name.insert(key.clone(), indicator).is_none() {
            self.order.push(key);
        }
    }

    fn remove(&mut self, name: &str) -> Option<Value> {
        let key = name.to_ascii_lowercase();
        self.order.retain(|n| *n != key);
        self.by_name.remove(&key)
    }

    /// A GUID-shaped name for a new indicator of `pattern`: derived from the
    /// pattern and how many live indicators already hold it, so the same
    /// steps name the same indicators in every run (the polyglot scenario
    /// compares hosts by them), while a second indicator of a pattern (the
    /// service does not deduplicate) gets a name of its own.
    fn next_name(&self, pattern: &str) -> String {
        let live = self.by_name.values().filter(|i| i["properties"]["pattern"] == pattern).count() as u64;
        (live..)
            .map(|n| {
                let hash = |seed: u64| {
                    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
                    for b in pattern.bytes().chain(n.to_le_bytes()) {
                        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                    }
                    h
                };
                let (a, b) = (hash(1), hash(2));
                format!(
                    "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xffff,
                    a & 0xffff,
                    b >> 48,
                    b & 0xffff_ffff_ffff
                )
            })
            .find(|name| !self.by_name.contains_key(name))
            .unwrap_or_default()
    }
}

impl Emulator {
    /// Every indicator as stored, in creation order.
    pub fn indicators(&self) -> Vec<Value> {
        self.shared.state().threat_intelligence.all().into_iter().cloned().collect()
    }
}

fn resource_id(identity: &TenantIdentity, name: &str) -> String {
    format!("{}/ThreatIntelligence/{name}", identity.workspace().prefix())
}

fn not_found(name: &str) -> Reply {
    cloud_error(404, "NotFound", &format!("Threat intelligence indicator '{name}' was not found."))
}

fn bad_request(message: &str) -> Reply {
    cloud_error(400, "BadRequest", message)
}

/// Routes what follows `.../providers/Microsoft.SecurityInsights/threatIntelligence`.
pub(crate) fn handle(shared: &Shared, call: &Call, rest: &[&str]) -> Reply {
    let decoded: Vec<String> = rest.iter().map(|s| percent_decode(s)).collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let Some((main, rest)) = segments.split_first() else {
        return cloud_error(404, "NotFound", "No HTTP resource was found for 'threatIntelligence'.");
    };
    if !main.eq_ignore_ascii_case("main") {
        return cloud_error(404, "NotFound", &format!("No HTTP resource was found for 'threatIntelligence/{main}'."));
    }
    let mut state = shared.state();
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match (lower.as_slice(), call.method) {
        (["createindicator"], &Method::POST) => create(&mut state, call),
        (["indicators"], &Method::GET) => list(&state, call),
        (["queryindicators"], &Method::POST) => query(&state, call),
        (["queryindicators"], _) => cloud_error(
            405,
            "MethodNotAllowed",
            "The requested resource does not support http method; queryIndicators (and each nextLink it answers) is POSTed with the filtering criteria.",
        ),
        (["metrics"], &Method::GET) => metrics(&state),
        (["indicators", _], &Method::GET) => match state.threat_intelligence.by_name.get(lower[1]) {
            Some(indicator) => Reply::json(200, indicator.clone()),
            None => not_found(rest[1]),
        },
        (["indicators", _], &Method::PUT) => put(&mut state, call, rest[1]),
        (["indicators", _], &Method::DELETE) => match state.threat_intelligence.remove(rest[1]) {
            Some(_) => Reply::empty(200),
            None => Reply::empty(204),
        },
        (["indicators", _, "appendtags"], &Method::POST) => tags(&mut state, call, rest[1], false),
        (["indicators", _, "replacetags"], &Method::POST) => tags(&mut state, call, rest[1], true),
        _ => cloud_error(404, "NotFound", &format!("No HTTP resource was found that matches '{}'.", call.uri.path())),
    }
}

/// The `properties` of a create or update body, checked as the service checks them.
fn sent_properties(call: &Call) -> Result<Map<String, Value>, Reply> {
    let Ok(body) = serde_json::from_slice::<Value>(call.body) else {
        return Err(bad_request("The request body is not valid JSON."));
    };
    if !body["kind"].as_str().is_some_and(|k| k.eq_ignore_ascii_case("indicator")) {
        return Err(bad_request("The threat intelligence 'kind' must be 'indicator'."));
    }
    let Some(properties) = body["properties"].as_object() else {
        return Err(bad_request("The indicator has no 'properties'."));
    };
    let pattern = properties.get("pattern").and_then(Value::as_str).unwrap_or_default();
    if !(pattern.starts_with('[') && pattern.ends_with(']')) {
        return Err(bad_request("The indicator's 'pattern' is not a STIX pattern."));
    }
    if properties.get("patternType").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(bad_request("The indicator's 'patternType' is required."));
    }
    if let Some(confidence) = properties.get("confidence").filter(|c| !c.is_null()) {
        if !confidence.as_i64().is_some_and(|c| (0..=100).contains(&c)) {
            return Err(bad_request("The indicator's 'confidence' must be between 0 and 100."));
        }
    }
    // Empty strings (Microsoft's own example sends `"validUntil": ""`) are not kept.
    Ok(properties.iter().filter(|(_, v)| v.as_str() != Some("")).map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn stored(
    identity: &TenantIdentity,
    name: &str,
    mut properties: Map<String, Value>,
    now: &str,
    kept: Option<&Value>,
) -> Value {
    let created = kept.and_then(|k| k["properties"]["created"].as_str()).unwrap_or(now).to_owned();
    let external = kept
        .and_then(|k| k["properties"]["externalId"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("indicator--{}", uuid::Uuid::new_v4()));
    properties.insert("created".into(), json!(created));
    properties.insert("lastUpdatedTimeUtc".into(), json!(now));
    properties.insert("externalId".into(), json!(external));
    for list in ["externalReferences", "granularMarkings", "killChainPhases", "threatIntelligenceTags", "threatTypes"] {
        properties.entry(list).or_insert_with(|| json!([]));
    }
    properties.entry("revoked").or_insert(json!(false));
    properties.entry("source").or_insert(json!("Microsoft Sentinel"));
    json!({
        "id": resource_id(identity, name),
        "name": name,
        "etag": new_etag(),
        "type": "Microsoft.SecurityInsights/ThreatIntelligence",
        "kind": "indicator",
        "properties": properties,
    })
}

fn create(state: &mut State, call: &Call) -> Reply {
    let properties = match sent_properties(call) {
        Ok(properties) => properties,
        Err(reply) => return reply,
    };
    let pattern = properties.get("pattern").and_then(Value::as_str).unwrap_or_default().to_owned();
    let name = state.threat_intelligence.next_name(&pattern);
    let indicator = stored(&state.identity, &name, properties, &state.clock.text(), None);
    state.threat_intelligence.insert(&name, indicator.clone());
    Reply::json(200, indicator)
}

fn put(state: &mut State, call: &Call, name: &str) -> Reply {
    let properties = match sent_properties(call) {
        Ok(properties) => properties,
        Err(reply) => return reply,
    };
    let kept = state.threat_intelligence.by_name.get(&name.to_ascii_lowercase()).cloned();
    let indicator = stored(&state.identity, name, properties, &state.clock.text(), kept.as_ref());
    state.threat_intelligence.insert(name, indicator.clone());
    Reply::json(if kept.is_some() { 200 } else { 201 }, indicator)
}

fn tags(state: &mut State, call: &Call, name: &str, replace: bool) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(call.body) else {
        return bad_request("The request body is not valid JSON.");
    };
    let sent = if replace { &body["properties"]["threatIntelligenceTags"] } else { &body["threatIntelligenceTags"] };
    let Some(sent) = sent.as_array().filter(|tags| tags.iter().all(Value::is_string)) else {
        return bad_request("'threatIntelligenceTags' must be a list of strings.");
    };
    let now = state.clock.text();
    let Some(indicator) = state.threat_intelligence.by_name.get_mut(&name.to_ascii_lowercase()) else {
        return not_found(name);
    };
    let mut tags = if replace {
        Vec::new()
    } else {
        indicator["properties"]["threatIntelligenceTags"].as_array().cloned().unwrap_or_default()
    };
    tags.extend(sent.iter().cloned());
    indicator["properties"]["threatIntelligenceTags"] = Value::Array(tags);
    indicator["properties"]["lastUpdatedTimeUtc"] = json!(now);
    indicator["etag"] = json!(new_etag());
    if replace {
        Reply::json(200, indicator.clone())
    } else {
        Reply::empty(200)
    }
}

/// One page of `items` from `skip`, with a nextLink (`$skipToken`) when more are left.
fn page(items: &[&Value], skip: usize, size: usize, call: &Call) -> Reply {
    let value: Vec<&Value> = items.iter().skip(skip).take(size).copied().collect();
    let mut body = json!({ "value": value });
    if skip + size < items.len() {
        let query = call.query();
        let version = request::param(&query, "api-version").unwrap_or_default();
        body["nextLink"] =
            json!(format!("http://{}{}?api-version={version}&$skipToken={}", call.host, call.uri.path(), skip + size));
    }
    Reply::json(200, body)
}

fn skip_token(text: Option<&str>) -> Result<usize, Reply> {
    match text {
        None => Ok(0),
        Some(token) => token.parse().map_err(|_| bad_request("The skip token is not valid.")),
    }
}

fn list(state: &State, call: &Call) -> Reply {
    let query = call.query();
    let skip = match skip_token(request::param(&query, "$skipToken")) {
        Ok(skip) => skip,
        Err(reply) => return reply,
    };
    let size = match request::param(&query, "$top").map(str::parse::<usize>) {
        None => DEFAULT_QUERY_PAGE,
        Some(Ok(top)) if top > 0 => top,
        Some(_) => return bad_request("$top must be a positive number."),
    };
    page(&state.threat_intelligence.all(), skip, size, call)
}

fn texts(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default()
}

fn contains_any(haystack: &[String], wanted: &[String]) -> bool {
    wanted.is_empty() || haystack.iter().any(|h| wanted.iter().any(|w| h.eq_ignore_ascii_case(w)))
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.as_str().unwrap_or_default().cmp(b.as_str().unwrap_or_default()),
    }
}

fn query(state: &State, call: &Call) -> Reply {
    let Ok(criteria) = serde_json::from_slice::<Value>(call.body) else {
        return bad_request("The filtering criteria are not valid JSON.");
    };
    let url_query = call.query();
    let token = criteria["skipToken"].as_str().or_else(|| request::param(&url_query, "$skipToken"));
    let skip = match skip_token(token) {
        Ok(skip) => skip,
        Err(reply) => return reply,
    };
    let size = match criteria.get("pageSize").filter(|v| !v.is_null()) {
        None => DEFAULT_QUERY_PAGE,
        Some(size) => match size.as_u64() {
            Some(size) if size > 0 => size as usize,
            _ => return bad_request("pageSize must be a positive number."),
        },
    };
    let keywords = texts(&criteria["keywords"]);
    let (sources, pattern_types) = (texts(&criteria["sources"]), texts(&criteria["patternTypes"]));
    let (threat_types, ids) = (texts(&criteria["threatTypes"]), texts(&criteria["ids"]));
    let include_disabled = criteria["includeDisabled"].as_bool().unwrap_or(false);
    let (min_confidence, max_confidence) = (criteria["minConfidence"].as_i64(), criteria["maxConfidence"].as_i64());
    let (min_until, max_until) = (criteria["minValidUntil"].as_str(), criteria["maxValidUntil"].as_str());
    let mut found: Vec<&Value> = state
        .threat_intelligence
        .all()
        .into_iter()
        .filter(|indicator| {
            let p = &indicator["properties"];
            let text = |field: &str| p[field].as_str().unwrap_or_default().to_owned();
            let searchable = [text("pattern"), text("displayName"), text("description")]
                .into_iter()
                .chain(texts(&p["threatIntelligenceTags"]))
                .map(|t| t.to_lowercase())
                .collect::<Vec<_>>();
            let confidence = p["confidence"].as_i64();
            let until = p["validUntil"].as_str().filter(|u| !u.is_empty());
            (include_disabled || !p["revoked"].as_bool().unwrap_or(false))
                && keywords.iter().all(|k| searchable.iter().any(|s| s.contains(&k.to_lowercase())))
                && contains_any(&[text("source")], &sources)
                && contains_any(&[text("patternType")], &pattern_types)
                && contains_any(&texts(&p["threatTypes"]), &threat_types)
                && contains_any(&[indicator["name"].as_str().unwrap_or_default().to_owned()], &ids)
                && min_confidence.is_none_or(|min| confidence.is_some_and(|c| c >= min))
                && max_confidence.is_none_or(|max| confidence.is_some_and(|c| c <= max))
                && min_until.is_none_or(|min| until.is_some_and(|u| u >= min))
                && max_until.is_none_or(|max| until.is_some_and(|u| u <= max))
        })
        .collect();
    for sort in criteria["sortBy"].as_array().cloned().unwrap_or_default().iter().rev() {
        let key = sort["itemKey"].as_str().unwrap_or_default().to_owned();
        match sort["sortOrder"].as_str().unwrap_or("unsorted").to_ascii_lowercase().as_str() {
            "ascending" => found.sort_by(|a, b| compare(&a["properties"][&key], &b["properties"][&key])),
            "descending" => found.sort_by(|a, b| compare(&b["properties"][&key], &a["properties"][&key])),
            _ => {}
        }
    }
    page(&found, skip, size, call)
}

fn metrics(state: &State) -> Reply {
    let mut by_threat: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_pattern: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_source: BTreeMap<String, u64> = BTreeMap::new();
    for indicator in state.threat_intelligence.all() {
        let p = &indicator["properties"];
        for threat in texts(&p["threatTypes"]) {
            *by_threat.entry(threat).or_default() += 1;
        }
        *by_pattern.entry(p["patternType"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        *by_source.entry(p["source"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    let entries = |counts: BTreeMap<String, u64>| -> Vec<Value> {
        counts.into_iter().map(|(name, count)| json!({"metricName": name, "metricValue": count})).collect()
    };
    Reply::json(
        200,
        json!({"value": [{"properties": {
            "lastUpdatedTimeUtc": state.clock.text(),
            "threatTypeMetrics": entries(by_threat),
            "patternTypeMetrics": entries(by_pattern),
            "sourceMetrics": entries(by_source),
        }}]}),
    )
}
