//! The sans-IO core: no sockets, no clocks, no globals. Every input, including
//! the current time, is passed in; every output is data.
//!
//! One folder per API, mirroring the WIT: [`sentinel`] (the
//! `sentinel-connector` interface) and [`graph`] (`graph-security` and
//! `containment`), each with an `actions.rs` holding its handler of
//! [`Client`] (`client.sentinel()`, `client.graph()`). The files at this level
//! are what both use: the client's plumbing, auth, HTTP messages, retries,
//! paging, errors and redaction, configuration, ids, the permission manifest,
//! open enums and KQL tables.

pub mod auth;
pub mod certificate;
pub mod check;
pub mod client;
pub mod config;
pub mod cursor;
pub mod enums;
pub mod error;
pub mod graph;
pub mod http;
pub mod ids;
pub mod kql;
pub mod merges;
pub mod paging;
#[cfg(test)]
mod properties;
pub mod redact;
pub mod retry;
pub mod sentinel;
#[cfg(test)]
pub(crate) mod testing;

pub use client::{Client, Transport};
pub use config::{Cloud, ConnectionConfig, Credential, CustomCloud, Settings};
pub use error::{Error, LocalFailure, ServiceFailure, Trace};
