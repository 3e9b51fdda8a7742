//! Analytics rules (ARM `alertRules`): list, read, and turn a noisy rule
//! off or back on. Only what every kind shares is typed (name, kind, display
//! name, enabled, severity, tactics, last modified); each rule keeps its
//! whole `properties` object as the service sent it, so kinds added after
//! this was written (NRT, ML behavior analytics, ...) and new fields pass
//! through untouched, and a PUT sends back everything it read.

use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::actions::Sentinel;
use super::incidents::{workspace_url, Severity};
use crate::core::auth::Api;
use crate::core::client::Transport;
use crate::core::config::Settings;
use crate::core::enums::open_enum;
use crate::core::error::Error;
use crate::core::http::Method;
use crate::core::ids::validate_id;
use crate::core::paging::parse;

open_enum!(
    /// `AlertRuleKind` of the stable spec; later kinds arrive as `Other`.
    RuleKind {
        Scheduled => "Scheduled",
        MicrosoftSecurityIncidentCreation => "MicrosoftSecurityIncidentCreation",
        Fusion => "Fusion",
    }
);

/// One analytics rule as ARM returns it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AlertRule {
    /// The rule id (its ARM name, usually a GUID).
    pub name: String,
    pub kind: RuleKind,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub properties: Map<String, Value>,
}

impl AlertRule {
    pub fn display_name(&self) -> Option<&str> {
        self.properties.get("displayName").and_then(Value::as_str)
    }

    /// A rule that does not say is taken as disabled: it creates nothing.
    pub fn enabled(&self) -> bool {
        self.properties.get("enabled").and_then(Value::as_bool).unwrap_or(false)
    }

    /// Scheduled and Fusion rules have one severity; incident-creation rules
    /// filter by several (`severitiesFilter`, kept in the properties).
    pub fn severity(&self) -> Option<Severity> {
        self.properties.get("severity").and_then(Value::as_str).map(Severity::parse)
    }

    pub fn tactics(&self) -> Vec<String> {
        let tactics = self.properties.get("tactics").and_then(Value::as_array);
        tactics.map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default()
    }

    pub fn last_modified(&self) -> Option<&str> {
        self.properties.get("lastModifiedUtc").and_then(Value::as_str)
    }
}

/// `properties` fields the spec marks read-only for each kind: never sent
/// back in a PUT. A Fusion rule's name, severity and tactics are Microsoft's.
fn read_only_fields(kind: &RuleKind) -> &'static [&'static str] {
    match kind {
        RuleKind::Fusion => &["lastModifiedUtc", "description", "displayName", "severity", "tactics", "techniques"],
        _ => &["lastModifiedUtc"],
    }
}

pub fn rules_url(settings: &Settings) -> Url {
    workspace_url(settings, &["alertRules"])
}

pub fn rule_url(settings: &Settings, rule_id: &str) -> Result<Url, Error> {
    let id = validate_id("rule-id", rule_id)?;
    Ok(workspace_url(settings, &["alertRules", id]))
}

pub fn parse_rule(body: &[u8]) -> Result<AlertRule, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid_response(format!("an analytics rule could not be read: {e}")))
}

