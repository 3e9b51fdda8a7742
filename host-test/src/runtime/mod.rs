//! Runs the connector component sandboxed, one store per tenant connection.
//!
//! One [`ConnectorHost`] per process: an engine with the pooling allocator and
//! epoch interruption, the component precompiled at build time or compiled
//! once (cached on disk either way, `cache`), and an
//! `InstancePre` so opening a tenant session (instantiate and `open`) takes
//! about 0.1 ms (`sentinel bench`, bench/results.md).
//! Each [`Session`] owns a store with its own memory cap, outbound allow-list,
//! capped timeouts and call deadline. The guest gets no filesystem, sockets,
//! environment or stdio except stderr.
//! A guest computing yields to the runtime at every epoch tick (10 ms), so a
//! CPU-bound tenant never holds a tokio worker; the deadline is a timer.

mod analytics;
mod bindings;
pub mod budget;
pub mod cache;
mod code_settings;
mod convert;
pub mod egress;
mod graph;
pub mod indicators;
pub mod proxy;
pub mod sandbox;
mod session;
pub mod watchlists;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use sentinel_connector::core::{ConnectionConfig, Settings};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Engine, InstanceAllocationStrategy, PoolingAllocationConfig, PoolingAllocatorMetrics, ResourceLimiter, Store,
    StoreLimits, StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use egress::{EgressPolicy, OutboundConnector, Resolve};
use sandbox::{AuditSink, Origin, SandboxHooks};

pub use bindings::{analytics_rules, containment, graph_security, types};
pub use graph::{graph_list_options, graph_poll_options};
pub use session::{list_options, poll_options, Session};

use bindings::ConnectorPre;
use types::ConnectorError;

/// The component this binary was built with.
pub static EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("SENTINEL_COMPONENT_PATH"));

/// What one session of this component takes from the instance pool
/// (`ConnectorHost::pool_metrics`, host-test/examples/density.rs).
const CORE_INSTANCES_PER_SESSION: u32 = 8;
const MEMORIES_PER_SESSION: u32 = 2;
const TABLES_PER_SESSION: u32 = 4;

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
            memory_bytes: code_settings::DEFAULT_MEMORY_BYTES,
            call_timeout: Duration::from_secs(300),
            max_request_timeout: Duration::from_secs(120),
            max_sessions: 64,
        }
    }
}

/// How to build a [`ConnectorHost`]: everything here is the operator's, set
/// once per process; tenants only choose their connection's configuration.
pub struct HostOptions {
    /// The component's bytes; [`EMBEDDED_COMPONENT`] unless another is given.
    pub component: Vec<u8>,
    /// Where compiled artifacts are cached; `None` compiles in memory.
    pub cache_dir: Option<PathBuf>,
    /// Each tenant sandbox's memory, deadline and timeout caps, and how many
    /// may be open at once (fixed for the host's life: they size the pool).
    pub limits: Limits,
    /// Where tenants' connectors may connect: the operator's, never a
    /// tenant's. The default is strict: the public Microsoft clouds only.
    pub egress: EgressPolicy,
    /// Private CAs (PEM) the host trusts beside the public roots, as
    /// `SSL_CERT_FILE` or `--ca-file` give them: the operator's, like egress.
    pub extra_ca_pem: Option<String>,
    /// Outgoing proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), the operator's.
    pub proxies: proxy::ProxySettings,
    /// Request budgets per tenant session and per subscription, shared by
    /// every session of this host; `None`: requests are not held back.
    pub request_budget: Option<Arc<budget::RequestBudget>>,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            component: EMBEDDED_COMPONENT.to_vec(),
            cache_dir: cache::default_cache_dir(),
            limits: Limits::default(),
            egress: EgressPolicy::default(),
            extra_ca_pem: None,
            proxies: proxy::ProxySettings::default(),
            request_budget: None,
        }
    }
}

/// The state of one tenant's store.
pub struct TenantState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: SandboxHooks,
    limits: GuestMemory,
}

/// The store's limits, and how large the guest's linear memory has grown
/// (the streaming test and the benchmark read it: the guest holds a page or
/// two, never a whole list).
struct GuestMemory {
    limits: StoreLimits,
    bytes: usize,
}

impl ResourceLimiter for GuestMemory {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.bytes = self.bytes.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
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
    /// The host has its operator's `max_sessions` open already.
    AtCapacity {
        /// The operator's limit that was reached ([`Limits::max_sessions`]).
        max_sessions: u32,
    },
}

/// One of the host's `max_sessions`, held by a live store and given back
/// when it is dropped.
struct SessionSlot(Arc<AtomicU32>);

