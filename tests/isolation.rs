//! Isolation between tenants of one host, measured, on a runtime with ONE
//! worker thread: what one tenant does (spin on CPU, allocate to the cap,
//! reach outside its allow-list, wait on a slow or huge answer) neither
//! changes nor delays what another tenant's 20 calls return.
//!
//! Tenant A is a hostile command component (tests/hostile-guest, built here
//! for wasm32-wasip2) or the real connector pointed at a hostile loopback
//! server; tenant B is the real connector against the emulator. Both run in
//! the same host (engine, instance pool, epoch ticker) with a 1.5 s call
//! deadline. B's 20 calls are first timed alone, then beside A; the figures
//! are printed (`cargo test --test isolation -- --nocapture`).

mod common;

use std::env;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::config_for;
use sentinel_connector::core::Settings;
use sentinel_host::runtime::sandbox::{AuditOutcome, AuditRecord, AuditSink, Origin};
use sentinel_host::runtime::types::{ErrorKind, ListIncidentsOptions};
use sentinel_host::runtime::{allowed_origins, list_options, CallError, ConnectorHost, HostOptions, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// Tenant A's deadline (every call and every command run).
const DEADLINE: Duration = Duration::from_millis(1500);
/// How late past its deadline a stopped guest may be reported.
const STOP_SLACK: Duration = Duration::from_millis(500);
/// B's 20 calls, beside any hostile tenant, take less than this.
const BOUND: Duration = Duration::from_secs(2);
const CALLS: usize = 20;

/// The tests measure time: they run one at a time even when the harness
/// runs tests in parallel.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One host for both tenants (engine, instance pool, epoch ticker), shared
/// by the tests.
fn host() -> Arc<ConnectorHost> {
    static HOST: OnceLock<Arc<ConnectorHost>> = OnceLock::new();
    HOST.get_or_init(|| {
        let limits = Limits { call_timeout: DEADLINE, ..Limits::default() };
        Arc::new(
            ConnectorHost::new(HostOptions { limits, ..common::test_host_options() }).expect("the component loads"),
        )
    })
    .clone()
}

/// Builds tests/hostile-guest for wasm32-wasip2 once per test binary, the
/// way host-test/build.rs builds the connector: a nested cargo with its own
/// target directory and none of the outer build's flags.
fn hostile_guest() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target_dir = root.join("target").join("hostile-guest");
        let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command
            .current_dir(root.join("tests").join("hostile-guest"))
            .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(&target_dir);
        for (name, _) in env::vars_os() {
            let name = name.to_string_lossy();
            let outer = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_", "CARGO_PROFILE_", "CARGO_BUILD_"]
                .iter()
                .any(|p| name.starts_with(p))
                || [
                    "RUSTFLAGS",
                    "CARGO_ENCODED_RUSTFLAGS",
                    "CARGO_TARGET_DIR",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_CRATE_NAME",
                ]
                .contains(&name.as_ref());
            if outer {
                command.env_remove(name.as_ref());
            }
        }
        let status = command.status().expect("cargo runs");
        assert!(status.success(), "building tests/hostile-guest failed (is the wasm32-wasip2 target installed?)");
        std::fs::read(target_dir.join("wasm32-wasip2").join("release").join("hostile-guest.wasm"))
            .expect("the guest was built")
    })
}

fn top5() -> ListIncidentsOptions {
    ListIncidentsOptions { top: Some(5), ..list_options() }
}

/// What B's 20 calls returned, and how long they took.
struct Run {
    results: Vec<String>,
    took: Duration,
    ended: Instant,
}

