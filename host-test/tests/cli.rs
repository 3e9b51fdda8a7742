//! The `sentinel` binary as a user runs it, against an in-process emulator.

use std::process::{Command, Output};

use sentinel_emulator::{Emulator, EmulatorOptions};
use serde_json::Value;

#[path = "../../tests/common/connect_proxy.rs"]
mod connect_proxy;

async fn emulator(incidents: usize, seed: u64) -> Emulator {
    Emulator::start(EmulatorOptions { incidents, seed, ..EmulatorOptions::default() }).await.unwrap()
}

/// Runs the CLI off the async runtime, with a clean, credential-free environment.
async fn sentinel(args: Vec<String>, env: Vec<(&'static str, &'static str)>) -> Output {
    sentinel_with(args, env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()).await
}

/// [`sentinel`] with an environment built at run time (`PATH` too, if given).
async fn sentinel_with(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sentinel"));
        command.args(&args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        // The binary aborts rather than connect anywhere off 127.0.0.0/8.
        command.env("SENTINEL_TEST_LOOPBACK_ONLY", "1");
        if let Ok(home) = std::env::var("HOME") {
            command.env("HOME", home);
        }
        command.envs(env).output().unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn json(output: &Output) -> Value {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn list_all_returns_every_incident_once_as_json() {
    let emulator = emulator(120, 7).await;
    let url = emulator.url();
    let output =
        sentinel(args(&["--emulator", &url, "incidents", "list", "--all", "--top", "50", "--output", "json"]), vec![])
            .await;
    let list = json(&output);
    let incidents = list.as_array().unwrap();
    assert_eq!(incidents.len(), 120);
    let mut ids: Vec<&str> = incidents.iter().map(|i| i["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 120, "each once");
    let first = &incidents[0];
    for field in
        ["number", "title", "severity", "status", "owner", "labels", "created_time", "last_modified_time", "etag"]
    {
        assert!(first.get(field).is_some(), "JSON incident has {field}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_returns_the_one_asked_for_and_options_stand_anywhere() {
    let emulator = emulator(10, 7).await;
    let url = emulator.url();
    let name = emulator.incidents()[3]["name"].as_str().unwrap().to_owned();
    let output = sentinel(args(&["incidents", "--output", "json", "get", &name, "--emulator", &url]), vec![]).await;
    assert_eq!(json(&output)["id"], name.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_tell_failures_apart() {
    let emulator = emulator(3, 1).await;
    let url = emulator.url();

    let not_found =
        sentinel(args(&["--emulator", &url, "incidents", "get", "00000000-0000-0000-0000-000000000000"]), vec![]).await;
    assert_eq!(not_found.status.code(), Some(4));

    let traversal = sentinel(args(&["--emulator", &url, "incidents", "get", "../x"]), vec![]).await;
    assert_eq!(traversal.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&traversal.stderr).contains("incident-id"));

    let usage = sentinel(args(&["incidents", "list", "--top"]), vec![]).await;
    assert_eq!(usage.status.code(), Some(2));

    emulator.clear_requests();
    let wrong =
        sentinel(args(&["--emulator", &url, "incidents", "list"]), vec![("AZURE_CLIENT_SECRET", "wrong-secret-value")])
            .await;
    assert_eq!(wrong.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("AADSTS7000215"), "{stderr}");
    assert!(stderr.contains("Hint:"), "{stderr}");
    assert!(!stderr.contains("wrong-secret-value"), "the secret is never printed");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_configuration_names_the_variable() {
    let output = sentinel(args(&["incidents", "list"]), vec![]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("AZURE_CLIENT_SECRET"));
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_audits_each_request_without_secrets() {
    let emulator = emulator(5, 1).await;
    let url = emulator.url();
    let output = sentinel(args(&["-v", "--emulator", &url, "incidents", "list", "--output", "json"]), vec![]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let audit: Vec<&str> = stderr.lines().filter(|l| l.starts_with("audit: ")).collect();
    assert_eq!(audit.len(), 2, "token then list: {stderr}");
    assert!(audit[0].starts_with("audit: POST 127.0.0.1:"), "{}", audit[0]);
    assert!(audit[0].contains("/oauth2/v2.0/token 200 "), "{}", audit[0]);
    assert!(audit[1].contains("/providers/Microsoft.SecurityInsights/incidents 200 "), "{}", audit[1]);
    assert!(!stderr.contains(sentinel_emulator::DEFAULT_CLIENT_SECRET));
    assert!(!stderr.to_ascii_lowercase().contains("bearer"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_command_prints_its_address_first_and_adds_its_latency() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(["emulator", "--incidents", "4", "--seed", "2", "--latency", "300"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    let url = line.trim().trim_start_matches("listening on ").to_owned();
    let started = std::time::Instant::now();
    let output = sentinel(args(&["--emulator", &url, "incidents", "list", "--output", "json"]), vec![]).await;
    let took = started.elapsed();
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(json(&output).as_array().unwrap().len(), 4);
    // A floor, never a ceiling: the ARM answer waited for --latency.
    assert!(took >= std::time::Duration::from_millis(300), "--latency 300 was not applied: {took:?}");
}

fn lines(output: &Output) -> Vec<Value> {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON event per line"))
        .collect()
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["incident"]["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_writes_events_then_saves_the_cursor_and_a_crash_replays_only_the_last_batch() {
    let emulator = emulator(12, 5).await;
    let url = emulator.url();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cursor");
    let state_arg = state.to_string_lossy().into_owned();
    let poll = || args(&["--emulator", &url, "poll", "--state", &state_arg, "--first-fetch", "40d", "--max", "5"]);

    let first = lines(&sentinel(poll(), vec![]).await);
    assert_eq!(first.len(), 12, "the whole backlog, in batches of 5");
    assert!(first.iter().all(|e| e["event"] == "created" && e["incident"]["title"].is_string()));
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.starts_with("sp1."), "the cursor was saved");

    for _ in 0..3 {
        emulator.apply(sentinel_emulator::Mutation::Create(sentinel_emulator::NewIncident::default()));
    }
    let second = sentinel(poll(), vec![]).await;
    let second_events = lines(&second);
    assert_eq!(second_events.len(), 3);
    assert!(String::from_utf8_lossy(&second.stderr).contains("lag"), "progress and lag on stderr");

    // Killed after printing the batch and before saving: the old cursor is still there.
    std::fs::write(&state, &saved).unwrap();
    let replayed = lines(&sentinel(poll(), vec![]).await);
    assert_eq!(ids(&replayed), ids(&second_events), "at most the last batch again");
    assert!(lines(&sentinel(poll(), vec![]).await).is_empty(), "then nothing");
}

/// `sentinel graph poll`: the Sentinel poll's contract over Graph (JSON
/// lines, then the `gp1.` cursor saved; nothing twice; a Sentinel cursor refused).
#[tokio::test(flavor = "multi_thread")]
async fn graph_poll_writes_events_then_saves_its_own_cursor() {
    let emulator =
        Emulator::start(EmulatorOptions { incidents: 12, seed: 5, unified: true, ..EmulatorOptions::default() })
            .await
            .unwrap();
    let url = emulator.url();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("graph-cursor");
    let state_arg = state.to_string_lossy().into_owned();
    let poll = |extra: &[&str]| {
        let mut list = vec!["--emulator", url.as_str(), "graph", "poll", "--state", state_arg.as_str()];
        list.extend_from_slice(&["--first-fetch", "400d", "--max", "5"]);
        list.extend_from_slice(extra);
        args(&list)
    };
    let output = sentinel(poll(&["--alerts", "--updates"]), vec![]).await;
    let first = lines(&output);
    let expected: Vec<Value> = emulator.graph_incidents();
    assert_eq!(first.len(), expected.len(), "every incident, in batches of 5");
    let mut seen: Vec<&str> = first.iter().map(|e| e["incident"]["id"].as_str().unwrap()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), expected.len(), "each once");
    assert!(first.iter().all(|e| e["event"] == "created" && e["incident"]["alerts"].is_array()), "{first:?}");
    assert!(std::fs::read_to_string(&state).unwrap().starts_with("gp1."), "the Graph poller's cursor was saved");
    assert!(String::from_utf8_lossy(&output.stderr).contains("graph poll:"), "progress on stderr");
    assert!(lines(&sentinel(poll(&[]), vec![]).await).is_empty(), "then nothing");

    std::fs::write(&state, "sp1.eyJ2IjoxfQ").unwrap();
    let refused = sentinel(poll(&[]), vec![]).await;
    assert_eq!(refused.status.code(), Some(2), "a Sentinel cursor is not a Graph cursor");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("gp1."), "{}", String::from_utf8_lossy(&refused.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_refuses_a_corrupt_state_file() {
    let emulator = emulator(2, 5).await;
    let url = emulator.url();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cursor");
    std::fs::write(&state, "not a cursor").unwrap();
    let output = sentinel(args(&["--emulator", &url, "poll", "--state", &state.to_string_lossy()]), vec![]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cursor"));
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "not a cursor", "never silently reset");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_action_runs_from_the_cli() {
    let emulator = emulator(6, 3).await;
    let url = emulator.url();
    let id = emulator.incidents()[2]["name"].as_str().unwrap().to_owned();
    let run = |list: &[&str]| {
        let mut all = vec!["--emulator", url.as_str(), "--output", "json"];
        all.extend_from_slice(list);
        args(&all)
    };

    let updated = json(
        &sentinel(
            run(&[
                "incidents",
                "update",
                &id,
                "--severity",
                "high",
                "--add-label",
                "cli",
                "--owner-upn",
                "soc@contoso.com",
            ]),
            vec![],
        )
        .await,
    );
    assert_eq!(updated["severity"], "High");
    assert!(updated["labels"].as_array().unwrap().iter().any(|l| l == "cli"));

    let refused = sentinel(
        run(&["incidents", "update", &id, "--status", "closed", "--classification", "benign-positive"]),
        vec![],
    )
    .await;
    assert_eq!(refused.status.code(), Some(2), "BenignPositive without a reason is refused before any request");

    let closed = json(
        &sentinel(
            run(&[
                "incidents",
                "update",
                &id,
                "--status",
                "closed",
                "--classification",
                "true-positive",
                "--reason",
                "suspicious-activity",
            ]),
            vec![],
        )
        .await,
    );
    assert_eq!(closed["status"], "Closed");

    let created =
        json(&sentinel(run(&["incidents", "create", "--title", "From the CLI", "--severity", "low"]), vec![]).await);
    let new_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(sentinel(run(&["incidents", "delete", &new_id]), vec![]).await.status.code(), Some(2), "needs --yes");
    assert!(sentinel(run(&["incidents", "delete", &new_id, "--yes"]), vec![]).await.status.success());

    let added = json(&sentinel(run(&["comments", "add", &id, "Checked by the CLI"]), vec![]).await);
    assert_eq!(added.as_array().unwrap().len(), 1);
    sentinel(run(&["comments", "add", &id, "Checked by the CLI"]), vec![]).await;
    let comments = json(&sentinel(run(&["comments", "list", &id]), vec![]).await);
    assert_eq!(comments.as_array().unwrap().iter().filter(|c| c["message"] == "Checked by the CLI").count(), 1);

    for verb in ["alerts", "entities", "bookmarks"] {
        assert!(json(&sentinel(run(&["incidents", verb, &id]), vec![]).await).is_array(), "{verb}");
    }
    let normalized = json(&sentinel(run(&["incidents", "entities", &id, "--normalized"]), vec![]).await);
    assert!(normalized.as_array().unwrap().iter().any(|e| e["kind"] == "Account"));

    let task = json(&sentinel(run(&["tasks", "add", &id, "Reset password"]), vec![]).await);
    let task_id = task[0]["id"].as_str().unwrap().to_owned();
    let done = json(&sentinel(run(&["tasks", "update", &id, &task_id, "--status", "completed"]), vec![]).await);
    assert_eq!(done[0]["status"], "Completed");

    let query = json(&sentinel(run(&["query", "SigninLogs | take 3", "--timespan", "P1D"]), vec![]).await);
    assert_eq!(query["tables"][0]["rows"].as_array().unwrap().len(), 3);

    let check = sentinel(run(&["check"]), vec![]).await;
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert_eq!(json(&check).as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_runs_offline_and_shows_incidents() {
    let output = sentinel(args(&["demo"]), vec![]).await;
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("open incidents"), "{stdout}");
    assert!(stdout.contains("Newest high-severity incident"), "{stdout}");
    assert!(stdout.contains("requests went out through wasi:http"), "{stdout}");
    assert!(stdout.contains("dry run, nothing sent: PATCH"), "{stdout}");
    assert!(stdout.contains("refused: protected-account"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_graph_action_runs_from_the_cli() {
    use sentinel_emulator::graph_seed as seed;
    let emulator = emulator(0, 3).await;
    let url = emulator.url();
    let run = |list: &[&str]| {
        let mut all = vec!["--emulator", url.as_str(), "--output", "json"];
        all.extend_from_slice(list);
        args(&all)
    };

    let incidents = json(&sentinel(run(&["graph", "incidents", "list", "--all", "--top", "20"]), vec![]).await);
    assert_eq!(incidents.as_array().unwrap().len(), seed::INCIDENT_COUNT);
    let id = incidents[0]["id"].as_str().unwrap().to_owned();
    let with_alerts = json(&sentinel(run(&["graph", "incidents", "get", &id, "--expand-alerts"]), vec![]).await);
    assert!(with_alerts["alerts"].is_array());
    let before = emulator.graph_incident(&id).unwrap();
    let planned =
        json(&sentinel(run(&["graph", "incidents", "update", &id, "--status", "resolved", "--dry-run"]), vec![]).await);
    assert_eq!(
        (planned["dry_run"].as_bool(), planned["request"]["body"]["status"].as_str()),
        (Some(true), Some("resolved"))
    );
    assert_eq!(emulator.graph_incident(&id).unwrap(), before, "the dry run changed nothing");
    let updated = json(
        &sentinel(
            run(&[
                "graph",
                "incidents",
                "update",
                &id,
                "--status",
                "resolved",
                "--classification",
                "true-positive",
                "--determination",
                "multi-staged-attack",
                "--add-tag",
                "cli",
            ]),
            vec![],
        )
        .await,
    );
    assert_eq!(
        (updated["status"].as_str(), updated["determination"].as_str()),
        (Some("resolved"), Some("multiStagedAttack"))
    );

    let alerts = json(&sentinel(run(&["graph", "alerts", "list", "--top", "5"]), vec![]).await);
    let alert_id = alerts[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(json(&sentinel(run(&["graph", "alerts", "get", &alert_id]), vec![]).await)["id"], alert_id.as_str());
    let planned = json(
        &sentinel(run(&["graph", "alerts", "update", &alert_id, "--status", "resolved", "--dry-run"]), vec![]).await,
    );
    assert_eq!(planned["request"]["method"], "PATCH");
    let alert = json(
        &sentinel(
            run(&["graph", "alerts", "update", &alert_id, "--status", "in-progress", "--assign-to", "soc@contoso.com"]),
            vec![],
        )
        .await,
    );
    assert_eq!(alert["status"], "inProgress");

    let comments =
        json(&sentinel(run(&["graph", "alerts", "comment", &alert_id, "Triaged", "--key", "k1"]), vec![]).await);
    let last = comments.as_array().unwrap().last().unwrap()["comment"].as_str().unwrap().to_owned();
    assert!(last.starts_with("Triaged [ref:"), "{last}");
    let comments = json(&sentinel(run(&["graph", "incidents", "comment", &id, "Seen"]), vec![]).await);
    assert_eq!(comments.as_array().unwrap().last().unwrap()["comment"], "Seen");
    let open: Vec<&Value> = incidents
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["id"] != id.as_str() && i["status"] == "active" && i["assignedTo"].is_null())
        .collect();
    let pair = open
        .iter()
        .flat_map(|a| open.iter().map(move |b| (*a, *b)))
        .find(|(a, b)| {
            a["id"] != b["id"] && a["classification"] == b["classification"] && a["determination"] == b["determination"]
        })
        .expect("two mergeable incidents");
    let (a, b) = (pair.0["id"].as_str().unwrap(), pair.1["id"].as_str().unwrap());
    let planned =
        json(&sentinel(run(&["graph", "incidents", "merge", a, b, "--comment", "same", "--dry-run"]), vec![]).await);
    assert_eq!(planned["request"]["body"], serde_json::json!({"incidentIds": [a, b], "incidentComment": "same"}));
    assert!(planned["request"]["url"].as_str().unwrap().ends_with("/security/incidents/mergeIncidents"));

    let hunt = json(&sentinel(run(&["hunt", "DeviceProcessEvents | take 2", "--timespan", "P1D"]), vec![]).await);
    assert_eq!(hunt["rows"].as_array().unwrap().len(), 2);

    assert_eq!(json(&sentinel(run(&["users", "get", seed::BOB_UPN]), vec![]).await)["id"], seed::BOB_ID);
    let planned = json(&sentinel(run(&["users", "disable", seed::BOB_UPN, "--dry-run"]), vec![]).await);
    assert_eq!((planned["dry_run"].as_bool(), planned["request"]["method"].as_str()), (Some(true), Some("PATCH")));
    assert_eq!(emulator.graph_user(seed::BOB_ID).unwrap()["accountEnabled"], true, "the dry run changed nothing");
    let disabled = json(&sentinel(run(&["users", "disable", seed::BOB_UPN]), vec![]).await);
    assert_eq!(disabled["compensation"]["action"], "enable-account");
    assert_eq!(emulator.graph_user(seed::BOB_ID).unwrap()["accountEnabled"], false);
    for verb in ["enable", "revoke-sessions", "confirm-compromised", "dismiss-risk"] {
        let output = sentinel(run(&["users", verb, seed::BOB_UPN]), vec![]).await;
        assert!(output.status.success(), "{verb}: {}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(emulator.graph_user(seed::BOB_ID).unwrap()["accountEnabled"], true);
    assert!(json(&sentinel(run(&["users", "risky", "--filter", "riskLevel eq 'high'"]), vec![]).await).is_array());

    for verb in ["add-member", "remove-member"] {
        let output = sentinel(run(&["groups", verb, seed::QUARANTINE_GROUP_ID, seed::CAROL_UPN]), vec![]).await;
        assert!(output.status.success(), "{verb}: {}", String::from_utf8_lossy(&output.stderr));
    }
    assert!(emulator.group_members(seed::QUARANTINE_GROUP_ID).is_empty());

    // A protected account: exit code 5, one line naming why, nothing sent to Graph.
    emulator.clear_requests();
    let refused =
        sentinel(run(&["users", "disable", seed::ALICE_UPN]), vec![("SENTINEL_PROTECTED_USERS", seed::ALICE_UPN)])
            .await;
    assert_eq!(refused.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("protected-account") && stderr.contains(seed::ALICE_UPN), "{stderr}");
    assert!(emulator.requests().is_empty());

    let manifest = json(&sentinel(run(&["permissions"]), vec![]).await);
    assert!(manifest.as_array().unwrap().iter().any(|p| p["action"] == "containment.disable-account"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_benchmark_writes_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.md");
    let output = sentinel(
        args(&[
            "bench",
            "--quick",
            "--incidents",
            "120",
            "--sessions",
            "3",
            "--stream-incidents",
            "300",
            "--peer-incidents",
            "300",
            "--out",
            &out.to_string_lossy(),
        ]),
        vec![],
    )
    .await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table = std::fs::read_to_string(&out).unwrap();
    for measure in [
        "live tenant sessions in one host",
        "resident memory per open session",
        "open a session, p50 / p99",
        "`incidents list --all` at 300 incidents",
        "wasm vs native core, list-all 120",
        "list 300 incidents, whole process",
        "emulator alone: a page of 1,000 at 300 incidents",
        "poll --details, 50 × 2 calls, 100 ms uniform",
        "first request, no cache",
        "component size",
        "poll: drain the backlog",
        "graph poll: drain the backlog",
        "containment dry run",
    ] {
        assert!(table.contains(&format!("| {measure}")), "{measure} missing from:\n{table}");
    }
    assert!(table.contains("120 events"), "the poller delivered every incident:\n{table}");
}

/// ESC, OSC and BEL: what a hostile title or message would use to drive a terminal.
const TERMINAL_ATTACK: &str = "\u{1b}]8;;https://evil.example\u{7}click\u{1b}]8;;\u{7}\u{1b}[2J";

#[tokio::test(flavor = "multi_thread")]
async fn hostile_titles_messages_and_links_never_reach_the_terminal_raw() {
    let emulator = emulator(3, 1).await;
    let url = emulator.url();
    let name = emulator.incidents()[0]["name"].as_str().unwrap().to_owned();
    emulator.modify_incident(&name, |incident| {
        incident["properties"]["title"] = Value::String(format!("phish {TERMINAL_ATTACK}"))
    });
    emulator.set_query_partial_error(&format!("partial {TERMINAL_ATTACK}"));
    emulator.inject(sentinel_emulator::Injection {
        method: Some("GET".into()),
        path_contains: "/incidents/00000000-0000-0000-0000-000000000001".into(),
        times: 1,
        status: 400,
        headers: vec![],
        body: serde_json::json!({"error": {"code": "BadRequest", "message": format!("bad {TERMINAL_ATTACK}")}})
            .to_string(),
    });
    let runs = [
        args(&["--emulator", &url, "incidents", "list", "--output", "table"]),
        args(&["--emulator", &url, "incidents", "get", &name, "--output", "table"]),
        args(&["--emulator", &url, "incidents", "get", "00000000-0000-0000-0000-000000000001"]),
        args(&["--emulator", &url, "query", "SecurityEvent | take 1", "--output", "table"]),
    ];
    for run in runs {
        let output = sentinel(run.clone(), vec![]).await;
        for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{7}'),
                "{run:?}: raw control characters on {stream}: {text:?}"
            );
        }
    }
    // JSON stays exact: the title comes back as it is, escaped by JSON.
    let listed =
        json(&sentinel(args(&["--emulator", &url, "incidents", "get", &name, "--output", "json"]), vec![]).await);
    assert_eq!(listed["title"], format!("phish {TERMINAL_ATTACK}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multibyte_api_version_is_a_usage_error_not_a_crash() {
    let emulator = emulator(1, 1).await;
    let output = sentinel(
        args(&["--emulator", &emulator.url(), "incidents", "list"]),
        vec![("SENTINEL_API_VERSION", "2025-09-0é")],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("api-version"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_cloud_on_loopback_needs_the_operator_flag() {
    let emulator = emulator(2, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tenant.toml");
    let url = emulator.url();
    let cloud = format!("cloud = \"custom\"\nlogin_url = \"{url}\"\narm_url = \"{url}\"\nlog_analytics_url = \"{url}\"\ngraph_url = \"{url}\"\n");
    let tenant = format!(
        "tenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nsubscription_id = \"{}\"\nresource_group = \"{}\"\nworkspace_name = \"{}\"\n{cloud}",
        sentinel_emulator::DEFAULT_TENANT_ID,
        sentinel_emulator::DEFAULT_CLIENT_ID,
        sentinel_emulator::DEFAULT_CLIENT_SECRET,
        sentinel_emulator::DEFAULT_SUBSCRIPTION_ID,
        sentinel_emulator::DEFAULT_RESOURCE_GROUP,
        sentinel_emulator::DEFAULT_WORKSPACE_NAME,
    );
    std::fs::write(&config, tenant).unwrap();
    let path = config.to_str().unwrap();
    let refused = sentinel(args(&["--config", path, "incidents", "list", "--output", "json"]), vec![]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("policy does not allow"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(emulator.requests().is_empty(), "the tenant's file alone reached nothing");
    let flag =
        sentinel(args(&["--config", path, "--allow-private-network", "incidents", "list", "--output", "json"]), vec![])
            .await;
    assert_eq!(json(&flag).as_array().unwrap().len(), 2);
    let env = sentinel(
        args(&["--config", path, "incidents", "list", "--output", "json"]),
        vec![("SENTINEL_ALLOW_PRIVATE_NETWORK", "1")],
    )
    .await;
    assert_eq!(json(&env).as_array().unwrap().len(), 2);
}

/// `sentinel` as [`sentinel`] runs it, left to the caller to spawn (for a
/// poller that must run alongside another, or be known by its pid).
fn sentinel_command(args: &[String]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sentinel"));
    command.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command.env("SENTINEL_TEST_LOOPBACK_ONLY", "1");
    if let Ok(home) = std::env::var("HOME") {
        command.env("HOME", home);
    }
    command
}

/// A spawned `sentinel` that ends with the test, even a failed one.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn file_mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_poller_on_the_same_state_file_exits_at_once_while_the_first_holds_it() {
    let emulator = emulator(3, 5).await;
    let url = emulator.url();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cursor");
    let state_arg = state.to_string_lossy().into_owned();
    let poll = |extra: &[&str]| {
        let mut list = vec!["--emulator", url.as_str(), "poll", "--state", state_arg.as_str(), "--first-fetch", "40d"];
        list.extend_from_slice(extra);
        args(&list)
    };

    let first = sentinel_command(&poll(&["--follow", "--interval", "60"]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = Running(first);
    // The first batch is saved once the first poller holds the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !state.exists() {
        assert!(first.0.try_wait().unwrap().is_none(), "the first poller ended early");
        assert!(std::time::Instant::now() < deadline, "the first poller saved no cursor");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let second = sentinel(poll(&[]), vec![]).await;
    let stderr = String::from_utf8_lossy(&second.stderr).into_owned();
    drop(first);
    assert_eq!(second.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(&format!("another poller holds the state file {state_arg}")), "{stderr}");
    assert!(second.stdout.is_empty(), "it delivered nothing");

    // The lock goes with the process that held it.
    let third = sentinel(poll(&[]), vec![]).await;
    assert!(lines(&third).is_empty(), "the first poller delivered everything already");
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_saves_its_state_0600_and_never_writes_through_a_predictable_temporary_name() {
    let emulator = emulator(3, 5).await;
    let url = emulator.url();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cursor");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    let list = args(&["--emulator", &url, "poll", "--state", &state.to_string_lossy(), "--first-fetch", "40d"]);
    let child = sentinel_command(&list)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Earlier versions wrote through `.cursor.<pid>.tmp`, following a link
    // there; the poller needs far longer to reach its save than this takes.
    std::os::unix::fs::symlink(&victim, dir.path().join(format!(".cursor.{}.tmp", child.id()))).unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(lines(&output).len(), 3);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me", "the link was not followed");
    assert!(std::fs::read_to_string(&state).unwrap().starts_with("sp1."));
    assert_eq!(file_mode(&state), 0o600, "the cursor is the user's alone");
    assert_eq!(file_mode(&dir.path().join("cursor.lock")), 0o600);
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_refuses_a_state_file_larger_than_a_cursor_without_reading_it() {
    let emulator = emulator(2, 5).await;
    let url = emulator.url();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cursor");
    // Sparse, one byte over the 1 MiB cursor limit.
    std::fs::File::create(&state).unwrap().set_len((1 << 20) + 1).unwrap();
    let state_arg = state.to_string_lossy().into_owned();
    let output = sentinel(args(&["--emulator", &url, "poll", "--state", &state_arg]), vec![]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("the state file {state_arg} is 1048577 bytes, larger than any cursor")),
        "{stderr}"
    );
    assert!(stderr.contains("not read"), "{stderr}");
    assert_eq!(std::fs::metadata(&state).unwrap().len(), (1 << 20) + 1, "never reset");
    assert!(output.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_refuses_an_interval_of_zero() {
    let emulator = emulator(2, 5).await;
    let url = emulator.url();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cursor");
    let output =
        sentinel(args(&["--emulator", &url, "poll", "--state", &state.to_string_lossy(), "--interval", "0"]), vec![])
            .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--interval") && stderr.contains("the minimum is 1 second"), "{stderr}");
    assert!(!state.exists(), "nothing was polled");
    assert!(emulator.requests().is_empty());
}

/// Values as Azure, the az CLI and the seeds spell them (PascalCase in
/// Sentinel, camelCase in Graph), in any case, as well as the kebab-case
/// `--help` lists.
#[tokio::test(flavor = "multi_thread")]
async fn enum_values_are_read_as_azure_spells_them() {
    let emulator = emulator(12, 5).await;
    let url = emulator.url();
    let run = |list: &[&str]| {
        let mut all = vec!["--emulator", url.as_str(), "--output", "JSON"];
        all.extend_from_slice(list);
        args(&all)
    };
    let id = emulator.incidents()[1]["name"].as_str().unwrap().to_owned();

    let updated =
        json(&sentinel(run(&["incidents", "update", &id, "--status", "Active", "--severity", "High"]), vec![]).await);
    assert_eq!((updated["status"].as_str(), updated["severity"].as_str()), (Some("Active"), Some("High")));

    let closed = json(
        &sentinel(
            run(&[
                "incidents",
                "update",
                &id,
                "--status",
                "Closed",
                "--classification",
                "BenignPositive",
                "--reason",
                "SuspiciousButExpected",
            ]),
            vec![],
        )
        .await,
    );
    assert_eq!(closed["status"], "Closed");
    assert_eq!(closed["classification"], "BenignPositive");
    assert_eq!(closed["classification_reason"], "SuspiciousButExpected");

    let created = json(
        &sentinel(
            run(&[
                "incidents",
                "create",
                "--title",
                "Spelled as Azure does",
                "--severity",
                "INFORMATIONAL",
                "--status",
                "new",
            ]),
            vec![],
        )
        .await,
    );
    assert_eq!((created["severity"].as_str(), created["status"].as_str()), (Some("Informational"), Some("New")));

    let task = json(&sentinel(run(&["tasks", "add", &id, "Reset password"]), vec![]).await);
    let task_id = task[0]["id"].as_str().unwrap().to_owned();
    let done = json(&sentinel(run(&["tasks", "update", &id, &task_id, "--status", "Completed"]), vec![]).await);
    assert_eq!(done[0]["status"], "Completed");

    // Graph: camelCase, as its documents and answers spell it.
    let graph = crate::emulator(0, 3).await;
    let graph_url = graph.url();
    let run = |list: &[&str]| {
        let mut all = vec!["--emulator", graph_url.as_str(), "--output", "json"];
        all.extend_from_slice(list);
        args(&all)
    };
    let incidents = json(&sentinel(run(&["graph", "incidents", "list", "--top", "5"]), vec![]).await);
    let graph_id = incidents[0]["id"].as_str().unwrap().to_owned();
    let graph_updated = json(
        &sentinel(
            run(&[
                "graph",
                "incidents",
                "update",
                &graph_id,
                "--status",
                "Resolved",
                "--classification",
                "truePositive",
                "--determination",
                "MultiStagedAttack",
            ]),
            vec![],
        )
        .await,
    );
    assert_eq!(graph_updated["status"], "resolved");
    assert_eq!(graph_updated["classification"], "truePositive");
    assert_eq!(graph_updated["determination"], "multiStagedAttack");
    let alerts = json(&sentinel(run(&["graph", "alerts", "list", "--top", "1"]), vec![]).await);
    let alert_id = alerts[0]["id"].as_str().unwrap().to_owned();
    let alert = json(
        &sentinel(
            run(&["graph", "alerts", "update", &alert_id, "--status", "inProgress", "--determination", "notMalicious"]),
            vec![],
        )
        .await,
    );
    assert_eq!((alert["status"].as_str(), alert["determination"].as_str()), (Some("inProgress"), Some("notMalicious")));

    // Poll's filters read the same spellings.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cursor").to_string_lossy().into_owned();
    let poll = args(&[
        "--emulator",
        &url,
        "poll",
        "--state",
        &state,
        "--first-fetch",
        "40d",
        "--min-severity",
        "Medium",
        "--status",
        "New",
        "--status",
        "Active",
    ]);
    let events = lines(&sentinel(poll, vec![]).await);
    assert!(!events.is_empty());
    for event in &events {
        assert!(["High", "Medium"].contains(&event["incident"]["severity"].as_str().unwrap()), "{event}");
        assert!(["New", "Active"].contains(&event["incident"]["status"].as_str().unwrap()), "{event}");
    }

    // A value that is no spelling of any is still refused, with the list.
    let refused = sentinel(run(&["graph", "incidents", "update", &graph_id, "--status", "Finished"]), vec![]).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("possible values: active, resolved, in-progress"));
}

/// Workload identity from the CLI: the token file is read when the
/// connection opens, and when Entra refuses the (expired) assertion, a
/// `poll --follow` opens the connection again with the file's new token
/// and goes on, the cursor kept.
#[tokio::test(flavor = "multi_thread")]
async fn poll_follow_rereads_a_rotated_federated_token_file_when_sign_in_is_refused() {
    use std::io::{BufRead, BufReader};
    let emulator =
        Emulator::start(EmulatorOptions { incidents: 2, token_lifetime_secs: 1, ..EmulatorOptions::default() })
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("azure-identity-token");
    let first = emulator.federated_token(2);
    std::fs::write(&token_file, &first).unwrap();
    let state = dir.path().join("cursor");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(["--emulator", &emulator.url(), "poll", "--follow", "--interval", "1", "--first-fetch", "40d"])
        .arg("--state")
        .arg(&state)
        .env_clear()
        .env("SENTINEL_TEST_LOOPBACK_ONLY", "1")
        .env("AZURE_FEDERATED_TOKEN_FILE", &token_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let rotated = emulator.federated_token(3600);
    let lines = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        let mut rotated_written = false;
        let mut reread = false;
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if !rotated_written && line.starts_with("poll:") {
                // The issuer rotates the file; the running connection still holds the old token.
                std::fs::write(&token_file, &rotated).unwrap();
                rotated_written = true;
            }
            let done = reread && line.starts_with("poll:") && line.contains("caught up");
            reread |= line.contains("reading the credential again");
            seen.push(line);
            if done || seen.len() > 40 {
                break;
            }
        }
        seen
    });
    let lines = tokio::time::timeout(std::time::Duration::from_secs(30), lines).await;
    let _ = child.kill();
    let _ = child.wait();
    let lines = lines.expect("the poller went on within 30 s").unwrap();
    let text = lines.join("\n");
    let reread_at = lines.iter().position(|l| l.contains("reading the credential again")).expect(&text);
    assert!(lines[reread_at].contains("AADSTS700024"), "{text}");
    assert!(lines[reread_at + 1..].iter().any(|l| l.contains("caught up")), "a poll succeeded after: {text}");
    assert!(!text.contains(&first[..24]) && !text.contains(&first[first.len() - 24..]), "no token in the output");
    assert!(std::fs::read_to_string(&state).unwrap().starts_with("sp1."));
}

/// Managed identity (issue 14, item 3): the CLI gets the three APIs' tokens
/// from the endpoint App Service names (`IDENTITY_ENDPOINT`, with its
/// `IDENTITY_HEADER`), here the emulator's, and the component uses them as
/// access tokens; `AZURE_CLIENT_ID` picks a user-assigned identity.
#[tokio::test(flavor = "multi_thread")]
async fn managed_identity_signs_in_through_the_hosts_endpoint() {
    let emulator = emulator(3, 2).await;
    let url = emulator.url();
    let identity = vec![
        ("IDENTITY_ENDPOINT".to_owned(), format!("{url}/msi/token")),
        ("IDENTITY_HEADER".to_owned(), sentinel_emulator::IDENTITY_HEADER.to_owned()),
    ];
    let output = sentinel_with(
        args(&["--emulator", &url, "--auth", "managed-identity", "check", "-o", "json"]),
        identity.clone(),
    )
    .await;
    let checks = json(&output);
    for check in checks.as_array().unwrap() {
        assert_eq!(
            (check["token_ok"].as_bool(), check["credential"].as_str()),
            (Some(true), Some("access token")),
            "{check}"
        );
    }
    let asked: Vec<_> = emulator.requests().into_iter().filter(|r| r.path == "/msi/token").collect();
    assert_eq!(asked.len(), 3, "one token per API");
    assert!(asked.iter().all(|r| r.query.as_deref().is_some_and(|q| q.contains("api-version=2019-08-01"))));
    assert!(!emulator.requests().iter().any(|r| r.path.ends_with("/oauth2/v2.0/token")), "no client-credentials grant");

    let mut user_assigned = identity.clone();
    user_assigned.push(("AZURE_CLIENT_ID".into(), sentinel_emulator::USER_IDENTITY_CLIENT_ID.into()));
    let listed = sentinel_with(
        args(&["--emulator", &url, "--auth", "managed-identity", "incidents", "list", "-o", "json"]),
        user_assigned,
    )
    .await;
    assert_eq!(json(&listed).as_array().map(Vec::len), Some(3), "{}", String::from_utf8_lossy(&listed.stdout));
    let last = emulator.requests().into_iter().rfind(|r| r.path == "/msi/token").unwrap();
    assert!(last.query.unwrap().contains(sentinel_emulator::USER_IDENTITY_CLIENT_ID));

    let mut wrong = identity;
    wrong[1].1 = "not-the-header".into();
    let refused = sentinel_with(args(&["--emulator", &url, "--auth", "managed-identity", "check"]), wrong).await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("managed identity endpoint answered 400"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// The Azure CLI's sign-in: `az account get-access-token` per API (a fake
/// `az` first on PATH prints tokens the emulator issued).
#[tokio::test(flavor = "multi_thread")]
async fn az_cli_tokens_sign_in_and_never_reach_the_output() {
    let emulator = emulator(2, 4).await;
    let url = emulator.url();
    let dir = tempfile::tempdir().unwrap();
    let arm = emulator.access_token(sentinel_emulator::ARM_SCOPE).unwrap();
    let la = emulator.access_token(sentinel_emulator::LOG_ANALYTICS_SCOPE).unwrap();
    let graph = emulator.access_token(sentinel_emulator::GRAPH_SCOPE).unwrap();
    let script = format!(
        "#!/bin/sh\n# A stand-in for the Azure CLI: the token of the --resource asked for.\n\
         echo \"$@\" >> \"$(dirname \"$0\")/calls\"\n\
         case \"$*\" in\n\
         *management.azure.com*) t={arm} ;;\n*api.loganalytics.io*) t={la} ;;\n*graph.microsoft.com*) t={graph} ;;\n\
         *) echo 'unknown resource' >&2; exit 1 ;;\nesac\n\
         printf '{{\"accessToken\": \"%s\", \"expires_on\": %s, \"tokenType\": \"Bearer\"}}' \"$t\" \"$(( $(date +%s) + 3600 ))\"\n"
    );
    let az = dir.path().join("az");
    std::fs::write(&az, script).unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&az).unwrap().permissions(), 0o755);
    std::fs::set_permissions(&az, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
    let output = sentinel_with(
        args(&["--emulator", &url, "--auth", "az-cli", "check", "-o", "json"]),
        vec![("PATH".into(), path)],
    )
    .await;
    let checks = json(&output);
    assert!(checks.as_array().unwrap().iter().all(|c| c["token_ok"] == true), "{checks}");
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert_eq!(calls.lines().count(), 3, "{calls}");
    assert!(calls.lines().all(|l| l.starts_with("account get-access-token --output json --resource ")), "{calls}");
    let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    for token in [&arm, &la, &graph] {
        assert!(!all.contains(&token[..24]) && !all.contains(&token[token.len() - 24..]), "a token leaked");
    }
}

/// Host-held tokens that expire after two seconds: `poll --follow` renews
/// them by opening the connection again before they run out, so no poll is
/// ever refused.
#[tokio::test(flavor = "multi_thread")]
async fn poll_follow_renews_host_held_tokens_before_they_expire() {
    use std::io::{BufRead, BufReader};
    let emulator =
        Emulator::start(EmulatorOptions { incidents: 2, token_lifetime_secs: 2, ..EmulatorOptions::default() })
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cursor");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(["--emulator", &emulator.url(), "--auth", "managed-identity", "poll", "--follow", "--interval", "1"])
        .arg("--state")
        .arg(&state)
        .env_clear()
        .env("SENTINEL_TEST_LOOPBACK_ONLY", "1")
        .env("IDENTITY_ENDPOINT", format!("{}/msi/token", emulator.url()))
        .env("IDENTITY_HEADER", sentinel_emulator::IDENTITY_HEADER)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.starts_with("error"))
            .take(5)
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(std::time::Duration::from_secs(30), lines).await;
    let _ = child.kill();
    let _ = child.wait();
    let lines = lines.expect("five polls within 30 s").unwrap();
    let text = lines.join("\n");
    assert_eq!(
        lines.iter().filter(|l| l.contains("caught up")).count(),
        5,
        "five polls over more than two token lifetimes: {text}"
    );
    assert!(!text.contains("sign-in refused"), "renewed before expiry, never refused: {text}");
    let renewals = emulator.requests().into_iter().filter(|r| r.path == "/msi/token").count();
    assert!(renewals >= 6, "tokens fetched again ({renewals} requests)");
}

/// The certificate credential from the CLI: a PEM file with key and
/// certificate, or a PKCS#12 bundle as `openssl pkcs12 -export` writes it
/// (AES, or `-legacy`), read from AZURE_CLIENT_CERTIFICATE_PATH; `check`
/// names the thumbprint; a wrong password or a file without its key is
/// refused plainly, and the password never shows.
#[tokio::test(flavor = "multi_thread")]
async fn certificate_files_sign_in_from_pem_or_pkcs12() {
    let emulator = emulator(1, 6).await;
    let url = emulator.url();
    let fixture = |name: &str| format!("{}/../tests/fixtures/certificate/{name}", env!("CARGO_MANIFEST_DIR"));
    let run = |file: String, password: Option<&str>| {
        let mut env = vec![("AZURE_CLIENT_CERTIFICATE_PATH".to_owned(), file)];
        if let Some(password) = password {
            env.push(("AZURE_CLIENT_CERTIFICATE_PASSWORD".to_owned(), password.to_owned()));
        }
        sentinel_with(args(&["--emulator", &url, "--auth", "certificate", "check", "-o", "json"]), env)
    };
    let bundles = [
        ("app-key-and-cert.pem", None),
        ("app.p12", Some("test-only-password")),
        // `openssl pkcs12 -export -legacy`: RC2-40 and 3DES, read too.
        ("app-legacy.p12", Some("test-only-password")),
    ];
    for (file, password) in bundles {
        let checks = json(&run(fixture(file), password).await);
        for check in checks.as_array().unwrap() {
            assert_eq!(check["credential"], "certificate", "{file}: {check}");
            assert_eq!(check["token_ok"], true, "{file}: {check}");
            assert_eq!(check["certificate_thumbprint"].as_str().map(str::len), Some(40), "{file}: {check}");
        }
    }
    for (file, password, said) in [
        ("app.p12", Some("not-the-password-9f3a"), "AZURE_CLIENT_CERTIFICATE_PASSWORD"),
        ("app-cert.pem", None, "holds no PEM private key"),
    ] {
        let output = run(fixture(file), password).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(said), "{file}: {stderr}");
        assert!(!stderr.contains("not-the-password") && !stderr.contains("test-only-password"), "{stderr}");
    }
}

/// The CLI as an enterprise runs it: HTTPS to the emulator through the
/// proxy HTTPS_PROXY names (with credentials), trusting the emulator's CA
/// from --ca-file. The proxy's log shows the CONNECTs; the proxy password
/// never shows, even with --verbose.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_goes_through_https_proxy_with_a_private_ca() {
    let emulator =
        Emulator::start(EmulatorOptions { incidents: 2, tls: true, ..EmulatorOptions::default() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, emulator.ca_pem().unwrap()).unwrap();
    let proxy = connect_proxy::ConnectProxy::start(Some("svc:cli-pr0xy-pass")).await;
    let env = vec![("HTTPS_PROXY".to_owned(), proxy.url_with("svc:cli-pr0xy-pass@"))];
    let ca_arg = ca.to_string_lossy().into_owned();
    let url = emulator.url();
    let run = |extra: &[&str]| {
        let mut list = vec!["--emulator", url.as_str(), "--ca-file", ca_arg.as_str(), "--verbose"];
        list.extend_from_slice(extra);
        args(&list)
    };
    let output = sentinel_with(run(&["incidents", "list", "-o", "json"]), env.clone()).await;
    assert_eq!(json(&output).as_array().map(Vec::len), Some(2));
    let port = emulator.url().rsplit(':').next().unwrap().to_owned();
    assert!(proxy.log().iter().any(|l| l == &format!("CONNECT 127.0.0.1:{port} HTTP/1.1 -> 200")), "{:?}", proxy.log());
    let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!all.contains("cli-pr0xy-pass"), "{all}");

    let untrusting = sentinel_with(args(&["--emulator", url.as_str(), "--verbose", "incidents", "list"]), env).await;
    assert!(!untrusting.status.success());
    let stderr = String::from_utf8_lossy(&untrusting.stderr);
    assert!(stderr.contains("TLS certificate") && stderr.contains("--ca-file"), "{stderr}");
    assert!(stderr.contains("issued by a CA this host does not trust"), "the host's detail beside it: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn watchlists_are_created_from_a_csv_file_and_checked_for_values() {
    let emulator = emulator(0, 1).await;
    emulator.set_watchlist_operations(1, 0);
    let url = emulator.url();
    let dir = std::env::temp_dir().join(format!("sentinel-watchlist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("vip.csv");
    std::fs::write(&csv, "ip,owner\n10.0.0.1,alice\n10.0.0.2,bob\n").unwrap();
    let file = csv.to_str().unwrap();
    let run = |list: &[&str]| {
        let mut all = args(&["--emulator", &url, "--output", "json", "watchlists"]);
        all.extend(args(list));
        sentinel(all, vec![])
    };

    let created = json(&run(&["create", "vip", "--file", file, "--display-name", "VIP", "--search-key", "ip"]).await);
    assert_eq!(created["alias"], "vip");
    assert_eq!(created["source"], "vip.csv");
    assert_eq!(created["provisioningState"], "Succeeded", "the upload's operation was waited for");

    let found = json(&run(&["contains", "vip", "10.0.0.2", "192.0.2.1", "--lookup", "Items"]).await);
    let flags: Vec<bool> = found.as_array().unwrap().iter().map(|m| m["found"].as_bool().unwrap()).collect();
    assert_eq!(flags, [true, false]);
    let by_query = json(&run(&["contains", "vip", "10.0.0.1"]).await);
    assert_eq!(by_query[0]["found"], true);

    let added = json(&run(&["add", "vip", "ip=10.0.0.3", "owner=carol"]).await);
    assert_eq!(added["created"], true);
    let again = json(&run(&["add", "vip", "ip=10.0.0.3", "owner=carol"]).await);
    assert_eq!((again["created"].as_bool(), &again["id"]), (Some(false), &added["id"]), "one item");
    assert_eq!(json(&run(&["items", "vip"]).await).as_array().unwrap().len(), 3);

    let none = run(&["contains", "vip", "203.0.113.9"]).await;
    assert_eq!(none.status.code(), Some(4), "none found: exit code 4");
    let bad = run(&["contains", "bad alias", "x"]).await;
    assert_eq!(bad.status.code(), Some(2), "invalid input: a usage error");

    assert!(run(&["delete", "vip"]).await.status.success());
    assert!(emulator.watchlists().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn analytics_rules_are_listed_and_turned_off_from_the_cli() {
    let emulator = emulator(1, 1).await;
    let url = emulator.url();
    let run = |list: &[&str]| {
        let mut all = vec!["--emulator", url.as_str(), "--output", "json"];
        all.extend_from_slice(list);
        args(&all)
    };
    let listed = json(&sentinel(run(&["rules", "list"]), vec![]).await);
    let kinds: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(kinds.len(), 3, "{listed}");
    assert!(kinds.contains(&"Fusion") && kinds.contains(&"Scheduled"), "{kinds:?}");
    let id = "73e01a99-5cd7-4139-a149-9f2736ff2ab5";
    let off = json(&sentinel(run(&["rules", "disable", id]), vec![]).await);
    assert_eq!((off["enabled"].as_bool(), off["properties"]["query"].as_str()), (Some(false), Some("Heartbeat")));
    let shown = json(&sentinel(run(&["rules", "get", id]), vec![]).await);
    assert_eq!(shown["enabled"], false, "the emulator keeps it off");
}

#[tokio::test(flavor = "multi_thread")]
async fn indicators_are_created_once_queried_tagged_and_deleted_from_the_cli() {
    let emulator = emulator(0, 1).await;
    let url = emulator.url();
    let run = |list: &[&str]| {
        let mut all = vec!["--emulator", url.as_str(), "--output", "json", "indicators"];
        all.extend_from_slice(list);
        args(&all)
    };
    let create = ["create", "--ip", "203.0.113.5", "--confidence", "70", "--threat-type", "MaliciousActivity"];
    let created = json(&sentinel(run(&create), vec![]).await);
    assert_eq!(
        (created["created"].as_bool(), created["pattern"].as_str()),
        (Some(true), Some("[ipv4-addr:value = '203.0.113.5']"))
    );
    assert_eq!(created["threatTypes"][0], "malicious-activity");
    let again = json(&sentinel(run(&create), vec![]).await);
    assert_eq!((again["created"].as_bool(), &again["name"]), (Some(false), &created["name"]), "one indicator");
    let name = created["name"].as_str().unwrap().to_owned();

    let hash = format!("sha256:{}", "ab".repeat(32));
    let by_hash = json(&sentinel(run(&["create", "--file-hash", &hash]), vec![]).await);
    assert_eq!(by_hash["patternType"], "file");

    let found = json(&sentinel(run(&["query", "--keyword", "203.0.113.5", "--page-size", "1"]), vec![]).await);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    let listed = json(&sentinel(run(&["list", "--top", "1"]), vec![]).await);
    assert_eq!(listed.as_array().unwrap().len(), 4, "2 examples, 2 created: {listed}");

    let tagged = json(&sentinel(run(&["tag", &name, "c2", "phishing"]), vec![]).await);
    assert_eq!(tagged["tags"], serde_json::json!(["c2", "phishing"]));
    let retagged = json(&sentinel(run(&["retag", &name, "triaged"]), vec![]).await);
    assert_eq!(retagged["tags"], serde_json::json!(["triaged"]));

    let bad = sentinel(run(&["create", "--ip", "999.0.0.1"]), vec![]).await;
    assert_eq!(bad.status.code(), Some(2), "invalid input: a usage error");
    assert!(sentinel(run(&["delete", &name]), vec![]).await.status.success());
    assert_eq!(emulator.indicators().len(), 3);
}

/// Two-way mirroring from the CLI: `incidents update` prints the write's
/// receipt; `poll --own-write` then reports that version as `own-change`.
#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_skips_its_own_write_with_the_receipt() {
    let emulator = emulator(2, 5).await;
    let url = emulator.url();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cursor").to_string_lossy().into_owned();
    let poll = |extra: &[&str]| {
        let mut all = vec!["--emulator", url.as_str(), "poll", "--state", state.as_str(), "--first-fetch", "40d"];
        all.extend_from_slice(&["--updates"]);
        all.extend_from_slice(extra);
        args(&all)
    };
    assert_eq!(lines(&sentinel(poll(&[]), vec![]).await).len(), 2);
    let id = emulator.incidents()[0]["name"].as_str().unwrap().to_owned();
    let update =
        args(&["--emulator", &url, "--output", "json", "incidents", "update", &id, "--description", "from the ticket"]);
    let written = json(&sentinel(update, vec![]).await);
    let receipt = written["write_receipt"].as_str().expect("the write's receipt").to_owned();
    let events = lines(&sentinel(poll(&["--own-write", &receipt]), vec![]).await);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0]["event"].as_str(), events[0]["incident"]["id"].as_str()),
        (Some("own-change"), Some(id.as_str()))
    );
    let refused = sentinel(poll(&["--own-write", "sp1.not-a-receipt"]), vec![]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("own-writes"));
}
