//! Builds the connector component from this repository and hands its path to
//! the host, which embeds it: the `sentinel` binary then runs from anywhere.
//!
//! The component is built by a nested `cargo build --release --target
//! wasm32-wasip2` into its own target directory (`target/component`), so it
//! never waits on the lock of the outer build. Set `SENTINEL_COMPONENT` to the
//! path of a prebuilt `.wasm` to skip the nested build.
//!
//! The build is reproducible: with the same toolchain and `Cargo.lock`, two
//! clean builds give the same bytes, whatever the checkout path, the target
//! directory or `CARGO_HOME`. Panic locations name the source files of every
//! crate, and cargo hands rustc the registry's sources by absolute path
//! (`$CARGO_HOME/registry/src/...`), so those prefixes are remapped to fixed
//! ones, and nothing of the outer build's environment reaches the nested one.
//! `scripts/component-hash` runs this same build and prints its SHA-256: keep
//! the two in step.
//!
//! Then `scripts/optimize-component.mjs` shrinks it (binaryen's `wasm-opt -Oz`
//! on the main core module, custom sections dropped) into
//! `target/component/sentinel_connector.wasm`, which is validated here and
//! embedded. Without binaryen (`node_modules`, installed by `scripts/setup`)
//! or Node.js the build warns and embeds the unoptimized component, which
//! behaves the same; `scripts/component-hash` requires the optimizer.
//!
//! Last, the component is precompiled with Cranelift for this machine and
//! the engine settings of `src/runtime/code_settings.rs`, and that artifact
//! is embedded too, with the component's SHA-256: a fresh machine then starts
//! in milliseconds instead of compiling for seconds (issue 12). The runtime
//! checks the artifact against its own engine before using it (`deserialize`
//! refuses other settings or CPU features the machine lacks) and compiles
//! when it does not fit. A cross build embeds no artifact.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[path = "src/runtime/code_settings.rs"]
mod code_settings;

fn main() {
    println!("cargo:rerun-if-env-changed=SENTINEL_COMPONENT");
    let path = match env::var_os("SENTINEL_COMPONENT") {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", Path::new(&path).display());
            PathBuf::from(path)
        }
        None => build_component(),
    };
    println!("cargo:rustc-env=SENTINEL_COMPONENT_PATH={}", path.display());
    let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("could not read {}: {error}", path.display()));
    // The runtime's cache key, computed once here rather than on every start.
    println!("cargo:rustc-env=SENTINEL_COMPONENT_SHA256={}", hex(&Sha256::digest(&bytes)));
    let artifact = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("sentinel_connector.cwasm");
    std::fs::write(&artifact, precompile(&bytes))
        .unwrap_or_else(|error| panic!("could not write {}: {error}", artifact.display()));
    println!("cargo:rustc-env=SENTINEL_COMPONENT_ARTIFACT={}", artifact.display());
}

/// The component compiled as the runtime's engine would with the default
/// limits, for the CPU of this machine; empty (the runtime compiles) when
/// building for another target, where this machine's code would not run.
fn precompile(component: &[u8]) -> Vec<u8> {
    if env::var_os("TARGET") != env::var_os("HOST") {
        println!(
            "cargo:warning=cross build: no precompiled component is embedded; the host compiles it at first start"
        );
        return Vec::new();
    }
    let config = code_settings::code_config(code_settings::DEFAULT_MEMORY_BYTES);
    let engine = wasmtime::Engine::new(&config).expect("the build-time engine settings are valid");
    engine
        .precompile_component(component)
        .unwrap_or_else(|error| panic!("precompiling the component failed: {error:#}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn build_component() -> PathBuf {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host-test lives inside the repository").to_path_buf();
    for watched in ["src", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_HOME");
    let target_dir = root.join("target").join("component");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "-p", "sentinel-connector"])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's settings are for the host, not for the guest: its
    // flags, its target, and what cargo tells a build script about the host
    // crate (its cfgs, features, package). The guest's profile is the one in
    // Cargo.toml, whatever CARGO_PROFILE_* says.
    for (name, _) in env::vars_os() {
        let name = name.to_string_lossy();
        let outer = ["CARGO_CFG_", "CARGO_FEATURE_", "CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_PROFILE_"]
            .iter()
            .any(|p| name.starts_with(p))
            || [
                "RUSTFLAGS",
                "CARGO_BUILD_RUSTFLAGS",
                "CARGO_BUILD_TARGET",
                "CARGO_BUILD_TARGET_DIR",
                "CARGO_TARGET_DIR",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_CRATE_NAME",
                "TARGET",
                "HOST",
                "OUT_DIR",
                "OPT_LEVEL",
                "PROFILE",
                "DEBUG",
                "NUM_JOBS",
                "RUSTC_LINKER",
            ]
            .contains(&name.as_ref());
        if outer {
            command.env_remove(name.as_ref());
        }
    }
    // Set, not inherited: the one set of flags, which also overrides any
    // `rustflags` in a cargo config file.
    command.env("CARGO_ENCODED_RUSTFLAGS", encoded_rustflags(&root));
    let status = command.status().expect("could not run cargo to build the component");
    if !status.success() {
        panic!(
            "building the connector component failed (see above). If the target is missing, run: rustup target add wasm32-wasip2"
        );
    }
    let wasm = target_dir.join("wasm32-wasip2").join("release").join("sentinel_connector.wasm");
    assert!(Path::new(&wasm).exists(), "the component build produced no {}", wasm.display());
    optimize(&root, &wasm, &target_dir.join("sentinel_connector.wasm"))
}

