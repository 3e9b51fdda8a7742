//! `sentinel bench`: the figures of issue 12, each beside its goal, from one
//! run against emulators in-process over loopback, written as a table
//! (bench/results.md). Build it optimized (`--profile host`); a debug build
//! says so in the table.
//!
//! What is measured where: `sessions` (density: sessions open at once, their
//! memory and open times), `load` (the component's size, the first request
//! compiling or from the cache), `calls` (the list walk in wasm against the
//! same core natively, the poller), `whole` (whole processes: the CLI, the
//! Python SDK peer and plain page fetching, each a child reaped with `wait4`
//! by `process`; the emulator's own page rate), `fetch` (plain hyper),
//! `hosts` (the same `.wasm` in the Rust, Python and Node.js hosts), `serve`
//! (`sentinel serve` with a thousand tenants), `table`.
//!
//! The sans-IO core also runs natively here, over the plain hyper transport
//! below, on the same emulator: the connector benchmarked against itself, so
//! the table shows what the component boundary and `wasi:http` cost.

mod calls;
mod fetch;
pub mod fleet;
mod hosts;
mod load;
mod process;
mod serve;
mod sessions;
mod table;
mod whole;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sentinel_connector::core::error::Error as CoreError;
use sentinel_connector::core::http::{Request, Response, Timeouts};
use sentinel_connector::core::{ConnectionConfig, Transport};

use super::{exit, Failure};
use crate::config::{self, FileConfig};
use crate::emulator::{Emulator, EmulatorOptions};
use crate::runtime::egress::{EgressPolicy, PrivateNetwork};
use crate::runtime::{ConnectorHost, HostOptions, Limits, EMBEDDED_COMPONENT};
use table::Row;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Where the table is written (Markdown) [default: bench/results.md; with --quick, a file in the temp folder].
    #[arg(long)]
    out: Option<PathBuf>,
    /// A smoke run in well under a minute: small figures (each still settable below), one run of each.
    #[arg(long)]
    quick: bool,
    /// Tenant sessions opened in one host and kept open at once [default: 10000; quick: 200].
    #[arg(long)]
    sessions: Option<u32>,
    /// Incidents for the wasm-vs-native walk and the poll drain [default: 5000; quick: 1000].
    #[arg(long)]
    incidents: Option<usize>,
    /// Incidents `incidents list --all` streams through the CLI [default: 200000; quick: 10000].
    #[arg(long)]
    stream_incidents: Option<usize>,
    /// Workspace sizes of the whole-process comparison and of the emulator's
    /// page rate, comma-separated [default: 10000,100000; quick: 2000].
    #[arg(long, value_delimiter = ',')]
    peer_incidents: Option<Vec<usize>>,
    /// Repetitions of each timed action; the median is reported [default: 5; quick: 1].
    #[arg(long)]
    runs: Option<usize>,
    /// Also measure a peer: `python` runs bench/peer/sdk_list.py (Microsoft's
    /// SDK) with .venv/bin/python; install it with
    /// `.venv/bin/pip install -r bench/peer/requirements.txt`.
    #[arg(long, value_parser = super::values::azure::<Peer>())]
    peer: Option<Peer>,
    /// The Python interpreter of the SDK peer (implies --peer python).
    #[arg(long, value_name = "PATH")]
    peer_python: Option<PathBuf>,
    /// Only this part (its own table) [default: bench/serve.md for serve].
    #[arg(long, value_parser = super::values::azure::<Part>())]
    only: Option<Part>,
    /// Tenants of one `sentinel serve` [default: 1000; quick: 50].
    #[arg(long, value_name = "N")]
    serve_tenants: Option<u32>,
    /// Plain page fetching, the baseline the bench runs as a child process:
    /// every page of the emulator at URL, nothing parsed.
    #[arg(long, hide = true, value_name = "URL")]
    fetch_pages: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Peer {
    /// Microsoft's azure-mgmt-securityinsight 1.0.0 (bench/peer/sdk_list.py).
    Python,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// `sentinel serve` with many tenants: delivery, memory, lag.
    Serve,
    /// Three `sentinel serve --nats` workers, one killed, one stopped.
    Fleet,
}

/// The figures of this run: the issue's, or --quick's, or the ones given.
struct Figures {
    sessions: u32,
    incidents: usize,
    stream_incidents: usize,
    peer_incidents: Vec<usize>,
    runs: usize,
    /// How long the emulator's page rate is measured at each size.
    page_budget: Duration,
    serve: serve::ServeFigures,
}

