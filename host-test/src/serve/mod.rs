//! `sentinel serve`: many tenants' pollers in one sandboxed service, and a
//! fleet of such services on NATS JetStream.
//!
//! The operator runs it; tenants only supply their files. Each tenant gets
//! its own sandboxed session of the connector (the operator's memory, CPU
//! and egress limits, never widened by a tenant's file), is polled on its
//! own interval, and backs off on its own when it fails. Its events go to
//! the service's sink, and its cursor is saved only after the sink has
//! them. Tenant files are rescanned: adding, changing or removing one is
//! picked up without a restart. In a fleet, each worker runs the tenants it
//! holds a lease on (`fleet`).
//!
//! `tenants` reads the files, `worker` runs one tenant, `sink` delivers,
//! `cursors` keeps cursors, `fleet` shares tenants through JetStream,
//! `backoff` times retries, `board` holds status and metrics, `ops` serves
//! them.

pub mod backoff;
pub mod board;
pub mod cursors;
pub mod fleet;
pub mod ops;
pub mod sink;
pub mod tenants;
mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::runtime::ConnectorHost;
use board::Board;
use cursors::{Cursors, DirCursors};
use fleet::{Fleet, FleetOptions, LeaseChanges, Leases};
use sink::Sink;
use tenants::TenantSpec;

/// How the service runs: the operator's settings (the sandbox's are the
/// [`ConnectorHost`]'s).
pub struct ServeOptions {
    /// A directory of tenant files, or one file of `[[tenant]]` tables.
    pub tenants: PathBuf,
    /// Where cursors are kept on one machine (locked: one service per
    /// directory); a fleet keeps them in JetStream.
    pub state_dir: Option<PathBuf>,
    /// A fleet on NATS JetStream: leases, cursors and the events stream.
    pub fleet: Option<FleetOptions>,
    /// How many polls run at once, across all tenants.
    pub concurrency: usize,
    /// A caught-up tenant's wait, unless its file sets `interval_seconds`.
    pub interval: Duration,
    /// Where a tenant's first poll starts, unless its file sets `first_fetch`.
    pub first_fetch: String,
    /// How often the tenant files are read again (and, in a fleet, leases
    /// renewed and free ones taken: at most a third of the lease TTL).
    pub rescan: Duration,
    /// Where `/healthz`, `/metrics` and `/status` are served; `None`: nowhere.
    pub ops_addr: Option<SocketAddr>,
    /// The fleet test's hook (see `worker::Service::kill_after_batches`).
    pub kill_after_batches: Option<u64>,
}

/// Where events go when the operator does not choose: stdout on one
/// machine, the fleet's stream in a fleet.
pub enum SinkChoice {
    /// The operator's sink (one machine only).
    Given(Box<Sink>),
    /// The fleet's stream (with `ServeOptions::fleet`).
    FleetStream,
}

