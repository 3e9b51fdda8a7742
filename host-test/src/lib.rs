//! The host side of the Sentinel connector: a sandboxed wasmtime runtime for
//! the component ([`runtime`]), the configuration a SOAR supplies
//! ([`config`]), and the `sentinel` CLI built on both.

pub mod cli;
pub mod config;
pub mod identity;
pub mod runtime;

pub use sentinel_emulator as emulator;