impl SessionSlot {
    /// Takes a slot if one is free: a typed refusal, not the pool's own
    /// error halfway through instantiation.
    // `CallError` carries the WIT record as the component returned it (boxing it
    // would make every embedder unbox); this runs once per open, not per request.
    #[allow(clippy::result_large_err)]
    fn claim(live: &Arc<AtomicU32>, max_sessions: u32) -> Result<SessionSlot, CallError> {
        live.fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < max_sessions).then_some(open + 1))
            .map(|_| SessionSlot(live.clone()))
            .map_err(|_| CallError::AtCapacity { max_sessions })
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

// `Display`, the one line a person reads: `cli/errors.rs`.
impl std::error::Error for CallError {}

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

/// The runtime: one per process, shared by every tenant. It holds the
/// compiled component and the operator's limits and egress policy, and
/// opens a sandboxed [`Session`] per tenant connection.
pub struct ConnectorHost {
    engine: Engine,
    pre: ConnectorPre<TenantState>,
    linker: Linker<TenantState>,
    limits: Limits,
    connector: Arc<OutboundConnector>,
    /// Sessions (and command runs) live now, at most `limits.max_sessions`.
    live: Arc<AtomicU32>,
    budget: Option<Arc<budget::RequestBudget>>,
    _ticker: EpochTicker,
    source: cache::Loaded,
    /// The compiled component being written to the cache; dropping the host
    /// waits for it, so the next start finds it.
    _cache_fill: cache::CacheFill,
}

impl ConnectorHost {
    /// Builds the engine and instance pool, and loads the component: from
    /// the disk cache, the build-time artifact, or a compile (seconds). Fails
    /// on a component that does not compile or a bad `extra_ca_pem`.
    pub fn new(options: HostOptions) -> Result<Self> {
        let engine = engine(&options.limits)?;
        let (component, source, cache_fill) =
            cache::load_filling(&engine, &options.component, options.cache_dir.as_deref())?;
        let mut linker = Linker::<TenantState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let pre = ConnectorPre::new(linker.instantiate_pre(&component)?)?;
        let tls = match &options.extra_ca_pem {
            Some(pem) => egress::tls_with_extra_roots(pem).map_err(anyhow::Error::msg)?,
            None => egress::default_tls(),
        };
        let mut connector = OutboundConnector::trusting(Arc::new(options.egress), tls);
        connector.proxies = options.proxies;
        let connector = Arc::new(connector);
        Ok(ConnectorHost {
            _ticker: EpochTicker::start(engine.clone()),
            engine,
            pre,
            linker,
            limits: options.limits,
            connector,
            live: Arc::new(AtomicU32::new(0)),
            budget: options.request_budget,
            source,
            _cache_fill: cache_fill,
        })
    }

    /// Replaces how host names are resolved (a host's own DNS; tests).
    pub fn set_resolver(&mut self, resolver: Arc<dyn Resolve>) {
        let connector = OutboundConnector {
            policy: self.connector.policy.clone(),
            resolver,
            tls: self.connector.tls.clone(),
            proxies: self.connector.proxies.clone(),
            tls_refusals: Default::default(),
        };
        self.connector = Arc::new(connector);
    }

    /// The limits the host was built with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The operator's egress policy every session's connections are checked against.
    pub fn egress(&self) -> &EgressPolicy {
        &self.connector.policy
    }

    /// Where the compiled component came from: the disk cache, the
    /// build-time artifact, or a compile (`sentinel bench`, tests).
    pub fn component_source(&self) -> &cache::Loaded {
        &self.source
    }

    /// Sessions open now.
    pub fn live_sessions(&self) -> u32 {
        self.live.load(Ordering::Acquire)
    }

    /// What the instance pool holds now (instances, memories, stacks).
    pub fn pool_metrics(&self) -> Option<PoolingAllocatorMetrics> {
        self.engine.pooling_allocator_metrics()
    }

    /// Validates the configuration (the same rules the component applies),
    /// instantiates a sandbox allowed to reach only this connection's
    /// endpoints, and opens the connection in it.
    pub async fn open(
        &self,
        tenant: &str,
        config: ConnectionConfig,
        audit: Option<AuditSink>,
    ) -> Result<Session, CallError> {
        Ok(self.open_measured(tenant, config, audit).await?.0)
    }

