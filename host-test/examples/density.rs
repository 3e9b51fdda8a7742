//! What an open tenant session costs: opens N sessions (default 2,000) and
//! prints resident memory per session, split by where it lives (the pooling
//! allocator's stacks, memories, tables; the heap), the mappings the process
//! holds (mind `vm.max_map_count`), and instantiate / `open` times apart.
//!
//! `cargo run --profile host -p sentinel-host --example density -- 10000`

use std::collections::BTreeMap;
use std::time::Duration;

use sentinel_host::config::{self, FileConfig};
use sentinel_host::emulator::{Emulator, EmulatorOptions};
use sentinel_host::runtime::egress::{EgressPolicy, PrivateNetwork};
use sentinel_host::runtime::{ConnectorHost, HostOptions, Limits};

static PRIVATE: std::sync::Mutex<BTreeMap<(u64, u64), u64>> = std::sync::Mutex::new(BTreeMap::new());

/// Resident KiB of each mapping, keyed by its start address and size.
fn mappings() -> BTreeMap<(u64, u64), (u64, String)> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut current = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-').filter(|(s, _)| u64::from_str_radix(s, 16).is_ok()) {
            let start = u64::from_str_radix(start, 16).unwrap_or(0);
            let end = u64::from_str_radix(end, 16).unwrap_or(0);
            let name = line.split_whitespace().nth(5).unwrap_or("[anon]").to_owned();
            current = Some((start, end - start));
            out.insert((start, end - start), (0, name));
        } else if first == "Private_Dirty:" || first == "Private_Clean:" {
            if let (Some(key), Some(kib)) = (current, fields.next().and_then(|v| v.parse::<u64>().ok())) {
                *PRIVATE.lock().unwrap().entry(key).or_default() += kib;
            }
        } else if first == "Rss:" {
            if let (Some(key), Some(kib)) = (current, fields.next().and_then(|v| v.parse::<u64>().ok())) {
                if let Some(entry) = out.get_mut(&key) {
                    entry.0 = kib;
                }
            }
        }
    }
    out
}

fn percentile(times: &mut [Duration], p: usize) -> Duration {
    times.sort();
    times[(times.len() * p / 100).min(times.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let emulator = Emulator::start(EmulatorOptions { incidents: 10, seed: 1, ..EmulatorOptions::default() }).await?;
    let connection = config::resolve(&|_| None, &FileConfig::default(), Some(&emulator.url()))
        .map_err(|e| anyhow::anyhow!("{}", e.0))?;
    let host = ConnectorHost::new(HostOptions {
        limits: Limits { max_sessions: count, ..Limits::default() },
        egress: EgressPolicy::operator(PrivateNetwork::LoopbackOnly),
        ..HostOptions::default()
    })?;
    // One session first, so what is paid once (code, lazily built tables) is not counted.
    let warm = host.open("warm", connection.clone(), None).await?;
    let before = mappings();
    let private_before: u64 = PRIVATE.lock().unwrap().values().sum();
    let (mut instantiate, mut open, mut sessions) = (Vec::new(), Vec::new(), Vec::new());
    for tenant in 1..count {
        let (session, timings) = host.open_measured(&format!("tenant-{tenant}"), connection.clone(), None).await?;
        instantiate.push(timings.instantiate);
        open.push(timings.open);
        sessions.push(session);
    }
    PRIVATE.lock().unwrap().clear();
    let after = mappings();
    let private_after: u64 = PRIVATE.lock().unwrap().values().sum();
    let opened = u64::from(count - 1);
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    for (key, (kib, name)) in &after {
        let grown = kib.saturating_sub(before.get(key).map(|b| b.0).unwrap_or(0));
        let kind = if name == "[heap]" { "heap".to_owned() } else { format!("{name} {} MiB mapping", key.1 >> 20) };
        *by_kind.entry(kind).or_default() += grown;
    }
    let total: u64 = by_kind.values().sum();
    println!(
        "private growth per session: {:.1} KiB",
        private_after.saturating_sub(private_before) as f64 / opened as f64
    );
    println!("sessions open: {count}; mappings: {} (vm.max_map_count default 65530)", after.len());
    println!("resident growth per session: {:.1} KiB", total as f64 / opened as f64);
    for (kind, kib) in by_kind.iter().filter(|(_, kib)| **kib * 20 > opened) {
        println!("  {:>8.1} KiB  {kind}", *kib as f64 / opened as f64);
    }
    println!(
        "instantiate p50 {:?} p99 {:?}; open p50 {:?} p99 {:?}",
        percentile(&mut instantiate, 50),
        percentile(&mut instantiate, 99),
        percentile(&mut open, 50),
        percentile(&mut open, 99)
    );
    if let Some(pool) = host.pool_metrics() {
        println!(
            "pool: {} component instances, {} core instances, {} memories, {} tables, {} stacks",
            pool.component_instances(),
            pool.core_instances(),
            pool.memories(),
            pool.tables(),
            pool.stacks()
        );
    }
    println!("guest linear memory of one session: {} KiB", sessions[0].guest_memory_bytes() / 1024);
    drop((warm, sessions));
    Ok(())
}
