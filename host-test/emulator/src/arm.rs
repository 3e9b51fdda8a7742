//! The ARM side: `Microsoft.SecurityInsights` incidents under a workspace,
//! with ARM's checks in ARM's order (token, api-version, then the resource
//! path) and its CloudError bodies.

use std::time::Instant;

use axum::http::Method;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::config::TenantIdentity;
use crate::odata::{parse_filter, Order, INCIDENTS};
use crate::reply::{cloud_error, Reply};
use crate::request::{self, percent_decode, Call};
use crate::state::{Kind, Shared, State};
use crate::store::{Id, Incidents, SortKey};
use crate::token::ARM_AUDIENCE;
use crate::{details, token, writes};

/// The api-version the emulator serves first (the connector's default).
pub(crate) const API_VERSION: &str = "2025-09-01";
/// What the emulator accepts by default, newest stable first; its
/// `InvalidApiVersionParameter` answer lists them as ARM does.
pub(crate) const API_VERSIONS: &[&str] =
    &["2025-12-01", API_VERSION, "2025-06-01", "2025-03-01", "2024-09-01", "2024-03-01"];
const MAX_TOP: usize = 1000;

/// ARM's answer to an api-version it does not serve: the versions it does,
/// in its own words.
fn accepted(shared: &Shared, version: &str) -> Result<(), Reply> {
    let configured = shared.state().api_versions.clone();
    let versions: Vec<&str> = match &configured {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => API_VERSIONS.to_vec(),
    };
    if versions.contains(&version) {
        return Ok(());
    }
    Err(cloud_error(
        400,
        "InvalidApiVersionParameter",
        &format!("The api-version '{version}' is invalid. The supported versions are '{}'.", versions.join(",")),
    ))
}

/// Routes `/subscriptions/...`; segments the ARM spec fixes are matched
/// case-insensitively, as ARM does.
pub fn handle(shared: &Shared, call: &Call) -> Reply {
    if let Err(reply) = authorize(shared, call.authorization()) {
        return reply;
    }
    let query = call.query();
    let param = |name: &str| request::param(&query, name);
    match param("api-version") {
        None => {
            return cloud_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        }
        Some(version) => {
            if let Err(reply) = accepted(shared, version) {
                return reply;
            }
        }
    }
    let segments: Vec<&str> = call.uri.path().trim_start_matches('/').split('/').collect();
    match resolve(&shared.options.identity, &segments) {
        Err(reply) => reply,
        Ok(Resource::AlertRules(rest)) => crate::alert_rules::handle(shared, call, &rest),
        Ok(Resource::Watchlists(rest)) => crate::watchlists::handle(shared, call, &rest),
        Ok(Resource::ThreatIntelligence(rest)) => crate::threat_intelligence::handle(shared, call, &rest),
        Ok(Resource::Incidents) if *call.method == Method::GET => {
            let params = ListParams {
                api_version: param("api-version").unwrap_or_default(),
                filter: param("$filter"),
                orderby: param("$orderby"),
                top: param("$top"),
                skip_token: param("$skipToken"),
            };
            list(shared, call, &params)
        }
        Ok(Resource::Incident(id)) if *call.method == Method::GET => get(shared, id),
        Ok(Resource::IncidentDetails(id, child)) if *call.method == Method::POST => incident_details(shared, id, child),
        Ok(Resource::Incident(id)) if *call.method == Method::PUT => {
            writes::put_incident(&mut shared.state(), &percent_decode(id), call.body)
        }
        Ok(Resource::Incident(id)) if *call.method == Method::DELETE => {
            writes::delete_incident(&mut shared.state(), &percent_decode(id))
        }
        Ok(Resource::Children(id, kind)) if *call.method == Method::GET => {
            let link_base = format!(
                "http://{}{}?api-version={}",
                call.host,
                call.uri.path(),
                param("api-version").unwrap_or_default()
            );
            writes::list_children(
                &shared.state(),
                &percent_decode(id),
                kind,
                param("$top"),
                param("$skipToken"),
                &link_base,
            )
        }
        Ok(Resource::Child(id, kind, name)) => {
            let (id, name) = (percent_decode(id), percent_decode(name));
            let mut state = shared.state();
            match *call.method {
                Method::GET => writes::get_child(&state, &id, kind, &name),
                Method::PUT => {
                    let author = author_of(&state, call.authorization());
                    writes::put_child(&mut state, &id, kind, &name, call.body, author)
                }
                Method::DELETE => writes::delete_child(&mut state, &id, kind, &name),
                _ => method_not_allowed(call),
            }
        }
        Ok(_) => method_not_allowed(call),
    }
}

