//! `mergeIncidents`: the ids checked, the incidents read and Defender's
//! no-merge rules applied before the POST, so a refusal names the incidents
//! and the rule instead of Graph's bare 400 (defender-xdr
//! alerts-incidents-correlation.md: no closed incident, no two assignees, no
//! two classifications or determinations).

use serde_json::{json, Value};

use super::security::{Collection, GraphIncident, GraphIncidentStatus};
use super::{url, PlannedRequest};
use crate::core::config::Settings;
use crate::core::error::Error;
use crate::core::http::Method;
use crate::core::ids::validate_id;

/// A bound on the incidents read before a merge; Graph documents none (the
/// portal merges at most 5 at a time).
pub const MAX_MERGE_INCIDENTS: usize = 50;

/// What a merge did, or in a dry run would do.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeOutcome {
    /// The incident the others went into (Defender picks it); none in a dry run.
    pub target_incident_id: Option<String>,
    pub request: PlannedRequest,
    pub dry_run: bool,
}

/// At least two ids, each a valid one, none twice.
pub fn validate_ids(ids: &[String]) -> Result<(), Error> {
    if ids.len() < 2 || ids.len() > MAX_MERGE_INCIDENTS {
        return Err(Error::invalid(
            "incident-ids",
            format!("lists {}; a merge takes 2 to {MAX_MERGE_INCIDENTS} incidents", ids.len()),
        ));
    }
    for (at, id) in ids.iter().enumerate() {
        validate_id(Collection::Incidents.id_field(), id)?;
        if ids[..at].contains(id) {
            return Err(Error::invalid("incident-ids", format!("lists '{id}' twice")));
        }
    }
    Ok(())
}

pub fn validate_comment(comment: Option<&str>) -> Result<(), Error> {
    match comment {
        Some(text) => super::comments::validate(text, None),
        None => Ok(()),
    }
}

/// Why Defender would refuse to merge these incidents, naming them; `None`
/// when it would merge them. Unset values and case differences do not count.
pub fn refusal(incidents: &[GraphIncident]) -> Option<String> {
    let closed: Vec<String> = incidents.iter().filter_map(closed).collect();
    if !closed.is_empty() {
        return Some(format!("closed incidents are not merged: {}", closed.join(", ")));
    }
    let rules: [(&str, Field); 3] = [
        ("assigned to different users", |i| i.fields.assigned_to.clone()),
        ("classified differently", |i| i.fields.classification.as_ref().map(|c| c.as_str().to_owned())),
        ("given different determinations", |i| i.fields.determination.as_ref().map(|d| d.as_str().to_owned())),
    ];
    rules
        .iter()
        .find_map(|(what, value)| differing(incidents, *value).map(|list| format!("the incidents are {what}: {list}")))
}

/// One field the incidents must agree on, read from an incident.
type Field = fn(&GraphIncident) -> Option<String>;

/// "incident 'id' is resolved" for a closed one.
fn closed(incident: &GraphIncident) -> Option<String> {
    let status = incident.fields.status.as_ref()?;
    matches!(status, GraphIncidentStatus::Resolved | GraphIncidentStatus::Redirected)
        .then(|| format!("'{}' is {}", incident.fields.id, status.as_str()))
}

/// "'1' has x, '2' has y" when the set values differ (ignoring case).
fn differing(incidents: &[GraphIncident], value: Field) -> Option<String> {
    let set: Vec<(&str, String)> =
        incidents.iter().filter_map(|i| value(i).map(|v| (i.fields.id.as_str(), v))).collect();
    let first = set.first()?;
    if set.iter().all(|(_, v)| v.eq_ignore_ascii_case(&first.1)) {
        return None;
    }
    Some(set.iter().map(|(id, v)| format!("'{id}' has {v}")).collect::<Vec<_>>().join(", "))
}

/// The POST exactly as sent; the comment only when given.
pub fn plan(settings: &Settings, ids: &[String], comment: Option<&str>) -> PlannedRequest {
    let mut body = json!({"incidentIds": ids});
    if let Some(comment) = comment {
        body["incidentComment"] = json!(comment);
    }
    let url = url(settings, &["security", "incidents", "mergeIncidents"]);
    PlannedRequest::new(Method::Post, url, Some(body.to_string()))
}

/// The `targetIncidentId` of the answer.
pub fn parse_target(body: &[u8]) -> Result<Option<String>, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid_response(format!("the merge answer could not be read: {e}")))?;
    Ok(match value.get("targetIncidentId") {
        Some(Value::String(id)) => Some(id.clone()),
        Some(Value::Number(id)) => Some(id.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::graph::security::incident_from_value;

    fn incident(fields: Value) -> GraphIncident {
        incident_from_value(fields).unwrap()
    }

    #[test]
    fn mergeable_incidents_pass_and_unset_values_do_not_count() {
        let a = incident(
            json!({"id": "1", "status": "active", "assignedTo": "ann@contoso.com", "classification": "truePositive"}),
        );
        let b = incident(json!({"id": "2", "status": "inProgress", "assignedTo": "ANN@contoso.com"}));
        assert_eq!(refusal(&[a, b]), None);
    }

    #[test]
    fn each_rule_names_the_incidents() {
        let closed = [
            incident(json!({"id": "1", "status": "active"})),
            incident(json!({"id": "2", "status": "resolved"})),
            incident(json!({"id": "3", "status": "Redirected"})),
        ];
        let reason = refusal(&closed).unwrap();
        assert!(reason.contains("'2' is resolved") && reason.contains("'3' is redirected"), "{reason}");
        let people = [
            incident(json!({"id": "1", "assignedTo": "ann@contoso.com"})),
            incident(json!({"id": "2", "assignedTo": "bob@contoso.com"})),
        ];
        let reason = refusal(&people).unwrap();
        assert!(reason.contains("different users") && reason.contains("'2' has bob@contoso.com"), "{reason}");
        let classes = [
            incident(json!({"id": "1", "classification": "truePositive"})),
            incident(json!({"id": "2", "classification": "falsePositive"})),
        ];
        assert!(refusal(&classes).unwrap().contains("classified differently"));
        let determinations = [
            incident(json!({"id": "1", "determination": "malware"})),
            incident(json!({"id": "2", "determination": "phishing"})),
        ];
        assert!(refusal(&determinations).unwrap().contains("different determinations"));
    }

    #[test]
    fn ids_are_checked_before_any_request() {
        let ids = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(validate_ids(&ids(&["1"])).is_err());
        assert!(validate_ids(&ids(&["1", "1"])).is_err());
        assert!(validate_ids(&ids(&["1", "a/b"])).is_err());
        assert!(validate_ids(&ids(&["1", "2"])).is_ok());
        assert!(validate_ids(&vec!["1".to_owned(); MAX_MERGE_INCIDENTS + 1]).is_err());
    }

    #[test]
    fn the_plan_is_the_documented_body() {
        let client = crate::core::testing::client();
        let plan = plan(client.settings(), &["1".into(), "2".into()], Some("same campaign"));
        assert_eq!(plan.method, Method::Post);
        assert!(plan.url.as_str().ends_with("/v1.0/security/incidents/mergeIncidents"), "{}", plan.url);
        let body: Value = serde_json::from_str(plan.body.as_deref().unwrap()).unwrap();
        assert_eq!(body, json!({"incidentIds": ["1", "2"], "incidentComment": "same campaign"}));
        assert_eq!(parse_target(br#"{"targetIncidentId":"1"}"#).unwrap().as_deref(), Some("1"));
    }
}
