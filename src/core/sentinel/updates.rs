//! Changing incidents. There is no PATCH: an update is GET, merge the
//! caller's delta, PUT with the etag just read; on 409 the delta is applied
//! again to a fresh read. The merge is a plain function, so the same delta
//! applied to any version never drops labels or an owner it did not touch.

use serde::Serialize;
use serde_json::Value;

use super::incidents::{
    Classification, ClassificationReason, Incident, IncidentProperties, IncidentStatus, Label, LabelType, Owner,
    OwnerType, Severity,
};
use crate::core::config::shown;
use crate::core::error::Error;

const MAX_TITLE: usize = 256;
const MAX_TEXT: usize = 10_000;
const MAX_LABEL: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerChange {
    Unassign,
    ObjectId(String),
    UserPrincipalName(String),
    Email(String),
}

/// The caller's delta: only what is set changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentUpdate {
    pub title: Option<String>,
    pub description: Option<String>,
    pub severity: Option<Severity>,
    pub status: Option<IncidentStatus>,
    pub classification: Option<Classification>,
    pub classification_reason: Option<ClassificationReason>,
    pub classification_comment: Option<String>,
    pub owner: Option<OwnerChange>,
    pub add_labels: Vec<String>,
    pub remove_labels: Vec<String>,
    /// Change an incident Defender merged into another; refused otherwise.
    pub update_merged_source: bool,
}

/// A new incident; the id is chosen by the client (a new GUID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncident {
    pub title: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub description: Option<String>,
    pub classification: Option<Classification>,
    pub classification_reason: Option<ClassificationReason>,
    pub classification_comment: Option<String>,
    pub owner: Option<OwnerChange>,
    pub labels: Vec<String>,
}

/// Refuses a delta the service would refuse, or that means nothing, before any request.
pub fn validate_update(update: &IncidentUpdate) -> Result<(), Error> {
    if *update == IncidentUpdate::default() {
        return Err(Error::invalid("update", "sets nothing: give at least one field to change"));
    }
    if let Some(title) = &update.title {
        check_text("title", title, MAX_TITLE, true)?;
    }
    check_optional_text("description", update.description.as_deref())?;
    check_optional_text("classification-comment", update.classification_comment.as_deref())?;
    check_known(
        "severity",
        update.severity.as_ref().map(Severity::as_str),
        matches!(update.severity, Some(Severity::Other(_))),
    )?;
    check_known(
        "status",
        update.status.as_ref().map(IncidentStatus::as_str),
        matches!(update.status, Some(IncidentStatus::Other(_))),
    )?;
    check_closing(update.status.as_ref(), update.classification.as_ref(), update.classification_reason.as_ref())?;
    if let Some(owner) = &update.owner {
        check_owner(owner)?;
    }
    for label in update.add_labels.iter().chain(&update.remove_labels) {
        check_text("labels", label, MAX_LABEL, true)?;
    }
    Ok(())
}

pub fn validate_new(incident: &NewIncident) -> Result<(), Error> {
    check_text("title", &incident.title, MAX_TITLE, true)?;
    check_optional_text("description", incident.description.as_deref())?;
    check_known("severity", Some(incident.severity.as_str()), matches!(incident.severity, Severity::Other(_)))?;
    check_known("status", Some(incident.status.as_str()), matches!(incident.status, IncidentStatus::Other(_)))?;
    check_closing(Some(&incident.status), incident.classification.as_ref(), incident.classification_reason.as_ref())?;
    if let Some(owner) = &incident.owner {
        check_owner(owner)?;
    }
    for label in &incident.labels {
        check_text("labels", label, MAX_LABEL, true)?;
    }
    Ok(())
}

