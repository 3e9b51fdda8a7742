//! `sentinel bench`: the speed and memory figures the README quotes, measured
//! against an in-process emulator over loopback and written as a table.
//! Build it optimized (`--profile host`); a debug build says so in the table.
//!
//! The sans-IO core also runs natively, over a plain hyper transport, on the
//! same emulator: the connector benchmarked against itself, so the table shows
//! what the component boundary and `wasi:http` cost.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sentinel_connector::core::error::Error as CoreError;
use sentinel_connector::core::http::{Request, Response, Timeouts};
use sentinel_connector::core::sentinel::incidents::ListOptions;
use sentinel_connector::core::{Client, ConnectionConfig, Settings, Transport};

use super::{exit, Failure};
use crate::config::{self, FileConfig};
use crate::emulator::{Emulator, EmulatorOptions};
use crate::runtime::containment::Action;
use crate::runtime::egress::{EgressPolicy, PrivateNetwork};
use crate::runtime::graph_security::ListOptions as GraphListOptions;
use crate::runtime::types::ListIncidentsOptions;
use crate::runtime::{
    graph_list_options, poll_options, ConnectorHost, HostOptions, Limits, Session, EMBEDDED_COMPONENT,
};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Where the table is written (Markdown).
    #[arg(long, default_value = "bench/results.md")]
    out: PathBuf,
    /// Incidents in the emulator for the list and poll figures.
    #[arg(long, default_value_t = 5000)]
    incidents: usize,
    /// Tenant sessions opened (and kept open) for the per-session figures.
    #[arg(long, default_value_t = 64)]
    sessions: u32,
    /// Repetitions of each timed action; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// One row of the table.
struct Row {
    measure: String,
    value: String,
    note: String,
}

fn row(measure: &str, value: String, note: &str) -> Row {
    Row { measure: measure.to_owned(), value, note: note.to_owned() }
}

