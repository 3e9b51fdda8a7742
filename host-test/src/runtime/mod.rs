//! Runs the connector component sandboxed, one store per tenant connection.
//!
//! One [`ConnectorHost`] per process: an engine with the pooling allocator and
//! epoch interruption, the component compiled once (cached on disk), and an
//! `InstancePre` so opening a tenant session (instantiate and `open`) takes
//! about 0.1 ms (`sentinel bench`, bench/results.md).
//! Each [`Session`] owns a store with its own memory cap, outbound allow-list,
//! capped timeouts and call deadline. The guest gets no filesystem, sockets,
//! environment or stdio except stderr.
//! A guest computing yields to the runtime at every epoch tick (10 ms), so a
//! CPU-bound tenant never holds a tokio worker; the deadline is a timer.

pub mod cache;
mod convert;
pub mod egress;
mod graph;
pub mod sandbox;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::Result;
use sentinel_connector::core::error::sentence;
use sentinel_connector::core::{ConnectionConfig, Settings};
use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use egress::{EgressPolicy, OutboundConnector, Resolve};
use sandbox::{AuditSink, Origin, SandboxHooks};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "connector",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use exports::soar::sentinel::types;
pub use exports::soar::sentinel::{containment, graph_security};
pub use graph::graph_list_options;
use exports::soar::sentinel::types::Error as ConnectorError;

/// The component this binary was built with.
pub static EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("SENTINEL_COMPONENT_PATH"));

const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The one environment variable the guest gets: its answer-body cap in bytes.
pub const RESPONSE_CAP_VARIABLE: &str = "SENTINEL_MAX_RESPONSE_BYTES";

/// What bounds each tenant's sandbox.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Linear memory per store.
    pub memory_bytes: usize,
    /// Wall-clock budget of one call, network waits included.
    pub call_timeout: Duration,
    /// The longest connect, first-byte or between-bytes timeout a guest may set.
    pub max_request_timeout: Duration,
    /// How many tenant sessions may be live at once (the instance pool size).
    pub max_sessions: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            call_timeout: Duration::from_secs(300),
            max_request_timeout: Duration::from_secs(120),
            max_sessions: 64,
        }
    }
}

pub struct HostOptions {
    /// The component's bytes; [`EMBEDDED_COMPONENT`] unless another is given.
    pub component: Vec<u8>,
    /// Where compiled artifacts are cached; `None` compiles in memory.
    pub cache_dir: Option<PathBuf>,
    pub limits: Limits,
    /// Where tenants' connectors may connect: the operator's, never a
    /// tenant's. The default is strict: the public Microsoft clouds only.
    pub egress: EgressPolicy,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            component: EMBEDDED_COMPONENT.to_vec(),
            cache_dir: cache::default_cache_dir(),
            limits: Limits::default(),
            egress: EgressPolicy::default(),
        }
    }
}

/// The state of one tenant's store.
pub struct TenantState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: SandboxHooks,
    limits: StoreLimits,
}

impl WasiView for TenantState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for TenantState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// Why a call did not return the connector's own answer.
#[derive(Debug)]
pub enum CallError {
    /// The connector's typed error.
    Connector(ConnectorError),
    /// The call ran past the host's deadline and was stopped.
    Timeout(Duration),
    /// The guest trapped or hit a limit; the session must be reopened.
    Trap(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connector(error) => write!(f, "{}", describe(error)),
            CallError::Timeout(after) => write!(f, "the call was stopped after {} s (the host's call deadline)", after.as_secs_f64()),
            CallError::Trap(reason) => write!(f, "the connector stopped abnormally: {reason}"),
        }
    }
}

impl std::error::Error for CallError {}

/// One line for a connector error: what happened and the hint.
pub fn describe(error: &ConnectorError) -> String {
    use ConnectorError as E;
    match error {
        E::InvalidInput(i) => format!("invalid input: {}: {}", i.field, i.reason),
        E::Auth(f) | E::Forbidden(f) | E::NotFound(f) | E::Conflict(f) | E::BadRequest(f) | E::Service(f) => {
            let status = if f.status == 0 { String::new() } else { format!("{} ", f.status) };
            format!("{}: {status}{}. Hint: {}", kind(error), sentence(&f.code, &f.message), f.hint)
        }
        E::Throttled(t) => {
            let after = t.retry_after_seconds.map(|s| format!(" (retry after {s} s)")).unwrap_or_default();
            format!("throttled: {} {}{after}. Hint: {}", t.failure.status, sentence(&t.failure.code, &t.failure.message), t.failure.hint)
        }
        E::Transport(l) | E::InvalidResponse(l) => format!("{}: {}. Hint: {}", kind(error), l.message.trim_end_matches('.'), l.hint),
        E::ProtectedAccount(p) => {
            format!("protected-account: {} is protected ({}); nothing was sent to change it. Hint: {}", p.user, p.reason, sentinel_connector::core::error::PROTECTED_HINT)
        }
    }
}

