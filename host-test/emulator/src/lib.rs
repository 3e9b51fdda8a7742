//! A local, in-memory emulator of the Azure endpoints the Sentinel connector
//! calls, on one loopback port: the v2 token endpoint and the Sentinel
//! incidents API (2025-09-01), the Log Analytics query API, and Microsoft
//! Graph v1.0 under `/v1.0/` (security incidents, alerts, hunting, and Entra
//! ID containment). Answers are shaped like Microsoft's examples,
//! and it enforces what the service enforces (api-version, token audience,
//! `$top` bounds), so tests against it fail where Azure would.
//!
//! Tests drive it in-process: insert or change incidents, delay an incident's
//! visibility, inject canned answers, and read back every request received.

mod arm;
mod data;
mod details;
mod graph;
mod odata;
mod token;
mod writes;
mod query;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use data::generate_incidents;
/// The ids and names of the seeded Graph tenant (users, groups, incidents).
pub use graph::seed as graph_seed;
pub use token::DEFAULT_GRAPH_ROLES;

pub const DEFAULT_TENANT_ID: &str = "8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d";
pub const DEFAULT_CLIENT_ID: &str = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b";
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-client-secret";
pub const DEFAULT_SUBSCRIPTION_ID: &str = "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0";
pub const DEFAULT_RESOURCE_GROUP: &str = "myRg";
pub const DEFAULT_WORKSPACE_NAME: &str = "myWorkspace";
pub const DEFAULT_WORKSPACE_ID: &str = "63c5ed4c-3d9d-4a46-9f5e-0b7c2b3a1f10";
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
pub const LOG_ANALYTICS_SCOPE: &str = "https://api.loganalytics.io/.default";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    pub addr: SocketAddr,
    pub incidents: usize,
    pub seed: u64,
    pub token_lifetime_secs: u64,
    /// Generated times lie in the 30 days before it; `None` is now, to the hour.
    pub anchor: Option<jiff::Timestamp>,
    /// Page size when the request gives no `$top`.
    pub default_page_size: usize,
    /// Added before every ARM answer, to make concurrency (or its absence) visible.
    pub latency: Duration,
    /// The application roles in Graph tokens; `None` is [`DEFAULT_GRAPH_ROLES`].
    pub graph_roles: Option<Vec<String>>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            incidents: 50,
            seed: 1,
            token_lifetime_secs: 3599,
            anchor: None,
            default_page_size: 50,
            latency: Duration::ZERO,
            graph_roles: None,
        }
    }
}

/// One request as received. The bearer token and the client secret are
/// replaced, so a recorded request can be printed.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A canned answer for the next `times` requests whose path contains
/// `path_contains` (and whose method matches, if given).
#[derive(Clone, Debug)]
pub struct Injection {
    pub method: Option<String>,
    pub path_contains: String,
    pub times: usize,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// An incident and when it becomes visible to reads (late indexing).
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub json: Value,
    pub visible_from: Option<Instant>,
}

/// A new incident for tests and the admin endpoint; every field has a
/// default (a new GUID, the next number, now, "Medium", "New").
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NewIncident {
    pub name: Option<String>,
    pub title: Option<String>,
    pub severity: Option<String>,
    pub status: Option<String>,
    pub incident_number: Option<i64>,
    pub created_time_utc: Option<String>,
    /// Defaults to the creation time.
    pub last_modified_time_utc: Option<String>,
    /// Reads do not return it until this many seconds have passed.
    pub visible_after_seconds: Option<f64>,
}

/// A change made to the incidents while the emulator runs.
#[derive(Clone, Debug)]
pub enum Mutation {
    Create(NewIncident),
    /// Merges `properties` into the incident, sets `lastModifiedTimeUtc` (to
    /// `modified_at` or now) and gives it a new etag.
    Update { name: String, properties: serde_json::Map<String, Value>, modified_at: Option<String> },
}

