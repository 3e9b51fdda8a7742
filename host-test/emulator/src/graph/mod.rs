//! Microsoft Graph v1.0 under `/v1.0/` on the emulator's port: the security
//! API (incidents, alerts_v2, advanced hunting) and the Entra ID containment
//! calls (users, group membership, risky users). Like Graph it checks the
//! token (audience, expiry) before the path and the token's application roles
//! per operation, and answers errors in Graph's shape with an `innerError`.

mod actions;
mod directory;
mod hunting;
mod security;
pub mod seed;
pub(crate) mod tenant;

use axum::http::Method;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::reply::Reply;
use crate::request::{self, percent_decode, Call};
use crate::state::{Issued, Shared, State};
use crate::token::GRAPH_AUDIENCE;
pub(crate) use tenant::GraphState;

pub(crate) const METADATA: &str = "https://graph.microsoft.com/v1.0/$metadata";

/// A request being answered: its decoded path and query, and the ids every
/// Graph answer carries (`request-id`, echoed `client-request-id`).
pub(crate) struct Ctx<'a> {
    pub call: &'a Call<'a>,
    /// Path segments after `/v1.0`, percent-decoded.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub request_id: String,
    pub client_request_id: String,
    /// The emulator's now, as Graph writes times.
    pub now: String,
    /// Whether `$orderby` on incidents is honoured (`EmulatorOptions::graph_orderby`).
    pub orderby: bool,
}

impl<'a> Ctx<'a> {
    fn new(call: &'a Call<'a>, now: String, orderby: bool) -> Ctx<'a> {
        let mut segments: Vec<String> =
            call.uri.path().trim_start_matches('/').split('/').skip(1).map(percent_decode).collect();
        // A trailing slash names the same resource.
        if segments.last().is_some_and(String::is_empty) {
            segments.pop();
        }
        let query = call.query();
        let client_request_id =
            call.header("client-request-id").map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        Ctx { call, segments, query, request_id: uuid::Uuid::new_v4().to_string(), client_request_id, now, orderby }
    }

    /// A query option, by name without regard to case (`$top`, `$TOP`).
    pub fn param(&self, name: &str) -> Option<&str> {
        request::param(&self.query, name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.call.header(name)
    }

    /// A Graph error: `error.code`, `error.message` and `error.innerError`.
    pub fn error(&self, status: u16, code: &str, message: &str) -> Reply {
        let date = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S").to_string();
        Reply::json(
            status,
            json!({"error": {"code": code, "message": message, "innerError": {
                "date": date, "request-id": self.request_id, "client-request-id": self.client_request_id,
            }}}),
        )
    }

    pub fn bad_request(&self, code: &str, message: &str) -> Reply {
        self.error(400, code, message)
    }

    /// The body as a JSON object; Graph answers 400 to anything else.
    pub fn json_object(&self) -> Result<serde_json::Map<String, Value>, Reply> {
        match serde_json::from_slice::<Value>(self.call.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(self.bad_request("BadRequest", "The request body must be a JSON object.")),
            Err(e) => Err(self.bad_request("BadRequest", &format!("Unable to read JSON request payload: {e}"))),
        }
    }

    /// PATCH on the security API needs a JSON content type.
    pub fn require_json_content(&self) -> Result<(), Reply> {
        let content_type = self.header("content-type").unwrap_or_default();
        if content_type.trim().to_ascii_lowercase().starts_with("application/json") {
            return Ok(());
        }
        Err(self.error(
            415,
            "UnsupportedMediaType",
            &format!("The content type '{content_type}' is not supported. Use 'application/json'."),
        ))
    }
}

/// Answers `/v1.0/...`.
pub(crate) fn handle(shared: &Shared, call: &Call) -> Reply {
    let clock = shared.state().clock;
    let ctx = Ctx::new(call, clock.text(), shared.options.graph_orderby);
    let reply = respond(shared, &ctx).unwrap_or_else(|reply| reply);
    finish(&ctx, reply, clock.now())
}

