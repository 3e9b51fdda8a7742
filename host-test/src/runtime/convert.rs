//! The core's configuration and errors in the WIT types the guest takes.
//! The host validates with the core (the same rules the guest applies) so it
//! can compute the allow-list and refuse bad input before instantiating.

use sentinel_connector::core::config::{Cloud, ConnectionConfig, Credential};
use sentinel_connector::core::Error;

use super::types as wit;

pub fn wit_config(config: ConnectionConfig) -> wit::ConnectionConfig {
    wit::ConnectionConfig {
        tenant_id: config.tenant_id,
        client_id: config.client_id,
        credential: credential(config.credential),
        subscription_id: config.subscription_id,
        resource_group: config.resource_group,
        workspace_name: config.workspace_name,
        workspace_id: config.workspace_id,
        cloud: cloud(config.cloud),
        api_version: config.api_version,
        timeouts: config.timeouts.map(|t| wit::Timeouts {
            connect_ms: t.connect_ms,
            first_byte_ms: t.first_byte_ms,
            between_bytes_ms: t.between_bytes_ms,
        }),
        retry: config.retry.map(|r| wit::RetryPolicy {
            max_retries: r.max_retries,
            initial_delay_ms: r.initial_delay_ms,
            max_delay_ms: r.max_delay_ms,
            total_budget_ms: r.total_budget_ms,
        }),
        protected_accounts: Some(config.protected_accounts).filter(|p| *p != Default::default()).map(|p| {
            wit::ProtectedAccounts {
                user_ids: p.user_ids,
                user_principal_names: p.user_principal_names,
                groups: p.groups,
            }
        }),
    }
}

fn credential(credential: Credential) -> wit::Credential {
    match credential {
        Credential::ClientSecret(secret) => wit::Credential::ClientSecret(secret.expose().to_owned()),
        Credential::ClientAssertion(assertion) => wit::Credential::ClientAssertion(assertion.expose().to_owned()),
        Credential::Certificate { private_key, certificate } => {
            wit::Credential::Certificate(wit::CertificateCredential {
                private_key: private_key.expose().to_owned(),
                certificate,
            })
        }
        Credential::AccessTokens { arm, log_analytics, graph } => wit::Credential::AccessTokens(wit::AccessTokens {
            arm: arm.map(|t| t.expose().to_owned()),
            log_analytics: log_analytics.map(|t| t.expose().to_owned()),
            graph: graph.map(|t| t.expose().to_owned()),
        }),
    }
}

fn cloud(cloud: Cloud) -> wit::Cloud {
    match cloud {
        Cloud::Public => wit::Cloud::Public,
        Cloud::UsGovernment => wit::Cloud::UsGovernment,
        Cloud::China => wit::Cloud::China,
        Cloud::Custom(c) => wit::Cloud::Custom(wit::CustomCloud {
            login_url: c.login_url,
            arm_url: c.arm_url,
            log_analytics_url: c.log_analytics_url,
            graph_url: c.graph_url,
            arm_scope: c.arm_scope,
            log_analytics_scope: c.log_analytics_scope,
            graph_scope: c.graph_scope,
        }),
    }
}

/// Only configuration errors arise host-side, before the guest runs.
pub fn core_error(error: Error) -> wit::ConnectorError {
    match error {
        Error::InvalidInput { field, reason } => {
            wit::ConnectorError::local(wit::ErrorKind::InvalidInput, field, reason, "")
        }
        other => wit::ConnectorError::local(wit::ErrorKind::InvalidResponse, "", other.to_string(), ""),
    }
}

impl wit::ConnectorError {
    /// An error without a service's answer (no status, no code), in the
    /// WIT's one shape: `subject` is the field or account it names, if any.
    pub fn local(
        kind: wit::ErrorKind,
        subject: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        wit::ConnectorError {
            kind,
            subject: subject.into(),
            status: 0,
            code: String::new(),
            message: message.into(),
            hint: hint.into(),
            retry_after_seconds: None,
            client_request_id: String::new(),
            request_id: String::new(),
        }
    }
}