#[derive(Default)]
pub(crate) struct State {
    pub incidents: Vec<Stored>,
    pub tokens: HashMap<String, token::Issued>,
    pub requests: Vec<RecordedRequest>,
    pub injections: Vec<Injection>,
    /// Mutations applied right after the n-th incident list request is answered.
    pub scheduled: Vec<(usize, Vec<Mutation>)>,
    pub lists_served: usize,
    /// Comments, relations and tasks, by (incident, kind, name), names lower-cased.
    pub children: HashMap<(String, writes::Kind, String), Value>,
    /// The next query answers 200 with its tables and this partial error.
    pub partial_error: Option<String>,
    /// Microsoft Graph's tenant: security data and the directory.
    pub graph: graph::GraphState,
    /// The roles of Graph tokens issued from now on; `None` is the default list.
    pub graph_roles: Option<Vec<String>>,
}

impl State {
    pub fn apply(&mut self, mutation: Mutation) -> Option<Value> {
        match mutation {
            Mutation::Create(spec) => Some(self.create(spec)),
            Mutation::Update { name, properties, modified_at } => self.update(&name, properties, modified_at),
        }
    }

    fn create(&mut self, spec: NewIncident) -> Value {
        let now = jiff::Timestamp::now().to_string();
        let number = spec.incident_number.unwrap_or_else(|| {
            self.incidents.iter().filter_map(|s| s.json["properties"]["incidentNumber"].as_i64()).max().unwrap_or(999) + 1
        });
        let created = spec.created_time_utc.unwrap_or(now);
        let incident = data::incident_from(
            &default_workspace(),
            &spec.name.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            number,
            spec.title.as_deref().unwrap_or("Emulated incident"),
            spec.severity.as_deref().unwrap_or("Medium"),
            spec.status.as_deref().unwrap_or("New"),
            &created,
            spec.last_modified_time_utc.as_deref().unwrap_or(&created),
        );
        let visible_from = spec.visible_after_seconds.filter(|s| *s > 0.0).map(|s| Instant::now() + Duration::from_secs_f64(s));
        self.incidents.retain(|s| s.json["name"] != incident["name"]);
        self.incidents.push(Stored { json: incident.clone(), visible_from });
        incident
    }

    fn update(&mut self, name: &str, properties: serde_json::Map<String, Value>, modified_at: Option<String>) -> Option<Value> {
        let stored = self.incidents.iter_mut().find(|s| s.json["name"] == name)?;
        let json = &mut stored.json;
        for (key, value) in properties {
            json["properties"][key] = value;
        }
        json["properties"]["lastModifiedTimeUtc"] = Value::String(modified_at.unwrap_or_else(|| jiff::Timestamp::now().to_string()));
        json["etag"] = Value::String(format!("\"{}\"", uuid::Uuid::new_v4()));
        Some(json.clone())
    }

    /// Called after each incident list answer: runs what was scheduled for it.
    pub fn list_served(&mut self) {
        self.lists_served += 1;
        let served = self.lists_served;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled).into_iter().partition(|(at, _)| *at <= served);
        self.scheduled = later;
        for mutation in due.into_iter().flat_map(|(_, mutations)| mutations) {
            self.apply(mutation);
        }
    }
}

pub(crate) struct Shared {
    pub options: EmulatorOptions,
    state: Mutex<State>,
}

