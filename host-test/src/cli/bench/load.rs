//! Getting to work: the component's size, and the time from nothing to the
//! first request, compiling the component or loading it from the cache.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sentinel_connector::core::ConnectionConfig;

use super::table::Row;
use super::{failure, kib, ms, thousands};
use crate::cli::Failure;
use crate::runtime::cache::Loaded;
use crate::runtime::egress::{EgressPolicy, PrivateNetwork};
use crate::runtime::sandbox::{AuditRecord, AuditSink};
use crate::runtime::{list_options, ConnectorHost, HostOptions};

const MAX_SIZE_BYTES: usize = 700 * 1024;
const COLD_GOAL: Duration = Duration::from_millis(150);
const WARM_GOAL: Duration = Duration::from_millis(3);

pub fn size(component: &[u8], source: &str) -> Row {
    Row::new("component size", format!("{} bytes ({})", thousands(component.len() as u64), kib(component.len())))
        .goal("≤ 700 KiB", component.len() <= MAX_SIZE_BYTES)
        .note(source)
}

/// The first request with no cache (the build-time artifact, or Cranelift
/// compiling a --component) and from the cache the first run filled;
/// `cache` is the bench's own folder.
pub async fn first_request(
    component: &[u8],
    connection: &ConnectionConfig,
    cache: PathBuf,
    runs: usize,
) -> Result<Vec<Row>, Failure> {
    let mut cold = Vec::new();
    let mut cold_source = Loaded::Compiled;
    for _ in 0..runs.clamp(1, 3) {
        let (took, source) = time_to_first_request(component, connection, None).await?;
        cold.push(took);
        cold_source = source;
    }
    time_to_first_request(component, connection, Some(cache.clone())).await?; // fills the cache
    let mut warm = Vec::new();
    for _ in 0..runs.max(5) {
        let (took, source) = time_to_first_request(component, connection, Some(cache.clone())).await?;
        if source != Loaded::Cache {
            return Err(failure(format!("the second start did not load from the cache ({source:?})")));
        }
        warm.push(took);
    }
    let (cold, warm) = (super::median(cold), super::median(warm));
    let cold_how = match cold_source {
        Loaded::Precompiled => "the artifact build.rs precompiled, copied from the binary",
        _ => "Cranelift compiling the component (no build-time artifact fits it)",
    };
    Ok(vec![
        Row::new("first request, no cache", ms(cold)).goal("≤ 150 ms", cold <= COLD_GOAL).note(format!(
            "in-process: engine + {cold_how} + InstancePre + open a session, until the first request leaves"
        )),
        Row::new("first request, from the cache", ms(warm))
            .goal("≤ 3 ms", warm <= WARM_GOAL)
            .note("the same, the compiled component mapped from the disk cache"),
    ])
}

async fn time_to_first_request(
    component: &[u8],
    connection: &ConnectionConfig,
    cache_dir: Option<PathBuf>,
) -> Result<(Duration, Loaded), Failure> {
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    let seen = first.clone();
    let audit: AuditSink = Arc::new(move |record: &AuditRecord| {
        let mut first = seen.lock().unwrap_or_else(|e| e.into_inner());
        let sent = Instant::now() - record.elapsed;
        if first.is_none_or(|at| sent < at) {
            *first = Some(sent);
        }
    });
    let options = HostOptions {
        component: component.to_vec(),
        cache_dir,
        egress: EgressPolicy::operator(PrivateNetwork::LoopbackOnly),
        ..HostOptions::default()
    };
    let started = Instant::now();
    let host = ConnectorHost::new(options)?;
    let mut session = host.open("first", connection.clone(), Some(audit)).await?;
    session.list_incidents(crate::runtime::types::ListIncidentsOptions { top: Some(1), ..list_options() }).await?;
    let sent =
        first.lock().unwrap_or_else(|e| e.into_inner()).ok_or_else(|| failure("no request was audited".into()))?;
    Ok((sent.saturating_duration_since(started), host.component_source().clone()))
}