/// Closing needs a classification, and the reason must fit it: the rules the
/// portal applies, and the service's own for BenignPositive.
fn check_closing(
    status: Option<&IncidentStatus>,
    classification: Option<&Classification>,
    reason: Option<&ClassificationReason>,
) -> Result<(), Error> {
    use ClassificationReason as R;
    if status == Some(&IncidentStatus::Closed) && classification.is_none() {
        return Err(Error::invalid(
            "classification",
            "closing an incident needs a classification (TruePositive, BenignPositive, FalsePositive or Undetermined)",
        ));
    }
    let Some(classification) = classification else {
        return match reason {
            Some(_) => Err(Error::invalid("classification-reason", "needs a classification to go with it")),
            None => Ok(()),
        };
    };
    let fits = match (classification, reason) {
        (Classification::Other(text), _) => {
            return Err(Error::invalid("classification", format!("'{}' is not a classification", shown(text))))
        }
        (_, Some(R::Other(text))) => {
            return Err(Error::invalid(
                "classification-reason",
                format!("'{}' is not a classification reason", shown(text)),
            ))
        }
        (Classification::BenignPositive, None) => {
            return Err(Error::invalid(
                "classification-reason",
                "BenignPositive needs a reason: SuspiciousButExpected",
            ));
        }
        (_, None) => true,
        (Classification::TruePositive, Some(r)) => *r == R::SuspiciousActivity,
        (Classification::BenignPositive, Some(r)) => *r == R::SuspiciousButExpected,
        (Classification::FalsePositive, Some(r)) => matches!(r, R::IncorrectAlertLogic | R::InaccurateData),
        (Classification::Undetermined, Some(_)) => false,
    };
    if fits {
        return Ok(());
    }
    let expected = match classification {
        Classification::TruePositive => "TruePositive takes SuspiciousActivity",
        Classification::BenignPositive => "BenignPositive takes SuspiciousButExpected",
        Classification::FalsePositive => "FalsePositive takes IncorrectAlertLogic or InaccurateData",
        _ => "Undetermined takes no reason",
    };
    Err(Error::invalid("classification-reason", format!("does not fit the classification: {expected}")))
}

fn check_owner(owner: &OwnerChange) -> Result<(), Error> {
    match owner {
        OwnerChange::Unassign => Ok(()),
        OwnerChange::ObjectId(id) => crate::core::config::validate_guid("owner.object-id", id),
        OwnerChange::UserPrincipalName(upn) if upn.contains('@') => {
            check_text("owner.user-principal-name", upn, MAX_LABEL, true)
        }
        OwnerChange::UserPrincipalName(_) => {
            Err(Error::invalid("owner.user-principal-name", "is not a UPN like alice@contoso.com"))
        }
        OwnerChange::Email(email) if email.contains('@') => check_text("owner.email", email, MAX_LABEL, true),
        OwnerChange::Email(_) => Err(Error::invalid("owner.email", "is not an email address")),
    }
}

fn check_known(field: &str, value: Option<&str>, unknown: bool) -> Result<(), Error> {
    match (value, unknown) {
        (Some(text), true) => {
            Err(Error::invalid(field, format!("'{}' is not a value the service accepts", shown(text))))
        }
        _ => Ok(()),
    }
}

fn check_optional_text(field: &str, value: Option<&str>) -> Result<(), Error> {
    value.map_or(Ok(()), |text| check_text(field, text, MAX_TEXT, false))
}

fn check_text(field: &str, value: &str, max: usize, single_line: bool) -> Result<(), Error> {
    if single_line && value.trim().is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    if value.chars().count() > max {
        return Err(Error::invalid(field, format!("is longer than {max} characters")));
    }
    let bad =
        |c: char| c.is_control() && !(c == '\n' || c == '\r' || c == '\t') || (single_line && (c == '\n' || c == '\r'));
    if value.chars().any(bad) {
        return Err(Error::invalid(field, "contains a control character"));
    }
    Ok(())
}

