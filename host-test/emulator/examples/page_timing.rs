//! How fast the emulator answers one page of 1,000 incidents over loopback,
//! and what holding the incidents costs in memory: the emulator on its own,
//! with hyper as the client. Run it optimized, one size per process (so the
//! resident figure is that size's alone):
//!
//! ```sh
//! cargo run --profile host -p sentinel-emulator --example page_timing -- 100000
//! ```
//!
//! It prints the start (generation) time, resident memory before and after,
//! the median and p90 time of one page (the first, and one from the middle by
//! its `nextLink`), sequential requests/s on one kept-alive connection, and
//! the time to walk every page.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use sentinel_emulator::{Emulator, EmulatorOptions, ARM_SCOPE};

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn connect(emulator: &Emulator) -> Sender {
    let stream = tokio::net::TcpStream::connect(emulator.addr()).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    sender
}

/// One GET on the kept-alive connection: the body, fully received.
async fn get(sender: &mut Sender, url: &str, token: &str) -> Bytes {
    let uri: hyper::Uri = url.parse().expect("a URI");
    let request = hyper::Request::get(uri.path_and_query().expect("a path").as_str())
        .header("host", uri.authority().expect("an authority").as_str())
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::new())
        .expect("a request");
    sender.ready().await.expect("the connection is ready");
    let response = sender.send_request(request).await.expect("a response");
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.expect("the body").to_bytes()
}

fn next_link(body: &[u8]) -> Option<String> {
    let page: serde_json::Value = serde_json::from_slice(body).expect("JSON");
    page["nextLink"].as_str().map(str::to_owned)
}

fn stats(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[times.len() * 9 / 10])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let incidents: usize = std::env::args().nth(1).map_or(100_000, |n| n.parse().expect("a number of incidents"));
    let runs = 200;
    let before = resident_mib();
    let started = Instant::now();
    let emulator = Emulator::start(EmulatorOptions { incidents, ..EmulatorOptions::default() }).await.expect("start");
    let start_time = started.elapsed();
    let held = resident_mib();
    println!("incidents: {incidents}");
    println!("start (generate and index): {}", ms(start_time));
    println!("resident: {before:.0} MiB before, {held:.0} MiB held ({:.0} MiB for the incidents)", held - before);
    if std::env::args().any(|a| a == "--start-only") {
        return;
    }

    let token = emulator.access_token(ARM_SCOPE).expect("a token");
    let first = emulator.incidents_url(&[("$top", "1000")]);
    let mut sender = connect(&emulator).await;
    let body = get(&mut sender, &first, &token).await;
    println!("page of 1,000: {} bytes", body.len());
    // A page from the middle, by following nextLinks.
    let mut middle = first.clone();
    for _ in 0..(incidents / 1000 / 2) {
        let body = get(&mut sender, &middle, &token).await;
        middle = next_link(&body).unwrap_or(middle);
    }

    for (label, url) in [("first page", &first), ("middle page (skipToken)", &middle)] {
        let mut times = Vec::with_capacity(runs);
        let all = Instant::now();
        for _ in 0..runs {
            let t = Instant::now();
            get(&mut sender, url, &token).await;
            times.push(t.elapsed());
        }
        let rate = runs as f64 / all.elapsed().as_secs_f64();
        let (median, p90) = stats(times);
        println!("{label}: median {}, p90 {}, {rate:.0} requests/s (one connection)", ms(median), ms(p90));
    }

    let page: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let name = page["value"][500]["name"].as_str().expect("a name");
    let get_url = format!("{}/{name}?api-version=2025-09-01", first.split('?').next().expect("a path"));
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        get(&mut sender, &get_url, &token).await;
        times.push(t.elapsed());
    }
    let (median, p90) = stats(times);
    println!("get by name: median {}, p90 {}", ms(median), ms(p90));

    let walk = Instant::now();
    let (mut url, mut pages) = (Some(first), 0);
    while let Some(next) = url {
        url = next_link(&get(&mut sender, &next, &token).await);
        pages += 1;
    }
    println!("walk of every page: {pages} pages in {} (client parses each page)", ms(walk.elapsed()));
    println!("resident after: {:.0} MiB", resident_mib());
    emulator.shutdown().await;
}