pub fn kind(error: &ConnectorError) -> &'static str {
    use ConnectorError as E;
    match error {
        E::InvalidInput(_) => "invalid-input",
        E::Auth(_) => "auth",
        E::Forbidden(_) => "forbidden",
        E::NotFound(_) => "not-found",
        E::Conflict(_) => "conflict",
        E::Throttled(_) => "throttled",
        E::BadRequest(_) => "bad-request",
        E::Service(_) => "service",
        E::Transport(_) => "transport",
        E::InvalidResponse(_) => "invalid-response",
        E::ProtectedAccount(_) => "protected-account",
    }
}

/// Advances the engine's epoch so a computing guest yields to the runtime at
/// every tick. Stops when the host is dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub struct ConnectorHost {
    engine: Engine,
    pre: ConnectorPre<TenantState>,
    linker: Linker<TenantState>,
    limits: Limits,
    connector: Arc<OutboundConnector>,
    _ticker: EpochTicker,
}

impl ConnectorHost {
    pub fn new(options: HostOptions) -> Result<Self> {
        let engine = engine(&options.limits)?;
        let component = cache::load(&engine, &options.component, options.cache_dir.as_deref())?;
        let mut linker = Linker::<TenantState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let pre = ConnectorPre::new(linker.instantiate_pre(&component)?)?;
        let connector = Arc::new(OutboundConnector::new(Arc::new(options.egress)));
        Ok(ConnectorHost { _ticker: EpochTicker::start(engine.clone()), engine, pre, linker, limits: options.limits, connector })
    }