/// The PUT that sets `enabled`, or `None` when the rule already is so: the
/// rule as read, read-only and null fields left out, its etag kept (a
/// stale one is refused with 409 and the change re-applied to a fresh read).
pub fn enabled_body(rule: &AlertRule, enabled: bool) -> Result<Option<Vec<u8>>, Error> {
    if rule.enabled() == enabled {
        return Ok(None);
    }
    let read_only = read_only_fields(&rule.kind);
    let mut properties: Map<String, Value> = rule
        .properties
        .iter()
        .filter(|(name, value)| !value.is_null() && !read_only.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    properties.insert("enabled".into(), Value::Bool(enabled));
    let mut body = Map::new();
    body.insert("kind".into(), Value::String(rule.kind.as_str().to_owned()));
    if let Some(etag) = &rule.etag {
        body.insert("etag".into(), Value::String(etag.clone()));
    }
    body.insert("properties".into(), Value::Object(properties));
    serde_json::to_vec(&body).map(Some).map_err(|e| Error::invalid_response(e.to_string()))
}

impl Sentinel<'_> {
    /// Every analytics rule of the workspace, following each `nextLink`.
    pub fn list_alert_rules(&mut self, transport: &mut impl Transport) -> Result<Vec<AlertRule>, Error> {
        let url = rules_url(self.settings());
        let first = parse(&self.arm(transport, Method::Get, url, None)?.body, "analytics rule list")?;
        self.client.walk(transport, Api::Arm, first, None, "analytics rule list")
    }

    pub fn get_alert_rule(&mut self, transport: &mut impl Transport, rule_id: &str) -> Result<AlertRule, Error> {
        let url = rule_url(self.settings(), rule_id)?;
        parse_rule(&self.arm(transport, Method::Get, url, None)?.body)
    }

    /// Turns a rule on or off: GET, change `enabled`, PUT with the etag read;
    /// on 409 Conflict read again and re-apply, so another editor's change
    /// to the rule is kept. A rule already so is returned as read, unsent.
    pub fn set_alert_rule_enabled(
        &mut self,
        transport: &mut impl Transport,
        rule_id: &str,
        enabled: bool,
    ) -> Result<AlertRule, Error> {
        let url = rule_url(self.settings(), rule_id)?;
        self.client.read_modify_write(transport, &url, parse_rule, |rule| enabled_body(rule, enabled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{client, token, Script};

    fn example(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/azure-specs/alert-rules-2025-12-01/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn rules() -> Vec<AlertRule> {
        let body = example("GetAllAlertRules.json")["responses"]["200"]["body"]["value"].clone();
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn microsofts_examples_read_with_every_shared_field() {
        let rules = rules();
        let kinds: Vec<&RuleKind> = rules.iter().map(|r| &r.kind).collect();
        assert_eq!(kinds, [&RuleKind::Scheduled, &RuleKind::MicrosoftSecurityIncidentCreation, &RuleKind::Fusion]);
        let scheduled = &rules[0];
        assert_eq!(scheduled.display_name(), Some("My scheduled rule"));
        assert!(scheduled.enabled());
        assert_eq!(scheduled.severity(), Some(Severity::High));
        assert_eq!(scheduled.tactics(), ["Persistence", "LateralMovement"]);
        assert!(scheduled.last_modified().is_some() && scheduled.etag.is_some());
        assert_eq!(rules[1].severity(), None, "incident-creation rules filter by severities instead");
        let nrt: AlertRule =
            serde_json::from_str(r#"{"name":"n","kind":"NRT","properties":{"enabled":true}}"#).unwrap();
        assert_eq!(nrt.kind, RuleKind::Other("NRT".into()), "a later kind passes through");
    }

    #[test]
    fn the_put_keeps_everything_but_read_only_and_null_fields() {
        let rules = rules();
        let body: Value = serde_json::from_slice(&enabled_body(&rules[0], false).unwrap().unwrap()).unwrap();
        let properties = body["properties"].as_object().unwrap();
        assert_eq!(properties["enabled"], false);
        assert_eq!(properties["query"], rules[0].properties["query"], "the rule's own fields go back as read");
        assert!(!properties.contains_key("lastModifiedUtc") && !properties.contains_key("alertRuleTemplateName"));
        assert_eq!((body["kind"].as_str(), &body["etag"]), (Some("Scheduled"), &Value::from(rules[0].etag.clone())));

        let fusion: Value =
            serde_json::from_slice(&enabled_body(&rules[2], !rules[2].enabled()).unwrap().unwrap()).unwrap();
        let sent: Vec<&String> = fusion["properties"].as_object().unwrap().keys().collect();
        assert!(sent.iter().all(|k| !["displayName", "severity", "tactics", "description"].contains(&k.as_str())));
        assert_eq!(enabled_body(&rules[0], true).unwrap(), None, "already enabled: nothing to send");
    }

    #[test]
    fn a_conflict_is_read_again_and_the_change_re_applied() {
        let rule = example("GetScheduledAlertRule.json")["responses"]["200"]["body"].to_string();
        let conflict = r#"{"error":{"code":"Conflict","message":"Newer version of resource exists"}}"#;
        let mut disabled: Value = serde_json::from_str(&rule).unwrap();
        disabled["properties"]["enabled"] = Value::Bool(false);
        let mut script = Script::new(vec![
            token(),
            (200, rule.clone()),
            (409, conflict.into()),
            (200, rule),
            (200, disabled.to_string()),
        ]);
        let result = client().sentinel().set_alert_rule_enabled(&mut script, "73e01a99", false).unwrap();
        assert!(!result.enabled());
        let methods: Vec<&str> = script.sent.iter().skip(1).map(|r| r.method.as_str()).collect();
        assert_eq!(methods, ["GET", "PUT", "GET", "PUT"]);
    }

    #[test]
    fn a_bad_rule_id_is_refused_before_any_request() {
        let mut script = Script::new(vec![]);
        let error = client().sentinel().set_alert_rule_enabled(&mut script, "a/b", false).unwrap_err();
        assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "rule-id"), "{error:?}");
        assert!(script.sent.is_empty());
    }
}
