//! The compiled component, cached on disk. Compiling with Cranelift takes
//! seconds; mapping a cached artifact takes under a millisecond.
//!
//! Where the component comes from, first that fits: the disk cache; the
//! artifact `build.rs` precompiled and embedded (the embedded component
//! only, and only when it fits this engine's settings and CPU, which
//! `Component::deserialize` checks); compiling it. The last two are then
//! written to the cache in the background (a [`CacheFill`]), so the next start
//! maps the file instead of copying the embedded bytes or compiling.
//!
//! A cached artifact is native code that runs outside the sandbox, so the
//! cache follows the rule ssh applies to `~/.ssh`: the directory is created
//! 0700 and artifacts 0600, and an artifact is loaded only when it, the cache
//! directory and every ancestor directory the current user owns belong to
//! that user and are writable by no one else (a world-writable ancestor such
//! as `/tmp` is accepted only with its sticky bit). Anything else is refused
//! with a one-line warning and the component is compiled in memory. The
//! artifact is opened without following a symbolic link and checked through
//! the open handle; that same open file is what is mapped and deserialized,
//! so nothing can be swapped in between the check and the load.
//!
//! Artifacts are named by the SHA-256 of the component bytes (computed by
//! `build.rs` for the embedded component), the engine's compatibility hash
//! (wasmtime version and every setting that changes code) and this crate's
//! version.

use std::borrow::Cow;
use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::error::Context;
use wasmtime::Engine;
use wasmtime::Result;

/// The embedded component's SHA-256, computed by `build.rs`: hashing 900 KB
/// on every start would cost most of the cached start's budget.
const EMBEDDED_SHA256: &str = env!("SENTINEL_COMPONENT_SHA256");

/// The embedded component precompiled by `build.rs` for the build machine's
/// CPU and the default limits; empty for a cross build.
static EMBEDDED_ARTIFACT: &[u8] = include_bytes!(env!("SENTINEL_COMPONENT_ARTIFACT"));

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

/// Whether `component` is the one this binary embeds (a comparison of
/// memory, far cheaper than hashing it).
fn is_embedded(component: &[u8]) -> bool {
    component == super::EMBEDDED_COMPONENT
}

fn component_sha256(component: &[u8]) -> Cow<'static, str> {
    match is_embedded(component) {
        true => Cow::Borrowed(EMBEDDED_SHA256),
        false => Cow::Owned(hex::encode(Sha256::digest(component))),
    }
}

/// The artifact's file name in the cache, without `.cwasm`: hex SHA-256 over
/// the component's hash, the engine's compatibility hash and this crate's
/// version, so a changed component, wasmtime or setting never loads a stale one.
pub fn cache_key(engine: &Engine, component: &[u8]) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.write(component_sha256(component).as_bytes());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.write(env!("CARGO_PKG_VERSION").as_bytes());
    hex::encode(hasher.0.finalize())
}

/// An artifact being written to the cache in the background, so the first
/// request need not wait for the disk. Dropping it waits for the write, so
/// a host that is dropped leaves the cache filled for the next start.
#[must_use = "dropping it waits for the cache to be written"]
pub struct CacheFill(Option<JoinHandle<()>>);

impl Drop for CacheFill {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take() {
            let _ = writer.join();
        }
    }
}

/// Loads the component from the cache, or the build-time artifact, or
/// compiles it; either of the last two is stored before this returns.
/// Without a cache directory, or with one that is not safe to load native
/// code from, nothing is stored.
pub fn load(engine: &Engine, component: &[u8], cache_dir: Option<&Path>) -> Result<Component> {
    load_from(engine, component, cache_dir).map(|(component, _, _)| component)
}

/// Like [`load`], also saying where the component came from, the cache
/// written in the background until the [`CacheFill`] is dropped.
pub fn load_filling(
    engine: &Engine,
    component: &[u8],
    cache_dir: Option<&Path>,
) -> Result<(Component, Loaded, CacheFill)> {
    load_from(engine, component, cache_dir)
}

/// Where [`load`] got the component from (`ConnectorHost::component_source`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// Deserialized from a cached artifact that passed every check.
    Cache,
    /// The artifact `build.rs` embedded (and stored, when the cache is safe).
    Precompiled,
    /// Compiled (and stored, when the cache directory is safe).
    Compiled,
    /// Not from the cache: it was refused for this reason (also printed).
    Refused(String),
}

