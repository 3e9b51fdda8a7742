//! Density: as many tenant sessions as the issue asks for, open at once in
//! one host whose `Limits.max_sessions` is that number, each opened with its
//! instantiate and `open` timed apart, then what they cost in memory.

use std::time::Duration;

use sentinel_connector::core::ConnectionConfig;

use super::table::Row;
use super::{failure, percentile, resident_bytes, thousands, us};
use crate::cli::Failure;
use crate::runtime::egress::{EgressPolicy, PrivateNetwork};
use crate::runtime::{ConnectorHost, HostOptions, Limits};

/// The goals.
const MAX_KIB_PER_SESSION: u64 = 96;
const P50_GOAL: Duration = Duration::from_micros(20);
const P99_GOAL: Duration = Duration::from_micros(200);

pub async fn rows(options: HostOptions, connection: &ConnectionConfig, count: u32) -> Result<Vec<Row>, Failure> {
    let host = ConnectorHost::new(HostOptions {
        limits: Limits { max_sessions: count, ..Limits::default() },
        egress: EgressPolicy::operator(PrivateNetwork::LoopbackOnly),
        ..options
    })?;
    // One session opened and closed first, so what is paid once per host
    // (the first instance's lazy setup) is not charged to the sessions.
    drop(host.open("warm-up", connection.clone(), None).await?);

    let before = resident_bytes();
    let mut open = Vec::with_capacity(count as usize);
    let (mut total, mut instantiate, mut opening) = (Vec::new(), Vec::new(), Vec::new());
    for tenant in 0..count {
        let started = std::time::Instant::now();
        let (session, timings) = host
            .open_measured(&format!("tenant-{tenant}"), connection.clone(), None)
            .await
            .map_err(|e| failure(format!("session {} of {count} did not open: {e}", tenant + 1)))?;
        total.push(started.elapsed());
        instantiate.push(timings.instantiate);
        opening.push(timings.open);
        open.push(session);
    }
    let after = resident_bytes();
    let live = host.live_sessions();
    drop(open);
    drop(host);

    let mut rows = vec![Row::new("live tenant sessions in one host", format!("{} open", thousands(live as u64)))
        .goal("10,000 open at once", live >= 10_000)
        .note(format!("Limits.max_sessions = {}, all kept open until the last had opened", thousands(count as u64)))];
    match (before, after) {
        (Some(before), Some(after)) => {
            let per_session = after.saturating_sub(before) / u64::from(count.max(1));
            rows.push(
                Row::new("resident memory per open session", format!("{:.1} KiB", per_session as f64 / 1024.0))
                    .goal(format!("≤ {MAX_KIB_PER_SESSION} KiB"), per_session <= MAX_KIB_PER_SESSION * 1024)
                    .note(format!("(RSS after − before) / {} sessions", thousands(count as u64))),
            );
            rows.push(
                Row::new(
                    format!("resident memory, whole process with {} open", thousands(count as u64)),
                    format!("{:.1} MiB", after as f64 / (1 << 20) as f64),
                )
                .target("report it")
                .note(format!(
                    "VmRSS; {:.1} MiB before the sessions (host, compiled component, runtime)",
                    before as f64 / (1 << 20) as f64
                )),
            );
        }
        _ => rows.push(Row::failed("resident memory per open session", "≤ 96 KiB", "needs /proc/self/status")),
    }
    let (p50, p99) = (percentile(&total, 50), percentile(&total, 99));
    rows.push(
        Row::new("open a session, p50 / p99", format!("{} / {}", us(p50), us(p99)))
            .goal("≤ 20 µs / ≤ 200 µs", p50 <= P50_GOAL && p99 <= P99_GOAL)
            .note("ConnectorHost::open_measured, whole call"),
    );
    rows.push(
        Row::new(
            "  instantiate, p50 / p99",
            format!("{} / {}", us(percentile(&instantiate, 50)), us(percentile(&instantiate, 99))),
        )
        .target("(part of the above)")
        .note("store, pooled instance, guest start-up"),
    );
    rows.push(
        Row::new("  `open`, p50 / p99", format!("{} / {}", us(percentile(&opening, 50)), us(percentile(&opening, 99))))
            .target("(part of the above)")
            .note("the guest's connection.open: the configuration checked"),
    );
    Ok(rows)
}