/// Tenant B: opens a fresh session (so every run fetches its token), waits
/// `after` (so a hostile tenant spawned first is already running), then
/// makes 20 calls: list the first 5 incidents, get one, alternately.
fn tenant_b(host: &Arc<ConnectorHost>, url: &str, names: &[String], after: Duration) -> JoinHandle<Run> {
    let (host, url, names) = (host.clone(), url.to_owned(), names.to_vec());
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let mut session = host.open("tenant-b", config_for(&url), None).await.expect("B opens");
        let started = Instant::now();
        let mut results = Vec::with_capacity(CALLS);
        for call in 0..CALLS {
            let result = if call % 2 == 0 {
                format!("{:?}", session.list_incidents(top5()).await)
            } else {
                format!("{:?}", session.get_incident(&names[(call / 2) % names.len()]).await)
            };
            results.push(result);
        }
        Run { results, took: started.elapsed(), ended: Instant::now() }
    })
}

async fn baseline(host: &Arc<ConnectorHost>, url: &str, names: &[String]) -> Run {
    let alone = tenant_b(host, url, names, Duration::ZERO).await.unwrap();
    assert!(
        alone.results.iter().all(|r| r.starts_with("Ok(")),
        "B alone: {:?}",
        alone.results.iter().find(|r| !r.starts_with("Ok("))
    );
    eprintln!("B alone: {CALLS} calls in {} ms", alone.took.as_millis());
    alone
}

/// B beside a hostile tenant: the same answers, within the bound.
fn assert_unaffected(label: &str, alone: &Run, beside: &Run) {
    eprintln!(
        "B beside A {label}: {CALLS} calls in {} ms (alone: {} ms)",
        beside.took.as_millis(),
        alone.took.as_millis()
    );
    assert_eq!(beside.results, alone.results, "B's answers changed beside A {label}");
    assert!(beside.took < BOUND, "B's {CALLS} calls took {:?} beside A {label} (bound {BOUND:?})", beside.took);
}

type Audit = Arc<Mutex<Vec<AuditRecord>>>;

fn audit() -> (Audit, AuditSink) {
    let records: Audit = Arc::default();
    let sink = records.clone();
    (records, Arc::new(move |record: &AuditRecord| sink.lock().unwrap().push(record.clone())))
}

fn origin(url: &str) -> Origin {
    Origin::of_url(&url::Url::parse(url).unwrap()).unwrap()
}

