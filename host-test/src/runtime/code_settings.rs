//! The engine settings that shape the compiled code, in one place: the
//! runtime's engine starts from them (`runtime::engine`), and `build.rs`
//! includes this file to precompile the embedded component with the very
//! same settings. Wasmtime refuses an artifact whose settings differ from the
//! engine's (`Component::deserialize`), so a setting added here reaches both,
//! and a setting added only to the runtime's engine makes the build-time
//! artifact unusable (a test says so) rather than wrong.

/// A store's linear memory by default (`Limits::memory_bytes`). The
/// build-time artifact is compiled for it: a host with another memory limit
/// compiles (or loads its own cached artifact) instead.
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;

/// The settings that change the machine code, for a store of at most
/// `memory_bytes` of linear memory.
pub fn code_config(memory_bytes: usize) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config
        .epoch_interruption(true)
        // Reserve only what a store may use, so a large pool stays cheap in
        // address space; bounds checks are compiled against this size.
        .memory_reservation(memory_bytes as u64)
        .memory_guard_size(2 << 20);
    config
}