fn method_not_allowed(call: &Call) -> Reply {
    cloud_error(
        405,
        "UnsupportedApiVersion",
        &format!(
            "The HTTP resource that matches the request URI '{}' does not support HTTP method '{}'.",
            call.uri, call.method
        ),
    )
}

/// The client that wrote, as `ClientInfo`, from the token's app id.
fn author_of(state: &State, authorization: Option<&str>) -> Value {
    let app = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| state.tokens.get(token.trim()))
        .map(|issued| issued.client_id.clone())
        .unwrap_or_default();
    json!({"objectId": app, "name": "SOAR connector", "email": null, "userPrincipalName": null})
}

fn authorize(shared: &Shared, authorization: Option<&str>) -> Result<(), Reply> {
    let unauthorized = |code: &str, message: &str| {
        cloud_error(401, code, message).header(
            "www-authenticate",
            "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\"",
        )
    };
    let Some(value) = authorization else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let Some(token) = value.strip_prefix("Bearer ") else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is not a bearer token.",
        ));
    };
    let ours = &shared.options.identity.tenant_id;
    if let Some(tenant) = token::foreign_tenant(token.trim(), ours) {
        // ARM names the tenant whose authority the token must come from.
        return Err(cloud_error(
            401,
            "InvalidAuthenticationTokenTenant",
            &format!("The access token is from the wrong issuer 'https://sts.windows.net/{tenant}/'. It must match the tenant 'https://sts.windows.net/{ours}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{ours}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later."),
        )
        .header(
            "www-authenticate",
            format!("Bearer authorization_uri=\"https://login.windows.net/{ours}\", error=\"invalid_token\", error_description=\"The access token is from the wrong issuer.\""),
        ));
    }
    let issued = shared.state().tokens.get(token.trim()).cloned();
    let Some(issued) = issued else {
        return Err(unauthorized("InvalidAuthenticationToken", "The access token is invalid."));
    };
    if issued.expires_at <= jiff::Timestamp::now().as_second() {
        return Err(unauthorized(
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        ));
    }
    if issued.audience != ARM_AUDIENCE {
        return Err(unauthorized(
            "InvalidAuthenticationTokenAudience",
            &format!(
                "The access token has been obtained for wrong audience or resource '{}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.azure.com/'.",
                issued.audience
            ),
        ));
    }
    Ok(())
}

