//! `sentinel serve` as an operator runs it: the built binary, many tenants
//! of one multi-tenant emulator on loopback, tenant files changed while it
//! runs, SIGTERM, and a restart that delivers nothing twice.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sentinel_emulator::{MultiTenantEmulator, MultiTenantOptions, Mutation, NewIncident};
use serde_json::Value;

/// A running `sentinel serve`: its events (stdout) and logs (stderr) as
/// they come.
struct Service {
    child: Child,
    events: mpsc::Receiver<Value>,
    logs: mpsc::Receiver<Value>,
    ops: String,
    seen_logs: Vec<Value>,
}

impl Service {
    fn start(tenants: &Path, state: &Path, emulator: &str, extra: &[&str]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel"))
            .args(["--allow-private-network", "serve", "--tenants"])
            .arg(tenants)
            .arg("--state")
            .arg(state)
            .args(["--allow-origin", emulator, "--ops", "127.0.0.1:0", "--interval", "1", "--rescan", "1"])
            .args(["--first-fetch", "40d"])
            .args(extra)
            .env_clear()
            .env("SENTINEL_TEST_LOOPBACK_ONLY", "1")
            // Nothing of the service's environment reaches a tenant.
            .env("AZURE_CLIENT_SECRET", "the-service-environment-secret")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let events = lines(child.stdout.take().unwrap());
        let logs = lines(child.stderr.take().unwrap());
        let mut service = Service { child, events, logs, ops: String::new(), seen_logs: Vec::new() };
        let ready = service.wait_log(|log| log["fields"]["ops"].is_string());
        service.ops = ready["fields"]["ops"].as_str().unwrap().to_owned();
        service
    }

    fn wait_log(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(found) = self.seen_logs.iter().find(|log| wanted(log)) {
            return found.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(log) => {
                    self.seen_logs.push(log.clone());
                    if wanted(&log) {
                        return log;
                    }
                }
                Err(_) => panic!("no such log line in 60 s; saw {:#?}", self.seen_logs),
            }
        }
    }

    /// Events until `count` have come (or 60 s).
    fn take_events(&self, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut taken = Vec::new();
        while taken.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => taken.push(event),
                Err(_) => panic!("{} events of {count} in 60 s: {taken:#?}", taken.len()),
            }
        }
        taken
    }

    /// Whatever events come within `quiet`.
    fn drain(&self, quiet: Duration) -> Vec<Value> {
        std::iter::from_fn(|| self.events.recv_timeout(quiet).ok()).collect()
    }

    fn get(&self, path: &str) -> (u16, String) {
        http_get(&format!("{}{path}", self.ops))
    }

    fn status(&self) -> BTreeMap<String, Value> {
        let (code, body) = self.get("/status");
        assert_eq!(code, 200, "{body}");
        let rows: Vec<Value> = serde_json::from_str(&body).unwrap();
        rows.into_iter().map(|row| (row["tenant"].as_str().unwrap().to_owned(), row)).collect()
    }

    /// Polls the status until `check` holds (or 30 s).
    fn wait_status(&self, what: &str, check: impl Fn(&BTreeMap<String, Value>) -> bool) -> BTreeMap<String, Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.status();
            if check(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "{what}: {status:#?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, then its exit status and the events it still delivered.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<Value>, Duration) {
        let started = Instant::now();
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let status = self.child.wait().unwrap();
        let took = started.elapsed();
        let rest: Vec<Value> = self.events.try_iter().collect();
        (status, rest, took)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<Value> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
            if send.send(value).is_err() {
                break;
            }
        }
    });
    receive
}

/// A GET on loopback with the standard library (the ops endpoint is plain HTTP/1.1).
fn http_get(url: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, body.to_owned())
}

fn write_tenant(dir: &Path, name: &str, text: &str) {
    let temporary = dir.join(format!(".{name}.tmp"));
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(temporary, dir.join(format!("{name}.toml"))).unwrap();
}

