//! What a service knows about its tenants, in one place: the status table
//! (`/status`, `sentinel serve status`) and the Prometheus metrics
//! (`/metrics`) are both read from it, so they never disagree.
//!
//! Lag is per tenant and poller: how long the newest incident the service
//! could see may have waited to be delivered. It is 0 once a poll came back
//! caught up and its batch was delivered; otherwise it is the time since the
//! tenant was last caught up (or since it started), which bounds the wait of
//! every incident not yet delivered. Unlike `poll`'s "now minus the
//! watermark", a quiet tenant that is caught up shows 0.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use super::backoff::FailureClass;
use super::tenants::PollerKind;
use crate::runtime::sandbox::{AuditOutcome, AuditRecord};
use crate::runtime::types::EventKind;

/// One tenant's row of the status table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantStatus {
    /// The tenant's name, or for a file that could not be read, the file.
    pub tenant: String,
    /// `starting`, `polling`, `idle`, `backoff`, `invalid` or `stopping`.
    pub state: String,
    /// Its pollers.
    pub pollers: Vec<String>,
    /// Events delivered since the service started.
    pub events: u64,
    /// Failures since the service started.
    pub errors: u64,
    /// Failures in a row now (0 after a success).
    pub consecutive_failures: u32,
    /// In backoff: seconds until the next try.
    pub retry_in_seconds: Option<f64>,
    /// The larger of its pollers' lags, in seconds.
    pub lag_seconds: f64,
    /// The last failure: its kind and message (never a secret: the
    /// connector's errors are scrubbed, and the service adds none).
    pub last_error: Option<String>,
    /// When a batch was last delivered (RFC 3339).
    pub last_delivery: Option<String>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PollerLabels {
    tenant: String,
    poller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    tenant: String,
    poller: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    tenant: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    tenant: String,
    outcome: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The metric families, registered once.
struct Metrics {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<TenantLabels, Histogram, fn() -> Histogram>,
    lag: Family<PollerLabels, FloatGauge>,
    backoff: Family<TenantLabels, FloatGauge>,
    failures: Family<TenantLabels, Gauge>,
    tenants: Gauge,
    sessions: Gauge,
}

fn latency_histogram() -> Histogram {
    // 5 ms to ~20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sentinel_serve");
        let metrics = Metrics {
            events: Family::default(),
            errors: Family::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            lag: Family::default(),
            backoff: Family::default(),
            failures: Family::default(),
            tenants: Gauge::default(),
            sessions: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("events", "Events delivered (acknowledged by the sink)", metrics.events.clone());
        registry.register(
            "errors",
            "Failures, by kind (auth, throttled, timeout, trap, sink, ...)",
            metrics.errors.clone(),
        );
        registry.register(
            "requests",
            "Outbound requests the tenant's sandbox made, by outcome",
            metrics.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "From sending a request to its answer's headers",
            metrics.latency.clone(),
        );
        registry.register(
            "lag_seconds",
            "How long the newest incident the service could see may have waited to be delivered; 0 when caught up",
            metrics.lag.clone(),
        );
        registry.register(
            "backoff_seconds",
            "Seconds until a tenant in backoff tries again; 0 when not",
            metrics.backoff.clone(),
        );
        registry.register("consecutive_failures", "Failures in a row", metrics.failures.clone());
        registry.register("tenants", "Tenants the service runs", metrics.tenants.clone());
        registry.register("sessions", "Sandboxed sessions open", metrics.sessions.clone());
        Metrics { registry, ..metrics }
    }
}

struct Entry {
    status: TenantStatus,
    /// Per poller: since when it has not been caught up (None: caught up).
    behind_since: BTreeMap<PollerKind, Option<Instant>>,
    retry_at: Option<Instant>,
}

/// The service's view of its tenants.
pub struct Board {
    entries: Mutex<BTreeMap<String, Entry>>,
    metrics: Metrics,
}

impl Default for Board {
    fn default() -> Self {
        Board { entries: Mutex::default(), metrics: Metrics::new() }
    }
}

/// Why a tenant failed, as a metric label.
pub struct Failed<'a> {
    /// Backoff class.
    pub class: FailureClass,
    /// Metric label: the connector's error kind, or `trap`, `timeout`, `sink`, `config`, `cursor`.
    pub kind: &'a str,
    /// What happened, fit to show.
    pub message: &'a str,
    /// When it tries again.
    pub retry_in: Duration,
}

