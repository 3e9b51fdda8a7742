//! Density: as many tenant sessions as the issue asks for, open at once in
//! one host whose `Limits.max_sessions` is that number, each opened with its
//! instantiate and `open` timed apart, then what they cost in memory.

use std::time::Duration;

use sentinel_connector::core::ConnectionConfig;

use super::table::Row;
use super::{failure, percentile, thousands, us};
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

    let before = MemoryUse::now();
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
    let after = MemoryUse::now();
    let live = host.live_sessions();
    drop(open);
    drop(host);

    let mut rows = vec![Row::new("live tenant sessions in one host", format!("{} open", thousands(live as u64)))
        .goal("10,000 open at once", live >= 10_000)
        .note(format!("Limits.max_sessions = {}, all kept open until the last had opened", thousands(count as u64)))];
    match (before, after) {
        (Some(before), Some(after)) => rows.extend(memory_rows(&before, &after, count)),
        _ => rows.push(Row::failed("resident memory per open session", "≤ 96 KiB", "needs /proc/self/smaps_rollup")),
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

/// What the process holds, from /proc/self/smaps_rollup and /proc/self/maps.
struct MemoryUse {
    /// Resident pages, each shared page counted in every mapping of it.
    rss: u64,
    /// Proportional: each shared page divided among the mappings that share it.
    pss: u64,
    /// Pages no other mapping shares.
    private: u64,
    mappings: u64,
}

impl MemoryUse {
    fn now() -> Option<MemoryUse> {
        let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = rollup.lines().find(|l| l.starts_with(name))?;
            Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
        };
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        Some(MemoryUse {
            rss: field("Rss:")?,
            pss: field("Pss:")?,
            private: field("Private_Clean:")? + field("Private_Dirty:")?,
            mappings: maps.lines().count() as u64,
        })
    }
}

/// Each session's memory three ways, the process total and the mappings.
/// RSS counts the component's data image (a read-only memfd every session
/// maps copy-on-write, faulted in around each read by the kernel) once per
/// session though it is one copy in memory; PSS and private do not, so the
/// goal is judged on PSS, and RSS is shown beside it.
fn memory_rows(before: &MemoryUse, after: &MemoryUse, count: u32) -> Vec<Row> {
    let per = |a: u64, b: u64| a.saturating_sub(b) / u64::from(count.max(1));
    let (rss, pss, private) =
        (per(after.rss, before.rss), per(after.pss, before.pss), per(after.private, before.private));
    let kib = |bytes: u64| format!("{:.1} KiB", bytes as f64 / 1024.0);
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64);
    let mappings = after.mappings.saturating_sub(before.mappings) as f64 / f64::from(count.max(1));
    let sessions = thousands(count as u64);
    vec![
        Row::new("resident memory per open session", format!("{} PSS", kib(pss)))
            .goal(format!("≤ {MAX_KIB_PER_SESSION} KiB"), pss <= MAX_KIB_PER_SESSION * 1024)
            .note(format!(
                "(after − before) / {sessions} sessions: PSS {}, private {}, RSS {} (RSS counts the component's \
                 shared read-only data image once per session)",
                kib(pss),
                kib(private),
                kib(rss)
            )),
        Row::new(format!("memory, whole process with {sessions} open"), format!("{} PSS", mib(after.pss)))
            .target("about 1 GiB at 10,000")
            .note(format!(
                "RSS {}; before the sessions PSS {} (host, compiled component, runtime)",
                mib(after.rss),
                mib(before.pss)
            )),
        Row::new("memory mappings per open session", format!("{mappings:.1}")).target("report it").note(format!(
            "{} in all with {sessions} open; Linux's vm.max_map_count is 65,530 by default: \
                 above about 10,000 sessions raise it (sysctl vm.max_map_count=262144)",
            thousands(after.mappings)
        )),
    ]
}
