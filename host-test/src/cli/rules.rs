//! `sentinel rules`: the workspace's analytics rules, as the WIT's
//! `analytics-rules` interface has them: list, show, enable, disable.

use clap::Subcommand;
use serde_json::{json, Value};

use super::graph::items;
use super::output::{self, Format};
use super::{print, Failure};
use crate::runtime::analytics_rules::{AnalyticsRule, RuleKind};
use crate::runtime::Session;

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Every analytics rule (all pages).
    List,
    /// One rule, with all its properties.
    Get { id: String },
    /// Turn a rule on (GET, PUT with the etag; nothing sent when it already is).
    Enable { id: String },
    /// Turn a noisy rule off (GET, PUT with the etag; nothing sent when it already is).
    Disable { id: String },
}

pub async fn rules(session: &mut Session, command: RulesCommand, format: Format) -> Result<(), Failure> {
    let rule = match command {
        RulesCommand::List => {
            let rules = session.analytics_rules().list().await?;
            let rows = rules.iter().map(|rule| rule_json(rule, false)).collect();
            print(items(format, rows, &["id", "kind", "displayName", "enabled", "severity", "lastModified"]));
            return Ok(());
        }
        RulesCommand::Get { id } => session.analytics_rules().get(&id).await?,
        RulesCommand::Enable { id } => session.analytics_rules().set_enabled(&id, true).await?,
        RulesCommand::Disable { id } => session.analytics_rules().set_enabled(&id, false).await?,
    };
    print(output::to_json(&rule_json(&rule, true)));
    Ok(())
}

fn kind_name(kind: &RuleKind) -> &str {
    match kind {
        RuleKind::Scheduled => "Scheduled",
        RuleKind::MicrosoftSecurityIncidentCreation => "MicrosoftSecurityIncidentCreation",
        RuleKind::Fusion => "Fusion",
        RuleKind::Other(kind) => kind,
    }
}

/// A rule as JSON in the service's names; `whole` adds its properties.
fn rule_json(rule: &AnalyticsRule, whole: bool) -> Value {
    let mut value = json!({
        "id": rule.id,
        "kind": kind_name(&rule.kind),
        "displayName": rule.display_name,
        "enabled": rule.enabled,
        "severity": rule.severity.as_ref().map(output::severity),
        "tactics": rule.tactics,
        "lastModified": rule.last_modified,
        "etag": rule.etag,
    });
    if whole {
        value["properties"] = serde_json::from_str(&rule.properties_json).unwrap_or(Value::Null);
    }
    value
}
