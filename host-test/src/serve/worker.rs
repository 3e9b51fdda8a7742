//! One tenant's poller task: its own sandboxed session, one batch per turn
//! under the service's bound on concurrent calls, delivery, then the cursor.
//!
//! Fairness comes from the turn: a poll holds one of the service's permits
//! for one batch only, and the permits are handed out first come, first
//! served (tokio's semaphore is fair). A tenant with a 50,000-incident
//! backlog queues again after each batch, behind every tenant already
//! waiting, so another tenant's fresh incident waits at most one batch per
//! permit ahead of it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};

use super::backoff::{self, FailureClass};
use super::board::{Board, Failed};
use super::cursors::{Cursors, Held, SaveError};
use super::sink::{self, Sink};
use super::tenants::{PollerKind, TenantSpec};
use crate::cli::poll::{first_fetch_time, Batch, Rendered};
use crate::config;
use crate::runtime::types::ErrorKind;
use crate::runtime::{graph_poll_options, poll_options, CallError, ConnectorHost, Session};

/// What every tenant task shares.
pub struct Service {
    /// The runtime: the operator's limits and egress policy.
    pub host: Arc<ConnectorHost>,
    /// The bound on concurrent polls, across all tenants.
    pub permits: Arc<Semaphore>,
    /// Where events go.
    pub sink: Sink,
    /// Where cursors are kept.
    pub cursors: Cursors,
    /// A test hook: after this many batches delivered (by the whole
    /// process), kill the process with SIGKILL before the cursor is saved,
    /// so the fleet test can kill a worker mid-batch deterministically.
    pub kill_after_batches: Option<u64>,
    /// Batches delivered by this process (for the hook).
    pub delivered_batches: std::sync::atomic::AtomicU64,
    /// Status and metrics.
    pub board: Arc<Board>,
    /// A caught-up tenant's wait, unless its file sets one.
    pub interval: Duration,
    /// Where a tenant's first poll starts, unless its file says.
    pub first_fetch: String,
}

/// One batch, whichever poller gave it.
struct Polled {
    cursor: String,
    watermark: String,
    more: bool,
    events: Vec<Rendered>,
}

impl Polled {
    fn of(batch: &impl Batch) -> Polled {
        Polled {
            cursor: batch.cursor().to_owned(),
            watermark: batch.watermark().to_owned(),
            more: batch.more(),
            events: batch.events(),
        }
    }
}

/// Why a turn failed.
enum Failure {
    /// The tenant's settings (its file, its secret file, its first fetch).
    Config(String),
    /// The connector's call or the sandbox.
    Call(CallError),
    /// The sink did not take the batch.
    Sink(String),
    /// The cursor could not be read or saved.
    Cursor(String),
    /// Another worker of the fleet owns the tenant now.
    Lost,
}

impl From<SaveError> for Failure {
    fn from(error: SaveError) -> Self {
        match error {
            SaveError::Lost => Failure::Lost,
            SaveError::Failed(message) => Failure::Cursor(message),
        }
    }
}

impl Failure {
    fn class(&self) -> FailureClass {
        match self {
            Failure::Call(CallError::Connector(error))
                if matches!(error.kind, ErrorKind::Auth | ErrorKind::Forbidden) =>
            {
                FailureClass::Auth
            }
            // A bad file waits for its operator, like a refused sign-in.
            Failure::Config(_) => FailureClass::Auth,
            _ => FailureClass::Transient,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Failure::Config(_) => "config",
            Failure::Call(CallError::Connector(error)) => crate::cli::errors::kind(error),
            Failure::Call(CallError::Timeout(_)) => "timeout",
            Failure::Call(CallError::Trap(_)) => "trap",
            Failure::Call(CallError::AtCapacity { .. }) => "at-capacity",
            Failure::Sink(_) => "sink",
            Failure::Cursor(_) => "cursor",
            Failure::Lost => "lease-lost",
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Config(message) | Failure::Sink(message) | Failure::Cursor(message) => message.clone(),
            Failure::Call(error) => error.to_string(),
            Failure::Lost => "another worker owns this tenant now".into(),
        }
    }