    /// Replaces how host names are resolved (a host's own DNS; tests).
    pub fn set_resolver(&mut self, resolver: Arc<dyn Resolve>) {
        let connector = OutboundConnector { policy: self.connector.policy.clone(), resolver, tls: self.connector.tls.clone() };
        self.connector = Arc::new(connector);
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn egress(&self) -> &EgressPolicy {
        &self.connector.policy
    }

    /// Validates the configuration (the same rules the component applies),
    /// instantiates a sandbox allowed to reach only this connection's
    /// endpoints, and opens the connection in it.
    pub async fn open(&self, tenant: &str, config: ConnectionConfig, audit: Option<AuditSink>) -> Result<Session, CallError> {
        let settings = Settings::from_config(config.clone()).map_err(|e| CallError::Connector(convert::core_error(e)))?;
        self.open_with_allow_list(tenant, config, allowed_origins(&settings), audit).await
    }

    /// The operator's policy decides whether this tenant's cloud may be used
    /// at all; its endpoints then make the store's allow-list.
    fn check_policy(&self, config: &ConnectionConfig) -> Result<(), CallError> {
        let settings = Settings::from_config(config.clone()).map_err(|e| CallError::Connector(convert::core_error(e)))?;
        self.connector.policy.check_cloud(&config.cloud, &allowed_origins(&settings)).map_err(|refusal| {
            CallError::Connector(ConnectorError::InvalidInput(types::InvalidInput { field: "cloud".into(), reason: refusal.0 }))
        })
    }

    /// Like [`ConnectorHost::open`] with an explicit allow-list, for hosts that
    /// grant less than the connection's endpoints (and for testing the sandbox).
    pub async fn open_with_allow_list(
        &self,
        tenant: &str,
        config: ConnectionConfig,
        allowed: Vec<Origin>,
        audit: Option<AuditSink>,
    ) -> Result<Session, CallError> {
        self.check_policy(&config)?;
        let mut store = self.store(self.hooks(tenant, allowed, audit), |_| {});
        // Instantiation runs guest code too: it gets the same deadline as a call.
        let instance = within(self.limits.call_timeout, self.pre.instantiate_async(&mut store)).await?;
        let wit_config = convert::wit_config(config);
        let mut session = Session { store, instance, connection: None, call_timeout: self.limits.call_timeout, broken: false };
        let connection = session.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_open(store, &wit_config).await
        })).await?;
        session.connection = Some(connection);
        Ok(session)
    }

    /// Compiles another component for [`ConnectorHost::run_command`].
    pub fn compile(&self, wasm: &[u8]) -> Result<Component> {
        Ok(Component::new(&self.engine, wasm)?)
    }

    /// Runs a command component (`wasi:cli/run`) in a tenant sandbox: the
    /// same store, limits, allow-list, audit, egress and deadline as a
    /// connector session, with `args` as its argv (the program name first)
    /// and its stdout captured. For testing the sandbox with hostile guests.
    pub async fn run_command(&self, tenant: &str, component: &Component, args: &[&str], allowed: Vec<Origin>, audit: Option<AuditSink>) -> Result<CommandOutput, CallError> {
        let stdout = MemoryOutputPipe::new(1 << 20);
        let mut store = self.store(self.hooks(tenant, allowed, audit), |wasi| {
            wasi.args(args).stdout(stdout.clone());
        });
        let run = async {
            let command = Command::instantiate_async(&mut store, component, &self.linker).await?;
            match command.wasi_cli_run().call_run(&mut store).await {
                Ok(result) => Ok(if result.is_ok() { 0 } else { 1 }),
                Err(error) => error.downcast_ref::<I32Exit>().map(|exit| exit.0).ok_or(error),
            }
        };
        let exit_code = within(self.limits.call_timeout, run).await?;
        Ok(CommandOutput { exit_code, stdout: String::from_utf8_lossy(&stdout.contents()).into_owned() })
    }

    fn hooks(&self, tenant: &str, allowed: Vec<Origin>, audit: Option<AuditSink>) -> SandboxHooks {
        SandboxHooks { tenant: tenant.to_owned(), allowed, max_timeout: self.limits.max_request_timeout, audit, connector: self.connector.clone() }
    }

    fn store(&self, hooks: SandboxHooks, configure: impl FnOnce(&mut WasiCtxBuilder)) -> Store<TenantState> {
        let mut builder = WasiCtxBuilder::new();
        builder
            // The guest reads no answer body larger than this: a quarter of
            // its memory, so a body that fits also leaves room to parse it.
            .env(RESPONSE_CAP_VARIABLE, (self.limits.memory_bytes / 4).to_string())
            .inherit_stderr()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        configure(&mut builder);
        let wasi = builder.build();
        let limits = StoreLimitsBuilder::new().memory_size(self.limits.memory_bytes).instances(16).tables(16).memories(4).build();
        let state = TenantState { wasi, http: WasiHttpCtx::new(), table: ResourceTable::new(), hooks, limits };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        // At every epoch tick a computing guest yields to the runtime, so it
        // shares a worker thread with other tenants; `within` stops it at
        // its deadline by dropping its future. The yield is
        // `tokio::task::yield_now` (wasmtime's advice for tokio), not the
        // bare self-wake of `epoch_deadline_async_yield_and_update`: tokio
        // resumes a deferred task only after the worker has polled for I/O
        // and timers, whereas a self-woken guest goes straight back on the
        // run queue and the other tenants' I/O on that worker waits for
        // tokio's periodic driver check (every 61 polls, about 0.6 s of
        // guest). tests/isolation.rs measures both.
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))));
        store.set_epoch_deadline(1);
        store
    }
}

/// How a command component ended.
#[derive(Clone, Debug)]
pub struct CommandOutput {
    /// 0 when `run` returned ok or the guest exited 0.
    pub exit_code: i32,
    pub stdout: String,
}

fn engine(limits: &Limits) -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(limits.max_sessions)
        .total_core_instances(limits.max_sessions * 8)
        .total_memories(limits.max_sessions * 2)
        .total_tables(limits.max_sessions * 4)
        .max_memory_size(limits.memory_bytes);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        // Reserve only what a store may use, so a large pool stays cheap in address space.
        .memory_reservation(limits.memory_bytes as u64)
        .memory_guard_size(2 << 20);
    Ok(Engine::new(&config)?)
}