/// The headers every Graph answer carries. `Date` on the emulated clock,
/// as Graph's is on the service's: the poller settles what it read against it.
fn finish(ctx: &Ctx, reply: Reply, now: jiff::Timestamp) -> Reply {
    reply
        .header("request-id", ctx.request_id.clone())
        .header("client-request-id", ctx.client_request_id.clone())
        .header("date", now.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

/// Graph's 401, whole, for a request that no tenant of a multi-tenant
/// emulator can answer: no bearer token, or one no tenant issued.
pub(crate) fn unauthenticated(call: &Call, message: &str) -> Reply {
    let now = jiff::Timestamp::now();
    let ctx = Ctx::new(call, crate::clock::format_instant(now), false);
    finish(&ctx, unauthorized(&ctx, message), now)
}

/// The bearer token of a request, as Graph reads it.
pub(crate) fn bearer<'a>(call: &Call<'a>) -> Option<&'a str> {
    call.header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn unauthorized(ctx: &Ctx, message: &str) -> Reply {
    ctx.error(401, "InvalidAuthenticationToken", message).header(
        "www-authenticate",
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
    )
}

fn respond(shared: &Shared, ctx: &Ctx) -> Result<Reply, Reply> {
    let issued = authenticate(shared, ctx)?;
    let granted = &issued.roles;
    let route = resolve(&ctx.segments).map_err(|segment| {
        ctx.bad_request("BadRequest", &format!("Resource not found for the segment '{segment}'."))
    })?;
    let method = ctx.call.method;
    let Some(any_of) = route.roles(method) else {
        return Err(ctx.error(
            405,
            "Request_BadRequest",
            &format!("Specified HTTP method '{method}' is not allowed for the request uri."),
        ));
    };
    if !allowed(granted, any_of) {
        return Err(ctx.error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    let mut state = shared.state();
    if state.unified.is_none() {
        return dispatch(&mut state, ctx, route, &issued);
    }
    // Unified: Graph's incidents are read from ARM's, and a PATCH goes back.
    let times = match route {
        Route::Incidents => ctx.param("$filter").and_then(time_prefilter),
        _ => None,
    };
    state.graph.incidents = state.graph_views(times.as_ref());
    let patched = match &route {
        Route::Incident(id) if *method == Method::PATCH => Some(id.clone()),
        _ => None,
    };
    let answer = dispatch(&mut state, ctx, route, &issued);
    if let (Ok(_), Some(id)) = (&answer, patched) {
        if let Some(incident) = state.graph.incident(&id).cloned() {
            state.graph_written(&incident);
        }
    }
    state.graph.incidents.clear();
    answer
}

/// The time comparisons a Graph incidents `$filter` joins with `and` at its
/// top level, as a filter on ARM's indexed times (`createdDateTime` is
/// `createdTimeUtc`, `lastUpdateDateTime` is `lastModifiedTimeUtc`), so a
/// list does not convert every incident to answer a narrow time slice.
/// Conservative: an incident it drops fails the whole filter too; a filter
/// with a top-level `or` (or none to take) gives none.
pub(crate) fn time_prefilter(filter: &str) -> Option<crate::odata::Filter> {
    let mut clauses = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    let bytes = filter.as_bytes();
    for (at, byte) in bytes.iter().enumerate() {
        match byte {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b' ' if depth == 0 => {
                let rest = &bytes[at..];
                if rest.len() >= 4 && rest[..4].eq_ignore_ascii_case(b" or ") {
                    return None;
                }
                if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b" and ") {
                    clauses.push(&filter[start..at]);
                    start = at + 5;
                }
            }
            _ => {}
        }
    }
    clauses.push(&filter[start..]);
    let arm: Vec<String> = clauses
        .iter()
        .filter_map(|clause| {
            let words: Vec<&str> = clause.split_whitespace().collect();
            let [field, op, value] = words.as_slice() else { return None };
            let field = match *field {
                f if f.eq_ignore_ascii_case("createdDateTime") => "properties/createdTimeUtc",
                f if f.eq_ignore_ascii_case("lastUpdateDateTime") => "properties/lastModifiedTimeUtc",
                _ => return None,
            };
            ["ge", "gt", "le", "lt"]
                .contains(&op.to_ascii_lowercase().as_str())
                .then(|| format!("{field} {op} {value}"))
        })
        .collect();
    if arm.is_empty() {
        return None;
    }
    crate::odata::parse_filter(&arm.join(" and "), &crate::odata::INCIDENTS).ok()
}

fn dispatch(state: &mut State, ctx: &Ctx, route: Route, issued: &Issued) -> Result<Reply, Reply> {
    let method = ctx.call.method;
    let granted = &issued.roles;
    match route {
        Route::IncidentComments(id) => return actions::comment_incident(state, ctx, &id),
        Route::AlertComments(id) => return actions::comment_alert(state, ctx, &id),
        Route::Merge => return actions::merge_incidents(state, ctx),
        _ => {}
    }
    let graph: &mut GraphState = &mut state.graph;
    match route {
        Route::Incidents => security::list_incidents(graph, ctx),
        Route::Incident(id) if *method == Method::GET => security::get_incident(graph, ctx, &id),
        Route::Incident(id) => security::patch_incident(graph, ctx, &id),
        Route::Alerts => security::list_alerts(graph, ctx),
        Route::Alert(id) if *method == Method::GET => security::get_alert(graph, ctx, &id),
        Route::Alert(id) => security::patch_alert(graph, ctx, &id),
        Route::Hunting => hunting::run(graph, ctx),
        Route::User(key) if *method == Method::GET => directory::get_user(graph, ctx, &key),
        Route::User(key) => directory::patch_user(graph, ctx, &key),
        Route::RevokeSessions(key) => directory::revoke_sessions(graph, ctx, &key),
        Route::CheckMemberGroups(key) => directory::check_member_groups(graph, ctx, &key, granted),
        Route::Groups => directory::list_groups(graph, ctx),
        Route::Group(id) => directory::get_group(graph, ctx, &id),
        Route::Members(group) => directory::add_member(graph, ctx, &group),
        Route::Member(group, member) => directory::remove_member(graph, ctx, &group, &member),
        Route::RiskyUsers => directory::list_risky(graph, ctx),
        Route::RiskyUser(id) => directory::get_risky(graph, ctx, &id),
        Route::ConfirmCompromised => directory::set_risk(graph, ctx, directory::Risk::Confirmed),
        Route::Dismiss => directory::set_risk(graph, ctx, directory::Risk::Dismissed),
        Route::IncidentComments(_) | Route::AlertComments(_) | Route::Merge => unreachable!("answered above"),
    }
}

/// A token this emulator issued for Graph, still valid.
fn authenticate(shared: &Shared, ctx: &Ctx) -> Result<Issued, Reply> {
    let unauthorized = |message: &str| unauthorized(ctx, message);
    let Some(token) = bearer(ctx.call) else { return Err(unauthorized("Access token is empty.")) };
    if crate::token::foreign_tenant(token, &shared.options.identity.tenant_id).is_some() {
        return Err(unauthorized("Access token validation failure. Invalid issuer."));
    }
    let issued = shared.state().tokens.get(token).cloned();
    let Some(issued) = issued else { return Err(unauthorized("Access token validation failure.")) };
    if issued.audience != GRAPH_AUDIENCE {
        return Err(unauthorized("Access token validation failure. Invalid audience."));
    }
    if issued.expires_at <= jiff::Timestamp::now().as_second() {
        return Err(unauthorized("Lifetime validation failed, the token is expired."));
    }
    Ok(issued)
}

/// Whether the granted roles include one of `any_of`; a `.ReadWrite.` role
/// includes its `.Read.` counterpart, as Graph's permissions do.
fn allowed(granted: &[String], any_of: &[&str]) -> bool {
    any_of.iter().any(|needed| granted.iter().any(|g| g == needed || g.replace(".ReadWrite.", ".Read.") == *needed))
}

enum Route {
    Incidents,
    Incident(String),
    IncidentComments(String),
    /// `security/incidents/mergeIncidents`
    Merge,
    Alerts,
    Alert(String),
    AlertComments(String),
    Hunting,
    User(String),
    RevokeSessions(String),
    CheckMemberGroups(String),
    Groups,
    Group(String),
    /// `groups/{id}/members/$ref`
    Members(String),
    /// `groups/{id}/members/{member}/$ref`
    Member(String, String),
    RiskyUsers,
    RiskyUser(String),
    ConfirmCompromised,
    Dismiss,
}

const DIRECTORY_READ: &[&str] = &["User.Read.All", "Directory.Read.All"];
const GROUP_READ: &[&str] = &["User.Read.All", "GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"];
const USER_ENABLE: &[&str] = &["User.EnableDisableAccount.All", "User.ReadWrite.All", "Directory.ReadWrite.All"];
const USER_REVOKE: &[&str] = &["User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All"];
const GROUP_WRITE: &[&str] = &["GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"];

impl Route {
    /// The roles (any one suffices) `method` needs here; None: not allowed.
    fn roles(&self, method: &Method) -> Option<&'static [&'static str]> {
        let (get, patch, post, delete) =
            (*method == Method::GET, *method == Method::PATCH, *method == Method::POST, *method == Method::DELETE);
        match self {
            Route::Incidents if get => Some(&["SecurityIncident.Read.All"]),
            Route::Incident(_) if get => Some(&["SecurityIncident.Read.All"]),
            Route::Incident(_) if patch => Some(&["SecurityIncident.ReadWrite.All"]),
            Route::IncidentComments(_) if post => Some(&["SecurityIncident.ReadWrite.All"]),
            Route::Merge if post => Some(&["SecurityData.Manage.All"]),
            Route::AlertComments(_) if post => Some(&["SecurityAlert.ReadWrite.All"]),
            Route::Alerts if get => Some(&["SecurityAlert.Read.All"]),
            Route::Alert(_) if get => Some(&["SecurityAlert.Read.All"]),
            Route::Alert(_) if patch => Some(&["SecurityAlert.ReadWrite.All"]),
            Route::Hunting if post => Some(&["ThreatHunting.Read.All"]),
            Route::User(_) if get => Some(DIRECTORY_READ),
            Route::User(_) if patch => Some(USER_ENABLE),
            Route::RevokeSessions(_) if post => Some(USER_REVOKE),
            Route::CheckMemberGroups(_) if post => Some(GROUP_READ),
            Route::Groups | Route::Group(_) if get => Some(GROUP_READ),
            Route::Members(_) if post => Some(GROUP_WRITE),
            Route::Member(_, _) if delete => Some(GROUP_WRITE),
            Route::RiskyUsers | Route::RiskyUser(_) if get => Some(&["IdentityRiskyUser.Read.All"]),
            Route::ConfirmCompromised | Route::Dismiss if post => Some(&["IdentityRiskyUser.ReadWrite.All"]),
            _ => None,
        }
    }
}

/// The resource a path names, or the first segment Graph could not resolve.
fn resolve(segments: &[String]) -> Result<Route, String> {
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let at = |i: usize| segments[i].clone();
    Ok(match lower.as_slice() {
        ["security", "incidents"] => Route::Incidents,
        ["security", "incidents", "mergeincidents"] => Route::Merge,
        ["security", "incidents", _] => Route::Incident(at(2)),
        ["security", "incidents", _, "comments"] => Route::IncidentComments(at(2)),
        ["security", "alerts_v2"] => Route::Alerts,
        ["security", "alerts_v2", _] => Route::Alert(at(2)),
        ["security", "alerts_v2", _, "comments"] => Route::AlertComments(at(2)),
        ["security", "runhuntingquery"] => Route::Hunting,
        ["users", _] => Route::User(at(1)),
        ["users", _, "revokesigninsessions"] => Route::RevokeSessions(at(1)),
        ["users", _, "checkmembergroups"] => Route::CheckMemberGroups(at(1)),
        ["groups"] => Route::Groups,
        ["groups", _] => Route::Group(at(1)),
        ["groups", _, "members", "$ref"] => Route::Members(at(1)),
        ["groups", _, "members", _, "$ref"] => Route::Member(at(1), at(3)),
        ["identityprotection", "riskyusers"] => Route::RiskyUsers,
        ["identityprotection", "riskyusers", "confirmcompromised"] => Route::ConfirmCompromised,
        ["identityprotection", "riskyusers", "dismiss"] => Route::Dismiss,
        ["identityprotection", "riskyusers", _] => Route::RiskyUser(at(2)),
        [] => return Err(String::new()),
        [root, ..] if !["security", "users", "groups", "identityprotection"].contains(root) => return Err(at(0)),
        [.., _] => return Err(segments.last().cloned().unwrap_or_default()),
    })
}

/// Paging limits of a collection.
pub(crate) struct Paging {
    pub default_top: usize,
    pub max_top: usize,
}

/// One page of `items` (already filtered and ordered) as a Graph collection:
/// `$top`, `$skip`, `$count=true`, and an `@odata.nextLink` on the request's
/// own host that repeats the query with an opaque `$skiptoken`.
pub(crate) fn page(ctx: &Ctx, items: Vec<Value>, context: &str, paging: &Paging) -> Result<Value, Reply> {
    let invalid = |name: &str, value: &str, rule: &str| {
        ctx.bad_request("invalidRequest", &format!("Invalid value '{value}' for query option {name}: {rule}."))
    };
    let top = match ctx.param("$top") {
        None => paging.default_top,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(top) if (1..=paging.max_top).contains(&top) => top,
            _ => return Err(invalid("$top", text, &format!("it must be an integer between 1 and {}", paging.max_top))),
        },
    };
    let skip = match ctx.param("$skip") {
        None => 0,
        Some(text) => {
            text.trim().parse::<usize>().map_err(|_| invalid("$skip", text, "it must be a non-negative integer"))?
        }
    };
    let offset = match ctx.param("$skiptoken") {
        None => skip,
        Some(token) => decode_skip_token(token)
            .ok_or_else(|| invalid("$skiptoken", token, "it is not a token this service issued"))?,
    };
    let count = match ctx.param("$count").map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(invalid("$count", other, "it must be true or false")),
    };
    let total = items.len();
    let mut body = json!({"@odata.context": context});
    if count {
        body["@odata.count"] = json!(total);
    }
    if offset + top < total {
        body["@odata.nextLink"] = json!(next_link(ctx, offset + top));
    }
    body["value"] = Value::Array(items.into_iter().skip(offset).take(top).collect());
    Ok(body)
}

