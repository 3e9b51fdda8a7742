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
//!
//! With `EmulatorOptions::unified` it behaves like Sentinel onboarded to the
//! Defender portal (`unified`): one set of incidents in ARM and Graph,
//! Defender-style merges, optional update coalescing; its clock (`clock`) can
//! be set and advanced so a poller lives through a day in seconds.
//!
//! [`MultiTenantEmulator`] (`multi`) serves many tenants, each with a store
//! of its own, from one port: an MSSP's view of its customers.
//!
//! `router` records each request and dispatches it to `token`, `query`,
//! `graph` or `arm` (whose writes are in `writes`), or to `admin`
//! (`/_emulator/...`); `query` reads `tables`; all of them answer with
//! `reply` and keep what they change in `state`. `config` holds the tenant's
//! identity and the options; `data` and `details` generate incidents.

mod admin;
mod alert_rules;
mod arm;
mod certificates;
mod clock;
mod config;
mod data;
mod details;
mod graph;
mod multi;
mod odata;
mod query;
mod reply;
mod request;
mod router;
mod state;
mod store;
mod tables;
mod threat_intelligence;
mod tls;
mod token;
mod unified;
mod watchlists;
mod writes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    EmulatorOptions, TenantIdentity, ARM_SCOPE, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, DEFAULT_WORKSPACE_ID, DEFAULT_WORKSPACE_NAME, GRAPH_SCOPE,
    IDENTITY_HEADER, LOG_ANALYTICS_SCOPE, SYSTEM_IDENTITY_CLIENT_ID, USER_IDENTITY_CLIENT_ID,
};
pub use data::generate_incidents;
/// The ids and names of the seeded Graph tenant (users, groups, incidents).
pub use graph::seed as graph_seed;
pub use multi::{MultiTenantEmulator, MultiTenantOptions};
pub use state::{Injection, Mutation, NewIncident, RecordedRequest};
pub use token::DEFAULT_GRAPH_ROLES;
pub use unified::merge::MergeError;

use state::{Kind, Shared};

/// A running emulator on a loopback port.
///
/// To measure the emulator on its own (what one page of the incidents list
/// costs, without the connector), start it with the incidents wanted, take an
/// ARM token without a request, and `GET` the URL of a page with any HTTP
/// client, the token as `Authorization: Bearer ...`; a page's `nextLink`
/// leads to the next (keyset `$skipToken`, resolved in O(log n)):
///
/// ```no_run
/// # async fn measure() -> std::io::Result<()> {
/// use sentinel_emulator::{Emulator, EmulatorOptions, ARM_SCOPE};
///
/// let emulator = Emulator::start(EmulatorOptions { incidents: 100_000, ..EmulatorOptions::default() }).await?;
/// let token = emulator.access_token(ARM_SCOPE).expect("the emulator serves ARM");
/// let page = emulator.incidents_url(&[("$top", "1000")]);
/// // GET `page` with `authorization: Bearer {token}`: 200, 1,000 incidents and a nextLink.
/// # let _ = (token, page);
/// # Ok(())
/// # }
/// ```
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Server,
    ca_pem: Option<String>,
}