/// The origins of the login, ARM, Log Analytics and Graph endpoints.
pub fn allowed_origins(settings: &Settings) -> Vec<Origin> {
    let endpoints = &settings.endpoints;
    [&endpoints.login, &endpoints.arm.base, &endpoints.log_analytics.base, &endpoints.graph.base]
        .into_iter()
        .filter_map(Origin::of_url)
        .collect()
}

/// Runs guest code under a deadline: past it the future is dropped, which
/// stops the guest wherever it is (computing or waiting).
async fn within<T>(budget: Duration, future: impl Future<Output = wasmtime::Result<T>>) -> Result<T, CallError> {
    match tokio::time::timeout(budget, future).await {
        Err(_) => Err(CallError::Timeout(budget)),
        Ok(result) => result.map_err(trap),
    }
}

fn trap(error: wasmtime::Error) -> CallError {
    CallError::Trap(format!("{error:#}"))
}

type CallFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = wasmtime::Result<Result<T, ConnectorError>>> + Send + 'a>>;

/// One tenant's sandboxed connection.
pub struct Session {
    store: Store<TenantState>,
    instance: Connector,
    connection: Option<ResourceAny>,
    call_timeout: Duration,
    /// Set when a call was cut short: the instance may be mid-call, so it is
    /// never entered again.
    broken: bool,
}

impl Session {
    /// Runs one export under the call deadline, computing or waiting.
    async fn call<T>(
        &mut self,
        invoke: impl for<'a> FnOnce(&'a Connector, &'a mut Store<TenantState>) -> CallFuture<'a, T>,
    ) -> Result<T, CallError> {
        if self.broken {
            return Err(CallError::Trap("an earlier call on this session was stopped; open a new session".into()));
        }
        let outcome = within(self.call_timeout, invoke(&self.instance, &mut self.store)).await;
        self.broken = outcome.is_err();
        outcome?.map_err(CallError::Connector)
    }

    fn connection(&self) -> Result<ResourceAny, CallError> {
        self.connection.ok_or_else(|| CallError::Trap("the connection is not open".into()))
    }

    pub async fn list_incidents(&mut self, options: types::ListIncidentsOptions) -> Result<types::IncidentPage, CallError> {
        let connection = self.connection()?;
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_list_incidents(store, connection, &options).await
        }))
        .await
    }

    pub async fn list_all_incidents(&mut self, options: types::ListIncidentsOptions) -> Result<Vec<types::Incident>, CallError> {
        let connection = self.connection()?;
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_list_all_incidents(store, connection, &options).await
        }))
        .await
    }
}

/// One-argument exports that take an incident id.
macro_rules! incident_calls {
    ($($name:ident => $call:ident -> $out:ty),+ $(,)?) => {
        impl Session {
            $(
                pub async fn $name(&mut self, incident_id: &str) -> Result<$out, CallError> {
                    let connection = self.connection()?;
                    let id = incident_id.to_owned();
                    self.call(|instance, store| Box::pin(async move {
                        instance.soar_sentinel_sentinel_connector().connection().$call(store, connection, &id).await
                    }))
                    .await
                }
            )+
        }
    };
}

incident_calls! {
    get_incident => call_get_incident -> types::Incident,
    list_alerts => call_list_alerts -> Vec<types::Alert>,
    list_entities => call_list_entities -> Vec<types::Entity>,
    list_normalized_entities => call_list_normalized_entities -> Vec<types::NormalizedEntity>,
    list_bookmarks => call_list_bookmarks -> Vec<types::Bookmark>,
    list_comments => call_list_comments -> Vec<types::Comment>,
    list_relations => call_list_relations -> Vec<types::Relation>,
    list_tasks => call_list_tasks -> Vec<types::IncidentTask>,
    delete_incident => call_delete_incident -> (),
}