impl Figures {
    fn of(args: &BenchArgs) -> Figures {
        fn choose<T>(quick: bool, small: T, full: T) -> T {
            if quick {
                small
            } else {
                full
            }
        }
        let quick = args.quick;
        let pick = |small, full| choose(quick, small, full);
        Figures {
            sessions: args.sessions.unwrap_or(choose(quick, 200, 10_000)),
            incidents: args.incidents.unwrap_or(pick(1000, 5000)),
            stream_incidents: args.stream_incidents.unwrap_or(pick(10_000, 200_000)),
            peer_incidents: args
                .peer_incidents
                .clone()
                .unwrap_or_else(|| choose(quick, vec![2000], vec![10_000, 100_000])),
            runs: args.runs.unwrap_or(pick(1, 5)).max(1),
            page_budget: choose(quick, Duration::from_millis(300), Duration::from_secs(2)),
            serve: serve::ServeFigures {
                tenants: args.serve_tenants.unwrap_or(choose(quick, 50, 1000)),
                incidents_per_tenant: 5,
                interval_seconds: 5,
                concurrency: 16,
            },
        }
    }
}

/// What every part of the run shares.
pub(crate) struct Setup {
    component: Vec<u8>,
    /// The --component given, passed on to the CLI's child processes.
    component_path: Option<PathBuf>,
    /// The bench's own folder (removed at the end): the compiled-component
    /// cache of its hosts and, as XDG_CACHE_HOME, of the CLI it runs.
    scratch: PathBuf,
    exe: PathBuf,
    python: Option<PathBuf>,
    peer_script: PathBuf,
    runs: usize,
}

