//! Polyglot hosts (issue 15): the very `.wasm` the Rust host embeds, run by
//! this crate's wasmtime host, by wasmtime-py (`host-test/python`, driven by
//! `tests/python/scenario.py`) and by Node.js through jco (`host-test/js`,
//! driven by `tests/node/scenario.mjs`), through one scenario (incidents,
//! comments, the poller, containment, analytics rules, threat-intelligence
//! indicators, watchlists) against one
//! emulator over loopback. Every step is idempotent, so each host must print
//! the same document: the same ids, the same comment ids, the same poll
//! batches, the same errors. A cursor one host saved resumes in another.
//!
//! What a host cannot do is asserted as such, not skipped: wasmtime-py has
//! no hook in its `wasi:http` send path, so the Python host refuses an
//! origin outside the operator's allow-list when the connection opens
//! (`invalid-input`) rather than when a request is sent, and it has no audit
//! records (see `host-test/python/README.md`).
//!
//! Also here: the binding names each language sees, against their
//! snapshots, and the Node host's deadline and memory cap.
//! Needs `scripts/setup` (the `.venv` with wasmtime-py, `tests/node/node_modules`).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sentinel_connector::core::config::{Cloud, ConnectionConfig, CustomCloud};
use sentinel_connector::core::graph::containment::ProtectedAccounts;
use sentinel_emulator::{graph_seed as seed, Emulator, EmulatorOptions};
use sentinel_host::cli::errors::kind;
use sentinel_host::runtime::analytics_rules::RuleKind;
use sentinel_host::runtime::containment::Action;
use sentinel_host::runtime::sandbox::{AuditOutcome, AuditRecord, AuditSink, Origin};
use sentinel_host::runtime::types::{EventKind, IncidentStatus, IncidentUpdate, ListIncidentsOptions, PollOptions};
use sentinel_host::runtime::{indicators, watchlists};
use sentinel_host::runtime::{list_options, poll_options, CallError, Session, EMBEDDED_COMPONENT};
use serde_json::{json, Value};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const HOST_TIMEOUT: Duration = Duration::from_secs(240);
const MISSING_INCIDENT: &str = "00000000-0000-0000-0000-000000000000";

/// The scenario's connection, as `tests/python/scenario.py` and
/// `tests/node/scenario.mjs` write it: the emulator's defaults, no
/// workspace id, Alice protected; Graph at `graph_url`.
fn scenario_config(url: &str, graph_url: &str) -> ConnectionConfig {
    let base = common::config_for(url);
    let Cloud::Custom(cloud) = base.cloud.clone() else { unreachable!("the emulator is a custom cloud") };
    ConnectionConfig {
        workspace_id: None,
        cloud: Cloud::Custom(CustomCloud { graph_url: graph_url.into(), ..cloud }),
        protected_accounts: ProtectedAccounts {
            user_principal_names: vec![seed::ALICE_UPN.into()],
            ..ProtectedAccounts::default()
        },
        ..base
    }
}

fn scenario_poll_options() -> PollOptions {
    PollOptions { first_fetch: Some("2000-01-01T00:00:00Z".into()), max_events: Some(5), ..poll_options() }
}

fn connector_error<T: std::fmt::Debug>(result: Result<T, CallError>) -> sentinel_host::runtime::types::ConnectorError {
    match result {
        Err(CallError::Connector(error)) => error,
        other => panic!("expected the connector's error, got {other:?}"),
    }
}

fn event_kind(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Created => "created",
        EventKind::Updated => "updated",
        EventKind::Merged => "merged",
        EventKind::OwnChange => "own-change",
    }
}

/// Polls from `cursor` until a batch is empty: the non-empty batches as
/// `[kind, id]` pairs, and the first cursor returned.
async fn drain(session: &mut Session, mut cursor: Option<String>) -> (Vec<Value>, Option<String>) {
    let (mut batches, mut first) = (Vec::new(), None);
    for _ in 0..10 {
        let batch = session.poll(cursor.take(), scenario_poll_options()).await.unwrap();
        first.get_or_insert_with(|| batch.cursor.clone());
        if batch.events.is_empty() {
            break;
        }
        batches.push(Value::from(
            batch.events.iter().map(|e| json!([event_kind(e.kind), e.incident.id])).collect::<Vec<_>>(),
        ));
        cursor = Some(batch.cursor);
    }
    (batches, first)
}

async fn comment(session: &mut Session, incident_id: &str) -> Vec<String> {
    let comments = session.add_comment(incident_id, "Triaged from the polyglot scenario", Some("polyglot-1")).await;
    comments.unwrap().into_iter().map(|c| c.id).collect()
}