impl Session {
    pub async fn update_incident(&mut self, incident_id: &str, update: types::IncidentUpdate) -> Result<types::Incident, CallError> {
        let connection = self.connection()?;
        let id = incident_id.to_owned();
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_update_incident(store, connection, &id, &update).await
        }))
        .await
    }

    pub async fn create_incident(&mut self, incident: types::NewIncident, id: Option<String>) -> Result<types::Incident, CallError> {
        let connection = self.connection()?;
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_create_incident(store, connection, &incident, id.as_deref()).await
        }))
        .await
    }

    pub async fn add_comment(&mut self, incident_id: &str, message: &str, key: Option<&str>) -> Result<Vec<types::Comment>, CallError> {
        let connection = self.connection()?;
        let (id, message, key) = (incident_id.to_owned(), message.to_owned(), key.map(str::to_owned));
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_add_comment(store, connection, &id, &message, key.as_deref()).await
        }))
        .await
    }

    pub async fn delete_comment(&mut self, incident_id: &str, comment_id: &str) -> Result<(), CallError> {
        let connection = self.connection()?;
        let (id, comment) = (incident_id.to_owned(), comment_id.to_owned());
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_delete_comment(store, connection, &id, &comment).await
        }))
        .await
    }

    pub async fn add_relation(&mut self, incident_id: &str, related_resource_id: &str, name: Option<&str>) -> Result<types::Relation, CallError> {
        let connection = self.connection()?;
        let (id, related, name) = (incident_id.to_owned(), related_resource_id.to_owned(), name.map(str::to_owned));
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_add_relation(store, connection, &id, &related, name.as_deref()).await
        }))
        .await
    }

    pub async fn delete_relation(&mut self, incident_id: &str, name: &str) -> Result<(), CallError> {
        let connection = self.connection()?;
        let (id, name) = (incident_id.to_owned(), name.to_owned());
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_delete_relation(store, connection, &id, &name).await
        }))
        .await
    }

    pub async fn add_task(&mut self, incident_id: &str, title: &str, description: Option<&str>, task_id: Option<&str>) -> Result<types::IncidentTask, CallError> {
        let connection = self.connection()?;
        let (id, title, description, task_id) = (incident_id.to_owned(), title.to_owned(), description.map(str::to_owned), task_id.map(str::to_owned));
        self.call(|instance, store| Box::pin(async move {
            instance
                .soar_sentinel_sentinel_connector()
                .connection()
                .call_add_task(store, connection, &id, &title, description.as_deref(), task_id.as_deref())
                .await
        }))
        .await
    }

    pub async fn update_task(&mut self, incident_id: &str, task_id: &str, update: types::TaskUpdate) -> Result<types::IncidentTask, CallError> {
        let connection = self.connection()?;
        let (id, task_id) = (incident_id.to_owned(), task_id.to_owned());
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_update_task(store, connection, &id, &task_id, &update).await
        }))
        .await
    }

    pub async fn delete_task(&mut self, incident_id: &str, task_id: &str) -> Result<(), CallError> {
        let connection = self.connection()?;
        let (id, task_id) = (incident_id.to_owned(), task_id.to_owned());
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_delete_task(store, connection, &id, &task_id).await
        }))
        .await
    }

    pub async fn check_connection(&mut self) -> Result<Vec<types::ApiCheck>, CallError> {
        let connection = self.connection()?;
        self.call(|instance, store| Box::pin(async move {
            let checks = instance.soar_sentinel_sentinel_connector().connection().call_check_connection(store, connection).await?;
            Ok(Ok(checks))
        }))
        .await
    }

    pub async fn search_events(&mut self, query: &str, options: types::QueryOptions) -> Result<types::QueryResult, CallError> {
        let connection = self.connection()?;
        let query = query.to_owned();
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_search_events(store, connection, &query, &options).await
        }))
        .await
    }

    /// The next batch after `cursor`; see the WIT `poll`.
    pub async fn poll(&mut self, cursor: Option<String>, options: types::PollOptions) -> Result<types::PollBatch, CallError> {
        let connection = self.connection()?;
        self.call(|instance, store| Box::pin(async move {
            instance.soar_sentinel_sentinel_connector().connection().call_poll(store, connection, cursor.as_deref(), &options).await
        }))
        .await
    }
}

/// Poll options with every default: from now, no filters, no updates.
pub fn poll_options() -> types::PollOptions {
    types::PollOptions {
        first_fetch: None,
        look_back_seconds: None,
        max_events: None,
        include_updates: false,
        min_severity: None,
        statuses: Vec::new(),
        title_includes: Vec::new(),
        title_excludes: Vec::new(),
        include_details: false,
    }
}

/// Options that list everything with the service's defaults.
pub fn list_options() -> types::ListIncidentsOptions {
    types::ListIncidentsOptions { filter: None, orderby: None, top: None, continuation: None, max_pages: None }
}