/// `(tenant, incident id)` of each event, and how often each idempotency key came.
fn tally(events: &[Value]) -> (HashMap<(String, String), usize>, HashMap<String, usize>) {
    let mut by_incident = HashMap::new();
    let mut by_key = HashMap::new();
    for event in events {
        let tenant = event["tenant"].as_str().unwrap().to_owned();
        let incident = event["incident"]["id"].as_str().unwrap().to_owned();
        *by_incident.entry((tenant, incident)).or_insert(0) += 1;
        *by_key.entry(event["idempotency_key"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    (by_incident, by_key)
}

fn new_incident(title: &str) -> Mutation {
    Mutation::Create(NewIncident { title: Some(title.into()), severity: Some("High".into()), ..NewIncident::default() })
}

struct Fixture {
    emulator: MultiTenantEmulator,
    _dir: tempfile::TempDir,
    tenants: PathBuf,
    state: PathBuf,
}

const INCIDENTS: usize = 3;

async fn fixture(tenants: u32) -> Fixture {
    fixture_with(MultiTenantOptions { tenants, incidents_per_tenant: INCIDENTS, ..MultiTenantOptions::default() }).await
}

/// An emulator, and an empty tenants directory and state directory.
async fn fixture_with(options: MultiTenantOptions) -> Fixture {
    let emulator = MultiTenantEmulator::start(options).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tenants_dir = dir.path().join("tenants");
    std::fs::create_dir(&tenants_dir).unwrap();
    let state = dir.path().join("state");
    Fixture { emulator, tenants: tenants_dir, state, _dir: dir }
}

impl Fixture {
    fn tenant_file(&self, index: usize) -> String {
        self.emulator.tenants()[index].config_toml(&self.emulator.url())
    }

    fn name(index: usize) -> String {
        format!("tenant-{index:02}")
    }

    /// Writes tenant `index`'s file as `name`, with `extra` keys.
    fn write(&self, index: usize, name: &str, extra: &str) {
        write_tenant(&self.tenants, name, &format!("{}{extra}", self.tenant_file(index)));
    }

    fn service(&self, extra: &[&str]) -> Service {
        Service::start(&self.tenants, &self.state, &self.emulator.url(), extra)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn many_tenants_each_incident_once_through_changes_failures_and_a_restart() {
    let fixture = fixture(8).await;
    // Tenant 0 keeps its secret in a file of its own; tenant 1 drains in batches of one.
    let secret_file = fixture.state.with_file_name("tenant-00.secret");
    std::fs::write(&secret_file, format!("{}\n", fixture.emulator.tenants()[0].client_secret)).unwrap();
    let with_secret_file =
        fixture.tenant_file(0).lines().filter(|l| !l.starts_with("client_secret")).collect::<Vec<_>>().join("\n")
            + &format!("\nclient_secret_file = {:?}\n", secret_file.display().to_string());
    write_tenant(&fixture.tenants, &Fixture::name(0), &with_secret_file);
    fixture.write(1, &Fixture::name(1), "max_events = 1\n");
    for index in 2..6 {
        write_tenant(&fixture.tenants, &Fixture::name(index), &fixture.tenant_file(index));
    }
    // A typo: reported, not run, and the others are not held up.
    write_tenant(&fixture.tenants, "typo", &format!("{}worksapce = \"x\"\n", fixture.tenant_file(6)));
    // A wrong secret: this tenant backs off as an auth failure.
    let wrong = fixture.tenant_file(7).replace(&fixture.emulator.tenants()[7].client_secret, "not-the-secret");
    write_tenant(&fixture.tenants, "wrong-secret", &wrong);

    let service = fixture.service(&["--concurrency", "3"]);
    let mut events = service.take_events(6 * INCIDENTS);
    let status = service
        .wait_status("the wrong secret backs off", |s| s.get("wrong-secret").is_some_and(|r| r["state"] == "backoff"));
    let wrong_row = &status["wrong-secret"];
    assert!(wrong_row["last_error"].as_str().unwrap().starts_with("auth:"), "{wrong_row}");
    assert!(wrong_row["retry_in_seconds"].as_f64().unwrap() > 30.0, "auth failures wait long: {wrong_row}");
    assert!(!wrong_row.to_string().contains("not-the-secret"));
    assert_eq!(status["typo"]["state"], "invalid");
    assert!(status["typo"]["last_error"].as_str().unwrap().contains("worksapce"));
    // The service's own AZURE_CLIENT_SECRET was never a tenant's credential.
    assert!(fixture.emulator.requests(7).iter().all(|r| !String::from_utf8_lossy(&r.body).contains("environment")));

    // While it runs: new incidents, a new tenant, a removed one.
    fixture.emulator.apply(2, new_incident("Fresh on tenant 2")).unwrap();
    fixture.emulator.apply(1, new_incident("Fresh on tenant 1")).unwrap();
    write_tenant(&fixture.tenants, &Fixture::name(6), &fixture.tenant_file(6));
    events.extend(service.take_events(2 + INCIDENTS));
    std::fs::remove_file(fixture.tenants.join(format!("{}.toml", Fixture::name(5)))).unwrap();
    service.wait_status("a removed tenant leaves the table", |s| !s.contains_key(&Fixture::name(5)));
    fixture.emulator.apply(5, new_incident("Nobody polls tenant 5 now")).unwrap();

    // The operator fixes the secret: the changed file restarts the tenant.
    write_tenant(&fixture.tenants, "wrong-secret", &fixture.tenant_file(7));
    events.extend(service.take_events(INCIDENTS));
    let status = service.wait_status("caught up", |s| {
        (0..=6).filter(|i| *i != 5).all(|i| s.get(&Fixture::name(i)).is_some_and(|r| r["lag_seconds"] == 0.0))
    });
    assert_eq!(status[&Fixture::name(1)]["events"], INCIDENTS as u64 + 1);
    let (code, metrics) = service.get("/metrics");
    assert_eq!(code, 200);
    let line = format!(
        "sentinel_serve_events_total{{tenant=\"{}\",poller=\"sentinel\",kind=\"created\"}} 4",
        Fixture::name(2)
    );
    assert!(metrics.contains(&line), "{metrics}");
    assert!(metrics.contains("sentinel_serve_lag_seconds{tenant=\"tenant-02\",poller=\"sentinel\"} 0.0"), "{metrics}");
    assert!(metrics.contains("sentinel_serve_errors_total{tenant=\"wrong-secret\",kind=\"auth\"}"), "{metrics}");
    assert!(metrics.contains("sentinel_serve_request_duration_seconds_count{tenant=\"tenant-03\"}"), "{metrics}");
    assert_eq!(service.get("/healthz"), (200, "ok\n".to_owned()));

    let status_table = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(["serve", "status", "--ops", &service.ops, "-o", "table"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&status_table.stdout);
    let rows = ["tenant-00", "wrong-secret", "typo", "invalid", "idle"];
    assert!(status_table.status.success() && rows.iter().all(|text| table.contains(text)), "{table}");

    let (exit, rest, took) = service.terminate();
    assert!(exit.success(), "SIGTERM ends it cleanly: {exit:?}");
    assert!(took < Duration::from_secs(20), "it stopped in {took:?}");
    events.extend(rest);

    // Every incident of every polled tenant once, by content and by key.
    let (by_incident, by_key) = tally(&events);
    assert!(by_incident.values().all(|n| *n == 1), "{by_incident:?}");
    assert!(by_key.values().all(|n| *n == 1));
    for index in (0..=7).filter(|i| *i != 5) {
        let name = if index == 7 { "wrong-secret".to_owned() } else { Fixture::name(index) };
        for incident in fixture.emulator.incidents(index) {
            let id = incident["name"].as_str().unwrap().to_owned();
            assert!(by_incident.contains_key(&(name.clone(), id.clone())), "{name} {id} was delivered");
        }
    }

    // A restart resumes from the saved cursors: nothing again, and the new
    // incident of a tenant polled before only once.
    fixture.emulator.apply(3, new_incident("After the restart")).unwrap();
    let service = fixture.service(&[]);
    let after = service.take_events(1);
    assert_eq!(after[0]["tenant"], Fixture::name(3));
    assert_eq!(after[0]["incident"]["title"], "After the restart");
    assert!(service.drain(Duration::from_secs(3)).is_empty(), "nothing delivered twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_waits_its_turn_behind_fresh_incidents() {
    let fixture =
        fixture_with(MultiTenantOptions { tenants: 5, incidents_per_tenant: 1, ..MultiTenantOptions::default() }).await;
    for n in 0..200 {
        fixture.emulator.apply(0, new_incident(&format!("Backlog {n}"))).unwrap();
    }
    for index in 0..5 {
        fixture.write(index, &format!("t{index}"), "max_events = 10\n");
    }
    let service = fixture.service(&["--concurrency", "1"]);
    let events = service.take_events(201 + 4);
    let last_fresh = events.iter().rposition(|e| e["tenant"] != "t0").unwrap();
    let backlog_before = events[..last_fresh].iter().filter(|e| e["tenant"] == "t0").count();
    eprintln!("{backlog_before} backlog events before the last fresh one");
    // One permit, handed out in turn: the backlog gives way after each batch.
    assert!(backlog_before <= 20, "{backlog_before} backlog events went before the last fresh one");
}

/// Each POST the receiver took: its `Idempotency-Key` and its body.
type Posts = std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, Value)>>>;

/// A webhook receiver on loopback that refuses the first `refusals` POSTs.
struct Receiver {
    url: String,
    posts: Posts,
}

async fn receiver(refusals: usize) -> Receiver {
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let posts = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let (kept, count) = (posts.clone(), refused.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (kept, count) = (kept.clone(), count.clone());
            async move {
                if count.fetch_add(1, Ordering::SeqCst) < refusals {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
                kept.lock().unwrap().push((key, serde_json::from_slice(&body).unwrap()));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, posts }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_that_refuses_gets_the_same_events_again_and_the_cursor_waits() {
    let fixture = fixture(2).await;
    for index in 0..2 {
        write_tenant(&fixture.tenants, &Fixture::name(index), &fixture.tenant_file(index));
    }
    // More refusals than one delivery's three tries: the tenant backs off
    // and polls the same batch again from the same cursor.
    let hook = receiver(4).await;
    let service = fixture.service(&["--sink", "webhook", "--webhook-url", &hook.url, "--concurrency", "1"]);
    let status = service.wait_status("a refused delivery backs off", |s| {
        s.values().any(|row| row["last_error"].as_str().is_some_and(|e| e.starts_with("sink:")))
    });
    let refused = status.values().find(|row| row["errors"].as_u64() > Some(0)).unwrap();
    assert!(refused["last_error"].as_str().unwrap().contains("503"), "{refused}");
    let cursor = fixture.state.join(format!("{}.sentinel.cursor", refused["tenant"].as_str().unwrap()));
    assert!(!cursor.exists(), "no cursor before the webhook took the batch");
    service.wait_status("both delivered", |s| s.values().all(|row| row["events"] == INCIDENTS as u64));
    assert!(cursor.exists(), "the cursor follows the acknowledged batch");
    let posts = hook.posts.lock().unwrap().clone();
    let events: Vec<Value> = posts.iter().flat_map(|(_, body)| body["events"].as_array().unwrap().clone()).collect();
    assert_eq!(events.len(), 2 * INCIDENTS, "each event once: {posts:#?}");
    assert!(posts.iter().all(|(key, _)| key.as_deref().is_some_and(|k| k.len() == 32)), "an Idempotency-Key per POST");
    let (by_incident, by_key) = tally(&events);
    assert!(by_incident.values().chain(by_key.values()).all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_budget_keeps_below_arm_s_remaining_quota() {
    use sentinel_emulator::EmulatorOptions;
    // ARM's quota here: 15 requests, refilled 5 a second; a backlog that
    // takes about forty requests to drain, and a tenant rate that would
    // never hold it back: only ARM's remaining-quota headers can.
    let base = EmulatorOptions { arm_quota: Some((15.0, 5.0)), ..EmulatorOptions::default() };
    let fixture =
        fixture_with(MultiTenantOptions { tenants: 1, incidents_per_tenant: 1, base, ..MultiTenantOptions::default() })
            .await;
    for n in 0..40 {
        fixture.emulator.apply(0, new_incident(&format!("Backlog {n}"))).unwrap();
    }
    fixture.write(0, "busy", "max_events = 1\n");
    let service = fixture.service(&["--tenant-rate", "1000", "--subscription-rate", "5"]);
    let events = service.take_events(41);
    assert_eq!(events.len(), 41);
    let (_, metrics) = service.get("/metrics");
    assert!(metrics.contains("sentinel_serve_requests_total{tenant=\"busy\",outcome=\"2xx\"}"), "{metrics}");
    assert!(!metrics.contains("outcome=\"4xx\""), "never throttled: {metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_can_run_the_graph_poller_beside_sentinel_s() {
    let fixture = fixture(2).await;
    let both = format!("{}pollers = [\"sentinel\", \"graph\"]\n", fixture.tenant_file(0));
    write_tenant(&fixture.tenants, &Fixture::name(0), &both);
    write_tenant(&fixture.tenants, &Fixture::name(1), &format!("{}pollers = [\"graph\"]\n", fixture.tenant_file(1)));
    let service = fixture.service(&[]);
    let status = service.wait_status("both caught up", |s| {
        s.len() == 2
            && s.values().all(|row| row["lag_seconds"].as_f64() == Some(0.0) && row["events"].as_u64() > Some(0))
    });
    let events = service.drain(Duration::from_secs(2));
    let (by_incident, by_key) = tally(&events);
    assert!(by_incident.values().chain(by_key.values()).all(|n| *n == 1), "each once");
    let count = |tenant: &str, poller: &str| {
        events.iter().filter(|e| e["tenant"] == tenant && e["poller"] == poller).count() as u64
    };
    assert_eq!(count("tenant-00", "sentinel"), INCIDENTS as u64);
    assert!(count("tenant-00", "graph") > 0 && count("tenant-01", "graph") > 0);
    assert_eq!(count("tenant-01", "sentinel"), 0);
    assert_eq!(status["tenant-01"]["events"].as_u64(), Some(count("tenant-01", "graph")));
    // Each tenant's Graph incidents are its own (the emulator routes Graph by the token's tenant).
    let tenant_ids: Vec<&str> = events
        .iter()
        .filter(|e| e["poller"] == "graph" && e["tenant"] == "tenant-01")
        .filter_map(|e| e["incident"]["tenantId"].as_str())
        .collect();
    assert!(
        !tenant_ids.is_empty() && tenant_ids.iter().all(|id| *id == fixture.emulator.tenants()[1].tenant_id),
        "{tenant_ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_past_its_deadline_backs_off_and_the_service_stays_up() {
    let options = MultiTenantOptions {
        tenants: 1,
        incidents_per_tenant: 1,
        latency: Duration::from_millis(2500),
        ..MultiTenantOptions::default()
    };
    let fixture = fixture_with(options).await;
    fixture.write(0, "slow", "");
    let service = fixture.service(&["--call-timeout", "1"]);
    let status =
        service.wait_status("the deadline stops the call", |s| s.get("slow").is_some_and(|r| r["state"] == "backoff"));
    let row = &status["slow"];
    assert!(row["last_error"].as_str().unwrap().starts_with("timeout:"), "{row}");
    assert_eq!(service.get("/healthz"), (200, "ok\n".to_owned()));
    let (_, metrics) = service.get("/metrics");
    assert!(metrics.contains("sentinel_serve_errors_total{tenant=\"slow\",kind=\"timeout\"} 1"), "{metrics}");
}
