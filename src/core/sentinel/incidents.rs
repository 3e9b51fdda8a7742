//! Sentinel incidents (`Microsoft.SecurityInsights/incidents`, 2025-09-01):
//! the wire model, request building and response parsing.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::core::config::Settings;
use crate::core::enums::open_enum;
use crate::core::error::Error;
use crate::core::ids::validate_id;

open_enum!(Severity { High => "High", Medium => "Medium", Low => "Low", Informational => "Informational" });
open_enum!(IncidentStatus { New => "New", Active => "Active", Closed => "Closed" });
open_enum!(Classification {
    Undetermined => "Undetermined",
    TruePositive => "TruePositive",
    BenignPositive => "BenignPositive",
    FalsePositive => "FalsePositive",
});
open_enum!(ClassificationReason {
    SuspiciousActivity => "SuspiciousActivity",
    SuspiciousButExpected => "SuspiciousButExpected",
    IncorrectAlertLogic => "IncorrectAlertLogic",
    InaccurateData => "InaccurateData",
});
open_enum!(OwnerType { Unknown => "Unknown", User => "User", Group => "Group" });
open_enum!(LabelType { User => "User", AutoAssigned => "AutoAssigned" });

/// An incident as ARM sends it. Unknown fields are ignored; read-only fields
/// are kept so they can be shown, and skipped when absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub properties: IncidentProperties,
    /// `update-incident`'s receipt of its write (see `poller::WriteReceipt`):
    /// never read from or sent to the service.
    #[serde(skip)]
    pub write_receipt: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentProperties {
    pub title: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification_reason: Option<ClassificationReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification_comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time_utc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_time_utc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_activity_time_utc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_time_utc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_incident_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_analytic_rule_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_data: Option<AdditionalData>,
}

/// The label Defender's correlation adds to an incident it merged into
/// another (the "source", closed and emptied of its alerts and tags).
pub const REDIRECTED_LABEL: &str = "Redirected";

impl IncidentProperties {
    /// Closed by a Defender merge: status Closed and the `Redirected` label
    /// (in any case: Microsoft's docs write it "Redirected" and "redirected").
    /// ARM does not say where it went; Graph's `redirectIncidentId` does.
    pub fn is_merged(&self) -> bool {
        self.status == IncidentStatus::Closed
            && self.labels.iter().any(|label| label.label_name.trim().eq_ignore_ascii_case(REDIRECTED_LABEL))
    }