impl Setup {
    fn new(args: &BenchArgs, component_path: Option<PathBuf>, runs: usize) -> Result<Setup, Failure> {
        let usage = |message: String| Failure { code: exit::USAGE, message };
        let component = match &component_path {
            Some(path) => {
                std::fs::read(path).map_err(|e| usage(format!("cannot read the component {}: {e}", path.display())))?
            }
            None => EMBEDDED_COMPONENT.to_vec(),
        };
        let peer_script = [PathBuf::from("bench/peer/sdk_list.py"), PathBuf::from(PEER_SCRIPT)]
            .into_iter()
            .find(|path| path.is_file())
            .unwrap_or_else(|| PathBuf::from(PEER_SCRIPT));
        let python = match (&args.peer_python, args.peer) {
            (Some(python), _) => Some(python.clone()),
            (None, Some(Peer::Python)) => Some(PathBuf::from(".venv/bin/python")),
            (None, None) => None,
        };
        if let Some(python) = &python {
            if !python.exists() || !peer_script.is_file() {
                return Err(usage(format!(
                    "the Python peer needs {} and {}: python3 -m venv .venv && .venv/bin/pip install -r bench/peer/requirements.txt",
                    python.display(),
                    peer_script.display()
                )));
            }
        }
        let scratch = std::env::temp_dir().join(format!("sentinel-bench-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).map_err(|e| failure(format!("cannot create {}: {e}", scratch.display())))?;
        let exe = std::env::current_exe().map_err(|e| failure(format!("cannot find this program: {e}")))?;
        Ok(Setup { component, component_path, scratch, exe, python, peer_script, runs })
    }

    /// A host for the bench's in-process measures, loopback allowed.
    fn host_options(&self, max_sessions: u32) -> HostOptions {
        HostOptions {
            component: self.component.clone(),
            cache_dir: Some(self.scratch.join("sentinel-connector")),
            limits: Limits { max_sessions, ..Limits::default() },
            egress: EgressPolicy::operator(PrivateNetwork::LoopbackOnly),
            extra_ca_pem: None,
            proxies: Default::default(),
            request_budget: None,
        }
    }

    fn connection(&self, url: &str) -> Result<ConnectionConfig, Failure> {
        Ok(config::resolve(&|_| None, &FileConfig::default(), Some(url))?)
    }
}

const PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/peer/sdk_list.py");

/// `component`: the CLI's --component, measured instead of the embedded one.
pub async fn run(args: BenchArgs, component: Option<PathBuf>) -> Result<(), Failure> {
    if let Some(url) = &args.fetch_pages {
        println!("{}", fetch::fetch_pages_child(url, 1000).await.map_err(failure)?);
        return Ok(());
    }
    let figures = Figures::of(&args);
    let setup = Setup::new(&args, component, figures.runs)?;
    let result = match args.only {
        Some(Part::Serve) => measure_serve(&setup, &figures).await,
        Some(Part::Fleet) => measure_fleet(&setup, &figures).await,
        None => measure(&setup, &figures).await,
    };
    let _ = std::fs::remove_dir_all(&setup.scratch);
    let (goals, others, took) = result?;

    let started = SystemTime::now() - took;
    let header = table::Header {
        command: command_line(),
        machine: machine(),
        component: match &setup.component_path {
            Some(path) => format!("`{}` (--component)", path.display()),
            None => "the one embedded in this build".into(),
        },
        started: humantime::format_rfc3339_seconds(started).to_string(),
        took,
    };
    let text = table::render(&header, &goals, &others);
    let out = args.out.clone().unwrap_or_else(|| match (args.quick, args.only) {
        (true, _) => std::env::temp_dir().join("sentinel-bench-quick.md"),
        (false, Some(Part::Serve)) => PathBuf::from("bench/serve.md"),
        (false, Some(Part::Fleet)) => PathBuf::from("bench/fleet.md"),
        (false, None) => PathBuf::from("bench/results.md"),
    });
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| failure(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(&out, &text).map_err(|e| failure(format!("cannot write {}: {e}", out.display())))?;
    println!("{text}");
    eprintln!("written to {}", out.display());
    Ok(())
}

/// Every measure, in an order that keeps them apart (the sessions' memory
/// before any large emulator exists); shown in the order.
async fn measure(setup: &Setup, figures: &Figures) -> Result<(Vec<Row>, Vec<Row>, Duration), Failure> {
    let started = Instant::now();
    let runs = figures.runs;
    let emulator =
        Emulator::start(EmulatorOptions { incidents: figures.incidents, seed: 1, ..EmulatorOptions::default() })
            .await
            .map_err(|e| failure(format!("cannot start the emulator: {e}")))?;
    let connection = setup.connection(&emulator.url())?;

    let first = "first request, no cache / from the cache";
    progress(format!("{first}, and the component's size"));
    let load = or_failed(
        load::first_request(&setup.component, &connection, setup.scratch.join("first-request"), runs).await,
        first,
        "≤ 150 ms / ≤ 3 ms",
    );
    let size = load::size(
        &setup.component,
        if setup.component_path.is_some() { "the --component given" } else { "the component embedded in this build" },
    );

    progress(format!("opening {} sessions", thousands(figures.sessions.into())));
    let sessions = or_failed(
        sessions::rows(setup.host_options(figures.sessions), &connection, figures.sessions).await,
        "live tenant sessions in one host",
        "10,000 open at once",
    );

    progress("the component against the native core".into());
    let host = ConnectorHost::new(setup.host_options(8))?;
    let mut session = host.open("bench", connection.clone(), None).await?;
    let versus = or_failed(
        calls::wasm_vs_native(&mut session, &connection, figures.incidents, runs).await.map(|row| vec![row]),
        "wasm vs native core",
        "≤ 1.10×",
    );
    let mut others = or_failed(
        calls::poll_drain(&host, &connection, figures.incidents).await.map(|row| vec![row]),
        "poll: drain the backlog",
        "",
    );
    others.extend(or_failed(calls::graph(&mut session, runs).await, "graph and containment", ""));
    drop(session);
    drop(host);
    progress("the Graph poller's drain".into());
    others.extend(or_failed(
        calls::graph_poll_drain(setup, figures.incidents).await.map(|row| vec![row]),
        "graph poll: drain the backlog",
        "",
    ));
    progress("the same .wasm in the Rust, Python and Node.js hosts".into());
    others.extend(or_failed(hosts::rows(setup).await, "the same .wasm in three hosts", ""));

    progress(format!(
        "`incidents list --all` at {} incidents through the CLI",
        thousands(figures.stream_incidents as u64)
    ));
    let stream_goal = "completes; report peak RSS and time";
    let stream = or_failed(
        async {
            whole::warm_cli(setup, &emulator.url()).await?;
            Ok(vec![whole::stream(setup, figures.stream_incidents).await?])
        }
        .await,
        "`incidents list --all`, CLI (streamed)",
        stream_goal,
    );
    emulator.shutdown().await;

    let (mut pages, mut processes) = (Vec::new(), Vec::new());
    for &incidents in &figures.peer_incidents {
        progress(format!("whole processes and the emulator alone at {} incidents", thousands(incidents as u64)));
        match whole::compare(setup, incidents, figures.page_budget).await {
            Ok((page, rows)) => {
                pages.push(page);
                processes.extend(rows);
            }
            Err(error) => processes.push(Row::failed(
                format!("list {} incidents, whole process", thousands(incidents as u64)),
                "≥ 5× faster; ≥ 10× less CPU per incident",
                error.message,
            )),
        }
    }

    others.extend(or_failed(serve::rows(setup, &figures.serve).await, "serve: many tenants", ""));

    progress("poll --details under latency".into());
    let mut details = Vec::new();
    for (latency, jitter, goal) in [(100, 0, "≤ 1.35 s"), (175, 125, "better than waves")] {
        let (latency, jitter) = (Duration::from_millis(latency), Duration::from_millis(jitter));
        details.extend(or_failed(
            calls::poll_details(setup, latency, jitter, runs.min(3)).await.map(|row| vec![row]),
            "poll --details, 50 × 2 calls, 8 in flight",
            goal,
        ));
    }

    let goals = [sessions, stream, versus, processes, pages, details, load, vec![size]].into_iter().flatten().collect();
    Ok((goals, others, started.elapsed()))
}

/// `--only serve`: the service's rows alone.
async fn measure_serve(setup: &Setup, figures: &Figures) -> Result<(Vec<Row>, Vec<Row>, Duration), Failure> {
    let started = Instant::now();
    let rows = or_failed(serve::rows(setup, &figures.serve).await, "serve: many tenants", "");
    Ok((rows, Vec::new(), started.elapsed()))
}

/// `--only fleet`: three workers on one JetStream server (its own table).
async fn measure_fleet(setup: &Setup, figures: &Figures) -> Result<(Vec<Row>, Vec<Row>, Duration), Failure> {
    let started = Instant::now();
    let nats = fleet::nats_server_binary()
        .ok_or_else(|| failure("the fleet needs .venv/bin/nats-server: run scripts/setup".into()))?;
    let fleet_figures = fleet::FleetFigures {
        tenants: figures.serve.tenants.min(300),
        incidents_per_tenant: 5,
        lease_ttl: Duration::from_secs(10),
        rescan: Duration::from_secs(2),
        interval: Duration::from_secs(2),
        add_every: Duration::from_millis(20),
        run_for: Duration::from_secs(60),
        kill_after_batches: u64::from(figures.serve.tenants.min(300) / 3 + 20),
    };
    progress(format!("fleet: {} tenants, 3 workers", fleet_figures.tenants));
    let report = fleet::scenario(&setup.exe, &nats, &fleet_figures).await.map_err(failure)?;
    Ok((fleet::rows(&report, &fleet_figures), Vec::new(), started.elapsed()))
}

/// A measure's rows, or one row saying why it could not be taken.
fn or_failed(result: Result<Vec<Row>, Failure>, measure: &str, goal: &str) -> Vec<Row> {
    result.unwrap_or_else(|error| vec![Row::failed(measure, goal, error.message)])
}

fn progress(what: String) {
    eprintln!("bench: {what}");
}

/// The command as run, with the program's path shortened to its name.
fn command_line() -> String {
    let mut words = vec!["sentinel".to_owned()];
    words.extend(std::env::args().skip(1));
    words.join(" ")
}

/// The machine, from /proc where Linux has it.
fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu =
        cpuinfo.lines().find_map(|l| l.strip_prefix("model name")).map(|l| l.trim_start_matches([' ', '\t', ':']));
    let memory_kib: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{} {}, kernel {}; {cores} cores ({}); {:.0} GiB memory",
        std::env::consts::OS,
        std::env::consts::ARCH,
        read("/proc/sys/kernel/osrelease").trim(),
        cpu.unwrap_or("unknown CPU"),
        memory_kib as f64 / (1 << 20) as f64
    )
}

fn failure(message: String) -> Failure {
    Failure { code: exit::OTHER, message }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// The nearest-rank percentile of unsorted times.
fn percentile(times: &[Duration], percent: usize) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn us(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn kib(bytes: usize) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// 10000 as 10,000.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn per_second(count: usize, took: Duration) -> u64 {
    (count as f64 / took.as_secs_f64().max(1e-9)) as u64
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