/// The incident after the delta: fields not in the delta keep their value.
pub fn apply(current: &Incident, update: &IncidentUpdate) -> Incident {
    let mut next = current.clone();
    let p = &mut next.properties;
    set(&mut p.title, &update.title);
    set_option(&mut p.description, &update.description);
    set(&mut p.severity, &update.severity);
    set(&mut p.status, &update.status);
    set_option(&mut p.classification, &update.classification);
    set_option(&mut p.classification_reason, &update.classification_reason);
    set_option(&mut p.classification_comment, &update.classification_comment);
    if let Some(owner) = &update.owner {
        p.owner = owner_of(owner);
    }
    p.labels.retain(|label| !update.remove_labels.iter().any(|gone| gone.eq_ignore_ascii_case(&label.label_name)));
    for name in &update.add_labels {
        if !p.labels.iter().any(|label| label.label_name.eq_ignore_ascii_case(name)) {
            p.labels.push(Label { label_name: name.clone(), label_type: Some(LabelType::User) });
        }
    }
    next
}

fn set<T: Clone>(field: &mut T, value: &Option<T>) {
    if let Some(value) = value {
        *field = value.clone();
    }
}

fn set_option<T: Clone>(field: &mut Option<T>, value: &Option<T>) {
    if value.is_some() {
        *field = value.clone();
    }
}

fn owner_of(change: &OwnerChange) -> Option<Owner> {
    let user = |owner: Owner| Some(Owner { owner_type: Some(OwnerType::User), ..owner });
    match change {
        OwnerChange::Unassign => None,
        OwnerChange::ObjectId(id) => user(Owner { object_id: Some(id.clone()), ..Owner::default() }),
        OwnerChange::UserPrincipalName(upn) => {
            user(Owner { user_principal_name: Some(upn.clone()), ..Owner::default() })
        }
        OwnerChange::Email(email) => user(Owner { email: Some(email.clone()), ..Owner::default() }),
    }
}

pub fn from_new(new: &NewIncident) -> Incident {
    let mut properties = IncidentProperties::new(new.title.clone(), new.severity.clone(), new.status.clone());
    properties.description = new.description.clone();
    properties.classification = new.classification.clone();
    properties.classification_reason = new.classification_reason.clone();
    properties.classification_comment = new.classification_comment.clone();
    properties.owner = new.owner.as_ref().and_then(owner_of);
    properties.labels =
        new.labels.iter().map(|name| Label { label_name: name.clone(), label_type: Some(LabelType::User) }).collect();
    Incident { id: String::new(), name: String::new(), etag: None, properties, write_receipt: None }
}

/// What a PUT sends: the writable properties and the etag read, nothing
/// read-only. An unassigned owner is sent as explicit nulls, which is how the
/// service shows and takes "no owner".
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WriteBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    etag: Option<&'a str>,
    properties: Value,
}

