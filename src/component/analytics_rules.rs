//! The `analytics-rules` interface: list, read, enable and disable rules.

use super::exports::soar::sentinel::analytics_rules::{self as awit, Guest};
use super::exports::soar::sentinel::sentinel_connector::ConnectionBorrow;
use super::exports::soar::sentinel::types as wit;
use super::graph_security::resource;
use super::Component;
use crate::core::sentinel::alert_rules::{self, AlertRule};

open_enum_to_wit!(alert_rules::RuleKind => awit::RuleKind { Scheduled, MicrosoftSecurityIncidentCreation, Fusion });

impl Guest for Component {
    fn list_rules(connection: ConnectionBorrow<'_>) -> Result<Vec<awit::AnalyticsRule>, wit::ConnectorError> {
        let rules = resource(&connection).with_client(|client, http| client.sentinel().list_alert_rules(http))?;
        Ok(rules.into_iter().map(rule).collect())
    }

    fn get_rule(connection: ConnectionBorrow<'_>, rule_id: String) -> Result<awit::AnalyticsRule, wit::ConnectorError> {
        resource(&connection).with_client(|client, http| client.sentinel().get_alert_rule(http, &rule_id)).map(rule)
    }

    fn set_rule_enabled(
        connection: ConnectionBorrow<'_>,
        rule_id: String,
        enabled: bool,
    ) -> Result<awit::AnalyticsRule, wit::ConnectorError> {
        resource(&connection)
            .with_client(|client, http| client.sentinel().set_alert_rule_enabled(http, &rule_id, enabled))
            .map(rule)
    }
}

fn rule(rule: AlertRule) -> awit::AnalyticsRule {
    awit::AnalyticsRule {
        display_name: rule.display_name().map(str::to_owned),
        enabled: rule.enabled(),
        severity: rule.severity().map(Into::into),
        tactics: rule.tactics(),
        last_modified: rule.last_modified().map(str::to_owned),
        properties_json: serde_json::Value::Object(rule.properties).to_string(),
        kind: rule.kind.into(),
        etag: rule.etag,
        id: rule.name,
    }
}
