//! Many tenants on one port: what a managed security service provider sees
//! when it polls its customers' workspaces. Each tenant has a store of its
//! own (its identity, incidents, tokens, request log), built as a
//! single-tenant emulator's is; the router picks the store a request
//! belongs to and answers it with the single-tenant code (`router::serve`):
//!
//! - token endpoint `/{tenant}/oauth2/v2.0/token`: by the tenant segment
//!   (unknown: Entra's 400 AADSTS90002);
//! - ARM `/subscriptions/{id}/...`: by the subscription (unknown: ARM's 404
//!   `SubscriptionNotFound`);
//! - Log Analytics `/v1/workspaces/{id}/query`: by the workspace id
//!   (unknown: the query API's 404);
//! - Graph `/v1.0/...`: by the bearer token's `tid` (none, or no tenant's:
//!   Graph's 401);
//! - managed identity endpoints: 404 (a managed identity belongs to one
//!   machine in one tenant);
//! - admin: `GET /_emulator/tenants` lists the identities (with `index`),
//!   `/_emulator/tenants/{tenant id or index}/...` is that tenant's admin
//!   endpoint, and `GET /_emulator/tenants/{...}/stats` counts its incidents
//!   and the requests it received. Admin requests are not recorded.
//!
//! A token of one tenant sent to another's subscription or workspace is
//! refused as Azure refuses it (401 `InvalidAuthenticationTokenTenant`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Uri};
use axum::Router;
use serde_json::{json, Value};

use crate::config::{EmulatorOptions, TenantIdentity};
use crate::reply::{cloud_error, Reply};
use crate::request::Call;
use crate::router::{self, finish, no_resource};
use crate::state::{Mutation, RecordedRequest, Shared};
use crate::{admin, arm, graph, query, token};

/// How a multi-tenant emulator starts.
#[derive(Clone, Debug)]
pub struct MultiTenantOptions {
    pub addr: SocketAddr,
    /// How many tenants: tenant `i` is [`TenantIdentity::numbered`]`(i)`.
    pub tenants: u32,
    /// How many incidents each tenant's workspace starts with.
    pub incidents_per_tenant: usize,
    /// Seed of the generated data; each tenant's is derived from it and its
    /// index (tenant 0's is `seed` itself), so tenants hold different data
    /// and the same options give the same data.
    pub seed: u64,
    /// Added before every ARM, Log Analytics and Graph answer, as
    /// [`EmulatorOptions::latency`]; each tenant draws its jitter on its own.
    pub latency: Duration,
    /// What every tenant shares (page size, token lifetime, jitter, unified
    /// mode, TLS, ...); its `addr`, `incidents`, `seed`, `latency` and
    /// `identity` are replaced by the fields above and the tenant's own. An
    /// unset `anchor` is the start's hour, the same for every tenant.
    pub base: EmulatorOptions,
}

impl Default for MultiTenantOptions {
    fn default() -> Self {
        let base = EmulatorOptions::default();
        MultiTenantOptions {
            addr: base.addr,
            tenants: 10,
            incidents_per_tenant: 10,
            seed: base.seed,
            latency: base.latency,
            base,
        }
    }
}

/// The stores, and the indexes the router finds them by.
pub(crate) struct Tenants {
    stores: Vec<Shared>,
    identities: Vec<TenantIdentity>,
    /// Tenant id (as issued) → index.
    by_tenant: HashMap<String, usize>,
    /// Subscription id, lower-cased (ARM matches it without regard to case) → index.
    by_subscription: HashMap<String, usize>,
    /// Workspace id, lower-cased → index.
    by_workspace: HashMap<String, usize>,
}

