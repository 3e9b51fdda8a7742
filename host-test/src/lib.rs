#![deny(missing_docs)]
//! The host side of the Sentinel connector: a sandboxed wasmtime runtime for
//! the component ([`runtime`]), the configuration a SOAR supplies
//! ([`config`]), and the `sentinel` CLI built on both.

/// The `sentinel` binary's commands: its internals, not an API to build on.
#[doc(hidden)]
pub mod cli;
pub mod config;
pub mod identity;
pub mod runtime;
pub mod serve;

pub use sentinel_emulator as emulator;
