//! The compiled component, cached on disk. Compiling with Cranelift takes
//! 0.1-1 s; loading a precompiled artifact takes milliseconds.
//!
//! `Component::deserialize_file` trusts its input, so it is only ever given
//! files this host wrote itself, named by the SHA-256 of the component bytes,
//! the engine's compatibility hash (wasmtime version and every setting that
//! changes code) and this crate's version.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::error::Context;
use wasmtime::Result;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Feeds `Hash` output into SHA-256, so the key is stable across runs and
/// Rust versions (unlike `DefaultHasher`).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

pub fn cache_key(engine: &Engine, component: &[u8]) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.write(component);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.write(env!("CARGO_PKG_VERSION").as_bytes());
    hex::encode(hasher.0.finalize())
}

/// Loads the component from the cache, compiling and storing it on a miss.
/// Without a cache directory it compiles in memory.
pub fn load(engine: &Engine, component: &[u8], cache_dir: Option<&Path>) -> Result<Component> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, component).context("compiling the component");
    };
    let path = dir.join(format!("{}.cwasm", cache_key(engine, component)));
    if path.exists() {
        // SAFETY: the file name is the hash of the component and of the
        // engine configuration, and only `store` below writes such names.
        if let Ok(loaded) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(loaded);
        }
    }
    let compiled = engine.precompile_component(component).context("compiling the component")?;
    if let Err(error) = store(dir, &path, &compiled) {
        eprintln!("warning: could not cache the compiled component in {}: {error:#}", dir.display());
    }
    // SAFETY: `compiled` was produced by this engine a moment ago.
    unsafe { Component::deserialize(engine, &compiled) }.context("loading the compiled component")
}

/// Write, fsync, rename: a reader never sees a half-written artifact.
fn store(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    fs::create_dir_all(dir)?;
    let temp: PathBuf = dir.join(format!(".{}.{}.tmp", std::process::id(), uuid::Uuid::new_v4()));
    let mut file = fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temp, path)?;
    Ok(())
}

pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("sentinel-connector"))
}