/// A tenant task and how to stop it.
struct Running {
    fingerprint: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// Asks the task to finish its batch and waits for it.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Runs until `shutdown` resolves, then lets every tenant finish its batch
/// (deliver, save), gives a fleet's leases back, and returns. `on_ready` is
/// called with the operations endpoint's address once it listens.
pub async fn serve(
    host: ConnectorHost,
    sink: SinkChoice,
    options: ServeOptions,
    on_ready: impl FnOnce(Option<SocketAddr>),
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let fleet = match &options.fleet {
        Some(fleet_options) => Some(Arc::new(Fleet::connect(fleet_options.clone()).await?)),
        None => None,
    };
    let (cursors, sink) = match (&fleet, sink, &options.state_dir) {
        (Some(fleet), SinkChoice::FleetStream, _) => (Cursors::Fleet(fleet.clone()), Sink::JetStream(fleet.clone())),
        (None, SinkChoice::Given(sink), Some(dir)) => (Cursors::Dir(DirCursors::open(dir)?), *sink),
        (Some(_), SinkChoice::Given(_), _) => return Err("a fleet delivers to its JetStream stream only".into()),
        (None, _, _) => return Err("one machine needs a state directory and a sink".into()),
    };
    // The first scan fails loudly (a wrong path); later ones keep what runs.
    let first_scan = tenants::scan(&options.tenants).map_err(|e| e.0)?;
    let host = Arc::new(host);
    let board = Arc::new(Board::default());
    let (stopping, stopping_seen) = watch::channel(false);
    let (closed, closed_seen) = watch::channel(false);
    let ops = match options.ops_addr {
        Some(addr) => Some(ops::start(addr, board.clone(), host.clone(), stopping_seen, closed_seen).await?),
        None => None,
    };
    on_ready(ops.as_ref().map(|(addr, _)| *addr));
    let service = Arc::new(worker::Service {
        host,
        permits: Arc::new(Semaphore::new(options.concurrency.max(1))),
        sink,
        cursors,
        board: board.clone(),
        interval: options.interval,
        first_fetch: options.first_fetch.clone(),
        kill_after_batches: options.kill_after_batches,
        delivered_batches: Default::default(),
    });
    tracing::info!(tenants = first_scan.tenants.len(), sink = service.sink.name(), "serve started");
    let mut owner = Owner { fleet, leases: Leases::default() };
    let tick = match &owner.fleet {
        Some(fleet) => options.rescan.min(fleet.lease_ttl() / 3),
        None => options.rescan,
    };
    let mut running = BTreeMap::new();
    let mut scan = Some(first_scan);
    tokio::pin!(shutdown);
    loop {
        match scan.take().map_or_else(|| tenants::scan(&options.tenants), Ok) {
            Ok(scan) => reconcile(&service, &mut owner, &mut running, scan).await,
            Err(error) => tracing::warn!(error = %error, "cannot read the tenants; keeping the ones running"),
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = &mut shutdown => break,
        }
    }
    tracing::info!(tenants = running.len(), "stopping: each tenant finishes its batch");
    let _ = stopping.send(true);
    // Told all first, so they finish their batches side by side.
    for tenant in running.values() {
        let _ = tenant.stop.send(true);
    }
    for (name, tenant) in running {
        let _ = tenant.task.await;
        owner.release(&name).await;
    }
    if let Some(fleet) = &owner.fleet {
        fleet.leave().await;
    }
    // /healthz said "stopping" during the drain; now the endpoint closes.
    let _ = closed.send(true);
    if let Some((_, server)) = ops {
        let _ = server.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Which tenants this process runs: all of them on one machine, the ones
/// it holds a lease on in a fleet.
struct Owner {
    fleet: Option<Arc<Fleet>>,
    leases: Leases,
}

impl Owner {
    /// The tenants to run after this scan, and, in a fleet, the leases
    /// lost (stop at once) and surplus (stop, then give back).
    async fn decide(&mut self, names: &BTreeSet<String>) -> (BTreeSet<String>, LeaseChanges) {
        let Some(fleet) = &self.fleet else { return (names.clone(), LeaseChanges::default()) };
        let changes = self.leases.scan(fleet, names).await.unwrap_or_else(|error| {
            tracing::warn!(error = %error, "JetStream: the lease scan failed; trying again");
            LeaseChanges::default()
        });
        let mut held = self.leases.held();
        held.retain(|name| !changes.surplus.contains(name));
        (held, changes)
    }

    async fn release(&mut self, tenant: &str) {
        if let Some(fleet) = &self.fleet {
            self.leases.release(fleet, tenant).await;
        }
    }
}

/// Starts new tenants, restarts changed ones, stops removed ones (and, in
/// a fleet, lost ones at once and surplus ones gracefully).
async fn reconcile(
    service: &Arc<worker::Service>,
    owner: &mut Owner,
    running: &mut BTreeMap<String, Running>,
    scan: tenants::Scan,
) {
    // A task that ended on its own lost its tenant to another worker.
    let ended: Vec<String> = running.iter().filter(|(_, r)| r.task.is_finished()).map(|(n, _)| n.clone()).collect();
    for name in ended {
        running.remove(&name);
        owner.leases.forget(&name);
        service.board.removed(&name);
    }
    let names: BTreeSet<String> = scan.tenants.keys().cloned().collect();
    let (wanted, LeaseChanges { lost, surplus }) = owner.decide(&names).await;
    for name in lost {
        if let Some(tenant) = running.remove(&name) {
            tracing::warn!(tenant = %name, "lease lost; stopping the tenant at once");
            tenant.task.abort();
            service.board.removed(&name);
        }
    }
    let gone: Vec<String> = running.keys().filter(|name| !wanted.contains(*name)).cloned().collect();
    for name in gone {
        if let Some(tenant) = running.remove(&name) {
            tracing::info!(tenant = %name, "tenant stops here");
            tenant.stop().await;
            service.board.removed(&name);
        }
        if surplus.contains(&name) {
            owner.release(&name).await;
        }
    }
    for place in service.board.invalid_places() {
        service.board.removed(&place);
    }
    for (place, error) in &scan.invalid {
        tracing::warn!(file = %place, error = %error, "tenant file not valid; not run");
        service.board.invalid(place, &error.0);
    }
    for (name, spec) in scan.tenants {
        if !wanted.contains(&name) {
            continue;
        }
        match running.get(&name) {
            Some(tenant) if tenant.fingerprint == spec.fingerprint => continue,
            Some(_) => {
                tracing::info!(tenant = %name, "tenant file changed; restarting it");
                if let Some(old) = running.remove(&name) {
                    old.stop().await;
                }
            }
            None => {}
        }
        running.insert(name, start(service, spec));
    }
}

fn start(service: &Arc<worker::Service>, spec: TenantSpec) -> Running {
    let (stop, stopped) = watch::channel(false);
    let fingerprint = spec.fingerprint.clone();
    let task = tokio::spawn(worker::run(service.clone(), spec, stopped));
    Running { fingerprint, stop, task }
}