enum Resource<'a> {
    /// `alertRules` and what follows it.
    AlertRules(Vec<&'a str>),
    /// `watchlists` and what follows it.
    Watchlists(Vec<&'a str>),
    /// `threatIntelligence` and what follows it.
    ThreatIntelligence(Vec<&'a str>),
    Incidents,
    Incident(&'a str),
    /// Comments, relations or tasks of an incident.
    Children(&'a str, Kind),
    Child(&'a str, Kind, &'a str),
    /// `alerts`, `entities` or `bookmarks` of an incident: POST without a body.
    IncidentDetails(&'a str, Child),
}

#[derive(Clone, Copy)]
enum Child {
    Alerts,
    Entities,
    Bookmarks,
}

/// ARM's answer to a subscription it does not know.
pub(crate) fn subscription_not_found(sub: &str) -> Reply {
    cloud_error(404, "SubscriptionNotFound", &format!("The subscription '{sub}' could not be found."))
}

fn resolve<'a>(identity: &TenantIdentity, segments: &[&'a str]) -> Result<Resource<'a>, Reply> {
    let literal = |index: usize, expected: &str| segments.get(index).is_some_and(|s| s.eq_ignore_ascii_case(expected));
    let sub = segments.get(1).copied().unwrap_or_default();
    if !sub.eq_ignore_ascii_case(&identity.subscription_id) {
        return Err(subscription_not_found(sub));
    }
    if !literal(2, "resourceGroups") {
        return Err(cloud_error(404, "NotFound", "The requested resource was not found."));
    }
    let rg = segments.get(3).copied().unwrap_or_default();
    if !rg.eq_ignore_ascii_case(&identity.resource_group) {
        return Err(cloud_error(404, "ResourceGroupNotFound", &format!("Resource group '{rg}' could not be found.")));
    }
    let ws = segments.get(7).copied().unwrap_or_default();
    let workspace_path =
        literal(4, "providers") && literal(5, "Microsoft.OperationalInsights") && literal(6, "workspaces");
    if !workspace_path || !ws.eq_ignore_ascii_case(&identity.workspace_name) {
        return Err(cloud_error(
            404,
            "ResourceNotFound",
            &format!("The Resource 'Microsoft.OperationalInsights/workspaces/{ws}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"),
        ));
    }
    if !(literal(8, "providers") && literal(9, "Microsoft.SecurityInsights")) {
        return Err(cloud_error(400, "InvalidResourceType", "The resource type could not be found in the namespace."));
    }
    match &segments[10.min(segments.len())..] {
        [kind, rest @ ..] if kind.eq_ignore_ascii_case("alertRules") => Ok(Resource::AlertRules(rest.to_vec())),
        [kind, rest @ ..] if kind.eq_ignore_ascii_case("watchlists") => Ok(Resource::Watchlists(rest.to_vec())),
        [kind, rest @ ..] if kind.eq_ignore_ascii_case("threatIntelligence") => {
            Ok(Resource::ThreatIntelligence(rest.to_vec()))
        }
        [kind] if kind.eq_ignore_ascii_case("incidents") => Ok(Resource::Incidents),
        [kind, id] if kind.eq_ignore_ascii_case("incidents") && !id.is_empty() => Ok(Resource::Incident(id)),
        [kind, id, child, name] if kind.eq_ignore_ascii_case("incidents") && !name.is_empty() => match Kind::parse(child) {
            Some(child_kind) => Ok(Resource::Child(id, child_kind, name)),
            None => Err(cloud_error(404, "NotFound", &format!("No HTTP resource was found for '{child}' of an incident."))),
        },
        [kind, id, child] if kind.eq_ignore_ascii_case("incidents") && !id.is_empty() => {
            if let Some(children) = Kind::parse(child) {
                return Ok(Resource::Children(id, children));
            }
            let child = match child.to_ascii_lowercase().as_str() {
                "alerts" => Child::Alerts,
                "entities" => Child::Entities,
                "bookmarks" => Child::Bookmarks,
                _ => return Err(cloud_error(404, "NotFound", &format!("No HTTP resource was found for '{child}' of an incident."))),
            };
            Ok(Resource::IncidentDetails(id, child))
        }
        _ => Err(cloud_error(400, "InvalidResourceType", "The resource type could not be found in the namespace 'Microsoft.SecurityInsights' for api version '2025-09-01'.")),
    }
}

/// What `read` makes of a visible incident found by its (percent-encoded)
/// name, or ARM's 404: a hash lookup, nothing else copied.
fn visible_incident<T>(shared: &Shared, id: &str, read: impl FnOnce(&Incidents, Id) -> T) -> Result<T, Reply> {
    let decoded = percent_decode(id);
    let state = shared.state();
    let found = state.incidents.find(&decoded);
    match found.filter(|id| state.incidents.get(*id).is_some_and(|s| s.visible_at(Instant::now()))) {
        Some(id) => Ok(read(&state.incidents, id)),
        None => Err(cloud_error(
            404,
            "NotFound",
            &format!("Incident '{decoded}' was not found in workspace '{}'.", shared.options.identity.workspace_name),
        )),
    }
}

/// A successful read, with the rate-limit header ARM sends on reads.
fn read(body: Value) -> Reply {
    read_text(body.to_string())
}

/// A successful read of JSON already serialized.
fn read_text(body: String) -> Reply {
    Reply::json_text(200, body)
}

fn get(shared: &Shared, id: &str) -> Reply {
    match visible_incident(shared, id, Incidents::json) {
        Ok(incident) => read_text(incident),
        Err(reply) => reply,
    }
}

fn incident_details(shared: &Shared, id: &str, child: Child) -> Reply {
    let identity = &shared.options.identity;
    let incident = match visible_incident(shared, id, Incidents::value) {
        Ok(Some(incident)) => incident,
        Ok(None) => Value::Null,
        Err(reply) => return reply,
    };
    let body = match child {
        Child::Alerts => {
            // Unified: the alerts Defender correlated into it (merges move them).
            let unified = shared.state().arm_alerts(&incident);
            json!({"value": unified.unwrap_or_else(|| details::alerts(identity, &incident))})
        }
        Child::Bookmarks => json!({"value": details::bookmarks(identity, &incident)}),
        Child::Entities => {
            let entities = details::entities(identity, &incident);
            let mut kinds: Vec<(String, usize)> = Vec::new();
            for kind in entities.iter().filter_map(|e| e["kind"].as_str()) {
                match kinds.iter_mut().find(|(k, _)| k == kind) {
                    Some((_, count)) => *count += 1,
                    None => kinds.push((kind.to_owned(), 1)),
                }
            }
            let meta: Vec<Value> =
                kinds.into_iter().map(|(kind, count)| json!({"entityKind": kind, "count": count})).collect();
            json!({"entities": entities, "metaData": meta})
        }
    };
    read(body)
}

struct ListParams<'a> {
    api_version: &'a str,
    filter: Option<&'a str>,
    orderby: Option<&'a str>,
    top: Option<&'a str>,
    skip_token: Option<&'a str>,
}

fn list(shared: &Shared, call: &Call, params: &ListParams) -> Reply {
    let top = match params.top.map(str::parse::<usize>) {
        None => shared.options.default_page_size,
        Some(Ok(top)) if (1..=MAX_TOP).contains(&top) => top,
        Some(_) => {
            return cloud_error(
                400,
                "BadRequest",
                &format!("The value of $top must be an integer between 1 and {MAX_TOP}."),
            )
        }
    };
    let filter = match params.filter.map(|text| parse_filter(text, &INCIDENTS)).transpose() {
        Ok(filter) => filter,
        Err(reason) => return cloud_error(400, "BadRequest", &format!("Invalid $filter: {reason}")),
    };
    let order = match Order::parse(params.orderby) {
        Ok(order) => order,
        Err(reason) => return cloud_error(400, "BadRequest", &format!("Invalid $orderby: {reason}")),
    };
    let after = match params.skip_token.map(decode_skip_token).transpose() {
        Ok(after) => after,
        Err(()) => return cloud_error(400, "BadRequest", "The $skipToken is not valid."),
    };
    let mut state = shared.state();
    let incidents = &state.incidents;
    let page = incidents.page(&order, filter.as_ref(), after.as_ref(), top, Instant::now());
    // The answer is written from the stored JSON: only the page is copied.
    let mut body = String::with_capacity(page.ids.len() * 2048 + 1024);
    body.push('{');
    if let (true, Some(last)) = (page.more, page.ids.last()) {
        match next_link(call, params, top, &incidents.sort_key(*last, &order)) {
            Some(link) => {
                body.push_str("\"nextLink\":");
                body.push_str(&Value::String(link).to_string());
                body.push(',');
            }
            None => return cloud_error(400, "BadRequest", &format!("The Host header '{}' is not valid.", call.host)),
        }
    }
    body.push_str("\"value\":[");
    for (index, id) in page.ids.iter().enumerate() {
        if index > 0 {
            body.push(',');
        }
        incidents.write_json(*id, &mut body);
    }
    body.push_str("]}");
    state.list_served();
    read_text(body)
}

/// The same query with a `$skipToken` naming the last item sent: keyset
/// paging, so changes between pages never shift unchanged items.
fn next_link(call: &Call, params: &ListParams, top: usize, last: &SortKey) -> Option<String> {
    let mut url = url::Url::parse(&format!("http://{}{}", call.host, call.uri.path())).ok()?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("api-version", params.api_version);
        if let Some(filter) = params.filter {
            query.append_pair("$filter", filter);
        }
        if let Some(orderby) = params.orderby {
            query.append_pair("$orderby", orderby);
        }
        query.append_pair("$top", &top.to_string());
        query.append_pair("$skipToken", &URL_SAFE_NO_PAD.encode(serde_json::to_vec(last).ok()?));
    }
    Some(url.to_string())
}

fn decode_skip_token(token: &str) -> Result<SortKey, ()> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| ())?;
    serde_json::from_slice(&bytes).map_err(|_| ())
}
