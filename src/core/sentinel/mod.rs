//! Microsoft Sentinel through ARM (`Microsoft.SecurityInsights`, 2025-09-01)
//! and KQL through the Log Analytics query API: plain functions that build
//! requests and read answers, one file per area, and [`actions`], the
//! `client.sentinel()` handler that drives them over a transport.

pub mod actions;
pub mod alert_rules;
pub mod comments;
pub mod details;
pub mod entities;
pub mod incidents;
pub mod poller;
pub mod query;
pub mod relations;
pub mod threat_intelligence;
pub mod updates;
pub mod versions;
pub mod watchlists;

pub use actions::Sentinel;