impl Emulator {
    pub async fn start(options: EmulatorOptions) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(options.addr).await?;
        let addr = listener.local_addr()?;
        let tls = if options.tls { Some(tls::Tls::generate().map_err(std::io::Error::other)?) } else { None };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        let shared = Arc::new(Shared::new(options));
        let app = router::app(shared.clone());
        let server = Server::spawn(listener, tls, app);
        Ok(Emulator { shared, addr, server, ca_pem })
    }

    /// `https://127.0.0.1:port` with `tls`, else `http://...`.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// With `tls`: the throwaway CA (PEM) that signed the emulator's
    /// certificate, for the client's trust.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An access token for `scope` ([`ARM_SCOPE`], [`LOG_ANALYTICS_SCOPE`] or
    /// [`GRAPH_SCOPE`]) issued to the tenant's client without a request (so
    /// it is not recorded); None for a scope the emulator does not serve.
    pub fn access_token(&self, scope: &str) -> Option<String> {
        token::mint(&self.shared, scope, &self.shared.options.identity.client_id)
    }

    /// The tenant it serves (`EmulatorOptions::identity`).
    pub fn identity(&self) -> &TenantIdentity {
        &self.shared.options.identity
    }

    /// The URL of the workspace's incidents list (`Incidents_List`), with
    /// `api-version` and these query options, e.g. `[("$top", "1000")]` for a
    /// page of 1,000 in the default order (`lastModifiedTimeUtc` descending).
    pub fn incidents_url(&self, query: &[(&str, &str)]) -> String {
        incidents_url(&self.url(), &self.shared.options.identity, query)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }

    /// Every incident, visible or not, as ARM JSON, in the order they were added.
    pub fn incidents(&self) -> Vec<Value> {
        self.shared.state().incidents.values().collect()
    }

    /// How many incidents it holds, visible or not.
    pub fn incident_count(&self) -> usize {
        self.shared.state().incidents.len()
    }

    /// One incident by name (without regard to case), visible or not, as ARM JSON.
    pub fn incident(&self, name: &str) -> Option<Value> {
        let state = self.shared.state();
        state.incidents.find(name).and_then(|id| state.incidents.value(id))
    }

    /// Adds an incident (raw ARM JSON), replacing one of the same name.
    pub fn insert_incident(&self, incident: Value) {
        self.insert_hidden(incident, Duration::ZERO);
    }

    /// Adds an incident that reads do not return until `delay` has passed,
    /// like an incident indexed late.
    pub fn insert_hidden(&self, incident: Value, delay: Duration) {
        let visible_from = (!delay.is_zero()).then(|| Instant::now() + delay);
        self.shared.state().upsert(&incident, visible_from);
    }

    /// Changes an incident in place; false if there is none of that name.
    pub fn modify_incident(&self, name: &str, change: impl FnOnce(&mut Value)) -> bool {
        let mut state = self.shared.state();
        match state.incidents.find(name) {
            Some(id) => state.incidents.modify(id, change).is_some(),
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

    /// Applies `mutation` right after the next GET whose path ends with
    /// `path_suffix` is answered: another writer's change landing between a
    /// client's read and its write (the race an etag guards).
    pub fn after_next_read(&self, path_suffix: &str, mutation: Mutation) {
        self.shared.state().after_read.push((path_suffix.to_owned(), mutation));
    }

    pub fn list_requests_served(&self) -> usize {
        self.shared.state().lists_served
    }

    /// The comments, relations or tasks of an incident, as ARM JSON.
    pub fn comments(&self, incident: &str) -> Vec<Value> {
        self.shared.state().children_of(incident, Kind::Comments)
    }

    pub fn relations(&self, incident: &str) -> Vec<Value> {
        self.shared.state().children_of(incident, Kind::Relations)
    }

    pub fn tasks(&self, incident: &str) -> Vec<Value> {
        self.shared.state().children_of(incident, Kind::Tasks)
    }

    /// The next KQL query answers 200 with its tables and a PartialError.
    pub fn set_query_partial_error(&self, message: &str) {
        self.shared.state().partial_error = Some(message.to_owned());
    }

    /// ARM accepts only these api-versions from now on, like a cloud where
    /// a new version is not live yet; the others get ARM's
    /// `InvalidApiVersionParameter`, which lists these.
    pub fn set_api_versions(&self, versions: &[&str]) {
        self.shared.state().api_versions = Some(versions.iter().map(|v| (*v).to_owned()).collect());
    }

    /// A federated token (workload identity) for the app, from the issuer
    /// its federated credential trusts, valid for `lifetime_secs` seconds
    /// (negative: expired that long ago).
    pub fn federated_token(&self, lifetime_secs: i64) -> String {
        token::federated_token(&self.shared, lifetime_secs)
    }

    /// Adds a certificate (PEM) to the app registration's; the throwaway test
    /// certificate `tests/fixtures/certificate/app-cert.pem` is on file from the start.
    pub fn register_certificate(&self, pem: &str) {
        self.shared.state().certificates.push(pem.to_owned());
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

    /// A Graph security incident by id, as Graph JSON (unified mode: as
    /// Defender has it, which a coalescing window may not have shown ARM yet).
    pub fn graph_incident(&self, id: &str) -> Option<Value> {
        let state = self.shared.state();
        match state.unified {
            Some(_) => state.graph_view(id),
            None => state.graph.incident(id).cloned(),
        }
    }

    /// Every Graph security incident, in id order.
    pub fn graph_incidents(&self) -> Vec<Value> {
        let state = self.shared.state();
        match state.unified {
            Some(_) => state.graph_views(None),
            None => state.graph.incidents.clone(),
        }
    }

    /// Merges `sources` into `target` the way Defender does (unified mode
    /// only; each a Graph id or an ARM name): the sources close, redirected
    /// to the target, which gains their alerts and tags. Answers the target
    /// as ARM JSON, or the rule that forbids the merge.
    pub fn merge(&self, sources: &[impl AsRef<str>], target: &str) -> Result<Value, MergeError> {
        let sources: Vec<String> = sources.iter().map(|s| s.as_ref().to_owned()).collect();
        self.shared.state().merge(&sources, target)
    }

    /// The emulator's now: the times it writes come from this clock.
    pub fn now(&self) -> jiff::Timestamp {
        self.shared.state().clock.now()
    }

    /// Sets the emulator's now; time runs on from there at the real pace.
    pub fn set_now(&self, at: jiff::Timestamp) {
        self.shared.state().clock.set(at);
    }

    /// Moves the emulator's now forward (a coalescing window that closes
    /// meanwhile delivers its update to ARM).
    pub fn advance(&self, by: Duration) {
        let by = jiff::SignedDuration::try_from(by).unwrap_or(jiff::SignedDuration::MAX);
        self.shared.state().clock.advance(by);
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

    /// Like [`Emulator::inject`], but the request is processed first and its
    /// answer replaced: a change that was made though the client saw a
    /// failure (a 5xx after the write), the case a retry must not repeat.
    pub fn inject_after(&self, rule: Injection) {
        self.shared.state().after_injections.push(rule);
    }

    /// Serves until the server stops (the CLI's foreground `sentinel emulator`).
    pub async fn wait(self) {
        self.server.wait().await
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await
    }
}

/// A running axum server: stopped gracefully on `shutdown` or drop.
pub(crate) struct Server {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
}

impl Server {
    /// Serves `app` on `listener` (over TLS with `tls`).
    fn spawn(listener: tokio::net::TcpListener, tls: Option<tls::Tls>, app: axum::Router) -> Server {
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async {
            let _ = stopped.await;
        };
        let handle = match tls {
            None => tokio::spawn(async move {
                let _ = axum::serve(listener, app).with_graceful_shutdown(stopped).await;
            }),
            Some(tls) => tokio::spawn(async move {
                let listener = tls::TlsListener { tcp: listener, acceptor: tls.acceptor };
                let _ = axum::serve(listener, app).with_graceful_shutdown(stopped).await;
            }),
        };
        Server { stop: Some(stop), handle }
    }

    /// Until the server stops by itself.
    async fn wait(mut self) {
        let handle = std::mem::replace(&mut self.handle, tokio::spawn(async {}));
        let _ = handle.await;
    }

    /// Stops it and waits for it.
    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let handle = std::mem::replace(&mut self.handle, tokio::spawn(async {}));
        let _ = handle.await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The URL of `identity`'s incidents list on the emulator at `base`.
fn incidents_url(base: &str, identity: &TenantIdentity, query: &[(&str, &str)]) -> String {
    let path = format!("{base}{}/incidents", identity.workspace().prefix());
    let mut url = url::Url::parse(&path).expect("the emulator's URL is valid");
    url.query_pairs_mut().append_pair("api-version", arm::API_VERSION).extend_pairs(query);
    url.to_string()
}
