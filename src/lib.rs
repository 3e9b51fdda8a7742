//! Microsoft Sentinel connector, built as a WASI 0.2 component.
//!
//! [`core`] is sans-IO: it builds requests, reads responses, walks pages and
//! caches tokens as plain functions over data, and compiles natively so it can
//! be unit-tested on Microsoft's fixtures and benchmarked. [`component`] (wasm
//! only) binds the core to the WIT world and to `wasi:http`.

pub mod core;

#[cfg(target_arch = "wasm32")]
mod component;