/// The request's URL with `$skip`/`$skiptoken` replaced by a token for `offset`.
fn next_link(ctx: &Ctx, offset: usize) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in &ctx.query {
        if !key.eq_ignore_ascii_case("$skip") && !key.eq_ignore_ascii_case("$skiptoken") {
            query.append_pair(key, value);
        }
    }
    query.append_pair("$skiptoken", &URL_SAFE_NO_PAD.encode(format!("offset:{offset}")));
    format!("http://{}{}?{}", ctx.call.host, ctx.call.uri.path(), query.finish())
}

fn decode_skip_token(token: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("offset:")?.parse().ok()
}

/// Orders by a datetime property, newest first, then by id: a total order,
/// so pages never overlap.
pub(crate) fn newest_first(items: &mut [Value], field: &str) {
    // Each time parsed once, not once per comparison.
    items.sort_by_cached_key(|v| {
        let time = v[field].as_str().and_then(crate::odata::parse_time).unwrap_or(i64::MIN);
        (std::cmp::Reverse(time), v["id"].as_str().map(str::to_owned))
    });
}

/// `$select`: exactly the named properties of `item`; an unknown name is a 400.
pub(crate) fn select(ctx: &Ctx, item: &Value, names: &[String], type_name: &str) -> Result<Value, Reply> {
    let mut out = serde_json::Map::new();
    for name in names {
        let Some((key, value)) = item.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        else {
            return Err(ctx.bad_request(
                "Request_BadRequest",
                &format!("Could not find a property named '{name}' on type '{type_name}'."),
            ));
        };
        out.insert(key.clone(), value.clone());
    }
    Ok(Value::Object(out))
}

/// The `$select` list, if any.
pub(crate) fn selection(ctx: &Ctx) -> Option<Vec<String>> {
    ctx.param("$select").map(|s| s.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::time_prefilter;

    #[test]
    fn only_top_level_time_comparisons_joined_by_and_become_a_prefilter() {
        let slice = "lastUpdateDateTime ge 2026-01-01T00:00:00.000000Z and lastUpdateDateTime lt \
                     2026-01-01T00:00:01.000000Z and (severity eq 'high' or severity eq 'medium')";
        assert!(time_prefilter(slice).is_some());
        assert!(time_prefilter("createdDateTime ge 2026-01-01T00:00:00Z or status eq 'active'").is_none());
        assert!(time_prefilter("status eq 'active'").is_none());
        assert!(time_prefilter("displayName eq 'é and ü' and createdDateTime ge nonsense").is_none());
    }
}
