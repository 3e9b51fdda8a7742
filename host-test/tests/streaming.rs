//! Issue 12, "nothing unbounded in the guest": `--all` streams page by page
//! through the `sentinel` binary, each incident printed once, while the
//! guest's linear memory stays at about a page.

use std::collections::HashSet;
use std::process::{Command, Output};

use sentinel_emulator::{Emulator, EmulatorOptions};
use serde_json::Value;

/// What the guest's linear memory may reach while 20,000 incidents stream
/// (its store may grow to 64 MiB). A page of 1,000 incidents, parsed, in
/// its WIT form and lowered, stays under it; the whole list does not (the
/// old `--all` ran out of the 64 MiB at about 33,000).
const GUEST_MEMORY_BOUND: usize = 16 << 20;

async fn emulator(incidents: usize) -> Emulator {
    Emulator::start(EmulatorOptions { incidents, seed: 12, ..EmulatorOptions::default() }).await.unwrap()
}

/// Runs the CLI off the async runtime, with a clean, credential-free
/// environment, reporting the guest's memory on stderr.
async fn sentinel(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sentinel"));
        command.args(&args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        // The binary aborts rather than connect anywhere off 127.0.0.0/8.
        command.env("SENTINEL_TEST_LOOPBACK_ONLY", "1").env("SENTINEL_REPORT_GUEST_MEMORY", "1");
        if let Ok(home) = std::env::var("HOME") {
            command.env("HOME", home);
        }
        command.output().unwrap()
    })
    .await
    .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The guest's peak linear memory the CLI reported.
fn guest_memory(output: &Output) -> usize {
    let stderr = stderr(output);
    let line = stderr.lines().find_map(|l| l.strip_prefix("guest memory: ")).expect("the CLI reports guest memory");
    line.trim_end_matches(" bytes").parse().unwrap()
}

fn names(emulator: &Emulator) -> HashSet<String> {
    emulator.incidents().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
}

/// Each id once, and exactly the emulator's.
fn assert_every_incident_once(ids: Vec<String>, emulator: &Emulator) {
    let count = ids.len();
    let unique: HashSet<String> = ids.into_iter().collect();
    assert_eq!(unique.len(), count, "no incident printed twice");
    assert_eq!(unique, names(emulator), "every incident printed");
}

/// The CI gate: 20,000 incidents as one JSON array, in pages of 1,000.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_thousand_incidents_stream_as_one_json_array_in_a_page_of_memory() {
    let emulator = emulator(20_000).await;
    let url = emulator.url();
    let output =
        sentinel(&["--emulator", &url, "incidents", "list", "--all", "--top", "1000", "--output", "json"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let list: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON array");
    let ids: Vec<String> = list.as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 20_000);
    assert_every_incident_once(ids, &emulator);
    let memory = guest_memory(&output);
    assert!(memory < GUEST_MEMORY_BOUND, "the guest's memory grew to {memory} bytes");
    let lists = emulator.requests().into_iter().filter(|r| r.path.ends_with("/incidents")).count();
    assert_eq!(lists, 20, "one request a page");
}

/// JSON lines, one incident a line; and the loop guard and `--max-pages`
/// end the stream with the guest walk's own error.
#[tokio::test(flavor = "multi_thread")]
async fn ndjson_prints_one_incident_a_line_and_max_pages_stops_the_stream_with_its_error() {
    let emulator = emulator(2_500).await;
    let url = emulator.url();
    let output = sentinel(&["--emulator", &url, "incidents", "list", "--all", "--top", "300", "--ndjson"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    let ids: Vec<String> = text
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).expect("each line is one JSON object")["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 2_500);
    assert_every_incident_once(ids, &emulator);

    let output = sentinel(&[
        "--emulator",
        &url,
        "incidents",
        "list",
        "--all",
        "--top",
        "100",
        "--max-pages",
        "3",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let stderr = stderr(&output);
    let expected = "error: invalid-response: more than 3 pages; stopped. Hint: Narrow the filter, raise max-pages, \
                    or page with list-incidents and its continuation.";
    assert!(stderr.lines().any(|line| line == expected), "the guest walk's own error: {stderr}");
    assert!(stderr.contains("stopped after 300 incidents"), "{stderr}");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(serde_json::from_str::<Value>(&printed).is_err(), "a list cut short is not valid JSON: {printed}");
    assert_eq!(printed.matches("\"resource_id\"").count(), 300, "the three pages were printed");
}
