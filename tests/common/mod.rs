//! Shared set-up of the end-to-end tests: one host (engine, compiled
//! component) for the whole test binary, and a fresh emulator per test.

#![allow(dead_code)]

use std::sync::OnceLock;

use sentinel_connector::core::config::{
    Cloud, ConnectionConfig, Credential, CustomCloud, PUBLIC_ARM_SCOPE, PUBLIC_GRAPH_SCOPE, PUBLIC_LOG_ANALYTICS_SCOPE,
};
use sentinel_connector::core::http::Secret;
use sentinel_emulator::{self as emulator, Emulator, EmulatorOptions};
use sentinel_host::runtime::egress::{guard_loopback_only, EgressPolicy, PrivateNetwork};
use sentinel_host::runtime::{ConnectorHost, HostOptions, Session};

/// Asking a server directly, past the connector: the hyper client and the
/// token helpers the emulator's own tests use (one copy, kept there).
#[path = "../../host-test/emulator/tests/common/mod.rs"]
pub mod client;

pub fn host() -> &'static ConnectorHost {
    static HOST: OnceLock<ConnectorHost> = OnceLock::new();
    HOST.get_or_init(|| ConnectorHost::new(test_host_options()).expect("the embedded component loads"))
}

/// The tests' host: the emulator is a custom cloud on loopback, so they opt
/// in to custom clouds and loopback, and nothing else. The guard aborts the
/// test run rather than let any connection leave 127.0.0.0/8.
pub fn test_host_options() -> HostOptions {
    guard_loopback_only();
    HostOptions { egress: EgressPolicy::operator(PrivateNetwork::LoopbackOnly), ..HostOptions::default() }
}

pub async fn emulator(incidents: usize, seed: u64) -> Emulator {
    Emulator::start(EmulatorOptions { incidents, seed, ..EmulatorOptions::default() })
        .await
        .expect("the emulator starts")
}

/// The emulator's public-cloud emulation: its URL for every endpoint, the public scopes.
pub fn config_for(url: &str) -> ConnectionConfig {
    ConnectionConfig {
        tenant_id: emulator::DEFAULT_TENANT_ID.into(),
        client_id: emulator::DEFAULT_CLIENT_ID.into(),
        credential: Credential::ClientSecret(Secret::new(emulator::DEFAULT_CLIENT_SECRET)),
        subscription_id: emulator::DEFAULT_SUBSCRIPTION_ID.into(),
        resource_group: emulator::DEFAULT_RESOURCE_GROUP.into(),
        workspace_name: emulator::DEFAULT_WORKSPACE_NAME.into(),
        workspace_id: Some(emulator::DEFAULT_WORKSPACE_ID.into()),
        cloud: Cloud::Custom(CustomCloud {
            login_url: url.into(),
            arm_url: url.into(),
            log_analytics_url: url.into(),
            graph_url: url.into(),
            arm_scope: Some(PUBLIC_ARM_SCOPE.into()),
            log_analytics_scope: Some(PUBLIC_LOG_ANALYTICS_SCOPE.into()),
            graph_scope: Some(PUBLIC_GRAPH_SCOPE.into()),
        }),
        api_version: None,
        timeouts: None,
        retry: None,
        protected_accounts: Default::default(),
    }
}

pub async fn session(emulator: &Emulator) -> Session {
    host().open("test", config_for(&emulator.url()), None).await.expect("the connection opens")
}

/// The names of the emulator's incidents, sorted.
pub fn names_in(emulator: &Emulator) -> Vec<String> {
    let mut names: Vec<String> =
        emulator.incidents().iter().map(|i| i["name"].as_str().unwrap_or_default().to_owned()).collect();
    names.sort();
    names
}

/// The ARM requests the emulator received (token requests left out).
pub fn arm_requests(emulator: &Emulator) -> Vec<emulator::RecordedRequest> {
    emulator.requests().into_iter().filter(|r| r.path.starts_with("/subscriptions/")).collect()
}

/// An incident update that changes nothing: tests set what they change.
pub fn no_change() -> sentinel_host::runtime::types::IncidentUpdate {
    sentinel_host::runtime::types::IncidentUpdate {
        title: None,
        description: None,
        severity: None,
        status: None,
        classification: None,
        classification_reason: None,
        classification_comment: None,
        owner: None,
        add_labels: Vec::new(),
        remove_labels: Vec::new(),
        update_merged_source: false,
    }
}