impl Tenants {
    fn new(options: &MultiTenantOptions) -> Tenants {
        let count = options.tenants as usize;
        let anchor = options.base.anchor.unwrap_or_else(crate::data::now_to_the_hour);
        let identities: Vec<TenantIdentity> = (0..options.tenants).map(TenantIdentity::numbered).collect();
        let store = |n: usize| {
            Shared::new(EmulatorOptions {
                addr: options.addr,
                incidents: options.incidents_per_tenant,
                seed: tenant_seed(options.seed, n as u32),
                latency: options.latency,
                anchor: Some(anchor),
                identity: identities[n].clone(),
                ..options.base.clone()
            })
        };
        // Generating incidents is most of the work: one slice of the tenants per core.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
        let chunk = count.div_ceil(threads).max(1);
        let stores: Vec<Shared> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..count)
                .step_by(chunk)
                .map(|start| scope.spawn(move || (start..(start + chunk).min(count)).map(store).collect::<Vec<_>>()))
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        let index = |key: fn(&TenantIdentity) -> String| {
            identities.iter().enumerate().map(|(n, identity)| (key(identity), n)).collect::<HashMap<_, _>>()
        };
        Tenants {
            by_tenant: index(|id| id.tenant_id.clone()),
            by_subscription: index(|id| id.subscription_id.to_ascii_lowercase()),
            by_workspace: index(|id| id.workspace_id.to_ascii_lowercase()),
            stores,
            identities,
        }
    }

    /// A tenant by id (without regard to case) or by index.
    fn find(&self, key: &str) -> Option<usize> {
        if let Some(&index) = self.by_tenant.get(key) {
            return Some(index);
        }
        if let Some(&index) = self.by_tenant.get(&key.to_ascii_lowercase()) {
            return Some(index);
        }
        key.parse::<usize>().ok().filter(|index| *index < self.stores.len())
    }

    fn listing(&self) -> Value {
        let list = self.identities.iter().enumerate().map(|(index, identity)| {
            let mut entry = serde_json::to_value(identity).unwrap_or_default();
            entry["index"] = json!(index);
            entry
        });
        Value::Array(list.collect())
    }
}

/// Tenant `n`'s seed: `seed` for tenant 0, then spread apart.
fn tenant_seed(seed: u64, n: u32) -> u64 {
    seed ^ u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The store a request belongs to, or the answer Azure gives when none does.
enum Route<'a> {
    Tenant(usize),
    Admin(&'a [&'a str]),
    Refused(Reply),
}

async fn handle(
    AxumState(tenants): AxumState<Arc<Tenants>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let path = uri.path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let route = route(&tenants, &method, &uri, &headers, &segments);
    match route {
        Route::Tenant(index) => router::serve(&tenants.stores[index], &method, &uri, &headers, &body).await,
        Route::Admin(rest) => finish(&uri, &headers, admin(&tenants, &method, rest, &body)),
        Route::Refused(reply) => finish(&uri, &headers, reply),
    }
}