/// An IP's indicator created twice (one indicator, the same name), queried,
/// and deleted, so every run (and host) sends the same requests.
async fn indicators_step(session: &mut Session) -> Value {
    let mut ti = session.indicators();
    let mut new = indicators::new_indicator(indicators::Observable::Ip("192.0.2.44".into()));
    new.tags = vec!["polyglot".into()];
    let first = ti.create(new.clone()).await.unwrap();
    let second = ti.create(new).await.unwrap();
    let query = indicators::IndicatorQuery { keywords: vec!["192.0.2.44".into()], ..indicators::indicator_query() };
    let found = ti.query(query).await.unwrap();
    ti.delete(&first.indicator.name).await.unwrap();
    json!({
        "pattern": first.indicator.pattern,
        "created": [first.created, second.created],
        "same_name": first.indicator.name == second.indicator.name,
        "found": found.indicators.iter().map(|i| i.pattern.as_str()).collect::<Vec<_>>(),
        "tags": first.indicator.tags,
    })
}

/// A watchlist made from CSV (its operation waited for), an item upserted
/// twice (one item), three values looked up, the watchlist deleted (waited
/// for), so every run sends the same requests.
async fn watchlists_step(session: &mut Session) -> Value {
    const ALIAS: &str = "PolyglotVIP";
    let mut wl = session.watchlists();
    let csv = "UPN,Role\nalice@contoso.onmicrosoft.com,admin\n";
    let made = wl.create(ALIAS, watchlists::new_watchlist("Polyglot VIP", "UPN", csv), None).await.unwrap();
    let bob = watchlists::columns(&[("UPN", "bob@contoso.onmicrosoft.com"), ("Role", "analyst")]);
    let mut upserted = Vec::new();
    for _ in 0..2 {
        upserted.push(wl.upsert_item(ALIAS, bob.clone()).await.unwrap().created);
    }
    let probes = ["alice@contoso.onmicrosoft.com", "bob@contoso.onmicrosoft.com", "eve@contoso.onmicrosoft.com"];
    let probes = probes.iter().map(|p| (*p).to_owned()).collect();
    let members = wl.contains(ALIAS, probes, watchlists::Lookup::Items).await.unwrap();
    wl.delete(ALIAS, None).await.unwrap();
    json!({
        "alias": made.alias,
        "upserted": upserted,
        "contains": members.iter().map(|m| json!([m.value, m.found])).collect::<Vec<_>>(),
    })
}

/// The scenario through the Rust host, as the other hosts print it.
async fn rust_scenario(emulator: &Emulator) -> Value {
    let url = emulator.url();
    let allowed = vec![Origin::of_url(&url::Url::parse(&url).unwrap()).unwrap()];
    let records: Arc<Mutex<Vec<AuditRecord>>> = Arc::default();
    let kept = records.clone();
    let audit: AuditSink = Arc::new(move |record: &AuditRecord| kept.lock().unwrap().push(record.clone()));
    let host = common::host();
    let mut session =
        host.open_with_allow_list("rust", scenario_config(&url, &url), allowed.clone(), Some(audit)).await.unwrap();

    let options = ListIncidentsOptions { top: Some(5), ..list_options() };
    let ids: Vec<String> = session.list_all_incidents(options).await.unwrap().into_iter().map(|i| i.id).collect();
    let got = session.get_incident(&ids[0]).await.unwrap().id;
    let update = IncidentUpdate { status: Some(IncidentStatus::Active), ..common::no_change() };
    let status = session.update_incident(&ids[0], update).await.unwrap().status;
    assert!(matches!(status, IncidentStatus::Active));
    let comments = comment(&mut session, &ids[0]).await;
    let comments_again = comment(&mut session, &ids[0]).await;
    let (poll, first_cursor) = drain(&mut session, None).await;
    let outcome = session.graph().contain(seed::BOB_UPN, Action::DisableAccount, true).await.unwrap();
    let protected = connector_error(session.graph().contain(seed::ALICE_UPN, Action::DisableAccount, false).await);
    let rules = session.analytics_rules().list().await.unwrap();
    let scheduled = rules.iter().find(|r| matches!(r.kind, RuleKind::Scheduled)).unwrap().id.clone();
    let off = session.analytics_rules().set_enabled(&scheduled, false).await.unwrap();
    let on = session.analytics_rules().set_enabled(&scheduled, true).await.unwrap();
    let rule_ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    let indicators = indicators_step(&mut session).await;
    let watchlists = watchlists_step(&mut session).await;
    let not_found = connector_error(session.get_incident(MISSING_INCIDENT).await);
    let traced = uuid::Uuid::try_parse(&not_found.client_request_id).is_ok() && !not_found.request_id.is_empty();

    let port = url.rsplit(':').next().unwrap();
    let elsewhere = format!("http://localhost:{port}");
    let mut denied_session =
        host.open_with_allow_list("rust", scenario_config(&url, &elsewhere), allowed, None).await.unwrap();
    let denied = connector_error(denied_session.graph().get_user(seed::BOB_UPN).await);

    let audit: Vec<Value> = records
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            let outcome = match &r.outcome {
                AuditOutcome::Status(status) => json!(status),
                AuditOutcome::Denied => json!("denied"),
                AuditOutcome::Failed(why) => json!(format!("failed ({why})")),
            };
            json!([r.method, r.path, outcome])
        })
        .collect();
    json!({
        "ids": ids, "got": got, "status": "active",
        "comments": comments, "comments_again": comments_again,
        "poll": poll, "first_cursor": first_cursor,
        "dry_run": {
            "dry_run": outcome.dry_run, "user": outcome.user.id, "method": outcome.request.method,
            "url": outcome.request.url, "body": outcome.request.body,
        },
        "protected": {"kind": kind(&protected), "subject": protected.subject},
        "rules": {"ids": rule_ids, "off": off.enabled, "on": on.enabled},
        "indicators": indicators,
        "watchlists": watchlists,
        "not_found": {"kind": kind(&not_found), "status": not_found.status, "traced": traced},
        "denied": {"kind": kind(&denied), "denied": denied.message.contains("denied")},
        "audit": audit,
    })
}