    /// Whether the session must be opened again: the sandbox is gone (a
    /// trap, a deadline), or the credential must be read anew.
    fn drops_session(&self) -> bool {
        matches!(self, Failure::Call(CallError::Timeout(_) | CallError::Trap(_))) || self.class() == FailureClass::Auth
    }

    /// What the service asked for (`Retry-After` of a 429 the connector
    /// could not ride out), if anything.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Call(CallError::Connector(error)) => {
                error.retry_after_seconds.map(|s| Duration::from_secs(s.into()))
            }
            _ => None,
        }
    }
}

/// Runs one tenant until `stop` turns true; a batch under way is finished
/// (delivered, its cursor saved) first.
pub async fn run(service: Arc<Service>, spec: TenantSpec, mut stop: watch::Receiver<bool>) {
    let tenant = spec.name.clone();
    let pollers = spec.pollers();
    service.board.started(&tenant, &pollers);
    tracing::info!(tenant = %tenant, pollers = ?pollers.iter().map(|p| p.name()).collect::<Vec<_>>(), "tenant started");
    let mut session: Option<Session> = None;
    let mut failures = 0u32;
    let mut cursors: Vec<Option<Held>> = vec![None; pollers.len()];
    loop {
        let turn = turn(&service, &spec, &pollers, &mut cursors, &mut session, &mut stop).await;
        let pause = match turn {
            Turn::Stopped => break,
            Turn::Failed(Failure::Lost) => {
                // Its events may have been published again: the stream's
                // de-duplication drops them. Nothing more from this worker.
                tracing::warn!(tenant = %tenant, "another worker owns this tenant now; stopped at once");
                break;
            }
            Turn::More => {
                failures = 0;
                continue;
            }
            Turn::CaughtUp => {
                failures = 0;
                service.board.idle(&tenant);
                backoff::interval_with_jitter(spec.interval(service.interval), rand::random())
            }
            Turn::Failed(failure) => {
                failures += 1;
                if failure.drops_session() {
                    session = None;
                }
                let mut retry_in = backoff::delay(failure.class(), failures, rand::random());
                retry_in = retry_in.max(failure.retry_after().unwrap_or_default());
                let message = failure.message();
                tracing::warn!(
                    tenant = %tenant, kind = failure.kind(), failures, retry_in_seconds = retry_in.as_secs_f64(),
                    error = %message, "tenant backs off"
                );
                let failed = Failed { class: failure.class(), kind: failure.kind(), message: &message, retry_in };
                service.board.failed(&tenant, failed);
                retry_in
            }
        };
        if wait(pause, &mut stop).await {
            break;
        }
    }
    service.board.stopping(&tenant);
    tracing::info!(tenant = %tenant, "tenant stopped");
}

enum Turn {
    /// Every poller took a batch and some have more waiting.
    More,
    /// Every poller is caught up.
    CaughtUp,
    /// One failed; the others' batches of this turn were delivered.
    Failed(Failure),
    /// The service is stopping (or the tenant was removed).
    Stopped,
}

/// One batch of each poller, each under a permit.
async fn turn(
    service: &Service,
    spec: &TenantSpec,
    pollers: &[PollerKind],
    cursors: &mut [Option<Held>],
    session: &mut Option<Session>,
    stop: &mut watch::Receiver<bool>,
) -> Turn {
    let mut more = false;
    for (poller, held) in pollers.iter().zip(cursors.iter_mut()) {
        // A stop already asked for wins over a free permit.
        let permit = tokio::select! {
            biased;
            _ = stopped(stop) => return Turn::Stopped,
            permit = service.permits.acquire() => permit,
        };
        let Ok(_permit) = permit else { return Turn::Stopped };
        service.board.polling(&spec.name);
        match batch(service, spec, *poller, held, session).await {
            Ok(polled_more) => more |= polled_more,
            Err(failure) => return Turn::Failed(failure),
        }
    }
    if more {
        Turn::More
    } else {
        Turn::CaughtUp
    }
}

