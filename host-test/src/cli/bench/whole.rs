//! Whole processes listing every incident of one emulator: the `sentinel`
//! CLI, Microsoft's Python SDK and plain page fetching, each a child of the
//! bench, timed from spawn to exit with its CPU and peak memory from `wait4`;
//! the CLI streaming a large workspace; and the emulator's own page rate.

use std::time::{Duration, Instant};

use super::fetch;
use super::process::{Capture, Child, Measured};
use super::table::Row;
use super::{failure, median, mib, ms, per_second, secs, thousands, Setup};
use crate::cli::Failure;
use crate::emulator::{Emulator, EmulatorOptions};

const PAGE: usize = 1000;
/// Each incident the CLI prints as JSON has exactly one of these.
const INCIDENT_KEY: &[u8] = b"\"number\":";
const SPEEDUP_GOAL: f64 = 5.0;
const CPU_GOAL: f64 = 10.0;
const PAGE_GOAL: Duration = Duration::from_millis(5);

/// An emulator holding `incidents`, and how long generating them took.
pub async fn emulator(incidents: usize) -> Result<(Emulator, Duration), Failure> {
    let started = Instant::now();
    let emulator = Emulator::start(EmulatorOptions { incidents, seed: 1, ..EmulatorOptions::default() })
        .await
        .map_err(|e| failure(format!("cannot start the emulator: {e}")))?;
    Ok((emulator, started.elapsed()))
}

/// The CLI child listing every incident, output counted from its pipe.
fn cli(setup: &Setup, url: &str) -> Child {
    let mut child = Child::new(&setup.exe).env("XDG_CACHE_HOME", &setup.scratch);
    if let Some(path) = &setup.component_path {
        child = child.arg("--component").arg(path);
    }
    child.arg("--emulator").arg(url).args(["-o", "json", "incidents", "list", "--all", "--top", "1000"])
}

/// One untimed run, so the compiled component is in the CLI's cache for the
/// timed ones (a first run's compile is its own row).
pub async fn warm_cli(setup: &Setup, url: &str) -> Result<(), Failure> {
    cli(setup, url).run(Capture::Count(INCIDENT_KEY)).await.map(drop).map_err(failure)
}

/// `incidents list --all` over a large workspace through the CLI.
pub async fn stream(setup: &Setup, incidents: usize) -> Result<Row, Failure> {
    let measure = format!("`incidents list --all` at {} incidents, CLI (streamed)", thousands(incidents as u64));
    let (emulator, generated) = emulator(incidents).await?;
    let run = cli(setup, &emulator.url()).run(Capture::Count(INCIDENT_KEY)).await.map_err(failure)?;
    emulator.shutdown().await;
    Ok(Row::new(measure, secs(run.wall)).goal("completes; report peak RSS and time", run.count == incidents).note(
        format!(
            "{} incidents out ({} MiB of JSON), peak RSS of the CLI {}, CPU {}, {} incidents/s; emulator built in {}",
            thousands(run.count as u64),
            run.bytes >> 20,
            mib(run.peak_rss_bytes),
            secs(run.cpu),
            thousands(per_second(run.count, run.wall)),
            secs(generated)
        ),
    ))
}

/// The emulator alone, then the three clients, at one workspace size: the
/// emulator's row, and the clients' rows.
pub async fn compare(setup: &Setup, incidents: usize, budget: Duration) -> Result<(Row, Vec<Row>), Failure> {
    let size = thousands(incidents as u64);
    let (emulator, generated) = emulator(incidents).await?;
    let url = emulator.url();
    let page = page_rate(&emulator, incidents, budget).await?;
    let mut rows = Vec::new();
    // Fewer repetitions of the slow runs; every client gets the same number.
    let runs = if incidents > 20_000 { 1 } else { setup.runs.min(3) };
    let pages = incidents.div_ceil(PAGE).max(1);

    let ours = repeat(runs, || cli(setup, &url), Capture::Count(INCIDENT_KEY), |m| m.count == incidents).await;
    let plain = repeat(
        runs,
        || Child::new(&setup.exe).args(["bench", "--fetch-pages", &url]),
        Capture::Keep,
        |m| m.stdout.contains(&format!("\"pages\":{pages},")),
    )
    .await;
    let sdk = match &setup.python {
        None => None,
        Some(python) => Some(
            repeat(
                runs,
                || {
                    Child::new(python).arg(&setup.peer_script).args([
                        "--emulator",
                        &url,
                        "--top",
                        "1000",
                        "--expect",
                        &incidents.to_string(),
                    ])
                },
                Capture::Keep,
                |m| m.stdout.contains(&format!("\"incidents\": {incidents}")),
            )
            .await,
        ),
    };
    emulator.shutdown().await;

    let client_row = |name: &str, run: &Result<Summary, String>| match run {
        Ok(s) => Row::new(format!("  {name}"), secs(s.wall)).target("(compared below)").note(format!(
            "CPU {} ({:.1} µs/incident), peak RSS {}",
            secs(s.cpu),
            s.cpu.as_secs_f64() * 1e6 / incidents as f64,
            mib(s.peak_rss_bytes)
        )),
        Err(why) => Row::failed(format!("  {name}"), "(compared below)", why.clone()),
    };
    rows.push(
        Row::new(format!("list {size} incidents, whole process"), "")
            .note(format!("same emulator (built in {}), pages of 1,000; median of {runs}", secs(generated))),
    );
    rows.push(client_row("sentinel CLI (wasm component)", &ours));
    match &sdk {
        Some(sdk) => rows.push(client_row("Python SDK (azure-mgmt-securityinsight 1.0.0)", sdk)),
        None => rows.push(Row::skipped("  Python SDK", "(compared below)", "run with --peer python")),
    }
    rows.push(client_row("plain page fetching (hyper, no parsing)", &plain));
    rows.extend(ratios(&ours, sdk.as_ref()));
    Ok((page, rows))
}

