//! The sans-IO core: no sockets, no clocks, no globals. Every input, including
//! the current time, is passed in; every output is data.

pub mod auth;
pub mod check;
pub mod client;
pub mod comments;
pub mod config;
pub mod entities;
pub mod graph;
pub mod error;
pub mod http;
pub mod ids;
pub mod incidents;
pub mod paging;
pub mod poller;
pub mod query;
pub mod redact;
pub mod relations;
pub mod retry;
pub mod updates;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod properties;

pub use client::{Client, Transport};
pub use config::{Cloud, ConnectionConfig, Credential, CustomCloud, Settings};
pub use error::{Error, LocalFailure, ServiceFailure};