fn route<'a>(tenants: &Tenants, method: &Method, uri: &Uri, headers: &HeaderMap, segments: &'a [&'a str]) -> Route<'a> {
    match segments {
        [tenant, "oauth2", "v2.0", "token"] if method == Method::POST => match tenants.by_tenant.get(*tenant) {
            Some(&index) => Route::Tenant(index),
            None => Route::Refused(token::tenant_not_found(tenant)),
        },
        ["_emulator", rest @ ..] => Route::Admin(rest),
        // A managed identity is one machine's, in one tenant.
        ["msi", "token"] | ["metadata", "identity", "oauth2", "token"] => Route::Refused(no_resource(uri)),
        ["v1", "workspaces", workspace, "query"] if method == Method::POST => {
            match tenants.by_workspace.get(&workspace.to_ascii_lowercase()) {
                Some(&index) => Route::Tenant(index),
                None => Route::Refused(query::workspace_not_found(workspace)),
            }
        }
        ["v1.0", ..] => {
            let host = router::host(headers);
            let call = Call { method, uri, host: &host, headers, body: &[] };
            match graph::bearer(&call) {
                None => Route::Refused(graph::unauthenticated(&call, "Access token is empty.")),
                Some(bearer) => match token::tenant_of(bearer).and_then(|tid| tenants.by_tenant.get(&tid).copied()) {
                    Some(index) => Route::Tenant(index),
                    None => Route::Refused(graph::unauthenticated(&call, "Access token validation failure.")),
                },
            }
        }
        [first, rest @ ..] if first.eq_ignore_ascii_case("subscriptions") => {
            let subscription = rest.first().copied().unwrap_or_default();
            match tenants.by_subscription.get(&subscription.to_ascii_lowercase()) {
                Some(&index) => Route::Tenant(index),
                None => Route::Refused(arm::subscription_not_found(subscription)),
            }
        }
        _ => Route::Refused(no_resource(uri)),
    }
}

/// `/_emulator/...` of a multi-tenant emulator.
fn admin(tenants: &Tenants, method: &Method, rest: &[&str], body: &[u8]) -> Reply {
    match rest {
        ["tenants"] | ["tenants", ""] if method == Method::GET => Reply::json(200, tenants.listing()),
        ["tenants", key, rest @ ..] => {
            let Some(index) = tenants.find(key) else {
                return cloud_error(404, "NotFound", &format!("No tenant '{key}' in this emulator."));
            };
            let shared = &tenants.stores[index];
            match rest {
                ["stats"] if method == Method::GET => Reply::json(200, stats(shared, index)),
                _ => admin::handle(shared, method, rest, body),
            }
        }
        _ => cloud_error(404, "NotFound", "No such admin resource."),
    }
}

fn stats(shared: &Shared, index: usize) -> Value {
    let state = shared.state();
    json!({
        "index": index,
        "tenantId": shared.options.identity.tenant_id,
        "incidents": state.incidents.len(),
        "requests": state.requests.len(),
    })
}

/// A running emulator of many tenants on one loopback port; see the
/// module's documentation for how requests find their tenant. A tenant is
/// named by its index (`0..tenants`) in the methods below, which panic on
/// an index out of range.
pub struct MultiTenantEmulator {
    tenants: Arc<Tenants>,
    addr: SocketAddr,
    server: crate::Server,
    ca_pem: Option<String>,
}

impl MultiTenantEmulator {
    pub async fn start(options: MultiTenantOptions) -> std::io::Result<MultiTenantEmulator> {
        let listener = tokio::net::TcpListener::bind(options.addr).await?;
        let addr = listener.local_addr()?;
        let tls =
            if options.base.tls { Some(crate::tls::Tls::generate().map_err(std::io::Error::other)?) } else { None };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        // Building the stores is CPU work: off the runtime's worker threads.
        let tenants =
            tokio::task::spawn_blocking(move || Tenants::new(&options)).await.map_err(std::io::Error::other)?;
        let tenants = Arc::new(tenants);
        let app = Router::new().fallback(handle).with_state(tenants.clone());
        let server = crate::Server::spawn(listener, tls, app);
        Ok(MultiTenantEmulator { tenants, addr, server, ca_pem })
    }

    /// `https://127.0.0.1:port` with `base.tls`, else `http://...`.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// With `base.tls`: the throwaway CA (PEM) that signed the certificate.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Every tenant's identity, by index.
    pub fn tenants(&self) -> &[TenantIdentity] {
        &self.tenants.identities
    }

    /// The index of a tenant, by its tenant id.
    pub fn index_of(&self, tenant_id: &str) -> Option<usize> {
        self.tenants.by_tenant.get(tenant_id).copied()
    }

    fn store(&self, index: usize) -> &Shared {
        &self.tenants.stores[index]
    }

    /// An access token of tenant `index`'s client for `scope`, issued without
    /// a request (so not recorded); None for a scope the emulator does not serve.
    pub fn access_token(&self, index: usize, scope: &str) -> Option<String> {
        let shared = self.store(index);
        token::mint(shared, scope, &shared.options.identity.client_id)
    }

    /// The URL of tenant `index`'s incidents list, with `api-version` and `query`.
    pub fn incidents_url(&self, index: usize, query: &[(&str, &str)]) -> String {
        crate::incidents_url(&self.url(), &self.tenants.identities[index], query)
    }

    /// Adds an incident (raw ARM JSON) to tenant `index`, replacing one of the same name.
    pub fn insert_incident(&self, index: usize, incident: Value) {
        self.store(index).state().upsert(&incident, None);
    }

    /// Creates or updates an incident of tenant `index` now; returns it as ARM JSON.
    pub fn apply(&self, index: usize, mutation: Mutation) -> Option<Value> {
        self.store(index).state().apply(mutation)
    }

    /// Every incident of tenant `index`, visible or not, as ARM JSON, in the order they were added.
    pub fn incidents(&self, index: usize) -> Vec<Value> {
        self.store(index).state().incidents.values().collect()
    }

    pub fn incident_count(&self, index: usize) -> usize {
        self.store(index).state().incidents.len()
    }

    /// The requests tenant `index` received (admin requests are not recorded).
    pub fn requests(&self, index: usize) -> Vec<RecordedRequest> {
        self.store(index).state().requests.clone()
    }

    /// How many requests all tenants received.
    pub fn total_requests(&self) -> usize {
        self.tenants.stores.iter().map(|shared| shared.state().requests.len()).sum()
    }

    /// Forgets every tenant's recorded requests (a long run's log grows with every request).
    pub fn clear_requests(&self) {
        for shared in &self.tenants.stores {
            shared.state().requests.clear();
        }
    }

    /// Serves until the server stops (the CLI's foreground `sentinel emulator --tenants N`).
    pub async fn wait(self) {
        self.server.wait().await
    }

    /// Stops serving and waits for the server to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await
    }
}
