//! Polyglot: the very component the Rust host embeds, loaded by a Python host
//! (the `wasmtime` PyPI package, `tests/python/list_incidents.py`) with its
//! own WASI 0.2 and `wasi:http`, lists the emulator's incidents over real
//! loopback HTTP. It proves the component needs nothing but standard WASI.
//!
//! Needs `.venv` with the pinned wasmtime-py: run `scripts/setup` once.

mod common;

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{arm_requests, emulator, names_in};
use sentinel_host::runtime::EMBEDDED_COMPONENT;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const PYTHON_TIMEOUT: Duration = Duration::from_secs(180);

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn venv_python() -> PathBuf {
    let python = Path::new(REPO).join(".venv").join("bin").join("python");
    assert!(
        python.exists(),
        "{} is missing: run `scripts/setup` (from {REPO}) to create the Python virtualenv with wasmtime-py",
        python.display()
    );
    python
}

/// The embedded component, written where this test binary may write: the
/// Python host then loads exactly the bytes the Rust host runs.
fn write_component() -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("python-host-{}.wasm", std::process::id()));
    std::fs::write(&path, EMBEDDED_COMPONENT).unwrap_or_else(|e| panic!("could not write {}: {e}", path.display()));
    path
}

/// Runs the script to completion (or kills it after `PYTHON_TIMEOUT`).
/// Blocking: call it off the runtime's threads, the emulator serves on them.
fn run_python(python: &Path, wasm: &Path, url: &str) -> Run {
    let script = Path::new(REPO).join("tests").join("python").join("list_incidents.py");
    let mut child = Command::new(python)
        .arg(&script)
        .arg(wasm)
        .arg(url)
        .current_dir(REPO)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {}: {e} (run `scripts/setup`)", python.display()));

    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));

    let deadline = Instant::now() + PYTHON_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the Python host") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the Python host did not finish within {PYTHON_TIMEOUT:?}; stderr: {}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_py_lists_every_incident_and_plans_a_containment() {
    let python = venv_python();
    let emulator = emulator(75, 9).await;
    let wasm = write_component();

    let url = emulator.url();
    let run = {
        let wasm = wasm.clone();
        tokio::task::spawn_blocking(move || run_python(&python, &wasm, &url))
            .await
            .expect("the Python host's runner panicked")
    };
    let _ = std::fs::remove_file(&wasm);

    assert!(
        run.status.success(),
        "the Python host failed ({}); if wasmtime-py is missing or outdated, run `scripts/setup`.\nstderr:\n{}\nstdout:\n{}",
        run.status,
        run.stderr,
        run.stdout
    );
    let printed: serde_json::Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("the Python host's stdout is not JSON ({e}):\n{}", run.stdout));
    let ids: Vec<String> = serde_json::from_value(printed["ids"].clone()).expect("ids: a JSON array of strings");

    assert_eq!(ids.len(), 75, "one id per incident of the emulator");
    let distinct: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(distinct.len(), ids.len(), "each incident once");
    let mut ids = ids;
    ids.sort();
    assert_eq!(ids, names_in(&emulator), "exactly the emulator's incidents");

    assert_eq!(arm_requests(&emulator).len(), 2, "pages of 50 and 25, fetched over HTTP from the emulator");

    // The containment interface, through a borrowed connection, from Python too.
    let plan = &printed["dry_run"];
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["user"], sentinel_emulator::graph_seed::BOB_ID);
    assert_eq!((plan["method"].as_str(), plan["body"].as_str()), (Some("PATCH"), Some(r#"{"accountEnabled":false}"#)));
    assert_eq!(plan["url"], format!("{}/v1.0/users/{}", emulator.url(), sentinel_emulator::graph_seed::BOB_ID));
    assert!(emulator.requests().iter().all(|r| r.method != "PATCH"), "the dry run sent no change");
    assert_eq!(emulator.graph_user(sentinel_emulator::graph_seed::BOB_ID).unwrap()["accountEnabled"], true);
}