/// The allow-list `ConnectorHost::open` gives a connection to `url`.
fn allow_list_of(url: &str) -> Vec<Origin> {
    allowed_origins(&Settings::from_config(config_for(url)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_hostile_guest_spinning_allocating_or_reaching_out_neither_changes_nor_delays_another_tenant() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let guest = Arc::new(host.compile(hostile_guest()).expect("the hostile guest compiles"));
    let emulator = common::emulator(12, 7).await;
    let names = common::names_in(&emulator);
    let alone = baseline(&host, &emulator.url(), &names).await;
    // A may reach only a loopback port nobody listens on.
    let a_allowed = vec![origin("http://127.0.0.1:9")];
    let run_a = |args: &[&str], allowed: Vec<Origin>, audit: Option<AuditSink>| {
        let (host, guest) = (host.clone(), guest.clone());
        let argv: Vec<String> =
            std::iter::once("hostile-guest").chain(args.iter().copied()).map(str::to_owned).collect();
        // From the spawn: time waiting for the worker counts.
        let started = Instant::now();
        tokio::spawn(async move {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let outcome = host.run_command("tenant-a", &guest, &argv, allowed, audit).await;
            (outcome, started.elapsed(), Instant::now())
        })
    };

    // A bounded CPU-bound guest, alone then beside one that spins: two
    // guests computing share the one worker.
    let work = ["work", "30000000"];
    let (done, work_alone, _) = run_a(&work, a_allowed.clone(), None).await.unwrap();
    let done = done.expect("work ends");
    assert_eq!(done.exit_code, 0);

    // Spin: stopped at its deadline, reported as a timeout; B unaffected.
    let spin = run_a(&["spin"], a_allowed.clone(), None);
    let other = run_a(&work, a_allowed.clone(), None);
    let beside = tenant_b(&host, &emulator.url(), &names, Duration::from_millis(50));
    let (spun, stopped_after, spin_ended) = spin.await.unwrap();
    let beside = beside.await.unwrap();
    let (other_done, work_beside, _) = other.await.unwrap();
    eprintln!(
        "A spin: stopped after {} ms (deadline {} ms): {spun:?}",
        stopped_after.as_millis(),
        DEADLINE.as_millis()
    );
    eprintln!(
        "work guest: {} ms alone, {} ms beside the spinning guest",
        work_alone.as_millis(),
        work_beside.as_millis()
    );
    let margin = |ended: Instant| {
        spin_ended.saturating_duration_since(ended).as_millis() as i128
            - ended.saturating_duration_since(spin_ended).as_millis() as i128
    };
    eprintln!("B's calls ended {} ms before A's spin was stopped", margin(beside.ended));
    assert!(matches!(spun, Err(CallError::Timeout(after)) if after == DEADLINE), "{spun:?}");
    assert!(
        stopped_after >= DEADLINE && stopped_after < DEADLINE + STOP_SLACK,
        "A's spin stopped after {stopped_after:?}"
    );
    assert_eq!(other_done.expect("work ends beside the spin").stdout, done.stdout);
    assert!(work_beside < DEADLINE, "the work guest finished while the other spun, not after: {work_beside:?}");
    assert!(beside.ended < spin_ended, "B's calls ran while A spun, not after");
    assert_unaffected("spinning", &alone, &beside);

    // Allocate: ends at the store's 64 MiB cap, as a failed allocation the
    // guest reports (or a trap); B unaffected.
    let allocate = run_a(&["allocate"], a_allowed.clone(), None);
    let beside = tenant_b(&host, &emulator.url(), &names, Duration::ZERO);
    let (allocated, took, _) = allocate.await.unwrap();
    let beside = beside.await.unwrap();
    eprintln!("A allocate: {allocated:?} after {} ms", took.as_millis());
    match &allocated {
        Ok(output) => {
            let mib: usize = output
                .stdout
                .trim()
                .strip_prefix("allocated ")
                .and_then(|s| s.strip_suffix(" MiB"))
                .and_then(|s| s.parse().ok())
                .expect("reported");
            assert!((32..64).contains(&mib), "{mib} MiB in a 64 MiB store");
        }
        Err(CallError::Trap(reason)) => assert!(reason.contains("memory"), "{reason}"),
        Err(other) => panic!("allocate: {other}"),
    }
    assert_unaffected("allocating", &alone, &beside);

    // Fetch outside the allow-list (B's emulator): denied before any
    // connect, audited, and the emulator sees nothing of it; B unaffected.
    let (records, sink) = audit();
    let marker = "from-tenant-a";
    let fetch = run_a(&["fetch", &format!("{}/{marker}", emulator.url())], a_allowed.clone(), Some(sink));
    let beside = tenant_b(&host, &emulator.url(), &names, Duration::ZERO);
    let (fetched, _, _) = fetch.await.unwrap();
    let beside = beside.await.unwrap();
    let fetched = fetched.expect("fetch runs");
    eprintln!("A fetch of B's emulator: {}", fetched.stdout.trim());
    assert!(fetched.stdout.contains("HttpRequestDenied"), "{}", fetched.stdout);
    let records = records.lock().unwrap().clone();
    assert!(
        matches!(records.as_slice(), [record] if record.outcome == AuditOutcome::Denied && record.tenant == "tenant-a"),
        "{records:?}"
    );
    assert!(emulator.requests().iter().all(|r| !r.path.contains(marker)), "A's request reached the emulator");
    assert_unaffected("fetching outside its allow-list", &alone, &beside);
}

/// What the hostile server does with every request but a token request.
#[derive(Clone)]
enum Answer {
    /// Headers after 3 s.
    Slow,
    /// A 40 MB body with no length, until the connection closes.
    Huge,
    /// An empty page whose `nextLink` is this URL.
    NextLink(String),
}

const HUGE_BODY: usize = 40_000_000;

/// A loopback server that answers token requests with a token and every
/// other request as `answer` says; returns its URL and the request lines it
/// received.
async fn hostile_server(answer: Answer) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (answer, log) = (answer.clone(), log.clone());
            tokio::spawn(async move {
                // The whole request, body included, before any answer: an
                // answer that closes the connection early would fail the
                // client's write instead.
                let mut request = Vec::new();
                let mut buffer = [0u8; 8192];
                loop {
                    if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                log.lock().unwrap().push(text.lines().next().unwrap_or_default().to_owned());
                let json = |body: &str| {
                    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
                };
                if text.starts_with("POST /") && text.contains("/oauth2/v2.0/token") {
                    let _ = socket.write_all(json(r#"{"token_type":"Bearer","expires_in":3599,"access_token":"isolation-token-0123456789"}"#).as_bytes()).await;
                    return;
                }
                match answer {
                    Answer::Slow => {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        let _ = socket.write_all(json(r#"{"value":[]}"#).as_bytes()).await;
                    }
                    Answer::Huge => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"value\":[";
                        if socket.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let chunk = vec![b' '; 64 << 10];
                        let mut sent = 0;
                        while sent < HUGE_BODY && socket.write_all(&chunk).await.is_ok() {
                            sent += chunk.len();
                        }
                    }
                    Answer::NextLink(link) => {
                        let _ =
                            socket.write_all(json(&format!(r#"{{"value":[],"nextLink":"{link}"}}"#)).as_bytes()).await;
                    }
                }
            });
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_tenant_stuck_on_a_slow_or_huge_answer_neither_changes_nor_delays_another_tenant() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let emulator = common::emulator(12, 7).await;
    let names = common::names_in(&emulator);
    let alone = baseline(&host, &emulator.url(), &names).await;
    for (label, answer) in [("waiting on a slow answer", Answer::Slow), ("reading a huge answer", Answer::Huge)] {
        let (url, seen) = hostile_server(answer.clone()).await;
        let a = {
            let host = host.clone();
            tokio::spawn(async move {
                let mut session = host.open("tenant-a", config_for(&url), None).await.expect("A opens");
                let started = Instant::now();
                let outcome = session.list_incidents(top5()).await;
                (outcome, started.elapsed(), Instant::now())
            })
        };
        let beside = tenant_b(&host, &emulator.url(), &names, Duration::from_millis(50));
        let (outcome, took, a_ended) = a.await.unwrap();
        let beside = beside.await.unwrap();
        eprintln!(
            "A {label}: {} after {} ms",
            outcome.as_ref().map_or_else(|e| e.to_string(), |_| "ok".into()),
            took.as_millis()
        );
        match answer {
            Answer::Slow => {
                assert!(matches!(outcome, Err(CallError::Timeout(_))), "{outcome:?}");
                assert!(took >= DEADLINE && took < DEADLINE + STOP_SLACK, "A stopped after {took:?}");
                assert!(beside.ended < a_ended, "B's calls ran while A waited, not after");
            }
            _ => {
                let Err(CallError::Connector(failure)) = &outcome else { panic!("a 40 MB answer: {outcome:?}") };
                assert_eq!(failure.kind, ErrorKind::InvalidResponse, "{failure:?}");
                assert!(failure.message.contains("larger than 16 MiB"), "{}", failure.message);
            }
        }
        assert!(
            seen.lock().unwrap().iter().any(|line| line.starts_with("GET /subscriptions/")),
            "A asked its own server"
        );
        assert_unaffected(label, &alone, &beside);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn neither_tenant_can_reach_the_others_endpoints() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let guest = host.compile(hostile_guest()).expect("the hostile guest compiles");
    let emulator = common::emulator(12, 7).await;
    let b_url = emulator.url();
    let marker = "from-tenant-a";
    let foreign = format!("{b_url}/subscriptions/{}/{marker}", sentinel_emulator::DEFAULT_SUBSCRIPTION_ID);
    let (a_url, a_seen) = hostile_server(Answer::NextLink(foreign.clone())).await;

    // A's connector: a continuation to B's origin is refused before sending.
    let mut a = host.open("tenant-a", config_for(&a_url), None).await.expect("A opens");
    let outcome =
        a.list_incidents(ListIncidentsOptions { continuation: Some(foreign.clone()), ..list_options() }).await;
    assert!(
        matches!(&outcome, Err(CallError::Connector(i)) if i.kind == ErrorKind::InvalidInput && i.subject == "continuation"),
        "{outcome:?}"
    );
    // A's server answers with a nextLink to B's origin: not followed.
    let outcome = a.list_all_incidents(list_options()).await;
    eprintln!(
        "A following a nextLink to B's emulator: {}",
        outcome.as_ref().map_or_else(|e| e.to_string(), |_| "ok".into())
    );
    let Err(CallError::Connector(failure)) = &outcome else { panic!("{outcome:?}") };
    assert_eq!(failure.kind, ErrorKind::InvalidResponse, "{failure:?}");
    assert!(failure.message.contains("nextLink was not followed"), "{}", failure.message);
    assert!(
        a_seen.lock().unwrap().iter().any(|line| line.starts_with("GET /subscriptions/")),
        "A's own server gave the nextLink"
    );

    // Below the connector, the store's allow-list (what `open` derives from
    // A's own endpoints) refuses B's origin, and B's refuses A's; each
    // reaches its own. Checked with the hostile guest, which sends whatever
    // it is told to.
    let run = |tenant: &'static str, url: String, allowed: Vec<Origin>| {
        let (host, guest) = (&host, &guest);
        async move {
            let (records, sink) = audit();
            let output = host
                .run_command(tenant, guest, &["hostile-guest", "fetch", &url], allowed, Some(sink))
                .await
                .expect("fetch runs");
            let records = records.lock().unwrap().clone();
            eprintln!("{tenant} fetch {url}: {}", output.stdout.trim());
            (output.stdout, records)
        }
    };
    let (a_to_b, records) = run("tenant-a", format!("{b_url}/{marker}"), allow_list_of(&a_url)).await;
    assert!(a_to_b.contains("HttpRequestDenied"), "{a_to_b}");
    assert!(matches!(records.as_slice(), [r] if r.outcome == AuditOutcome::Denied), "{records:?}");
    let (b_to_a, records) = run("tenant-b", format!("{a_url}/from-tenant-b"), allow_list_of(&b_url)).await;
    assert!(b_to_a.contains("HttpRequestDenied"), "{b_to_a}");
    assert!(matches!(records.as_slice(), [r] if r.outcome == AuditOutcome::Denied), "{records:?}");
    let (a_own, _) = run("tenant-a", format!("{a_url}/own"), allow_list_of(&a_url)).await;
    assert_eq!(a_own.trim(), "status 200", "A reaches its own server");
    let (b_own, _) = run("tenant-b", format!("{b_url}/{marker}"), allow_list_of(&b_url)).await;
    assert!(b_own.starts_with("status "), "B reaches its own emulator: {b_own}");

    // And B's real connector still works, and never saw A.
    let mut b = common::session(&emulator).await;
    assert_eq!(b.list_incidents(top5()).await.expect("B lists").incidents.len(), 5);
    let seen_by_b: Vec<String> = emulator.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(seen_by_b.iter().filter(|path| path.contains(marker)).count(), 1, "only B's own probe: {seen_by_b:?}");
    let seen_by_a = a_seen.lock().unwrap().clone();
    assert!(seen_by_a.iter().all(|line| !line.contains("from-tenant-b")), "{seen_by_a:?}");
}