pub fn put_body(incident: &Incident) -> Vec<u8> {
    let p = &incident.properties;
    let owner = match &p.owner {
        Some(owner) if !owner.is_unassigned() => serde_json::to_value(owner).unwrap_or(Value::Null),
        _ => serde_json::json!({"objectId": null, "email": null, "userPrincipalName": null, "assignedTo": null}),
    };
    let mut properties = serde_json::json!({
        "title": p.title,
        "severity": p.severity,
        "status": p.status,
        "owner": owner,
        // labelType is read-only: only the names are sent.
        "labels": p.labels.iter().map(|l| serde_json::json!({"labelName": l.label_name})).collect::<Vec<_>>(),
    });
    let optional = [
        ("description", p.description.as_ref().map(|v| Value::String(v.clone()))),
        ("classification", p.classification.as_ref().map(|v| Value::String(v.as_str().to_owned()))),
        ("classificationReason", p.classification_reason.as_ref().map(|v| Value::String(v.as_str().to_owned()))),
        ("classificationComment", p.classification_comment.as_ref().map(|v| Value::String(v.clone()))),
        ("firstActivityTimeUtc", p.first_activity_time_utc.as_ref().map(|v| Value::String(v.clone()))),
        ("lastActivityTimeUtc", p.last_activity_time_utc.as_ref().map(|v| Value::String(v.clone()))),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            properties[name] = value;
        }
    }
    serde_json::to_vec(&WriteBody { etag: incident.etag.as_deref(), properties }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_incident() -> Incident {
        let path = format!("{}/tests/fixtures/azure-specs/incidents/GetIncidentById.json", env!("CARGO_MANIFEST_DIR"));
        let value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        serde_json::from_value(value["responses"]["200"]["body"].clone()).unwrap()
    }

    fn invalid_field(result: Result<(), Error>) -> String {
        match result {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn closing_rules_are_checked_before_any_request() {
        let close = |classification, reason| IncidentUpdate {
            status: Some(IncidentStatus::Closed),
            classification,
            classification_reason: reason,
            ..IncidentUpdate::default()
        };
        assert_eq!(invalid_field(validate_update(&close(None, None))), "classification");
        assert_eq!(
            invalid_field(validate_update(&close(Some(Classification::BenignPositive), None))),
            "classification-reason"
        );
        assert_eq!(
            invalid_field(validate_update(&close(
                Some(Classification::TruePositive),
                Some(ClassificationReason::InaccurateData)
            ))),
            "classification-reason"
        );
        assert!(validate_update(&close(
            Some(Classification::TruePositive),
            Some(ClassificationReason::SuspiciousActivity)
        ))
        .is_ok());
        assert!(validate_update(&close(
            Some(Classification::FalsePositive),
            Some(ClassificationReason::InaccurateData)
        ))
        .is_ok());
        assert_eq!(invalid_field(validate_update(&IncidentUpdate::default())), "update");
    }

    #[test]
    fn the_delta_keeps_what_it_does_not_touch() {
        let mut current = fixture_incident();
        current.properties.labels = vec![Label { label_name: "vip".into(), label_type: Some(LabelType::User) }];
        let update = IncidentUpdate {
            severity: Some(Severity::Low),
            add_labels: vec!["phishing".into(), "VIP".into()],
            ..IncidentUpdate::default()
        };
        let next = apply(&current, &update);
        assert_eq!(next.properties.severity, Severity::Low);
        assert_eq!(next.properties.owner, current.properties.owner, "the owner was not touched");
        let labels: Vec<&str> = next.properties.labels.iter().map(|l| l.label_name.as_str()).collect();
        assert_eq!(labels, ["vip", "phishing"], "labels added once, none dropped");
        let removed = apply(&next, &IncidentUpdate { remove_labels: vec!["VIP".into()], ..IncidentUpdate::default() });
        assert_eq!(removed.properties.labels.len(), 1);
    }

    #[test]
    fn the_put_body_has_what_the_spec_requires_and_no_read_only_fields() {
        let incident = apply(
            &fixture_incident(),
            &IncidentUpdate { owner: Some(OwnerChange::Unassign), ..IncidentUpdate::default() },
        );
        let body: Value = serde_json::from_slice(&put_body(&incident)).unwrap();
        for required in ["title", "severity", "status"] {
            assert!(body["properties"][required].is_string(), "{required}");
        }
        assert_eq!(body["etag"], incident.etag.clone().unwrap().as_str());
        assert!(body["properties"]["owner"]["objectId"].is_null(), "unassigned as explicit nulls");
        for read_only in ["incidentNumber", "createdTimeUtc", "additionalData", "incidentUrl"] {
            assert!(body["properties"].get(read_only).is_none(), "{read_only} is read-only");
        }
    }

    #[test]
    fn a_new_incident_needs_valid_fields() {
        let new = NewIncident {
            title: "Suspicious sign-in".into(),
            severity: Severity::High,
            status: IncidentStatus::New,
            description: None,
            classification: None,
            classification_reason: None,
            classification_comment: None,
            owner: Some(OwnerChange::Email("soc@contoso.com".into())),
            labels: vec!["auto".into()],
        };
        assert!(validate_new(&new).is_ok());
        assert_eq!(from_new(&new).properties.title, "Suspicious sign-in");
        assert_eq!(invalid_field(validate_new(&NewIncident { title: " ".into(), ..new.clone() })), "title");
        assert_eq!(
            invalid_field(validate_new(&NewIncident { owner: Some(OwnerChange::ObjectId("x".into())), ..new })),
            "owner.object-id"
        );
    }
}