/// The optimized component at `out`, validated, or `wasm` itself (with a
/// warning) when binaryen or Node.js is missing.
fn optimize(root: &Path, wasm: &Path, out: &Path) -> PathBuf {
    let script = root.join("scripts").join("optimize-component.mjs");
    let binaryen = root.join("node_modules").join("binaryen").join("package.json");
    // A missing file counts as changed, so until binaryen is installed this
    // script runs on every build, and picks it up once it is.
    for watched in [&script, &binaryen] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    let unoptimized = |why: &str| {
        println!(
            "cargo:warning=embedding the unoptimized component ({why}); run scripts/setup to install binaryen's wasm-opt (needs Node.js and npm)"
        );
        wasm.to_path_buf()
    };
    if !binaryen.exists() {
        return unoptimized("node_modules/binaryen is missing");
    }
    let status = match Command::new("node").arg(&script).arg(wasm).arg(out).status() {
        Ok(status) => status,
        Err(error) => return unoptimized(&format!("could not run node: {error}")),
    };
    assert!(status.success(), "scripts/optimize-component.mjs failed on {} (see above)", wasm.display());
    let bytes = std::fs::read(out).unwrap_or_else(|error| panic!("could not read {}: {error}", out.display()));
    if let Err(error) = wasmparser::Validator::new().validate_all(&bytes) {
        panic!("the optimized component {} is not valid: {error}", out.display());
    }
    out.to_path_buf()
}

/// `--remap-path-prefix` for the repository (`/sentinel-connector`) and for
/// `CARGO_HOME` (`/cargo`), both as given and as resolved, since cargo passes
/// paths as it found them. The last matching remap wins, so `CARGO_HOME`
/// inside the repository still maps to `/cargo`. The standard library's
/// paths are already `/rustc/<commit>/...`.
fn encoded_rustflags(root: &Path) -> OsString {
    let mut remaps: Vec<(PathBuf, &str)> = vec![(root.to_path_buf(), "/sentinel-connector")];
    if let Some(home) = cargo_home(root) {
        remaps.push((home, "/cargo"));
    }
    let mut flags = OsString::new();
    for (from, to) in remaps {
        let resolved = from.canonicalize().ok().filter(|resolved| *resolved != from);
        for path in [Some(from), resolved].into_iter().flatten() {
            if !flags.is_empty() {
                flags.push("\x1f");
            }
            flags.push("--remap-path-prefix=");
            flags.push(path.as_os_str());
            flags.push("=");
            flags.push(to);
        }
    }
    flags
}

/// Where the nested cargo (run in `root`) keeps the registry's sources:
/// `CARGO_HOME` (a relative one is taken from its working directory), else
/// `~/.cargo`.
fn cargo_home(root: &Path) -> Option<PathBuf> {
    if let Some(home) = env::var_os("CARGO_HOME").filter(|home| !home.is_empty()) {
        return Some(root.join(home));
    }
    let user = env::var_os("HOME").or_else(|| env::var_os("USERPROFILE")).filter(|home| !home.is_empty())?;
    Some(PathBuf::from(user).join(".cargo"))
}
