//! The embedding guide (`docs/embedding.md`) cannot rot: each of its code
//! samples is a file here that this test runs against the emulator, and its
//! code blocks must equal those files.
//! Needs `scripts/setup` (the `.venv` with wasmtime-py, `tests/node/node_modules`).

mod common;

#[path = "embedding/embed.rs"]
mod embed;

use std::path::Path;
use std::process::Command;

use sentinel_host::runtime::EMBEDDED_COMPONENT;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const GUIDE: &str = "docs/embedding.md";
const SAMPLES: [&str; 3] = ["tests/embedding/embed.rs", "tests/embedding/embed.py", "tests/node/embed.mjs"];

/// Each sample's code block: the fenced block right after its
/// `<!-- sample: PATH -->` marker.
fn block_after(guide: &str, path: &str) -> Option<String> {
    let marker = format!("<!-- sample: {path} -->");
    let after = &guide[guide.find(&marker)? + marker.len()..];
    let open = after.find("```")?;
    let body = &after[open..];
    let body = &body[body.find('\n')? + 1..];
    Some(body[..body.find("\n```")? + 1].to_owned())
}

#[test]
fn the_guide_shows_each_sample_exactly() {
    let guide = std::fs::read_to_string(Path::new(REPO).join(GUIDE)).unwrap();
    for sample in SAMPLES {
        let file = std::fs::read_to_string(Path::new(REPO).join(sample)).unwrap();
        let shown = block_after(&guide, sample).unwrap_or_else(|| panic!("{GUIDE} has no block for {sample}"));
        assert!(shown == file, "{GUIDE}'s block for {sample} differs from the file: copy the file into the guide");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_sample_runs() {
    common::test_host_options(); // the loopback guard
    let emulator = common::emulator(7, 1).await;
    let (listed, error) = embed::run(&emulator.url(), sentinel_emulator::DEFAULT_CLIENT_SECRET).await.unwrap();
    assert_eq!(listed, 14, "two tenants, seven incidents each");
    assert!(error.contains("NotFound: ") && error.contains("client request id"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_and_node_samples_run() {
    let emulator = common::emulator(7, 1).await;
    let wasm = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("embedding-{}.wasm", std::process::id()));
    std::fs::write(&wasm, EMBEDDED_COMPONENT).unwrap();
    let url = emulator.url();
    let python = Path::new(REPO).join(".venv/bin/python");
    for (program, sample) in [(python.as_path(), SAMPLES[1]), (Path::new("node"), SAMPLES[2])] {
        let (program, wasm, url) = (program.to_owned(), wasm.clone(), url.clone());
        let output = tokio::task::spawn_blocking(move || {
            Command::new(&program).arg(Path::new(REPO).join(sample)).arg(&wasm).arg(&url).current_dir(REPO).output()
        })
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("could not run {sample}: {e} (run scripts/setup)"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{sample}: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
        let printed: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(printed["listed"], 14, "{sample}: {printed}");
        assert!(printed["error"].as_str().unwrap().starts_with("not-found: "), "{sample}: {printed}");
    }
    let _ = std::fs::remove_file(&wasm);
}
