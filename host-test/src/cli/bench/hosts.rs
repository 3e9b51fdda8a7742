//! The same `.wasm` in the three hosts the embedding guide covers (issue 15):
//! this crate's wasmtime host, wasmtime-py (`tests/python/bench.py`) and
//! Node.js through jco (`tests/node/bench.mjs`), each measured the same way
//! against one emulator of 1,000 incidents: loading the component, a fresh
//! instance with a connection open, and one `list-all-incidents` (pages of
//! 1,000, warm: after a first walk).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::process::{Capture, Child};
use super::table::Row;
use super::{failure, median, ms, Setup};
use crate::cli::Failure;
use crate::emulator::{Emulator, EmulatorOptions};
use crate::runtime::types::ListIncidentsOptions;
use crate::runtime::{list_options, ConnectorHost};

const INCIDENTS: usize = 1_000;
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// What each host's bench script prints: one JSON line.
#[derive(Deserialize)]
struct Figures {
    versions: serde_json::Map<String, serde_json::Value>,
    load_ms: f64,
    instantiate_ms: f64,
    list_all_1000_ms: f64,
    #[serde(default)]
    transpile_ms: Option<f64>,
}

/// One row per host; a host that cannot run here says why in its row.
pub async fn rows(setup: &Setup) -> Result<Vec<Row>, Failure> {
    let emulator = Emulator::start(EmulatorOptions { incidents: INCIDENTS, seed: 1, ..EmulatorOptions::default() })
        .await
        .map_err(|e| failure(format!("cannot start the emulator: {e}")))?;
    let url = emulator.url();
    let wasm = setup.scratch.join("hosts.wasm");
    std::fs::write(&wasm, &setup.component).map_err(|e| failure(format!("cannot write {}: {e}", wasm.display())))?;
    let mut rows = vec![Row::new("the same .wasm in three hosts, 1,000 incidents", "").note(
        "load the component / a fresh instance with a connection open / one list-all-incidents (pages of 1,000, \
         warm); one run each",
    )];
    rows.push(rust(setup, &url).await.unwrap_or_else(|e| Row::failed("  Rust: wasmtime 48", "", e.message)));
    let python = repo_path(".venv/bin/python");
    rows.push(script_row("  Python: wasmtime-py", child(&python, "tests/python/bench.py", &wasm, &url)).await);
    let node = PathBuf::from("node");
    rows.push(script_row("  Node.js: jco", child(&node, "tests/node/bench.mjs", &wasm, &url)).await);
    emulator.shutdown().await;
    Ok(rows)
}

async fn rust(setup: &Setup, url: &str) -> Result<Row, Failure> {
    let connection = setup.connection(url)?;
    let started = Instant::now();
    let host = ConnectorHost::new(setup.host_options(8))?;
    let load = started.elapsed();
    let mut opens = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        drop(host.open("hosts", connection.clone(), None).await?);
        opens.push(started.elapsed());
    }
    let mut session = host.open("hosts", connection, None).await?;
    let options = ListIncidentsOptions { top: Some(1000), ..list_options() };
    session.list_all_incidents(options.clone()).await?;
    let started = Instant::now();
    let walked = session.list_all_incidents(options).await?;
    let list_all = started.elapsed();
    if walked.len() != INCIDENTS {
        return Err(failure(format!("list-all returned {} incidents, not {INCIDENTS}", walked.len())));
    }
    let how = format!("{:?}", host.component_source()).to_lowercase();
    Ok(Row::new("  Rust: wasmtime 48.0.8", triple(load, median(opens), list_all))
        .note(format!("sentinel-host in-process; load = ConnectorHost::new ({how}); instantiate: median of 5")))
}

fn repo_path(relative: &str) -> PathBuf {
    let local = PathBuf::from(relative);
    if local.exists() {
        local
    } else {
        Path::new(REPO).join(relative)
    }
}

fn child(program: &Path, script: &str, wasm: &Path, url: &str) -> Child {
    Child::new(program).arg(repo_path(script)).arg(wasm).arg(url)
}

async fn script_row(measure: &str, child: Child) -> Row {
    let measured = match child.run(Capture::Keep).await {
        Ok(measured) => measured,
        Err(why) => return Row::failed(measure, "", format!("{why} (run scripts/setup)")),
    };
    let line = measured.stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or("");
    let figures: Figures = match serde_json::from_str(line) {
        Ok(figures) => figures,
        Err(e) => return Row::failed(measure, "", format!("its output could not be read ({e}): {line}")),
    };
    let versions: Vec<String> = figures.versions.iter().map(|(name, version)| format!("{name} {version}")).collect();
    let transpile =
        figures.transpile_ms.map(|t| format!("; load includes jco transpile {t:.1} ms")).unwrap_or_default();
    let millis = |value: f64| Duration::from_secs_f64(value.max(0.0) / 1000.0);
    Row::new(measure, triple(millis(figures.load_ms), millis(figures.instantiate_ms), millis(figures.list_all_1000_ms)))
        .note(format!("{}{transpile}", versions.join(", ").replace('"', "")))
}

fn triple(load: Duration, instantiate: Duration, list_all: Duration) -> String {
    format!("{} / {} / {}", ms(load), ms(instantiate), ms(list_all))
}