fn ratios(ours: &Result<Summary, String>, sdk: Option<&Result<Summary, String>>) -> Vec<Row> {
    let speed = "  CLI vs SDK, end to end";
    let cpu = "  CLI vs SDK, client CPU per incident";
    let (speed_goal, cpu_goal) = ("≥ 5× faster", "≥ 10× less");
    match (ours, sdk) {
        (Ok(ours), Some(Ok(sdk))) => {
            let faster = sdk.wall.as_secs_f64() / ours.wall.as_secs_f64().max(1e-9);
            let less = sdk.cpu.as_secs_f64() / ours.cpu.as_secs_f64().max(1e-9);
            vec![
                Row::new(speed, format!("{faster:.1}× faster")).goal(speed_goal, faster >= SPEEDUP_GOAL),
                Row::new(cpu, format!("{less:.1}× less"))
                    .goal(cpu_goal, less >= CPU_GOAL)
                    .note("user + sys of each child"),
            ]
        }
        (_, None) => vec![
            Row::skipped(speed, speed_goal, "needs --peer python"),
            Row::skipped(cpu, cpu_goal, "needs --peer python"),
        ],
        _ => vec![
            Row::failed(speed, speed_goal, "a client failed (above)"),
            Row::failed(cpu, cpu_goal, "a client failed (above)"),
        ],
    }
}

/// Medians of a client's runs.
struct Summary {
    wall: Duration,
    cpu: Duration,
    peak_rss_bytes: u64,
}

async fn repeat(
    runs: usize,
    child: impl Fn() -> Child,
    capture: Capture,
    complete: impl Fn(&Measured) -> bool,
) -> Result<Summary, String> {
    let mut measured = Vec::new();
    for _ in 0..runs.max(1) {
        let run = child().run(capture).await?;
        if !complete(&run) {
            return Err(format!("incomplete list: {}", run.stdout.trim().chars().take(200).collect::<String>()));
        }
        measured.push(run);
    }
    Ok(Summary {
        wall: median(measured.iter().map(|m| m.wall).collect()),
        cpu: median(measured.iter().map(|m| m.cpu).collect()),
        peak_rss_bytes: measured.iter().map(|m| m.peak_rss_bytes).max().unwrap_or(0),
    })
}

/// The emulator alone: pages of 1,000 on one kept-alive connection.
async fn page_rate(emulator: &Emulator, incidents: usize, budget: Duration) -> Result<Row, Failure> {
    let walk = fetch::page_rate(emulator.addr(), PAGE, budget).await.map_err(failure)?;
    let total: Duration = walk.times.iter().sum();
    let mean = total / walk.pages.max(1) as u32;
    let rate = walk.pages as f64 / total.as_secs_f64().max(1e-9);
    Ok(Row::new(
        format!("emulator alone: a page of 1,000 at {} incidents", thousands(incidents as u64)),
        format!("{rate:.0} pages/s"),
    )
    .goal("a page in ≤ 5 ms", mean <= PAGE_GOAL)
    .note(format!(
        "mean {}, p50 {}, p99 {} over {} pages ({} MiB/s)",
        ms(mean),
        ms(super::percentile(&walk.times, 50)),
        ms(super::percentile(&walk.times, 99)),
        thousands(walk.pages as u64),
        (walk.bytes as f64 / total.as_secs_f64().max(1e-9)) as u64 >> 20
    )))
}