    /// The three fields a PUT requires; everything else empty.
    pub fn new(title: String, severity: Severity, status: IncidentStatus) -> Self {
        IncidentProperties {
            title,
            severity,
            status,
            description: None,
            classification: None,
            classification_reason: None,
            classification_comment: None,
            owner: None,
            labels: Vec::new(),
            created_time_utc: None,
            last_modified_time_utc: None,
            first_activity_time_utc: None,
            last_activity_time_utc: None,
            incident_number: None,
            incident_url: None,
            provider_name: None,
            provider_incident_id: None,
            related_analytic_rule_ids: Vec::new(),
            additional_data: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_type: Option<OwnerType>,
}

impl Owner {
    /// The service sends an owner whose every field is null for an
    /// unassigned incident.
    pub fn is_unassigned(&self) -> bool {
        self.object_id.is_none()
            && self.email.is_none()
            && self.user_principal_name.is_none()
            && self.assigned_to.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Label {
    pub label_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_type: Option<LabelType>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalData {
    #[serde(default)]
    pub alerts_count: Option<u32>,
    #[serde(default)]
    pub bookmarks_count: Option<u32>,
    #[serde(default)]
    pub comments_count: Option<u32>,
    #[serde(default)]
    pub alert_product_names: Vec<String>,
    #[serde(default)]
    pub tactics: Vec<String>,
    /// The incident in the Defender portal (read-only; set once the
    /// workspace is onboarded there).
    #[serde(default)]
    pub provider_incident_url: Option<String>,
}

/// `IncidentList`: `value` is required; `nextLink` is absent on the last page.
pub type IncidentList = crate::core::paging::Page<Incident>;

/// What the caller may ask of a list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    pub filter: Option<String>,
    pub orderby: Option<String>,
    pub top: Option<u32>,
    pub continuation: Option<String>,
    pub max_pages: Option<u32>,
}

pub const MAX_TOP: u32 = 1000;
const MAX_ODATA_LEN: usize = 4096;

/// `{arm}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}/providers/Microsoft.SecurityInsights/{rest..}?api-version=..`
pub fn workspace_url(settings: &Settings, rest: &[&str]) -> Url {
    let mut url = settings.endpoints.arm.base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .extend(["subscriptions", &settings.subscription_id, "resourceGroups", &settings.resource_group])
            .extend(["providers", "Microsoft.OperationalInsights", "workspaces", &settings.workspace_name])
            .extend(["providers", "Microsoft.SecurityInsights"])
            .extend(rest);
    }
    url.query_pairs_mut().append_pair("api-version", &settings.api_version);
    url
}

/// The first page's URL; options are checked before anything is sent.
pub fn list_url(settings: &Settings, options: &ListOptions) -> Result<Url, Error> {
    validate_list_options(options)?;
    let mut url = workspace_url(settings, &["incidents"]);
    append_odata(&mut url, options.filter.as_deref(), options.orderby.as_deref(), options.top);
    Ok(url)
}

/// ARM's list options, in the query after the api-version, as given (each
/// list's validation has checked them).
pub fn append_odata(url: &mut Url, filter: Option<&str>, orderby: Option<&str>, top: Option<u32>) {
    let mut query = url.query_pairs_mut();
    if let Some(filter) = filter {
        query.append_pair("$filter", filter);
    }
    if let Some(orderby) = orderby {
        query.append_pair("$orderby", orderby);
    }
    if let Some(top) = top {
        query.append_pair("$top", &top.to_string());
    }
}

pub fn get_url(settings: &Settings, incident_id: &str) -> Result<Url, Error> {
    let id = validate_id("incident-id", incident_id)?;
    Ok(workspace_url(settings, &["incidents", id]))
}

pub fn validate_list_options(options: &ListOptions) -> Result<(), Error> {
    if let Some(top) = options.top {
        if !(1..=MAX_TOP).contains(&top) {
            return Err(Error::invalid("top", format!("{top} is outside 1 to {MAX_TOP}")));
        }
    }
    check_odata("filter", options.filter.as_deref())?;
    check_odata("orderby", options.orderby.as_deref())?;
    if options.max_pages == Some(0) {
        return Err(Error::invalid("max-pages", "must be at least 1"));
    }
    Ok(())
}

fn check_odata(field: &str, value: Option<&str>) -> Result<(), Error> {
    let Some(value) = value else { return Ok(()) };
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "is empty; leave it out instead"));
    }
    if value.len() > MAX_ODATA_LEN {
        return Err(Error::invalid(field, format!("is longer than {MAX_ODATA_LEN} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "contains a control character"));
    }
    Ok(())
}

pub fn parse_list(body: &[u8]) -> Result<IncidentList, Error> {
    crate::core::paging::parse(body, "incident list")
}

pub fn parse_incident(body: &[u8]) -> Result<Incident, Error> {
    serde_json::from_slice(body).map_err(|e| Error::invalid_response(format!("the incident could not be read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/azure-specs/incidents/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    pub fn settings() -> Settings {
        Settings::from_config(crate::core::config::tests::sample_config()).unwrap()
    }

    #[test]
    fn list_fixture_parses_every_field() {
        let body = fixture("GetIncidents.json")["responses"]["200"]["body"].to_string();
        let list = parse_list(body.as_bytes()).unwrap();
        assert_eq!(list.value.len(), 1);
        assert!(list.next_link.is_none());
        let incident = &list.value[0];
        assert_eq!(incident.name, "73e01a99-5cd7-4139-a149-9f2736ff2ab5");
        assert_eq!(incident.etag.as_deref(), Some("\"0300bf09-0000-0000-0000-5c37296e0000\""));
        let p = &incident.properties;
        assert_eq!(p.severity, Severity::High);
        assert_eq!(p.status, IncidentStatus::Closed);
        assert_eq!(p.classification, Some(Classification::FalsePositive));
        assert_eq!(p.classification_reason, Some(ClassificationReason::IncorrectAlertLogic));
        assert_eq!(p.incident_number, Some(3177));
        assert_eq!(p.owner.as_ref().and_then(|o| o.user_principal_name.as_deref()), Some("john@contoso.com"));
        assert_eq!(p.additional_data.as_ref().unwrap().tactics, vec!["Persistence"]);
        assert_eq!(p.related_analytic_rule_ids.len(), 2);
    }

    #[test]
    fn get_and_create_fixtures_parse() {
        for (file, status) in
            [("GetIncidentById.json", "200"), ("CreateIncident.json", "200"), ("CreateIncident.json", "201")]
        {
            let body = fixture(file)["responses"][status]["body"].to_string();
            let incident = parse_incident(body.as_bytes()).unwrap();
            assert!(!incident.name.is_empty(), "{file}");
            assert!(incident.properties.incident_number.is_some(), "{file}");
        }
    }

    #[test]
    fn the_request_example_round_trips_through_the_model() {
        let example = fixture("CreateIncident.json")["parameters"]["incident"].clone();
        let incident: Incident = serde_json::from_value(example.clone()).unwrap();
        let mut expected = example;
        // A PUT replaces the whole incident, so labels are always sent, even empty.
        expected["properties"]["labels"] = Value::Array(vec![]);
        assert_eq!(serde_json::to_value(&incident).unwrap(), expected);
    }

    #[test]
    fn unknown_enum_values_are_kept() {
        let body = br#"{"name":"n","properties":{"title":"t","severity":"Critical","status":"active"}}"#;
        let incident = parse_incident(body).unwrap();
        assert_eq!(incident.properties.severity, Severity::Other("Critical".into()));
        assert_eq!(incident.properties.status, IncidentStatus::Active, "compared case-insensitively");
    }

    #[test]
    fn list_url_matches_the_spec_path_and_query() {
        let options = ListOptions {
            filter: Some("properties/status eq 'New'".into()),
            orderby: Some("properties/createdTimeUtc desc".into()),
            top: Some(50),
            ..ListOptions::default()
        };
        let url = list_url(&settings(), &options).unwrap();
        assert_eq!(
            url.path(),
            "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace/providers/Microsoft.SecurityInsights/incidents"
        );
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(query[0], ("api-version".into(), "2025-09-01".into()));
        assert!(query.contains(&("$filter".into(), "properties/status eq 'New'".into())));
        assert!(query.contains(&("$top".into(), "50".into())));
    }

    #[test]
    fn bad_list_options_name_the_field() {
        for (options, field) in [
            (ListOptions { top: Some(0), ..ListOptions::default() }, "top"),
            (ListOptions { top: Some(1001), ..ListOptions::default() }, "top"),
            (ListOptions { filter: Some(" ".into()), ..ListOptions::default() }, "filter"),
            (ListOptions { orderby: Some("a\nb".into()), ..ListOptions::default() }, "orderby"),
        ] {
            let Err(Error::InvalidInput { field: got, .. }) = list_url(&settings(), &options) else { panic!() };
            assert_eq!(got, field);
        }
    }

    #[test]
    fn get_url_keeps_the_id_one_segment() {
        let url = get_url(&settings(), "a b%c").unwrap();
        assert!(url.path().ends_with("/incidents/a%20b%25c"), "{}", url.path());
        assert!(get_url(&settings(), "../x").is_err());
    }
}