/// Polls, delivers, saves: the cursor moves only after the sink has the batch.
/// The cursor is claimed once, when the tenant starts (in a fleet that
/// fences out the former owner), and kept here between commits.
async fn batch(
    service: &Service,
    spec: &TenantSpec,
    poller: PollerKind,
    held: &mut Option<Held>,
    session: &mut Option<Session>,
) -> Result<bool, Failure> {
    let held = match held {
        Some(held) => held,
        None => held.insert(service.cursors.claim(&spec.name, poller).await?),
    };
    let session = match session {
        Some(session) => session,
        None => session.insert(open(service, spec).await?),
    };
    let polled = poll(service, spec, poller, session, held.cursor.clone()).await?;
    let envelopes = sink::envelopes(&spec.name, poller, &polled.events);
    service.sink.deliver(&envelopes).await.map_err(Failure::Sink)?;
    if !envelopes.is_empty() {
        kill_hook(service);
    }
    service.cursors.save(&spec.name, poller, held, &polled.cursor, &polled.watermark).await?;
    service.board.delivered(&spec.name, poller, sink::kinds(&polled.events), polled.more);
    Ok(polled.more)
}

/// The fleet test's deterministic kill: SIGKILL after a delivery and before
/// its cursor is saved, the worst moment to die.
fn kill_hook(service: &Service) {
    let Some(limit) = service.kill_after_batches else { return };
    let delivered = service.delivered_batches.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    if delivered >= limit {
        tracing::warn!(batches = delivered, "test hook: SIGKILL before the cursor is saved");
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

/// A session in the tenant's own sandbox, its secret files read now (so a
/// rotated secret is picked up when a refused sign-in reopens it). Tenants
/// sign in with their own credential only: nothing of the service's
/// environment (no `AZURE_*` variable, no managed identity, no `az`).
async fn open(service: &Service, spec: &TenantSpec) -> Result<Session, Failure> {
    let file = spec.connection.clone().with_secret_files().map_err(|e| Failure::Config(e.0))?;
    let no_environment = |_: &str| None;
    let connection = config::resolve(&no_environment, &file, None).map_err(|e| {
        Failure::Config(format!(
            "{}: {e} (a tenant signs in with its own client_secret, client_secret_file, client_certificate_path \
             or federated_token_file)",
            spec.source.display()
        ))
    })?;
    let board = service.board.clone();
    let audit: crate::runtime::sandbox::AuditSink = Arc::new(move |record| board.request(record));
    service.host.open(&spec.name, connection, Some(audit)).await.map_err(Failure::Call)
}

async fn poll(
    service: &Service,
    spec: &TenantSpec,
    poller: PollerKind,
    session: &mut Session,
    cursor: Option<String>,
) -> Result<Polled, Failure> {
    let settings = &spec.poll;
    let first_fetch_text = settings.first_fetch.as_deref().unwrap_or(&service.first_fetch);
    let first_fetch = first_fetch_time(first_fetch_text, std::time::SystemTime::now())
        .map_err(|failure| Failure::Config(format!("{}: first_fetch: {}", spec.source.display(), failure.message)))?;
    let max_events = Some(settings.max_events.unwrap_or(DEFAULT_BATCH));
    let include_updates = settings.include_updates.unwrap_or(false);
    match poller {
        PollerKind::Sentinel => {
            let options = crate::runtime::types::PollOptions {
                first_fetch: Some(first_fetch),
                look_back_seconds: settings.look_back_seconds,
                max_events,
                include_updates,
                ..poll_options()
            };
            session.poll(cursor, options).await.map(|batch| Polled::of(&batch))
        }
        PollerKind::Graph => {
            let options = crate::runtime::graph_security::PollOptions {
                first_fetch: Some(first_fetch),
                look_back_seconds: settings.look_back_seconds,
                max_events,
                include_updates,
                ..graph_poll_options()
            };
            session.graph().poll(cursor, options).await.map(|batch| Polled::of(&batch))
        }
    }
    .map_err(Failure::Call)
}

/// A batch's size unless the tenant's file sets `max_events`.
const DEFAULT_BATCH: u32 = 100;

/// Resolves once `stop` is true (at once if it already is).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the service dropped its sender: stop too.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Sleeps `pause` unless stopped first; true when stopped.
async fn wait(pause: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(pause) => *stop.borrow(),
        _ = stopped(stop) => true,
    }
}