/// The embedded component, written where this test may write, so every
/// host loads exactly the bytes the Rust host runs.
fn component_file(test: &str) -> PathBuf {
    let name = format!("polyglot-{}-{test}.wasm", std::process::id());
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, EMBEDDED_COMPONENT).unwrap_or_else(|e| panic!("could not write {}: {e}", path.display()));
    path
}

fn python() -> PathBuf {
    let python = Path::new(REPO).join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup (from {REPO})", python.display());
    python
}

fn node() -> PathBuf {
    let jco = Path::new(REPO).join("tests/node/node_modules/@bytecodealliance/jco");
    assert!(jco.exists(), "{} is missing: run scripts/setup (from {REPO})", jco.display());
    PathBuf::from("node")
}

/// Runs `program script args...` from the repository to its end (or kills
/// it after [`HOST_TIMEOUT`]): its stdout, or a panic with its stderr.
/// Blocking: call it off the runtime's threads, the emulator serves on them.
fn run(program: &Path, script: &str, args: &[&str]) -> String {
    let mut child = Command::new(program)
        .arg(Path::new(REPO).join(script))
        .args(args)
        .current_dir(REPO)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {}: {e} (run scripts/setup)", program.display()));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + HOST_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{script} did not finish within {HOST_TIMEOUT:?}; stderr: {}", stderr.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(status.success(), "{script} failed ({status}).\nstderr:\n{stderr}\nstdout:\n{stdout}");
    stdout
}

async fn run_host(program: PathBuf, script: &'static str, args: Vec<String>) -> Value {
    let stdout = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&program, script, &args)
    })
    .await
    .unwrap();
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{script} printed no JSON document ({e}):\n{stdout}"))
}

