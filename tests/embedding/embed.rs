//! Embedding the connector in a Rust SOAR: one host per process (the
//! operator's limits and egress policy), one sandboxed session per tenant,
//! audit records through a callback, typed errors.

use std::sync::Arc;
use std::time::Duration;

use sentinel_connector::core::config::{
    Cloud, ConnectionConfig, Credential, CustomCloud, PUBLIC_ARM_SCOPE, PUBLIC_GRAPH_SCOPE, PUBLIC_LOG_ANALYTICS_SCOPE,
};
use sentinel_connector::core::http::Secret;
use sentinel_host::runtime::egress::{EgressPolicy, PrivateNetwork};
use sentinel_host::runtime::sandbox::{AuditRecord, AuditSink};
use sentinel_host::runtime::{list_options, CallError, ConnectorHost, HostOptions, Limits};

/// A tenant's connection as the SOAR stores it; the secret comes from its vault.
/// (Against Azure: `cloud: Cloud::Public` and the tenant's own ids.)
pub fn tenant_config(endpoint: &str, client_secret: &str) -> ConnectionConfig {
    ConnectionConfig {
        tenant_id: "8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d".into(),
        client_id: "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b".into(),
        credential: Credential::ClientSecret(Secret::new(client_secret)),
        subscription_id: "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0".into(),
        resource_group: "myRg".into(),
        workspace_name: "myWorkspace".into(),
        workspace_id: None,
        cloud: Cloud::Custom(CustomCloud {
            login_url: endpoint.into(),
            arm_url: endpoint.into(),
            log_analytics_url: endpoint.into(),
            graph_url: endpoint.into(),
            // The emulator issues tokens for the public cloud's audiences.
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

/// Lists every tenant's incidents; returns how many, and the error a
/// missing incident gives (kind, hint and the ids Microsoft support asks for).
pub async fn run(endpoint: &str, client_secret: &str) -> Result<(usize, String), Box<dyn std::error::Error>> {
    // Once per process. The limits and the egress policy are the operator's:
    // a tenant's configuration cannot widen them. The default policy allows
    // Azure's public clouds only; this emulator is a custom cloud on loopback.
    let host = ConnectorHost::new(HostOptions {
        limits: Limits { memory_bytes: 32 << 20, call_timeout: Duration::from_secs(120), ..Limits::default() },
        egress: EgressPolicy::operator(PrivateNetwork::LoopbackOnly),
        ..HostOptions::default()
    })
    .map_err(|e| e.to_string())?; // the component does not load: wasmtime's reason
    let audit: AuditSink = Arc::new(|record: &AuditRecord| eprintln!("audit {}: {record}", record.tenant));

    // One session per tenant: its own instance, memory and token cache.
    let mut listed = 0;
    for tenant in ["contoso", "fabrikam"] {
        let mut session = host.open(tenant, tenant_config(endpoint, client_secret), Some(audit.clone())).await?;
        listed += session.list_all_incidents(list_options()).await?.len();
    }

    let mut session = host.open("contoso", tenant_config(endpoint, client_secret), None).await?;
    let described = match session.get_incident("00000000-0000-0000-0000-000000000000").await {
        Err(CallError::Connector(error)) => format!(
            "{:?}: {} Hint: {} (client request id {}, request id {})",
            error.kind, error.message, error.hint, error.client_request_id, error.request_id
        ),
        Err(host_failure) => return Err(host_failure.into()), // a deadline, a trap, the session cap
        Ok(incident) => format!("found {}", incident.id),
    };
    Ok((listed, described))
}
