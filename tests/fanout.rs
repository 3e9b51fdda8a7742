//! End to end: a poll's details fan-out (issue 12). The built component in
//! wasmtime fetches every event's alerts and entities through `wasi:http`
//! with at most `detail-concurrency` requests in flight, refilling a slot as
//! soon as its request answers, and retrying a throttled one; a concurrency
//! outside 1 to 16 is refused before any request. Only lower bounds and
//! orderings are asserted about time: CI machines are noisy.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{config_for, host};
use sentinel_emulator::{Emulator, EmulatorOptions, Injection};
use sentinel_host::runtime::types::{ErrorKind, PollBatch, PollOptions};
use sentinel_host::runtime::{poll_options, CallError, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LONG_AGO: &str = "2020-01-01T00:00:00Z";

fn options(concurrency: Option<u8>) -> PollOptions {
    PollOptions {
        first_fetch: Some(LONG_AGO.into()),
        max_events: Some(100),
        include_details: true,
        detail_concurrency: concurrency,
        ..poll_options()
    }
}

async fn open(url: &str) -> Session {
    host().open("fanout", config_for(url), None).await.expect("the connection opens")
}

async fn emulator(incidents: usize, latency: Duration) -> Emulator {
    Emulator::start(EmulatorOptions { incidents, seed: 12, latency, ..EmulatorOptions::default() })
        .await
        .expect("the emulator starts")
}

/// The detail requests (alerts and entities) the emulator answered.
fn detail_posts(emulator: &Emulator) -> usize {
    emulator.requests().iter().filter(|r| r.method == "POST" && r.path.contains("/incidents/")).count()
}

/// Every event carries its own incident's alerts and entities, exactly as
/// `list-alerts` and `list-entities` return them.
async fn assert_every_events_details(batch: &PollBatch, session: &mut Session, emulator: &Emulator) {
    assert_eq!(batch.events.len(), emulator.incident_count());
    for event in &batch.events {
        let id = &event.incident.id;
        assert!(event.details_error.is_none(), "{id}: {:?}", event.details_error);
        let (alerts, entities) = (event.alerts.as_ref().unwrap(), event.entities.as_ref().unwrap());
        let incident = emulator.incident(id).unwrap();
        assert_eq!(alerts.len() as u64, incident["properties"]["additionalData"]["alertsCount"].as_u64().unwrap());
        assert!(!entities.is_empty(), "{id}");
        assert_eq!(format!("{alerts:?}"), format!("{:?}", session.list_alerts(id).await.unwrap()), "{id}");
        assert_eq!(format!("{entities:?}"), format!("{:?}", session.list_entities(id).await.unwrap()), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poll_brings_every_events_alerts_and_entities_at_concurrency_1_8_and_16() {
    let latency = Duration::from_millis(20);
    let emulator = emulator(20, latency).await;
    for concurrency in [1u8, 8, 16] {
        let mut session = open(&emulator.url()).await;
        let before = detail_posts(&emulator);
        let started = Instant::now();
        let batch = session.poll(None, options(Some(concurrency))).await.unwrap();
        let took = started.elapsed();
        assert_eq!(detail_posts(&emulator) - before, 40, "two requests per incident, none twice");
        // Each request takes the emulator's latency: with at most
        // `concurrency` in flight, 40 of them need this many rounds at least.
        let rounds = 40u32.div_ceil(u32::from(concurrency));
        assert!(
            took >= latency * rounds,
            "concurrency {concurrency}: {took:?} is under {rounds} rounds of {latency:?}"
        );
        assert_every_events_details(&batch, &mut session, &emulator).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_detail_concurrency_outside_1_to_16_is_invalid_input_before_any_request() {
    let emulator = emulator(5, Duration::ZERO).await;
    let mut session = open(&emulator.url()).await;
    for concurrency in [0u8, 17, 255] {
        let error = session.poll(None, options(Some(concurrency))).await.unwrap_err();
        let CallError::Connector(invalid) = &error else { panic!("{concurrency}: {error:?}") };
        assert_eq!(invalid.kind, ErrorKind::InvalidInput, "{concurrency}: {invalid:?}");
        assert_eq!(invalid.subject, "detail-concurrency");
        assert!(invalid.message.contains(&concurrency.to_string()), "{}", invalid.message);
    }
    assert!(emulator.requests().is_empty(), "nothing was sent, not even a token request");
    // The default and the bounds are accepted.
    for concurrency in [None, Some(1), Some(16)] {
        let batch = session.poll(None, options(concurrency)).await.unwrap();
        assert!(batch.events.iter().all(|e| e.details_error.is_none()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_detail_request_is_retried_and_its_event_gets_its_details() {
    let emulator = emulator(6, Duration::ZERO).await;
    let name = emulator.incidents()[2]["name"].as_str().unwrap().to_owned();
    let entities_path = format!("/incidents/{name}/entities");
    emulator.inject(Injection {
        method: Some("POST".into()),
        path_contains: entities_path.clone(),
        times: 1,
        status: 429,
        headers: vec![("retry-after".into(), "1".into())],
        body: r#"{"error":{"code":"TooManyRequests","message":"Rate limit is exceeded."}}"#.into(),
    });
    let mut session = open(&emulator.url()).await;
    let started = Instant::now();
    let batch = session.poll(None, options(Some(8))).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was waited for");
    let asked = emulator.requests().iter().filter(|r| r.path.ends_with(&entities_path)).count();
    assert_eq!(asked, 2, "throttled once, then answered");
    assert_every_events_details(&batch, &mut session, &emulator).await;
}

/// What the delaying proxy saw of the detail requests.
#[derive(Default)]
struct Seen {
    /// Detail requests read, in arrival order.
    arrived: Vec<Instant>,
    /// When the first detail request's answer was let go.
    first_released: Option<Instant>,
    in_flight: usize,
    max_in_flight: usize,
}

/// A loopback proxy in front of the emulator that holds the first detail
/// request's answer for `slow`, and every other one for `fast`, counting
/// the detail requests between reading one and letting its answer go (the
/// count drops before the answer is written, so it never exceeds what the
/// connector has in flight).
async fn delaying_proxy(upstream: std::net::SocketAddr, slow: Duration, fast: Duration) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(relay(socket, upstream, shared.clone(), slow, fast));
        }
    });
    (url, seen)
}

/// One request per connection, as the host's connector makes them.
async fn relay(
    mut client: TcpStream,
    upstream: std::net::SocketAddr,
    seen: Arc<Mutex<Seen>>,
    slow: Duration,
    fast: Duration,
) {
    let Some(request) = read_request(&mut client).await else { return };
    let arrived = Instant::now();
    let head =
        String::from_utf8_lossy(&request[..request.windows(4).position(|w| w == b"\r\n\r\n").unwrap()]).into_owned();
    let is_detail = head.starts_with("POST ") && head.lines().next().unwrap_or_default().contains("/incidents/");
    let first = is_detail && {
        let mut seen = seen.lock().unwrap();
        seen.arrived.push(arrived);
        seen.in_flight += 1;
        seen.max_in_flight = seen.max_in_flight.max(seen.in_flight);
        seen.arrived.len() == 1
    };
    // Forwarded with `connection: close`, so the answer ends where the stream does.
    let mut forwarded: Vec<u8> = Vec::new();
    for (n, line) in head.split("\r\n").enumerate() {
        if n > 0 && line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        forwarded.extend_from_slice(line.as_bytes());
        forwarded.extend_from_slice(b"\r\n");
        if n == 0 {
            forwarded.extend_from_slice(b"connection: close\r\n");
        }
    }
    forwarded.extend_from_slice(b"\r\n");
    forwarded.extend_from_slice(&request[head.len() + 4..]);
    let mut server = TcpStream::connect(upstream).await.unwrap();
    server.write_all(&forwarded).await.unwrap();
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await.unwrap();
    if is_detail {
        tokio::time::sleep_until((arrived + if first { slow } else { fast }).into()).await;
        let mut seen = seen.lock().unwrap();
        seen.in_flight -= 1;
        if first {
            seen.first_released = Some(Instant::now());
        }
    }
    let _ = client.write_all(&answer).await;
    let _ = client.shutdown().await;
}

/// The head and, by `content-length`, the body.
async fn read_request(socket: &mut TcpStream) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                return Some(raw);
            }
        }
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slot_is_refilled_while_the_slowest_request_of_the_first_window_is_still_out() {
    let emulator = emulator(10, Duration::ZERO).await;
    for concurrency in [3u8, 8] {
        let (url, seen) = delaying_proxy(emulator.addr(), Duration::from_millis(1500), Duration::from_millis(30)).await;
        let mut session = open(&url).await;
        let batch = session.poll(None, options(Some(concurrency))).await.unwrap();
        assert!(batch.events.iter().all(|e| e.details_error.is_none() && e.alerts.is_some()));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.arrived.len(), 20);
        assert!(
            seen.max_in_flight <= usize::from(concurrency),
            "{} in flight, limit {concurrency}",
            seen.max_in_flight
        );
        let released = seen.first_released.unwrap();
        let before_release = seen.arrived.iter().filter(|at| **at < released).count();
        // Waves would start request `concurrency + 1` only once the held
        // one answered; a window starts it as soon as a fast one answers.
        assert!(
            before_release > usize::from(concurrency),
            "concurrency {concurrency}: only {before_release} detail requests started while the first was held"
        );
    }
}

/// The `sentinel` binary next to this test's directory (target/debug), as
/// `cargo test --workspace` builds it; see tests/hostile.rs.
fn sentinel_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let binary = exe.parent()?.parent()?.join(format!("sentinel{}", std::env::consts::EXE_SUFFIX));
    binary.is_file().then_some(binary)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_takes_concurrency_with_details_and_refuses_17() {
    let Some(binary) = sentinel_binary() else {
        eprintln!("skipped: no sentinel binary next to this test (cargo build -p sentinel-host --bin sentinel)");
        return;
    };
    let emulator = emulator(4, Duration::ZERO).await;
    let dir = std::env::temp_dir().join(format!("sentinel-fanout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |state: &str, extra: &[&str]| {
        let state = dir.join(state).to_string_lossy().into_owned();
        let mut args = vec!["--emulator".to_owned(), emulator.url(), "poll".into(), "--state".into(), state];
        args.extend(["--first-fetch", "40d"].iter().chain(extra).map(|s| s.to_string()));
        let binary = binary.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(binary).args(args).env("SENTINEL_TEST_LOOPBACK_ONLY", "1").output().unwrap()
        })
    };
    let refused = run("refused.cursor", &["--details", "--concurrency", "17"]).await.unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("detail-concurrency"), "{stderr}");
    let without_details = run("alone.cursor", &["--concurrency", "4"]).await.unwrap();
    assert_eq!(without_details.status.code(), Some(2), "--concurrency needs --details");
    let output = run("ok.cursor", &["--details", "--concurrency", "4"]).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|line| line["alerts"].is_array() && line["entities"].is_array()), "{lines:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