fn load_from(engine: &Engine, component: &[u8], cache_dir: Option<&Path>) -> Result<(Component, Loaded, CacheFill)> {
    let Some(dir) = cache_dir else {
        return without_cache(engine, component, None);
    };
    let me = current_uid();
    if let Err(reason) = prepare_dir(dir, me) {
        eprintln!("warning: not using the component cache {}: {reason}; compiling in memory", dir.display());
        return refused(engine, component, reason);
    }
    let path = dir.join(format!("{}.cwasm", cache_key(engine, component)));
    match open_artifact(&path, me) {
        Ok(Some(file)) => {
            // SAFETY: `file` is open on a regular file that this user owns,
            // that no one else may write, with one link, in a directory chain
            // no one else may write, named by the hash of the component and
            // of the engine configuration. Only `store` writes such files,
            // each under a new name renamed into place, so the file mapped
            // here is never written again.
            if let Ok(loaded) = unsafe { deserialize_open(engine, &file) } {
                return Ok((loaded, Loaded::Cache, CacheFill(None)));
            }
        }
        Ok(None) => {}
        Err(reason) => {
            eprintln!("warning: not loading the cached component {}: {reason}; compiling in memory", path.display());
            return refused(engine, component, reason);
        }
    }
    without_cache(engine, component, Some((dir, path)))
}

fn refused(engine: &Engine, component: &[u8], reason: String) -> Result<(Component, Loaded, CacheFill)> {
    let (component, _, fill) = without_cache(engine, component, None)?;
    Ok((component, Loaded::Refused(reason), fill))
}

/// With no usable cached artifact: the build-time artifact when it fits,
/// else a compile; stored at `store_at` in the background.
fn without_cache(
    engine: &Engine,
    component: &[u8],
    store_at: Option<(&Path, PathBuf)>,
) -> Result<(Component, Loaded, CacheFill)> {
    let (loaded, how, artifact) = match precompiled(engine, component) {
        Some(loaded) => (loaded, Loaded::Precompiled, Cow::Borrowed(EMBEDDED_ARTIFACT)),
        None => {
            let compiled = engine.precompile_component(component).context("compiling the component")?;
            // SAFETY: `compiled` was produced by this engine a moment ago.
            let loaded =
                unsafe { Component::deserialize(engine, &compiled) }.context("loading the compiled component")?;
            (loaded, Loaded::Compiled, Cow::Owned(compiled))
        }
    };
    let fill = match store_at {
        Some((dir, path)) => store_in_background(dir.to_path_buf(), path, artifact),
        None => CacheFill(None),
    };
    Ok((loaded, how, fill))
}

/// The artifact `build.rs` embedded, when `component` is the embedded one
/// and the artifact fits this engine: `deserialize` refuses it when the
/// engine's code settings (another memory limit) differ or the CPU lacks a
/// feature the build machine had.
fn precompiled(engine: &Engine, component: &[u8]) -> Option<Component> {
    if EMBEDDED_ARTIFACT.is_empty() || !is_embedded(component) {
        return None;
    }
    // SAFETY: the bytes are part of this executable, made by wasmtime's
    // `precompile_component` in build.rs from the embedded component.
    unsafe { Component::deserialize(engine, EMBEDDED_ARTIFACT) }.ok()
}

/// Maps the open, checked artifact instead of reading a copy (0.6 ms
/// instead of several): through `/proc/self/fd` (`/dev/fd` elsewhere), which
/// opens the very file the handle holds, not whatever its name points to
/// now. Reads it when that is not available.
///
/// # Safety
/// As `Component::deserialize_file`: the file was written by
/// `precompile_component` and is not modified while the component lives.
unsafe fn deserialize_open(engine: &Engine, file: &File) -> Result<Component> {
    let fd_dir = if cfg!(target_os = "linux") { "/proc/self/fd" } else { "/dev/fd" };
    let by_handle = Path::new(fd_dir).join(file.as_raw_fd().to_string());
    // SAFETY: as this function's.
    if let Ok(component) = unsafe { Component::deserialize_file(engine, &by_handle) } {
        return Ok(component);
    }
    let mut bytes = Vec::new();
    (&*file).read_to_end(&mut bytes)?;
    // SAFETY: as this function's.
    unsafe { Component::deserialize(engine, &bytes) }
}

/// The user files are checked against: the effective uid, the owner of every
/// file this process creates. `rustix` (already in the tree through wasmtime)
/// gives it without `unsafe` or a `libc` binding of our own.
fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Why `meta` (of a file or directory) may not be trusted by user `me`, if it
/// may not: it must belong to `me` and be writable by no one else.
fn untrusted(meta: &Metadata, me: u32) -> Option<String> {
    check_owner_and_mode(meta.uid(), meta.mode(), me)
}