impl Board {
    /// The rows; a panicked holder does not poison them for the others.
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with<T>(&self, tenant: &str, change: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        self.entries().get_mut(tenant).map(change)
    }

    /// A tenant starts (or restarts after its file changed).
    pub fn started(&self, tenant: &str, pollers: &[PollerKind]) {
        let now = Instant::now();
        let entry = Entry {
            status: TenantStatus {
                tenant: tenant.to_owned(),
                state: "starting".into(),
                pollers: pollers.iter().map(|p| p.name().to_owned()).collect(),
                events: 0,
                errors: 0,
                consecutive_failures: 0,
                retry_in_seconds: None,
                lag_seconds: 0.0,
                last_error: None,
                last_delivery: None,
            },
            behind_since: pollers.iter().map(|p| (*p, Some(now))).collect(),
            retry_at: None,
        };
        let mut entries = self.entries();
        // A restart keeps the counts: they are the service's, not the file's.
        let kept = entries.remove(tenant).map(|old| (old.status.events, old.status.errors));
        let entry = entries.entry(tenant.to_owned()).or_insert(entry);
        if let Some((events, errors)) = kept {
            entry.status.events = events;
            entry.status.errors = errors;
        }
        self.metrics.tenants.set(entries.len() as i64);
    }

    /// A tenant file that could not be read: shown, not run.
    pub fn invalid(&self, place: &str, message: &str) {
        self.started(place, &[]);
        self.with(place, |entry| {
            entry.status.state = "invalid".into();
            entry.status.last_error = Some(format!("config: {message}"));
        });
    }

    /// A tenant no longer in the files: its row and its metric series go.
    pub fn removed(&self, tenant: &str) {
        let mut entries = self.entries();
        if let Some(entry) = entries.remove(tenant) {
            let labels = TenantLabels { tenant: tenant.to_owned() };
            self.metrics.backoff.remove(&labels);
            self.metrics.failures.remove(&labels);
            self.metrics.latency.remove(&labels);
            for poller in entry.behind_since.keys() {
                self.metrics.lag.remove(&PollerLabels { tenant: tenant.to_owned(), poller: poller.name().to_owned() });
            }
        }
        self.metrics.tenants.set(entries.len() as i64);
    }

    /// The tenant's rows that are files, not tenants (for pruning).
    pub fn invalid_places(&self) -> Vec<String> {
        let entries = self.entries();
        entries.values().filter(|e| e.status.state == "invalid").map(|e| e.status.tenant.clone()).collect()
    }

    /// A poll is under way.
    pub fn polling(&self, tenant: &str) {
        self.with(tenant, |entry| entry.status.state = "polling".into());
    }

    /// A batch was delivered and its cursor saved.
    pub fn delivered(&self, tenant: &str, poller: PollerKind, kinds: impl Iterator<Item = EventKind>, more: bool) {
        let mut count = 0u64;
        for kind in kinds {
            count += 1;
            let labels = EventLabels {
                tenant: tenant.to_owned(),
                poller: poller.name().to_owned(),
                kind: crate::cli::poll::event_name(kind).to_owned(),
            };
            self.metrics.events.get_or_create(&labels).inc();
        }
        self.with(tenant, |entry| {
            entry.status.events += count;
            entry.status.consecutive_failures = 0;
            entry.status.retry_in_seconds = None;
            entry.retry_at = None;
            if count > 0 {
                entry.status.last_delivery = Some(humantime::format_rfc3339_seconds(SystemTime::now()).to_string());
            }
            let behind = entry.behind_since.entry(poller).or_insert(None);
            *behind = if more { behind.or(Some(Instant::now())) } else { None };
        });
    }

    /// Every poller caught up: waiting for the next interval.
    pub fn idle(&self, tenant: &str) {
        self.with(tenant, |entry| entry.status.state = "idle".into());
    }

    /// A poll, a delivery or a save failed; the tenant backs off.
    pub fn failed(&self, tenant: &str, failed: Failed) {
        let labels = ErrorLabels { tenant: tenant.to_owned(), kind: failed.kind.to_owned() };
        self.metrics.errors.get_or_create(&labels).inc();
        self.with(tenant, |entry| {
            entry.status.state = "backoff".into();
            entry.status.errors += 1;
            entry.status.consecutive_failures += 1;
            entry.status.last_error = Some(format!("{}: {}", failed.kind, failed.message));
            entry.retry_at = Some(Instant::now() + failed.retry_in);
        });
    }