/// The document without `keys`, and with the one id the service makes up
/// per run in a path (a watchlist operation's) written as `{id}`.
fn without(document: &Value, keys: &[&str]) -> Value {
    let mut document = document.clone();
    if let Some(audit) = document.get_mut("audit").and_then(Value::as_array_mut) {
        for record in audit {
            if let Some(path) = record[1].as_str().and_then(|p| p.split_once("/watchlistStatuses/")) {
                record[1] = Value::String(format!("{}/watchlistStatuses/{{id}}", path.0));
            }
        }
    }
    for key in keys {
        document.as_object_mut().unwrap().remove(*key);
    }
    document
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_python_and_node_hosts_give_the_same_results() {
    let (python, node) = (python(), node());
    let emulator =
        Emulator::start(EmulatorOptions { incidents: 12, seed: 1, ..EmulatorOptions::default() }).await.unwrap();
    let wasm = component_file("scenario");
    let args = vec![wasm.display().to_string(), emulator.url()];

    let first = rust_scenario(&emulator).await;
    let from_python = run_host(python, "tests/python/scenario.py", args.clone()).await;
    let from_node = run_host(node, "tests/node/scenario.mjs", args).await;
    let rust = rust_scenario(&emulator).await;
    let _ = std::fs::remove_file(&wasm);

    // The Rust host's document, checked against the emulator.
    let ids: Vec<String> = serde_json::from_value(rust["ids"].clone()).unwrap();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, common::names_in(&emulator), "every incident once, over pages of 5");
    assert_eq!(rust["comments"], rust["comments_again"], "a retried comment is one comment");
    let polled: Vec<&str> = rust["poll"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b.as_array().unwrap())
        .map(|e| e[1].as_str().unwrap())
        .collect();
    assert_eq!(polled.len(), 12, "each incident polled once: {polled:?}");
    assert_eq!(rust["protected"], json!({"kind": "protected-account", "subject": seed::ALICE_UPN}));
    assert_eq!(rust["not_found"], json!({"kind": "not-found", "status": 404, "traced": true}));
    assert_eq!(rust["denied"], json!({"kind": "transport", "denied": true}));
    assert_eq!(rust["indicators"]["created"], json!([true, false]), "a retried create is one indicator");
    assert_eq!(rust["indicators"]["same_name"], true);
    assert_eq!(rust["watchlists"]["upserted"], json!([true, false]), "a retried upsert is one item");
    let found = json!([
        ["alice@contoso.onmicrosoft.com", true],
        ["bob@contoso.onmicrosoft.com", true],
        ["eve@contoso.onmicrosoft.com", false]
    ]);
    assert_eq!(rust["watchlists"]["contains"], found);
    let localhost = format!("localhost:{}", emulator.url().rsplit(':').next().unwrap());
    let reached =
        emulator.requests().iter().filter(|r| r.headers.iter().any(|(k, v)| k == "host" && *v == localhost)).count();
    assert_eq!(reached, 0, "no host let a request to an origin off the allow-list through");

    // The first run made the comment (201); every later run, in any host, finds it (200).
    let creation = without(&first, &[]).to_string().replacen(",201]", ",200]", 1);
    assert_eq!(creation, without(&rust, &[]).to_string(), "the Rust host's runs differ beyond the comment's creation");
    assert_eq!(without(&from_node, &["first_cursor"]), without(&rust, &["first_cursor"]), "Node.js differs from Rust");
    let python_limits = ["first_cursor", "denied", "audit"];
    assert_eq!(without(&from_python, &python_limits), without(&rust, &python_limits), "Python differs from Rust");
    assert_eq!(from_python["denied"], json!({"kind": "invalid-input", "denied": true}), "refused at open");
    assert_eq!(from_python["audit"], Value::Null, "wasmtime-py shows no requests");

    // A cursor one host saved resumes in another: the rest of the same batches.
    let host = common::host();
    let rest = rust["poll"].as_array().unwrap()[1..].to_vec();
    for saved in [&from_python["first_cursor"], &from_node["first_cursor"]] {
        let mut session = host.open("resume", scenario_config(&emulator.url(), &emulator.url()), None).await.unwrap();
        let (batches, _) = drain(&mut session, saved.as_str().map(str::to_owned)).await;
        assert_eq!(batches, rest, "resumed from {saved}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_names_each_language_sees_match_their_snapshots() {
    let (python, node) = (python(), node());
    let wasm = component_file("names");
    let path = wasm.display().to_string();
    let names = run_host_text(python, "tests/python/names.py", vec![path]).await;
    let _ = std::fs::remove_file(&wasm);
    let snapshot = std::fs::read_to_string(Path::new(REPO).join("tests/python/names.snapshot")).unwrap();
    assert!(
        names == snapshot,
        "the names wasmtime-py shows changed; if intended: .venv/bin/python tests/python/names.py WASM > tests/python/names.snapshot"
    );
    run_host_text(node, "tests/node/types.mjs", vec!["--check".into()]).await;
}

async fn run_host_text(program: PathBuf, script: &'static str, args: Vec<String>) -> String {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&program, script, &args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_host_stops_a_call_at_its_deadline_and_caps_memory() {
    let node = node();
    let slow = Emulator::start(EmulatorOptions {
        incidents: 3,
        latency: Duration::from_secs(3),
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let wasm = component_file("sandbox");
    let findings = run_host(node, "tests/node/sandbox.mjs", vec![wasm.display().to_string(), slow.url()]).await;
    let _ = std::fs::remove_file(&wasm);
    assert_eq!(findings["deadline"]["reason"], "timeout", "{findings}");
    assert_eq!(findings["old_connection"], "connection-lost", "{findings}");
    assert_eq!(findings["after"]["kind"], "invalid-input", "a fresh worker answers: {findings}");
    assert!(findings["memory_cap"].as_str().is_some_and(|m| m.contains("pages at start")), "{findings}");
}