impl Shared {
    /// The state; a panicked test thread does not poison the others.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An answer: status, headers, JSON or empty body.
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply { status, headers: vec![("content-type".into(), "application/json; charset=utf-8".into())], body: body.to_string() }
    }

    /// A status with no body (DELETE's 200/204, the query API's 204).
    pub fn empty(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: String::new() }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut builder = Response::builder().status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder.body(Body::from(self.body)).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl Emulator {
    pub async fn start(options: EmulatorOptions) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(options.addr).await?;
        let addr = listener.local_addr()?;
        let anchor = options.anchor.unwrap_or_else(now_to_the_hour);
        let incidents = generate_incidents(options.incidents, options.seed, anchor, &default_workspace())
            .into_iter()
            .map(|json| Stored { json, visible_from: None })
            .collect();
        let graph = graph::GraphState::seeded(options.seed, anchor);
        let graph_roles = options.graph_roles.clone();
        let state = State { incidents, graph, graph_roles, ..State::default() };
        let shared = Arc::new(Shared { options, state: Mutex::new(state) });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(async { let _ = stopped.await; }).await;
        });
        Ok(Emulator { shared, addr, stop: Some(stop), server })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }

    /// Every incident, visible or not, as ARM JSON.
    pub fn incidents(&self) -> Vec<Value> {
        self.shared.state().incidents.iter().map(|s| s.json.clone()).collect()
    }

    /// Adds an incident (raw ARM JSON), replacing one of the same name.
    pub fn insert_incident(&self, incident: Value) {
        self.insert_hidden(incident, Duration::ZERO);
    }

    /// Adds an incident that reads do not return until `delay` has passed,
    /// like an incident indexed late.
    pub fn insert_hidden(&self, incident: Value, delay: Duration) {
        let visible_from = (!delay.is_zero()).then(|| Instant::now() + delay);
        let mut state = self.shared.state();
        let name = incident["name"].clone();
        state.incidents.retain(|s| s.json["name"] != name);
        state.incidents.push(Stored { json: incident, visible_from });
    }

    /// Changes an incident in place; false if there is none of that name.
    pub fn modify_incident(&self, name: &str, change: impl FnOnce(&mut Value)) -> bool {
        let mut state = self.shared.state();
        match state.incidents.iter_mut().find(|s| s.json["name"] == name) {
            Some(stored) => {
                change(&mut stored.json);
                true
            }
            None => false,
        }
    }

    /// Creates or updates an incident now; returns it as ARM JSON.
    pub fn apply(&self, mutation: Mutation) -> Option<Value> {
        self.shared.state().apply(mutation)
    }

    /// Applies `mutations` right after the `nth` incident list request (counted
    /// from the emulator's start) is answered: changes that land mid-walk.
    pub fn after_list_request(&self, nth: usize, mutations: Vec<Mutation>) {
        self.shared.state().scheduled.push((nth, mutations));
    }

    pub fn list_requests_served(&self) -> usize {
        self.shared.state().lists_served
    }

    /// The comments, relations or tasks of an incident, as ARM JSON.
    pub fn comments(&self, incident: &str) -> Vec<Value> {
        self.children_of(incident, "comments")
    }

    pub fn relations(&self, incident: &str) -> Vec<Value> {
        self.children_of(incident, "relations")
    }

    pub fn tasks(&self, incident: &str) -> Vec<Value> {
        self.children_of(incident, "tasks")
    }

    fn children_of(&self, incident: &str, kind: &str) -> Vec<Value> {
        let kind = writes::Kind::parse(kind);
        self.shared
            .state()
            .children
            .iter()
            .filter(|((i, k, _), _)| i.eq_ignore_ascii_case(incident) && Some(*k) == kind)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The next KQL query answers 200 with its tables and a PartialError.
    pub fn set_query_partial_error(&self, message: &str) {
        self.shared.state().partial_error = Some(message.to_owned());
    }

    /// Graph tokens issued from now on carry these roles; tokens already
    /// issued keep theirs.
    pub fn set_graph_roles(&self, roles: Vec<String>) {
        self.shared.state().graph_roles = Some(roles);
    }

    /// A Graph user (all stored properties) by object id or UPN.
    pub fn graph_user(&self, id_or_upn: &str) -> Option<Value> {
        self.shared.state().graph.user(id_or_upn).cloned()
    }

    /// The direct members (object ids) of a Graph group; empty if none.
    pub fn group_members(&self, group_id: &str) -> Vec<String> {
        let state = self.shared.state();
        state.graph.group_index(group_id).map(|i| state.graph.groups[i].members.clone()).unwrap_or_default()
    }

    /// The Identity Protection risky-user entry of a user, if any.
    pub fn risky_user(&self, user_id: &str) -> Option<Value> {
        let state = self.shared.state();
        state.graph.risky_index(user_id).map(|i| state.graph.risky[i].clone())
    }

    /// A Graph security incident by id, as Graph JSON.
    pub fn graph_incident(&self, id: &str) -> Option<Value> {
        self.shared.state().graph.incident(id).cloned()
    }

    /// Every Graph security incident, in id order.
    pub fn graph_incidents(&self) -> Vec<Value> {
        self.shared.state().graph.incidents.clone()
    }

    /// A Graph alerts_v2 alert by id.
    pub fn graph_alert(&self, id: &str) -> Option<Value> {
        self.shared.state().graph.alert(id).cloned()
    }

    /// Every Graph alert, in incident order.
    pub fn graph_alerts(&self) -> Vec<Value> {
        self.shared.state().graph.alerts.clone()
    }

    pub fn inject(&self, rule: Injection) {
        self.shared.state().injections.push(rule);
    }

    /// Serves until the server stops (the CLI's foreground `sentinel emulator`).
    pub async fn wait(mut self) {
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        let _ = server.await;
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        let _ = server.await;
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn now_to_the_hour() -> jiff::Timestamp {
    let now = jiff::Timestamp::now().as_second();
    jiff::Timestamp::from_second(now - now.rem_euclid(3600)).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

pub(crate) fn default_workspace() -> data::Workspace<'static> {
    data::Workspace { subscription: DEFAULT_SUBSCRIPTION_ID, resource_group: DEFAULT_RESOURCE_GROUP, workspace: DEFAULT_WORKSPACE_NAME }
}

async fn handle(AxumState(shared): AxumState<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Reply {
    record(&shared, &method, &uri, &headers, &body);
    if let Some(injected) = take_injection(&shared, &method, uri.path()) {
        return injected;
    }
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_owned();
    let authorization = headers.get("authorization").and_then(|h| h.to_str().ok());
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] if method == Method::POST => token::issue(&shared, tenant, authorization, &body),
        ["_emulator", "incidents", rest @ ..] if method == Method::POST => admin(&shared, rest, &body),
        ["v1", "workspaces", workspace, "query"] if method == Method::POST => query::handle(&shared, workspace, authorization, &headers, &body),
        ["v1.0", ..] => graph::handle(&shared, &graph::Call { method: &method, uri: &uri, host: &host, headers: &headers, body: &body }),
        [first, ..] if first.eq_ignore_ascii_case("subscriptions") => {
            if !shared.options.latency.is_zero() {
                tokio::time::sleep(shared.options.latency).await;
            }
            arm::handle(&shared, &arm::Call { method: &method, uri: &uri, host: &host, authorization, body: &body })
        }
        _ => arm::cloud_error(404, "NotFound", &format!("No HTTP resource was found that matches the request URI '{uri}'.")),
    }
}

/// The admin endpoint the CLI and scripts use to change incidents while the
/// emulator runs (no token: it exists only on this loopback emulator).
/// `POST /_emulator/incidents` with a [`NewIncident`] (or an array of them);
/// `POST /_emulator/incidents/{name}` with properties to merge, and an
/// optional `lastModifiedTimeUtc`.
fn admin(shared: &Shared, rest: &[&str], body: &[u8]) -> Reply {
    let bad = |reason: String| arm::cloud_error(400, "BadRequest", &reason);
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
            let created: Vec<Value> = specs.into_iter().filter_map(|spec| state.apply(Mutation::Create(spec))).collect();
            Reply::json(201, Value::Array(created))
        }
        [name] => {
            let Ok(Value::Object(mut properties)) = serde_json::from_slice::<Value>(body) else {
                return bad("the body must be a JSON object of properties".into());
            };
            let modified_at = properties.remove("lastModifiedTimeUtc").and_then(|v| v.as_str().map(str::to_owned));
            match shared.state().apply(Mutation::Update { name: name.to_string(), properties, modified_at }) {
                Some(incident) => Reply::json(200, incident),
                None => arm::cloud_error(404, "NotFound", &format!("Incident '{name}' was not found.")),
            }
        }
        _ => arm::cloud_error(404, "NotFound", "No such admin resource."),
    }
}

fn record(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) {
    let headers = headers
        .iter()
        .map(|(name, value)| {
            let value = if name == "authorization" { "[redacted]".to_owned() } else { value.to_str().unwrap_or("?").to_owned() };
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

fn take_injection(shared: &Shared, method: &Method, path: &str) -> Option<Reply> {
    let mut state = shared.state();
    let index = state.injections.iter().position(|rule| {
        rule.times > 0 && path.contains(&rule.path_contains) && rule.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
    })?;
    let rule = &mut state.injections[index];
    rule.times -= 1;
    let mut reply = Reply { status: rule.status, headers: rule.headers.clone(), body: rule.body.clone() };
    if !reply.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
        reply = reply.header("content-type", "application/json; charset=utf-8");
    }
    Some(reply)
}