    /// The tenant is finishing its batch before it stops.
    pub fn stopping(&self, tenant: &str) {
        self.with(tenant, |entry| entry.status.state = "stopping".into());
    }

    /// One outbound request of the tenant's sandbox (its audit record).
    pub fn request(&self, record: &AuditRecord) {
        let outcome = match &record.outcome {
            AuditOutcome::Status(status) => format!("{}xx", status / 100),
            AuditOutcome::Denied => "denied".into(),
            AuditOutcome::Failed(_) => "failed".into(),
        };
        let tenant = record.tenant.clone();
        self.metrics.requests.get_or_create(&RequestLabels { tenant: tenant.clone(), outcome }).inc();
        self.metrics.latency.get_or_create(&TenantLabels { tenant }).observe(record.elapsed.as_secs_f64());
    }

    /// Every tenant's row as of now.
    pub fn snapshot(&self) -> Vec<TenantStatus> {
        let now = Instant::now();
        let entries = self.entries();
        entries
            .values()
            .map(|entry| {
                let mut status = entry.status.clone();
                status.lag_seconds = entry.behind_since.values().map(|since| lag(*since, now)).fold(0.0, f64::max);
                status.retry_in_seconds = entry.retry_at.map(|at| at.saturating_duration_since(now).as_secs_f64());
                status
            })
            .collect()
    }

    /// The metrics in OpenMetrics text, lag and backoff as of now.
    pub fn render_metrics(&self, live_sessions: u32) -> String {
        let now = Instant::now();
        {
            let entries = self.entries();
            for (tenant, entry) in entries.iter() {
                for (poller, since) in &entry.behind_since {
                    let labels = PollerLabels { tenant: tenant.clone(), poller: poller.name().to_owned() };
                    self.metrics.lag.get_or_create(&labels).set(lag(*since, now));
                }
                let labels = TenantLabels { tenant: tenant.clone() };
                let retry_in = entry.retry_at.map_or(0.0, |at| at.saturating_duration_since(now).as_secs_f64());
                self.metrics.backoff.get_or_create(&labels).set(retry_in);
                self.metrics.failures.get_or_create(&labels).set(i64::from(entry.status.consecutive_failures));
            }
        }
        self.metrics.sessions.set(i64::from(live_sessions));
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.metrics.registry);
        text
    }
}

fn lag(behind_since: Option<Instant>, now: Instant) -> f64 {
    behind_since.map_or(0.0, |since| now.saturating_duration_since(since).as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_zero_once_caught_up_and_grows_while_behind() {
        let board = Board::default();
        board.started("contoso", &[PollerKind::Sentinel]);
        std::thread::sleep(Duration::from_millis(20));
        assert!(board.snapshot()[0].lag_seconds >= 0.02, "behind from the start");
        board.delivered("contoso", PollerKind::Sentinel, [EventKind::Created].into_iter(), true);
        assert!(board.snapshot()[0].lag_seconds >= 0.02, "a backlog keeps the first moment it was behind");
        board.delivered("contoso", PollerKind::Sentinel, [EventKind::Created].into_iter(), false);
        let row = &board.snapshot()[0];
        assert_eq!(row.lag_seconds, 0.0);
        assert_eq!(row.events, 2);
    }

    #[test]
    fn failures_show_in_status_and_metrics() {
        let board = Board::default();
        board.started("contoso", &[PollerKind::Sentinel]);
        let failed = Failed {
            class: FailureClass::Auth,
            kind: "auth",
            message: "AADSTS7000215",
            retry_in: Duration::from_secs(60),
        };
        board.failed("contoso", failed);
        let row = &board.snapshot()[0];
        assert_eq!((row.state.as_str(), row.consecutive_failures, row.errors), ("backoff", 1, 1));
        assert!(row.retry_in_seconds.unwrap() > 59.0);
        let metrics = board.render_metrics(3);
        assert!(metrics.contains("sentinel_serve_errors_total{tenant=\"contoso\",kind=\"auth\"} 1"), "{metrics}");
        assert!(metrics.contains("sentinel_serve_consecutive_failures{tenant=\"contoso\"} 1"), "{metrics}");
        assert!(metrics.contains("sentinel_serve_sessions 3"), "{metrics}");
        board.removed("contoso");
        assert!(!board.render_metrics(0).contains("consecutive_failures{tenant=\"contoso\"}"));
    }
}