fn check_owner_and_mode(owner: u32, mode: u32, me: u32) -> Option<String> {
    if owner != me {
        return Some(format!("it is owned by uid {owner}, not by the current user (uid {me})"));
    }
    if mode & 0o022 != 0 {
        return Some(format!("it is writable by group or others (mode {:o})", mode & 0o7777));
    }
    None
}

/// Creates the cache directory (and any missing parent) 0700, then checks
/// it and every ancestor the user owns; the walk stops at the first ancestor
/// owned by someone else (`/home`, `/tmp`), which the user could not fix.
fn prepare_dir(dir: &Path, me: u32) -> Result<(), String> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| format!("cannot create it: {e}"))?;
    // The real directory, symbolic links resolved: its chain is what counts.
    let real = fs::canonicalize(dir).map_err(|e| format!("cannot resolve it: {e}"))?;
    let meta = fs::metadata(&real).map_err(|e| format!("cannot inspect it: {e}"))?;
    if let Some(reason) = untrusted(&meta, me) {
        return Err(reason);
    }
    for ancestor in real.ancestors().skip(1) {
        let meta = fs::metadata(ancestor).map_err(|e| format!("cannot inspect {}: {e}", ancestor.display()))?;
        if meta.uid() != me {
            break;
        }
        // With the sticky bit (`/tmp`) others may add names but never
        // rename or remove this user's.
        let sticky = meta.mode() & 0o1000 != 0;
        if meta.mode() & 0o022 != 0 && !sticky {
            return Err(format!(
                "its parent {} is writable by group or others (mode {:o})",
                ancestor.display(),
                meta.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

/// The artifact, opened and checked with `fstat`: `None` when there is
/// none, an error (the reason) when it may not be trusted.
fn open_artifact(path: &Path, me: u32) -> Result<Option<File>, String> {
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    let file = match OpenOptions::new().read(true).custom_flags(nofollow).open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err("it is a symbolic link".into());
        }
        Err(error) => return Err(format!("cannot open it: {error}")),
    };
    let meta = file.metadata().map_err(|e| format!("cannot inspect it: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if let Some(reason) = untrusted(&meta, me) {
        return Err(reason);
    }
    if meta.nlink() != 1 {
        return Err(format!("it has {} hard links", meta.nlink()));
    }
    Ok(Some(file))
}

/// Stores `bytes` at `path` on another thread; the first request need not
/// wait for the disk.
fn store_in_background(dir: PathBuf, path: PathBuf, bytes: Cow<'static, [u8]>) -> CacheFill {
    let write = move || {
        if let Err(error) = store(&dir, &path, &bytes) {
            eprintln!("warning: could not cache the compiled component in {}: {error:#}", dir.display());
        }
    };
    CacheFill(thread::Builder::new().name("component-cache".into()).spawn(write).ok())
}

/// Write a 0600 temporary file (created new, never through an existing name
/// or link, under a random name), fsync, rename: a reader never sees a
/// half-written artifact.
fn store(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let temp: PathBuf = dir.join(format!(".{}.{}.tmp", std::process::id(), uuid::Uuid::new_v4()));
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    Ok(written?)
}

/// `sentinel-connector` under the user's cache directory (on Linux
/// `$XDG_CACHE_HOME`, else `~/.cache`); `None` when there is no home to find.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("sentinel-connector"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::OnceLock;

    /// The empty component: it imports nothing.
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    /// The connector, precompiled once: it imports WASI.
    fn connector_artifact(engine: &Engine) -> &'static [u8] {
        static ARTIFACT: OnceLock<Vec<u8>> = OnceLock::new();
        ARTIFACT.get_or_init(|| engine.precompile_component(super::super::EMBEDDED_COMPONENT).unwrap())
    }

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    /// Plants the connector's artifact where the cache keeps the empty
    /// component's, so a load that returns something with imports came from
    /// the planted file and not from compiling.
    fn plant(engine: &Engine, dir: &Path, mode: u32) -> PathBuf {
        let path = dir.join(format!("{}.cwasm", cache_key(engine, EMPTY)));
        fs::write(&path, connector_artifact(engine)).unwrap();
        set_mode(&path, mode);
        path
    }

    fn private_dir(parent: &Path) -> PathBuf {
        let dir = parent.join("cache");
        DirBuilder::new().recursive(true).mode(0o700).create(&dir).unwrap();
        set_mode(&dir, 0o700);
        dir
    }

    /// Loads the empty component through the old, public entry point and
    /// tells whether the planted artifact was deserialized.
    fn planted_was_loaded(engine: &Engine, dir: &Path) -> bool {
        let component = load(engine, EMPTY, Some(dir)).unwrap();
        component.component_type().imports(engine).count() > 0
    }

    #[test]
    fn a_safe_artifact_is_loaded_from_the_cache() {
        let engine = Engine::default();
        let temp = tempfile::tempdir().unwrap();
        let dir = private_dir(temp.path());
        plant(&engine, &dir, 0o600);
        assert!(planted_was_loaded(&engine, &dir), "the planting trick shows a cache hit");
        // 0644, as earlier versions wrote them, is still the user's alone to write.
        let other = private_dir(&temp.path().join("x"));
        plant(&engine, &other, 0o644);
        assert!(planted_was_loaded(&engine, &other));
    }

    #[test]
    fn the_directory_is_created_0700_and_the_artifact_0600() {
        let engine = Engine::default();
        let temp = tempfile::tempdir().unwrap();
        let parent = temp.path().join("made");
        let dir = parent.join("cache");
        load(&engine, EMPTY, Some(&dir)).unwrap();
        assert_eq!(mode(&parent), 0o700, "a missing parent is created 0700 too");
        assert_eq!(mode(&dir), 0o700);
        let files: Vec<_> = fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().path()).collect();
        assert_eq!(files.len(), 1, "one artifact, no temporary file left: {files:?}");
        assert_eq!(mode(&files[0]), 0o600);
        assert_eq!(load_from(&engine, EMPTY, Some(&dir)).unwrap().1, Loaded::Cache, "and it is used");
    }

    #[test]
    fn an_artifact_writable_by_group_or_others_is_not_deserialized() {
        let engine = Engine::default();
        for planted_mode in [0o620, 0o602, 0o660, 0o666] {
            let temp = tempfile::tempdir().unwrap();
            let dir = private_dir(temp.path());
            let path = plant(&engine, &dir, planted_mode);
            assert!(!planted_was_loaded(&engine, &dir), "mode {planted_mode:o} was deserialized");
            let (_, loaded, _) = load_from(&engine, EMPTY, Some(&dir)).unwrap();
            assert_eq!(loaded, Loaded::Refused(format!("it is writable by group or others (mode {planted_mode:o})")));
            assert_eq!(fs::read(&path).unwrap(), connector_artifact(&engine), "left as found, for the user to inspect");
        }
    }

    #[test]
    fn an_artifact_in_a_directory_writable_by_group_or_others_is_not_deserialized() {
        let engine = Engine::default();
        for dir_mode in [0o770, 0o707, 0o777, 0o1777] {
            let temp = tempfile::tempdir().unwrap();
            let dir = private_dir(temp.path());
            plant(&engine, &dir, 0o600);
            set_mode(&dir, dir_mode);
            assert!(!planted_was_loaded(&engine, &dir), "a directory of mode {dir_mode:o} was trusted");
            assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "nothing is stored there either");
        }
    }

    #[test]
    fn an_artifact_under_a_writable_parent_the_user_owns_is_not_deserialized() {
        let engine = Engine::default();
        let temp = tempfile::tempdir().unwrap();
        let parent = temp.path().join("parent");
        fs::create_dir(&parent).unwrap();
        let dir = private_dir(&parent);
        plant(&engine, &dir, 0o600);
        set_mode(&parent, 0o777);
        assert!(!planted_was_loaded(&engine, &dir), "others could have swapped the cache directory");
        let (_, loaded, _) = load_from(&engine, EMPTY, Some(&dir)).unwrap();
        let Loaded::Refused(reason) = loaded else { panic!("{loaded:?}") };
        assert!(reason.contains("parent") && reason.contains("777"), "{reason}");
        // With the sticky bit, as on /tmp, others cannot rename the user's entries.
        set_mode(&parent, 0o1777);
        assert!(planted_was_loaded(&engine, &dir));
    }

    #[test]
    fn a_symbolic_link_or_a_hard_link_is_not_followed() {
        let engine = Engine::default();
        let temp = tempfile::tempdir().unwrap();
        let dir = private_dir(temp.path());
        let elsewhere = private_dir(&temp.path().join("elsewhere"));
        let target = plant(&engine, &elsewhere, 0o600);
        let link = dir.join(target.file_name().unwrap());
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(!planted_was_loaded(&engine, &dir), "a symbolic link was followed");
        assert_eq!(load_from(&engine, EMPTY, Some(&dir)).unwrap().1, Loaded::Refused("it is a symbolic link".into()));
        fs::remove_file(&link).unwrap();
        fs::hard_link(&target, &link).unwrap();
        assert!(!planted_was_loaded(&engine, &dir), "a hard link was trusted");
    }

    #[test]
    fn only_the_current_user_is_trusted() {
        assert_eq!(check_owner_and_mode(1000, 0o100600, 1000), None);
        assert_eq!(check_owner_and_mode(1000, 0o40755, 1000), None);
        assert_eq!(
            check_owner_and_mode(1001, 0o100600, 1000),
            Some("it is owned by uid 1001, not by the current user (uid 1000)".into())
        );
        assert_eq!(
            check_owner_and_mode(0, 0o100600, 1000).map(|r| r.contains("owned by uid 0")),
            Some(true),
            "not even root's"
        );
        assert_eq!(
            check_owner_and_mode(1000, 0o100640 | 0o020, 1000),
            Some("it is writable by group or others (mode 660)".into())
        );
        assert_eq!(current_uid(), {
            // The owner of a file this process just created.
            let temp = tempfile::NamedTempFile::new().unwrap();
            temp.as_file().metadata().unwrap().uid()
        });
    }

    #[test]
    fn the_embedded_artifact_fits_the_default_engine_and_no_other() {
        let engine = super::super::engine(&super::super::Limits::default()).unwrap();
        assert!(!EMBEDDED_ARTIFACT.is_empty(), "build.rs embeds an artifact in a native build");
        let embedded = super::super::EMBEDDED_COMPONENT;
        assert!(
            precompiled(&engine, embedded).is_some(),
            "build.rs and the runtime's engine drifted apart: {:#}",
            unsafe { Component::deserialize(&engine, EMBEDDED_ARTIFACT) }.err().unwrap()
        );
        assert!(precompiled(&engine, EMPTY).is_none(), "only for the component it was compiled from");
        let limits = super::super::Limits { memory_bytes: 32 << 20, ..Default::default() };
        let other = super::super::engine(&limits).unwrap();
        assert!(precompiled(&other, embedded).is_none(), "other code settings compile instead");
        assert_eq!(component_sha256(embedded), hex::encode(Sha256::digest(embedded)), "build.rs's hash");
    }

    #[test]
    fn an_empty_cache_starts_from_the_embedded_artifact_and_is_filled_for_the_next_start() {
        let engine = super::super::engine(&super::super::Limits::default()).unwrap();
        let temp = tempfile::tempdir().unwrap();
        let dir = private_dir(temp.path());
        let embedded = super::super::EMBEDDED_COMPONENT;
        let (_, loaded, fill) = load_from(&engine, embedded, Some(&dir)).unwrap();
        assert_eq!(loaded, Loaded::Precompiled);
        drop(fill);
        let files: Vec<_> = fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().path()).collect();
        assert_eq!(files.len(), 1, "one artifact, no temporary file left: {files:?}");
        assert_eq!(fs::read(&files[0]).unwrap(), EMBEDDED_ARTIFACT);
        assert_eq!(load_from(&engine, embedded, Some(&dir)).unwrap().1, Loaded::Cache, "the next start maps it");
        // Without a cache directory, the embedded artifact still spares the compile.
        assert_eq!(load_from(&engine, embedded, None).unwrap().1, Loaded::Precompiled);
    }

    /// Only root can give a file away; elsewhere the pure check above covers it.
    #[test]
    fn an_artifact_or_directory_owned_by_someone_else_is_not_deserialized() {
        if current_uid() != 0 {
            eprintln!("skipped: chown needs root (check_owner_and_mode is tested directly)");
            return;
        }
        let nobody = 65534;
        let engine = Engine::default();
        let temp = tempfile::tempdir().unwrap();
        let dir = private_dir(temp.path());
        let path = plant(&engine, &dir, 0o600);
        std::os::unix::fs::chown(&path, Some(nobody), None).unwrap();
        assert!(!planted_was_loaded(&engine, &dir), "another user's artifact was deserialized");
        std::os::unix::fs::chown(&path, Some(0), None).unwrap();
        std::os::unix::fs::chown(&dir, Some(nobody), None).unwrap();
        assert!(!planted_was_loaded(&engine, &dir), "an artifact in another user's directory was deserialized");
    }
}