pub async fn run(args: BenchArgs) -> Result<(), Failure> {
    let mut rows =
        vec![row("component size", format!("{} bytes", EMBEDDED_COMPONENT.len()), "release build, stripped")];
    rows.extend(load_times()?);
    let emulator =
        Emulator::start(EmulatorOptions { incidents: args.incidents, seed: 1, ..EmulatorOptions::default() })
            .await
            .map_err(|e| failure(format!("cannot start the emulator: {e}")))?;
    let url = emulator.url();
    let connection = config::resolve(&|_| None, &FileConfig::default(), Some(&url))?;
    let limits = Limits { max_sessions: args.sessions + 4, ..Limits::default() };
    let host = ConnectorHost::new(HostOptions {
        limits,
        egress: EgressPolicy::operator(PrivateNetwork::LoopbackOnly),
        ..HostOptions::default()
    })?;

    rows.extend(sessions(&host, &connection, args.sessions).await?);
    let mut session = host.open("bench", connection.clone(), None).await?;
    rows.push(list_all(&mut session, args.incidents, args.runs).await?);
    rows.push(native_list_all(connection.clone(), args.incidents, args.runs).await?);
    rows.push(poll_drain(&host, &connection, args.incidents).await?);
    rows.extend(graph(&mut session, args.runs).await?);

    let table = render(&rows, &args);
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| failure(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(&args.out, &table).map_err(|e| failure(format!("cannot write {}: {e}", args.out.display())))?;
    println!("{table}");
    eprintln!("written to {}", args.out.display());
    Ok(())
}

fn failure(message: String) -> Failure {
    Failure { code: exit::OTHER, message }
}

/// Compiling the component with Cranelift, against loading the artifact the
/// disk cache keeps.
fn load_times() -> Result<Vec<Row>, Failure> {
    let cache = std::env::temp_dir().join(format!("sentinel-bench-{}", std::process::id()));
    let timed = |cache_dir: Option<PathBuf>| -> Result<Duration, Failure> {
        let started = Instant::now();
        ConnectorHost::new(HostOptions {
            cache_dir,
            egress: EgressPolicy::operator(PrivateNetwork::LoopbackOnly),
            ..HostOptions::default()
        })?;
        Ok(started.elapsed())
    };
    let cold = timed(None)?;
    timed(Some(cache.clone()))?; // fills the cache
    let warm = timed(Some(cache.clone()))?;
    let _ = std::fs::remove_dir_all(&cache);
    Ok(vec![
        row("host start, component compiled", ms(cold), "engine + Cranelift compile + InstancePre"),
        row("host start, from the disk cache", ms(warm), "engine + deserialize + InstancePre"),
    ])
}

/// Opening tenant sessions (instantiate + `connection.open`), kept open to
/// measure what each costs in resident memory.
async fn sessions(host: &ConnectorHost, connection: &ConnectionConfig, count: u32) -> Result<Vec<Row>, Failure> {
    let before = resident_bytes();
    let mut open = Vec::new();
    let mut times = Vec::new();
    for tenant in 0..count {
        let started = Instant::now();
        open.push(host.open(&format!("tenant-{tenant}"), connection.clone(), None).await?);
        times.push(started.elapsed());
    }
    let per_session = match (before, resident_bytes()) {
        (Some(before), Some(after)) => format!("{} KiB", after.saturating_sub(before) / u64::from(count.max(1)) / 1024),
        _ => "n/a (needs /proc)".into(),
    };
    times.sort();
    Ok(vec![
        row(
            "open a tenant session (median)",
            us(times[times.len() / 2]),
            &format!("instantiate + open, {count} sessions"),
        ),
        row("open a tenant session (p99)", us(times[(times.len() * 99 / 100).min(times.len() - 1)]), ""),
        row("resident memory per open session", per_session, "RSS growth / sessions, all kept open"),
    ])
}

async fn list_all(session: &mut Session, incidents: usize, runs: usize) -> Result<Row, Failure> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let options =
            ListIncidentsOptions { filter: None, orderby: None, top: Some(1000), continuation: None, max_pages: None };
        let started = Instant::now();
        let all = session.list_all_incidents(options).await?;
        times.push(started.elapsed());
        if all.len() != incidents {
            return Err(failure(format!("listed {} incidents, not {incidents}", all.len())));
        }
    }
    let median = median(times);
    Ok(row(
        "list-all-incidents, component",
        ms(median),
        &format!("{incidents} incidents, pages of 1000, {} incidents/s", per_second(incidents, median)),
    ))
}

/// The same walk by the same core compiled natively, over hyper.
async fn native_list_all(connection: ConnectionConfig, incidents: usize, runs: usize) -> Result<Row, Failure> {
    let settings = Settings::from_config(connection).map_err(|e| failure(e.to_string()))?;
    let times = tokio::task::spawn_blocking(move || -> Result<Vec<Duration>, String> {
        let mut client = Client::new(settings);
        let mut transport = NativeHttp::new().map_err(|e| e.to_string())?;
        let mut times = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            let all = client
                .sentinel()
                .list_all_incidents(&mut transport, &ListOptions { top: Some(1000), ..ListOptions::default() })
                .map_err(|e| e.to_string())?;
            times.push(started.elapsed());
            if all.len() != incidents {
                return Err(format!("listed {} incidents, not {incidents}", all.len()));
            }
        }
        Ok(times)
    })
    .await
    .map_err(|e| failure(format!("the native run panicked: {e}")))?
    .map_err(failure)?;
    let median = median(times);
    Ok(row(
        "list-all-incidents, native core",
        ms(median),
        &format!("same walk, no wasm, {} incidents/s", per_second(incidents, median)),
    ))
}

