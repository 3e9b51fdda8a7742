//! `sentinel serve` with many tenants, as a whole process: one multi-tenant
//! emulator in-process, the tenants' files in the bench's folder, and the
//! service a child whose NDJSON the bench reads from a pipe as it comes.
//!
//! Two phases. The backlog: every tenant's seeded incidents, from the
//! service's start to the last one delivered (sessions opened, first polls).
//! Live: one new incident per tenant, spread over a few seconds while the
//! service polls on its interval; each incident's lag is from its insertion
//! to its line on the pipe, and the worst tenant's is reported. Every
//! delivery is counted by idempotency key and by (tenant, incident): the
//! table says how many were missing or doubled. The peak resident set is the
//! child's `VmHWM`; it is stopped with SIGTERM and the drain is timed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::table::Row;
use super::{failure, mib, per_second, percentile, progress, secs, thousands, Setup};
use crate::cli::Failure;
use crate::emulator::{MultiTenantEmulator, MultiTenantOptions, Mutation, NewIncident};

/// What the figures are of.
pub struct ServeFigures {
    pub tenants: u32,
    pub incidents_per_tenant: usize,
    pub interval_seconds: u64,
    pub concurrency: u16,
}

struct Delivery {
    tenant: String,
    incident: String,
    title: String,
    key: String,
    at: Instant,
}

pub async fn rows(setup: &Setup, figures: &ServeFigures) -> Result<Vec<Row>, Failure> {
    let options = MultiTenantOptions {
        tenants: figures.tenants,
        incidents_per_tenant: figures.incidents_per_tenant,
        ..MultiTenantOptions::default()
    };
    let emulator =
        MultiTenantEmulator::start(options).await.map_err(|e| failure(format!("cannot start the emulator: {e}")))?;
    let folder = setup.scratch.join("serve");
    let tenants_dir = folder.join("tenants");
    std::fs::create_dir_all(&tenants_dir).map_err(|e| failure(e.to_string()))?;
    for (index, tenant) in emulator.tenants().iter().enumerate() {
        let path = tenants_dir.join(format!("t{index:05}.toml"));
        std::fs::write(path, tenant.config_toml(&emulator.url())).map_err(|e| failure(e.to_string()))?;
    }
    let tenants = emulator.tenants().len();
    let seeded = tenants * figures.incidents_per_tenant;
    progress(format!("serve: {} tenants, {} seeded incidents", thousands(tenants as u64), thousands(seeded as u64)));

    let started = Instant::now();
    let mut child = spawn(setup, &folder, &emulator.url(), figures)?;
    let pid = child.id();
    let deliveries = read_deliveries(child.stdout.take().ok_or_else(|| failure("no stdout".into()))?);
    let mut seen = Vec::new();
    collect(&deliveries, &mut seen, seeded, Duration::from_secs(600))?;
    let backlog = started.elapsed();
    let first = seen.first().map(|d| d.at - started).unwrap_or_default();

    // Live: one fresh incident per tenant, spread over about five seconds.
    let spread = Duration::from_secs(5);
    let mut inserted = HashMap::new();
    for index in 0..tenants {
        let title = format!("Live incident of t{index:05}");
        emulator
            .apply(index, Mutation::Create(NewIncident { title: Some(title.clone()), ..NewIncident::default() }))
            .ok_or_else(|| failure(format!("the emulator refused tenant {index}'s incident")))?;
        inserted.insert(title, Instant::now());
        tokio::time::sleep(spread / tenants as u32).await;
    }
    let live_wait = Duration::from_secs(figures.interval_seconds * 3 + 60);
    collect(&deliveries, &mut seen, seeded + tenants, live_wait)?;
    let peak_rss = vm_hwm(pid);

    let stop = Instant::now();
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let exit = child.wait().map_err(|e| failure(e.to_string()))?;
    let drained = stop.elapsed();
    seen.extend(deliveries.try_iter());

    let lags: Vec<Duration> =
        seen.iter().filter_map(|d| inserted.get(&d.title).map(|at| d.at.saturating_duration_since(*at))).collect();
    let worst = lags.iter().max().copied().unwrap_or_default();
    let (missing, doubled) = exactly_once(&seen, &emulator, tenants);
    let live = lags.len();
    let note = format!(
        "{} tenants × {} incidents from one emulator; --interval {} s, --concurrency {}; child process, NDJSON read from its pipe",
        thousands(tenants as u64),
        figures.incidents_per_tenant,
        figures.interval_seconds,
        figures.concurrency
    );
    Ok(vec![
        Row::new(format!("serve: {} tenants, every incident once", thousands(tenants as u64)), format!("{missing} missing, {doubled} doubled"))
            .goal("0 missing, 0 doubled", missing == 0 && doubled == 0)
            .note(format!("{} deliveries, counted by idempotency key and by (tenant, incident)", thousands(seen.len() as u64))),
        Row::new("serve: backlog delivered (start to last event)", secs(backlog))
            .target("report events/s")
            .note(format!(
                "{} events/s; first event after {}; {note}",
                thousands(per_second(seeded, backlog)),
                secs(first)
            )),
        Row::new("serve: resident memory (peak)", peak_rss.map_or("unknown".into(), mib))
            .target("report")
            .note(format!("VmHWM of the service, {} tenant sessions open", thousands(tenants as u64))),
        Row::new("serve: worst tenant's lag behind its newest incident", secs(worst))
            .target("report")
            .note(format!(
                "{live} live incidents, one per tenant; p50 {}, p99 {}; insertion to its line on the pipe (an interval of {} s ±10% dominates)",
                secs(percentile(&lags, 50)),
                secs(percentile(&lags, 99)),
                figures.interval_seconds
            )),
        Row::new("serve: SIGTERM to exit", secs(drained))
            .target("report")
            .note(format!(
                "each tenant finishes its batch and saves its cursor; exit code {}",
                exit.code().map_or("none (a signal)".into(), |code| code.to_string())
            )),
    ])
}