    /// The operator's policy decides whether this tenant's cloud may be used
    /// at all, judged by the origins of the connection's endpoints, which
    /// then make the store's allow-list.
    // `CallError` carries the WIT record as the component returned it (boxing it
    // would make every embedder unbox); this runs once per open, not per request.
    #[allow(clippy::result_large_err)]
    fn check_policy(&self, config: &ConnectionConfig, origins: &[Origin]) -> Result<(), CallError> {
        self.connector.policy.check_cloud(&config.cloud, origins).map_err(|refusal| {
            CallError::Connector(ConnectorError::local(types::ErrorKind::InvalidInput, "cloud", refusal.0, ""))
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
        self.check_policy(&config, &allowed_origins(&settings_of(&config)?))?;
        Ok(self.open_sandboxed(tenant, config, allowed, audit).await?.0)
    }

    /// Like [`ConnectorHost::open`], and says how long instantiating the
    /// sandbox and the guest's `open` took (for `sentinel bench`).
    pub async fn open_measured(
        &self,
        tenant: &str,
        config: ConnectionConfig,
        audit: Option<AuditSink>,
    ) -> Result<(Session, OpenTimings), CallError> {
        let origins = allowed_origins(&settings_of(&config)?);
        self.check_policy(&config, &origins)?;
        self.open_sandboxed(tenant, config, origins, audit).await
    }

    /// A sandbox allowed `allowed`, and the guest's `open` in it; the
    /// operator's policy has been checked.
    async fn open_sandboxed(
        &self,
        tenant: &str,
        config: ConnectionConfig,
        allowed: Vec<Origin>,
        audit: Option<AuditSink>,
    ) -> Result<(Session, OpenTimings), CallError> {
        let slot = SessionSlot::claim(&self.live, self.limits.max_sessions)?;
        let started = Instant::now();
        let mut store = self.store(self.hooks(tenant, allowed, audit), |_| {});
        // Instantiation runs guest code too: it gets the same deadline as a call.
        let instance = within(self.limits.call_timeout, self.pre.instantiate_async(&mut store)).await?;
        let instantiated = Instant::now();
        let session =
            Session::open(store, instance, slot, self.limits.call_timeout, &convert::wit_config(config)).await?;
        let timings = OpenTimings { instantiate: instantiated - started, open: instantiated.elapsed() };
        Ok((session, timings))
    }

    /// Compiles another component for [`ConnectorHost::run_command`].
    pub fn compile(&self, wasm: &[u8]) -> Result<Component> {
        Ok(Component::new(&self.engine, wasm)?)
    }

    /// Runs a command component (`wasi:cli/run`) in a tenant sandbox: the
    /// same store, limits, allow-list, audit, egress and deadline as a
    /// connector session, with `args` as its argv (the program name first)
    /// and its stdout captured. For testing the sandbox with hostile guests.
    pub async fn run_command(
        &self,
        tenant: &str,
        component: &Component,
        args: &[&str],
        allowed: Vec<Origin>,
        audit: Option<AuditSink>,
    ) -> Result<CommandOutput, CallError> {
        let stdout = MemoryOutputPipe::new(1 << 20);
        let _slot = SessionSlot::claim(&self.live, self.limits.max_sessions)?;
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
        SandboxHooks {
            tenant: tenant.to_owned(),
            allowed,
            max_timeout: self.limits.max_request_timeout,
            audit,
            connector: self.connector.clone(),
            budget: self.budget.clone(),
        }
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
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .instances(16)
            .tables(16)
            .memories(4)
            .build();
        let limits = GuestMemory { limits, bytes: 0 };
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

/// How long opening a session took, in its two parts.
#[derive(Clone, Copy, Debug)]
pub struct OpenTimings {
    /// A store and an instance of the component (the pooling allocator's slot,
    /// the WASI contexts), guest start-up included.
    pub instantiate: Duration,
    /// The guest's `open`: the configuration checked and the connection made.
    pub open: Duration,
}

/// How a command component ended.
#[derive(Clone, Debug)]
pub struct CommandOutput {
    /// 0 when `run` returned ok or the guest exited 0.
    pub exit_code: i32,
    /// What the guest wrote to stdout, lossily decoded as UTF-8; capped at
    /// 1 MiB, past which the guest's writes fail.
    pub stdout: String,
}

fn engine(limits: &Limits) -> Result<Engine> {
    let sessions = limits.max_sessions;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(sessions)
        .total_core_instances(sessions.saturating_mul(CORE_INSTANCES_PER_SESSION))
        .total_memories(sessions.saturating_mul(MEMORIES_PER_SESSION))
        .total_tables(sessions.saturating_mul(TABLES_PER_SESSION))
        // An idle store keeps the fiber stack of its last call for the next
        // one, so every open session holds a stack: one per session.
        .total_stacks(sessions)
        .max_memory_size(limits.memory_bytes);
    // The code settings are build.rs's too; the pool does not change code.
    let mut config = code_settings::code_config(limits.memory_bytes);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

/// The connection's settings as the guest will read them: a bad
/// configuration is refused here, before a sandbox is made for it.
// `CallError` carries the WIT record as the component returned it (boxing it
// would make every embedder unbox); this runs once per open, not per request.
#[allow(clippy::result_large_err)]
fn settings_of(config: &ConnectionConfig) -> Result<Settings, CallError> {
    Settings::from_config(config.clone()).map_err(|e| CallError::Connector(convert::core_error(e)))
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