/// A backlog drained by polling with the default batch size.
async fn poll_drain(host: &ConnectorHost, connection: &ConnectionConfig, incidents: usize) -> Result<Row, Failure> {
    let mut session = host.open("poller", connection.clone(), None).await?;
    let mut options = poll_options();
    options.first_fetch = Some("2000-01-01T00:00:00Z".into());
    options.max_events = Some(500);
    let (mut cursor, mut delivered, mut polls) = (None, 0, 0);
    let started = Instant::now();
    loop {
        let batch = session.poll(cursor.take(), options.clone()).await?;
        delivered += batch.events.len();
        polls += 1;
        cursor = Some(batch.cursor);
        if !batch.more {
            break;
        }
    }
    let took = started.elapsed();
    if delivered != incidents {
        return Err(failure(format!("the poller delivered {delivered} events for {incidents} incidents")));
    }
    Ok(row(
        "poll: drain the backlog",
        ms(took),
        &format!("{delivered} events in {polls} polls of at most 500, {} events/s", per_second(delivered, took)),
    ))
}

async fn graph(session: &mut Session, runs: usize) -> Result<Vec<Row>, Failure> {
    let mut list_times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        session.graph().list_all_incidents(GraphListOptions { top: Some(10), ..graph_list_options() }).await?;
        list_times.push(started.elapsed());
    }
    let mut dry_runs = Vec::new();
    for _ in 0..runs.max(20) {
        let started = Instant::now();
        session.graph().contain("bob@contoso.onmicrosoft.com", Action::DisableAccount, true).await?;
        dry_runs.push(started.elapsed());
    }
    Ok(vec![
        row("graph list-all-incidents", ms(median(list_times)), "45 incidents, pages of 10 via @odata.nextLink"),
        row("containment dry run", us(median(dry_runs)), "resolve the user, apply the guardrails, plan"),
    ])
}

fn render(rows: &[Row], args: &BenchArgs) -> String {
    let build = if cfg!(debug_assertions) {
        "DEBUG build: rerun with --profile host for real figures"
    } else {
        "optimized build"
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN).set_header(["measure", "value", "note"]);
    for row in rows {
        table.add_row([&row.measure, &row.value, &row.note]);
    }
    format!(
        "# Benchmark\n\n`sentinel bench --incidents {} --sessions {} --runs {}`; {build}; {cores} cores; {} {}; emulator in-process over loopback.\n\n{table}\n",
        args.incidents,
        args.sessions,
        args.runs,
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn us(duration: Duration) -> String {
    format!("{} µs", duration.as_micros())
}

fn per_second(count: usize, took: Duration) -> u64 {
    (count as f64 / took.as_secs_f64().max(1e-9)) as u64
}

/// The process's resident set, from /proc (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A native transport for the core: one HTTP/1.1 connection per request over
/// loopback, like the component's, on its own current-thread runtime.
struct NativeHttp {
    runtime: tokio::runtime::Runtime,
    started: Instant,
}

impl NativeHttp {
    fn new() -> std::io::Result<Self> {
        Ok(NativeHttp {
            runtime: tokio::runtime::Builder::new_current_thread().enable_all().build()?,
            started: Instant::now(),
        })
    }

    async fn exchange(request: &Request) -> Result<Response, String> {
        let host = request.url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = request.url.port_or_known_default().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| e.to_string())?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let target = match request.url.query() {
            Some(query) => format!("{}?{query}", request.url.path()),
            None => request.url.path().to_owned(),
        };
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(target)
            .header("host", format!("{host}:{port}"));
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let answer = sender
            .send_request(builder.body(Full::new(bytes::Bytes::from(request.body.clone()))).map_err(|e| e.to_string())?)
            .await
            .map_err(|e| e.to_string())?;
        let status = answer.status().as_u16();
        let headers =
            answer.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned())).collect();
        let body = answer.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes().to_vec();
        Ok(Response { status, headers, body })
    }
}

impl Transport for NativeHttp {
    fn send(&mut self, request: &Request, _: &Timeouts) -> Result<Response, CoreError> {
        self.runtime
            .block_on(Self::exchange(request))
            .map_err(|e| CoreError::transport(e, "the native benchmark transport failed"))
    }

    fn now_unix_secs(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    fn monotonic_millis(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn random_u64(&mut self) -> u64 {
        rand::random()
    }
}