fn spawn(setup: &Setup, folder: &Path, url: &str, figures: &ServeFigures) -> Result<std::process::Child, Failure> {
    let mut command = Command::new(&setup.exe);
    if let Some(path) = &setup.component_path {
        command.arg("--component").arg(path);
    }
    command
        .args(["--allow-private-network", "serve", "--tenants"])
        .arg(folder.join("tenants"))
        .arg("--state")
        .arg(folder.join("state"))
        .args(["--allow-origin", url, "--ops", "off", "--first-fetch", "40d", "--rescan", "3600"])
        .args(["--interval", &figures.interval_seconds.to_string()])
        .args(["--concurrency", &figures.concurrency.to_string()])
        .env("XDG_CACHE_HOME", &setup.scratch)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command.spawn().map_err(|e| failure(format!("cannot start `sentinel serve`: {e}")))
}

fn read_deliveries(stdout: std::process::ChildStdout) -> mpsc::Receiver<Delivery> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let at = Instant::now();
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
            let delivery = Delivery {
                tenant: text(&event["tenant"]),
                incident: text(&event["incident"]["id"]),
                title: text(&event["incident"]["title"]),
                key: text(&event["idempotency_key"]),
                at,
            };
            if send.send(delivery).is_err() {
                break;
            }
        }
    });
    receive
}

/// Takes deliveries until `seen` holds `count`, within `budget`.
fn collect(
    deliveries: &mpsc::Receiver<Delivery>,
    seen: &mut Vec<Delivery>,
    count: usize,
    budget: Duration,
) -> Result<(), Failure> {
    let deadline = Instant::now() + budget;
    while seen.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match deliveries.recv_timeout(left) {
            Ok(delivery) => seen.push(delivery),
            Err(_) => {
                return Err(failure(format!("{} of {count} events within {}", seen.len(), secs(budget))));
            }
        }
    }
    Ok(())
}

/// How many of the emulator's incidents never came, and how many came more
/// than once (by key, or by tenant and incident).
fn exactly_once(seen: &[Delivery], emulator: &MultiTenantEmulator, tenants: usize) -> (usize, usize) {
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    let mut by_incident: HashMap<(&str, &str), usize> = HashMap::new();
    for delivery in seen {
        *by_key.entry(&delivery.key).or_default() += 1;
        *by_incident.entry((&delivery.tenant, &delivery.incident)).or_default() += 1;
    }
    let doubled = by_key.values().chain(by_incident.values()).filter(|n| **n > 1).count();
    let mut missing = 0;
    for index in 0..tenants {
        let tenant = format!("t{index:05}");
        for incident in emulator.incidents(index) {
            let name = incident["name"].as_str().unwrap_or_default();
            if !by_incident.contains_key(&(tenant.as_str(), name)) {
                missing += 1;
            }
        }
    }
    (missing, doubled)
}

/// The child's peak resident set (`VmHWM`), from /proc.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}
