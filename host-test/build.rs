//! Builds the connector component from this repository and hands its path to
//! the host, which embeds it: the `sentinel` binary then runs from anywhere.
//!
//! The component is built by a nested `cargo build --release --target
//! wasm32-wasip2` into its own target directory (`target/component`), so it
//! never waits on the lock of the outer build. Set `SENTINEL_COMPONENT` to the
//! path of a prebuilt `.wasm` to skip the nested build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SENTINEL_COMPONENT");
    let path = match env::var_os("SENTINEL_COMPONENT") {
        Some(path) => PathBuf::from(path),
        None => build_component(),
    };
    println!("cargo:rustc-env=SENTINEL_COMPONENT_PATH={}", path.display());
}

fn build_component() -> PathBuf {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host-test lives inside the repository").to_path_buf();
    for watched in ["src", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = root.join("target").join("component");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "-p", "sentinel-connector"])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's settings are for the host, not for the guest.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_PRIMARY_PACKAGE")
        .status()
        .expect("could not run cargo to build the component");
    if !status.success() {
        panic!(
            "building the connector component failed (see above). If the target is missing, run: rustup target add wasm32-wasip2"
        );
    }
    let wasm = target_dir.join("wasm32-wasip2").join("release").join("sentinel_connector.wasm");
    assert!(Path::new(&wasm).exists(), "the component build produced no {}", wasm.display());
    wasm
}
