//! Issue 12, the first request on a fresh machine: a host with an empty
//! cache starts from the component `build.rs` precompiled (no compile),
//! serves a session, and leaves the cache filled, so the next start maps it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sentinel_emulator::{Emulator, EmulatorOptions};
use sentinel_host::config::{self, FileConfig};
use sentinel_host::runtime::cache::Loaded;
use sentinel_host::runtime::egress::{EgressPolicy, PrivateNetwork};
use sentinel_host::runtime::types::ListIncidentsOptions;
use sentinel_host::runtime::{list_options, ConnectorHost, HostOptions};

/// The incidents one session of `host` lists from the emulator at `url`.
async fn incidents(host: &ConnectorHost, url: &str) -> usize {
    let connection = config::resolve(&|_| None, &FileConfig::default(), Some(url)).unwrap();
    let mut session = host.open("cold", connection, None).await.unwrap();
    let page = session.list_incidents(ListIncidentsOptions { top: Some(50), ..list_options() }).await.unwrap();
    page.incidents.len()
}

fn artifacts(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_cache_serves_from_the_build_time_artifact_and_is_filled_for_the_next_start() {
    let emulator =
        Emulator::start(EmulatorOptions { incidents: 7, seed: 3, ..EmulatorOptions::default() }).await.unwrap();
    let temp = tempfile::tempdir().unwrap();
    let cache = temp.path().join("cache");
    let options = || HostOptions {
        cache_dir: Some(cache.clone()),
        egress: EgressPolicy::operator(PrivateNetwork::LoopbackOnly),
        ..HostOptions::default()
    };

    let host = ConnectorHost::new(options()).unwrap();
    assert_eq!(host.component_source(), &Loaded::Precompiled, "a fresh machine compiles nothing");
    assert_eq!(incidents(&host, &emulator.url()).await, 7);
    drop(host);
    let files = artifacts(&cache);
    assert_eq!(files.len(), 1, "one artifact, no temporary file left: {files:?}");
    assert_eq!(std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o600);

    let host = ConnectorHost::new(options()).unwrap();
    assert_eq!(host.component_source(), &Loaded::Cache, "the next start maps the cached artifact");
    assert_eq!(incidents(&host, &emulator.url()).await, 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn other_code_settings_compile_and_keep_the_same_sandbox() {
    let emulator =
        Emulator::start(EmulatorOptions { incidents: 3, seed: 4, ..EmulatorOptions::default() }).await.unwrap();
    let limits = sentinel_host::runtime::Limits { memory_bytes: 48 << 20, ..Default::default() };
    // Compiled once per target directory: Cranelift in a debug build is slow.
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coldstart-48MiB");
    let options = HostOptions {
        cache_dir: Some(cache),
        limits,
        egress: EgressPolicy::operator(PrivateNetwork::LoopbackOnly),
        ..HostOptions::default()
    };
    let host = ConnectorHost::new(options).unwrap();
    let source = host.component_source();
    assert!(
        matches!(source, Loaded::Compiled | Loaded::Cache),
        "the build-time artifact is for the default limits: {source:?}"
    );
    assert_eq!(host.limits().memory_bytes, 48 << 20);
    assert_eq!(incidents(&host, &emulator.url()).await, 3);
}
