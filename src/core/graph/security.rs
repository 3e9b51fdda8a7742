//! Graph security incidents and alerts (`/security/incidents`,
//! `/security/alerts_v2`): the wire model, list URLs and PATCH bodies.
//! Enum values go out in Graph's camelCase and are read case-insensitively
//! (Microsoft's own examples echo PascalCase).

use serde::de::{Error as _, Unexpected};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::{url, validate_filter, validate_top, with_query};
use crate::core::config::Settings;
use crate::core::enums::open_enum;
use crate::core::error::Error;
use crate::core::ids::validate_id;

/// Graph's documented `$top` maximum for incidents.
pub const MAX_INCIDENTS_TOP: u32 = 50;
/// Graph's documented `$top` maximum for alerts_v2.
pub const MAX_ALERTS_TOP: u32 = 2000;

open_enum!(GraphSeverity { Unknown => "unknown", Informational => "informational", Low => "low", Medium => "medium", High => "high" });
open_enum!(GraphIncidentStatus { Active => "active", Resolved => "resolved", InProgress => "inProgress", Redirected => "redirected", AwaitingAction => "awaitingAction" });
open_enum!(GraphAlertStatus { New => "new", InProgress => "inProgress", Resolved => "resolved" });
open_enum!(GraphClassification {
    Unknown => "unknown",
    FalsePositive => "falsePositive",
    TruePositive => "truePositive",
    InformationalExpectedActivity => "informationalExpectedActivity",
});
open_enum!(
    /// Microsoft spells four meanings two ways: Graph's v1.0 metadata (and the
    /// SDKs generated from it) one way, its documentation another. The
    /// service validates against its metadata, so that spelling is written;
    /// both are read, into one case per meaning.
    Determination {
    Unknown => "unknown",
    Apt => "apt",
    Malware => "malware",
    SecurityPersonnel => "securityPersonnel",
    SecurityTesting => "securityTesting",
    UnwantedSoftware => "unwantedSoftware",
    // Graph's own value "other", not an unlisted one.
    OtherDetermination => "other",
    MultiStagedAttack => "multiStagedAttack",
    CompromisedAccount => "compromisedAccount" | "compromisedUser",
    Phishing => "phishing",
    MaliciousUserActivity => "maliciousUserActivity",
    NotMalicious => "notMalicious" | "clean",
    NotEnoughDataToValidate => "notEnoughDataToValidate" | "insufficientData",
    ConfirmedActivity => "confirmedActivity" | "confirmedUserActivity",
    LineOfBusinessApplication => "lineOfBusinessApplication",
});

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphComment {
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub created_time: Option<String>,
}

/// A Defender XDR incident as Graph sends it. Every field is kept in `raw`.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphIncident {
    pub fields: IncidentFields,
    pub alerts: Vec<GraphAlert>,
    /// The whole object as sent (without the expanded alerts).
    pub raw: String,
}

/// Graph's camelCase names; read by `incident_fields`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncidentFields {
    pub id: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub status: Option<GraphIncidentStatus>,
    pub severity: Option<GraphSeverity>,
    pub classification: Option<GraphClassification>,
    pub determination: Option<Determination>,
    pub assigned_to: Option<String>,
    pub created_date_time: Option<String>,
    pub last_update_date_time: Option<String>,
    pub incident_web_url: Option<String>,
    pub redirect_incident_id: Option<String>,
    pub tenant_id: Option<String>,
    /// Missing or null is empty, here and in every list.
    pub custom_tags: Vec<String>,
    pub system_tags: Vec<String>,
    pub comments: Vec<GraphComment>,
}

/// A Graph security alert (alerts_v2). Every field is kept in `raw`.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphAlert {
    pub fields: AlertFields,
    pub evidence: Vec<Evidence>,
    pub raw: String,
}

/// Graph's camelCase names; read by `alert_fields`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertFields {
    pub id: String,
    pub provider_alert_id: Option<String>,
    pub incident_id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<GraphAlertStatus>,
    pub severity: Option<GraphSeverity>,
    pub classification: Option<GraphClassification>,
    pub determination: Option<Determination>,
    pub service_source: Option<String>,
    pub detection_source: Option<String>,
    pub category: Option<String>,
    pub assigned_to: Option<String>,
    pub alert_web_url: Option<String>,
    pub incident_web_url: Option<String>,
    pub created_date_time: Option<String>,
    pub last_update_date_time: Option<String>,
    pub resolved_date_time: Option<String>,
    pub first_activity_date_time: Option<String>,
    pub last_activity_date_time: Option<String>,
    pub mitre_techniques: Vec<String>,
    pub recommended_actions: Option<String>,
}

/// One evidence item: its type (the `@odata.type` without the namespace, e.g.
/// `userEvidence`), the value a playbook acts on, and all its properties.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    pub kind: String,
    pub identifier: Option<String>,
    pub verdict: Option<String>,
    pub remediation_status: Option<String>,
    pub properties: String,
}

// Graph objects arrive as `Value`s (their `raw` text and evidence are kept
// too), and are read field by field here as serde's derive would read them
// from a `Value`, with the same errors, but without the derive's generic
// code per type (nor its reading of objects sent as arrays, which Graph never
// sends: an array is refused like any other non-object).

pub(super) type ReadResult<T> = Result<T, serde_json::Error>;

/// What serde reports for a value of the wrong type, as serde_json's
/// `Value` deserializer words it.
fn invalid_type(value: &Value, expected: &str) -> serde_json::Error {
    let unexpected = match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            (None, None) => Unexpected::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    };
    serde_json::Error::invalid_type(unexpected, &expected)
}

pub(super) fn object<'a>(value: &'a Value, what: &str) -> ReadResult<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| invalid_type(value, what))
}

/// An optional field: a string, an open enum, a bool (null is none).
pub(super) fn opt<T: for<'de> Deserialize<'de>>(value: &Value) -> ReadResult<Option<T>> {
    Option::<T>::deserialize(value)
}

/// A list, empty when null.
fn list<T>(value: &Value, item: impl Fn(&Value) -> ReadResult<T>) -> ReadResult<Vec<T>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(item).collect(),
        other => Err(invalid_type(other, "a sequence")),
    }
}

fn strings(value: &Value) -> ReadResult<Vec<String>> {
    list(value, |item| String::deserialize(item))
}

fn comment(value: &Value) -> ReadResult<GraphComment> {
    let mut c = GraphComment::default();
    for (key, value) in object(value, "struct GraphComment")? {
        match key.as_str() {
            "comment" => c.comment = opt(value)?,
            // Graph documents the long names; the short ones were read before.
            "createdByDisplayName" | "createdBy" => c.created_by = opt(value)?,
            "createdDateTime" | "createdTime" => c.created_time = opt(value)?,
            _ => {}
        }
    }
    Ok(c)
}

/// A comment list (`comments` of an item, `value` of a POST's answer), empty when null.
pub(super) fn comments(value: &Value) -> ReadResult<Vec<GraphComment>> {
    list(value, comment)
}

fn incident_fields(value: &Value) -> ReadResult<IncidentFields> {
    let (mut f, mut id) = (IncidentFields::default(), None);
    for (key, value) in object(value, "struct IncidentFields")? {
        match key.as_str() {
            "id" => id = Some(String::deserialize(value)?),
            "displayName" => f.display_name = opt(value)?,
            "description" => f.description = opt(value)?,
            "status" => f.status = opt(value)?,
            "severity" => f.severity = opt(value)?,
            "classification" => f.classification = opt(value)?,
            "determination" => f.determination = opt(value)?,
            "assignedTo" => f.assigned_to = opt(value)?,
            "createdDateTime" => f.created_date_time = opt(value)?,
            "lastUpdateDateTime" => f.last_update_date_time = opt(value)?,
            "incidentWebUrl" => f.incident_web_url = opt(value)?,
            "redirectIncidentId" => f.redirect_incident_id = opt(value)?,
            "tenantId" => f.tenant_id = opt(value)?,
            "customTags" => f.custom_tags = strings(value)?,
            "systemTags" => f.system_tags = strings(value)?,
            "comments" => f.comments = list(value, comment)?,
            _ => {}
        }
    }
    f.id = id.ok_or_else(|| serde_json::Error::missing_field("id"))?;
    Ok(f)
}

fn alert_fields(value: &Value) -> ReadResult<AlertFields> {
    let (mut f, mut id) = (AlertFields::default(), None);
    for (key, value) in object(value, "struct AlertFields")? {
        match key.as_str() {
            "id" => id = Some(String::deserialize(value)?),
            "providerAlertId" => f.provider_alert_id = opt(value)?,
            "incidentId" => f.incident_id = opt(value)?,
            "title" => f.title = opt(value)?,
            "description" => f.description = opt(value)?,
            "status" => f.status = opt(value)?,
            "severity" => f.severity = opt(value)?,
            "classification" => f.classification = opt(value)?,
            "determination" => f.determination = opt(value)?,
            "serviceSource" => f.service_source = opt(value)?,
            "detectionSource" => f.detection_source = opt(value)?,
            "category" => f.category = opt(value)?,
            "assignedTo" => f.assigned_to = opt(value)?,
            "alertWebUrl" => f.alert_web_url = opt(value)?,
            "incidentWebUrl" => f.incident_web_url = opt(value)?,
            "createdDateTime" => f.created_date_time = opt(value)?,
            "lastUpdateDateTime" => f.last_update_date_time = opt(value)?,
            "resolvedDateTime" => f.resolved_date_time = opt(value)?,
            "firstActivityDateTime" => f.first_activity_date_time = opt(value)?,
            "lastActivityDateTime" => f.last_activity_date_time = opt(value)?,
            "mitreTechniques" => f.mitre_techniques = strings(value)?,
            "recommendedActions" => f.recommended_actions = opt(value)?,
            _ => {}
        }
    }
    f.id = id.ok_or_else(|| serde_json::Error::missing_field("id"))?;
    Ok(f)
}

/// Options of the incident and alert lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphListOptions {
    /// OData `$filter`, e.g. `status eq 'active'`.
    pub filter: Option<String>,
    pub top: Option<u32>,
    /// Incidents only: embed each incident's alerts (`$expand=alerts`).
    pub expand_alerts: bool,
    /// A previous page's `@odata.nextLink`, followed verbatim.
    pub continuation: Option<String>,
    pub max_pages: Option<u32>,
}

/// Which security collection a list reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    Incidents,
    Alerts,
}

impl Collection {
    pub(super) fn segment(self) -> &'static str {
        match self {
            Collection::Incidents => "incidents",
            Collection::Alerts => "alerts_v2",
        }
    }

    fn max_top(self) -> u32 {
        match self {
            Collection::Incidents => MAX_INCIDENTS_TOP,
            Collection::Alerts => MAX_ALERTS_TOP,
        }
    }

    /// The manifest entry of listing (and reading) this collection.
    pub fn read_action(self) -> &'static str {
        match self {
            Collection::Incidents => "graph-security.list-incidents",
            Collection::Alerts => "graph-security.list-alerts",
        }
    }

    pub fn id_field(self) -> &'static str {
        match self {
            Collection::Incidents => "incident-id",
            Collection::Alerts => "alert-id",
        }
    }
}

pub fn validate_list(collection: Collection, options: &GraphListOptions) -> Result<(), Error> {
    validate_top(options.top, collection.max_top())?;
    validate_filter(options.filter.as_deref())?;
    if options.expand_alerts && collection == Collection::Alerts {
        return Err(Error::invalid("expand-alerts", "applies to incidents only"));
    }
    if options.continuation.is_some() && (options.filter.is_some() || options.top.is_some() || options.expand_alerts) {
        return Err(Error::invalid(
            "continuation",
            "cannot be combined with filter, top or expand-alerts: the link already carries them",
        ));
    }
    Ok(())
}

/// The first page's URL.
pub fn list_url(settings: &Settings, collection: Collection, options: &GraphListOptions) -> Url {
    let expand = (collection == Collection::Incidents && options.expand_alerts).then(|| "alerts".to_owned());
    with_query(
        url(settings, &["security", collection.segment()]),
        &[("$filter", options.filter.clone()), ("$top", options.top.map(|t| t.to_string())), ("$expand", expand)],
    )
}

pub fn item_url(settings: &Settings, collection: Collection, id: &str, expand_alerts: bool) -> Result<Url, Error> {
    validate_id(collection.id_field(), id)?;
    let expand = (collection == Collection::Incidents && expand_alerts).then(|| "alerts".to_owned());
    Ok(with_query(url(settings, &["security", collection.segment(), id]), &[("$expand", expand)]))
}

/// An incident from its JSON object; `alerts` (with `$expand`) parsed apart
/// and left out of `raw`.
pub fn incident_from_value(mut value: Value) -> Result<GraphIncident, Error> {
    // Taken, not removed: removing from the map would link in a B-tree's
    // rebalancing for this one call; `raw` skips the key instead.
    let alerts = match value.get_mut("alerts").map(Value::take) {
        Some(Value::Array(items)) => items.into_iter().map(alert_from_value).collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    let fields = incident_fields(&value)
        .map_err(|e| Error::invalid_response(format!("a Graph incident could not be read: {e}")))?;
    let raw = match &value {
        Value::Object(object) => serde_json::to_string(&Without(object, "alerts")).unwrap_or_default(),
        other => other.to_string(),
    };
    Ok(GraphIncident { fields, alerts, raw })
}

/// An object serialized without one key, as `Value::to_string` would write it.
struct Without<'a>(&'a Map<String, Value>, &'static str);

impl serde::Serialize for Without<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().filter(|(key, _)| key.as_str() != self.1))
    }
}

pub fn alert_from_value(value: Value) -> Result<GraphAlert, Error> {
    let fields =
        alert_fields(&value).map_err(|e| Error::invalid_response(format!("a Graph alert could not be read: {e}")))?;
    let evidence = match value.get("evidence") {
        Some(Value::Array(items)) => items.iter().map(evidence).collect(),
        _ => Vec::new(),
    };
    Ok(GraphAlert { fields, evidence, raw: value.to_string() })
}

pub fn parse_incident(body: &[u8]) -> Result<GraphIncident, Error> {
    incident_from_value(json(body, "Graph incident")?)
}

pub fn parse_alert(body: &[u8]) -> Result<GraphAlert, Error> {
    alert_from_value(json(body, "Graph alert")?)
}

fn json(body: &[u8], what: &str) -> Result<Value, Error> {
    serde_json::from_slice(body).map_err(|e| Error::invalid_response(format!("the {what} could not be read: {e}")))
}

fn evidence(item: &Value) -> Evidence {
    let text =
        |pointer: &str| item.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let kind = text("/@odata.type")
        .map_or_else(|| "unknown".to_owned(), |t| t.rsplit('.').next().unwrap_or_default().to_owned());
    Evidence {
        identifier: evidence_identifier(&kind, &text),
        verdict: text("/verdict"),
        remediation_status: text("/remediationStatus"),
        properties: item.to_string(),
        kind,
    }
}

/// The value a playbook acts on, by evidence type: first present pointer wins.
fn evidence_identifier(kind: &str, text: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let pointers: &[&str] = match kind {
        "userEvidence" => &["/userAccount/userPrincipalName", "/userAccount/accountName", "/userAccount/azureAdUserId"],
        "deviceEvidence" => &["/deviceDnsName", "/mdeDeviceId", "/azureAdDeviceId"],
        "fileEvidence" => &["/fileDetails/sha256", "/fileDetails/sha1", "/fileDetails/fileName"],
        "processEvidence" => &["/imageFile/sha256", "/imageFile/fileName", "/processCommandLine"],
        "ipEvidence" => &["/ipAddress"],
        "urlEvidence" => &["/url"],
        "mailboxEvidence" => &["/primaryAddress", "/userAccount/userPrincipalName"],
        "analyzedMessageEvidence" => &["/networkMessageId", "/internetMessageId"],
        "registryKeyEvidence" => &["/registryKey"],
        "registryValueEvidence" => &["/registryKey"],
        "cloudApplicationEvidence" => &["/displayName", "/appId"],
        "azureResourceEvidence" => &["/resourceId"],
        "mailClusterEvidence" => &["/query"],
        _ => &["/id"],
    };
    pointers.iter().find_map(|pointer| text(pointer))
}

/// Who an incident or alert is assigned to after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assignee {
    Unassigned,
    User(String),
}

/// A change to a Graph incident. Unset fields keep their value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphIncidentUpdate {
    pub status: Option<GraphIncidentStatus>,
    pub classification: Option<GraphClassification>,
    pub determination: Option<Determination>,
    pub assigned_to: Option<Assignee>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

/// A change to a Graph alert. Unset fields keep their value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphAlertUpdate {
    pub status: Option<GraphAlertStatus>,
    pub classification: Option<GraphClassification>,
    pub determination: Option<Determination>,
    pub assigned_to: Option<Assignee>,
}

impl GraphIncidentUpdate {
    pub fn changes_tags(&self) -> bool {
        !self.add_tags.is_empty() || !self.remove_tags.is_empty()
    }
}

pub fn validate_incident_update(update: &GraphIncidentUpdate) -> Result<(), Error> {
    if *update == GraphIncidentUpdate::default() {
        return Err(Error::invalid(
            "update",
            "sets nothing: give a status, classification, determination, assignee or tags",
        ));
    }
    for (field, tags) in [("add-tags", &update.add_tags), ("remove-tags", &update.remove_tags)] {
        if let Some(tag) = tags.iter().find(|t| t.trim().is_empty() || t.len() > 128) {
            return Err(Error::invalid(
                field,
                format!("'{}' is not a tag: 1 to 128 characters", crate::core::config::shown(tag)),
            ));
        }
    }
    validate_open_values(
        update.status.as_ref().map(|s| s.as_str()),
        &update.classification,
        &update.determination,
        &update.assigned_to,
    )
}

pub fn validate_alert_update(update: &GraphAlertUpdate) -> Result<(), Error> {
    if *update == GraphAlertUpdate::default() {
        return Err(Error::invalid("update", "sets nothing: give a status, classification, determination or assignee"));
    }
    validate_open_values(
        update.status.as_ref().map(|s| s.as_str()),
        &update.classification,
        &update.determination,
        &update.assigned_to,
    )
}

/// An `other` value is sent as given, so it must at least be a plain word:
/// Graph refuses unknown values, and a stray space or quote is a typo.
fn validate_open_values(
    status: Option<&str>,
    classification: &Option<GraphClassification>,
    determination: &Option<Determination>,
    assignee: &Option<Assignee>,
) -> Result<(), Error> {
    let words = [
        ("status", status),
        ("classification", classification.as_ref().map(|c| c.as_str())),
        ("determination", determination.as_ref().map(|d| d.as_str())),
    ];
    for (field, value) in words {
        if let Some(value) = value.filter(|v| v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric())) {
            return Err(Error::invalid(
                field,
                format!("'{}' is not a Graph enum value", crate::core::config::shown(value)),
            ));
        }
    }
    if let Some(Assignee::User(user)) = assignee {
        if user.trim().is_empty() || user.len() > 256 {
            return Err(Error::invalid(
                "assigned-to",
                "must be 1 to 256 characters (a UPN or a name); use unassigned to clear it",
            ));
        }
    }
    Ok(())
}

/// The PATCH body of an incident: only what changes. `current_tags` is the
/// incident's tags as just read, needed only when tags change.
pub fn incident_patch(update: &GraphIncidentUpdate, current_tags: &[String]) -> String {
    let mut body = common_patch(
        update.status.as_ref().map(|s| s.as_str()),
        &update.classification,
        &update.determination,
        &update.assigned_to,
    );
    if update.changes_tags() {
        body.insert(
            "customTags".into(),
            serde_json::json!(merged_tags(current_tags, &update.add_tags, &update.remove_tags)),
        );
    }
    Value::Object(body).to_string()
}

pub fn alert_patch(update: &GraphAlertUpdate) -> String {
    let body = common_patch(
        update.status.as_ref().map(|s| s.as_str()),
        &update.classification,
        &update.determination,
        &update.assigned_to,
    );
    Value::Object(body).to_string()
}

fn common_patch(
    status: Option<&str>,
    classification: &Option<GraphClassification>,
    determination: &Option<Determination>,
    assignee: &Option<Assignee>,
) -> Map<String, Value> {
    let mut body = Map::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(value) = value {
            body.insert(key.into(), Value::String(value.to_owned()));
        }
    };
    put("status", status);
    put("classification", classification.as_ref().map(|c| c.as_str()));
    put("determination", determination.as_ref().map(|d| d.as_str()));
    match assignee {
        Some(Assignee::Unassigned) => {
            body.insert("assignedTo".into(), Value::Null);
        }
        Some(Assignee::User(user)) => {
            body.insert("assignedTo".into(), Value::String(user.clone()));
        }
        None => {}
    }
    body
}

/// Current tags, minus the removed (case-insensitively), plus the added ones
/// not already there; order kept.
pub fn merged_tags(current: &[String], add: &[String], remove: &[String]) -> Vec<String> {
    let mut tags: Vec<String> =
        current.iter().filter(|t| !remove.iter().any(|r| r.eq_ignore_ascii_case(t))).cloned().collect();
    for tag in add {
        if !tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
            tags.push(tag.clone());
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One case per meaning, read in either of Microsoft's spellings,
    /// written in the metadata's, which the service validates against.
    #[test]
    fn a_determination_spelled_either_way_is_one_case_written_as_the_metadata_spells_it() {
        for (docs, metadata) in [
            ("compromisedUser", "compromisedAccount"),
            ("clean", "notMalicious"),
            ("insufficientData", "notEnoughDataToValidate"),
            ("confirmedUserActivity", "confirmedActivity"),
        ] {
            assert_eq!(Determination::parse(docs), Determination::parse(metadata), "{docs}");
            assert_eq!(Determination::parse(docs).as_str(), metadata);
            assert_eq!(serde_json::to_value(Determination::parse(docs)).unwrap(), metadata);
        }
        assert_eq!(Determination::parse("somethingNew"), Determination::Other("somethingNew".into()));
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/azure-specs/graph");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
    }

    #[test]
    fn reads_microsofts_incident_with_pascal_case_enums() {
        let incident = parse_incident(&fixture("security-incident-update.response.json")).unwrap();
        let f = &incident.fields;
        assert_eq!(f.id, "2972395");
        assert_eq!(f.classification, Some(GraphClassification::TruePositive));
        assert_eq!(f.determination, Some(Determination::MultiStagedAttack));
        assert_eq!(f.status, Some(GraphIncidentStatus::Active));
        assert_eq!(f.severity, Some(GraphSeverity::Medium));
        assert_eq!(f.custom_tags, ["Demo"]);
        assert_eq!(f.comments[0].created_by.as_deref(), Some("DavidS@contoso.onmicrosoft.com"));
        assert!(incident.raw.contains("Raspberry Robin"));
    }

    /// The fields as serde's derive read them before `incident_fields`.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Derived {
        id: String,
        display_name: Option<String>,
        status: Option<GraphIncidentStatus>,
        #[serde(default, deserialize_with = "derived_list")]
        custom_tags: Vec<String>,
        #[serde(default, deserialize_with = "derived_list")]
        comments: Vec<DerivedComment>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct DerivedComment {
        comment: Option<String>,
        created_by: Option<String>,
    }

    fn derived_list<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
    }

    #[test]
    fn reads_graph_objects_as_serde_derive_did_with_the_same_errors() {
        let cases = [
            r#"{"id": "1", "displayName": "x", "status": "Active", "customTags": ["a"], "comments": [{"comment": "c", "createdBy": null}]}"#,
            r#"{"id": "1", "customTags": null, "comments": null, "extra": [1, {"a": 2}]}"#,
            r#"{"displayName": "no id"}"#,
            r#"{"id": 5}"#,
            r#"{"id": "1", "displayName": 1.5}"#,
            r#"{"id": "1", "displayName": -3}"#,
            r#"{"id": "1", "status": true}"#,
            r#"{"id": "1", "customTags": "a"}"#,
            r#"{"id": "1", "customTags": [null]}"#,
            r#"{"id": "1", "comments": [{"comment": {}}]}"#,
            r#"{"id": "1", "comments": ["text"]}"#,
            r#"{"id": "1", "comments": {}}"#,
            r#""a string""#,
            r#"null"#,
            r#"7"#,
        ];
        for case in cases {
            let value: Value = serde_json::from_str(case).unwrap();
            let ours = incident_fields(&value).map_err(|e| e.to_string());
            let derived = Derived::deserialize(&value).map_err(|e| e.to_string());
            match (&ours, &derived) {
                (Ok(ours), Ok(derived)) => {
                    assert_eq!(
                        (&ours.id, &ours.display_name, &ours.status, &ours.custom_tags),
                        (&derived.id, &derived.display_name, &derived.status, &derived.custom_tags),
                        "{case}"
                    );
                    let comments: Vec<_> = ours.comments.iter().map(|c| (&c.comment, &c.created_by)).collect();
                    let want: Vec<_> = derived.comments.iter().map(|c| (&c.comment, &c.created_by)).collect();
                    assert_eq!(comments, want, "{case}");
                }
                _ => assert_eq!(
                    ours.err(),
                    derived
                        .err()
                        .map(|e| e.replace("DerivedComment", "GraphComment").replace("Derived", "IncidentFields")),
                    "{case}"
                ),
            }
        }
        // An incident sent as an array is refused (the derive read it by position).
        let error = incident_fields(&serde_json::json!(["1"])).unwrap_err().to_string();
        assert_eq!(error, "invalid type: sequence, expected struct IncidentFields");
    }

    #[test]
    fn raw_is_the_incident_as_sent_without_its_expanded_alerts() {
        let body = r#"{"id": "1", "alerts": [{"id": "a1"}], "z": {"b": [1, "\u0007"]}, "a": null}"#;
        let incident = parse_incident(body.as_bytes()).unwrap();
        assert_eq!(incident.alerts.len(), 1);
        let mut value: Value = serde_json::from_str(body).unwrap();
        value.as_object_mut().unwrap().remove("alerts");
        assert_eq!(incident.raw, value.to_string());
        assert_eq!(parse_incident(br#"{"id": "2"}"#).unwrap().raw, r#"{"id":"2"}"#);
    }

    #[test]
    fn reads_microsofts_alert_list_with_typed_evidence() {
        let page: crate::core::paging::Page<Value> =
            serde_json::from_slice(&fixture("security-list-alerts_v2.response.json")).unwrap();
        let alert = alert_from_value(page.value[0].clone()).unwrap();
        assert_eq!(alert.fields.status, Some(GraphAlertStatus::New));
        assert_eq!(alert.fields.incident_id.as_deref(), Some("28282"));
        assert_eq!(alert.fields.mitre_techniques, ["T1564.001"]);
        assert!(alert.fields.recommended_actions.as_deref().unwrap().contains('\u{FFFD}'), "U+FFFD kept as sent");
        let kinds: Vec<&str> = alert.evidence.iter().map(|e| e.kind.as_str()).collect();
        assert!(kinds.contains(&"deviceEvidence"), "{kinds:?}");
        assert!(alert.evidence.iter().all(|e| e.properties.starts_with('{')));
        let device = alert.evidence.iter().find(|e| e.kind == "deviceEvidence").unwrap();
        assert!(device.identifier.is_some());
    }

    #[test]
    fn patch_bodies_send_camel_case_and_only_what_changes() {
        let update = GraphIncidentUpdate {
            classification: Some(GraphClassification::parse("TruePositive")),
            determination: Some(Determination::parse("MultiStagedAttack")),
            add_tags: vec!["Demo".into(), "contained".into()],
            ..Default::default()
        };
        let body: Value = serde_json::from_str(&incident_patch(&update, &["demo".into()])).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"classification": "truePositive", "determination": "multiStagedAttack", "customTags": ["demo", "contained"]})
        );
        let unassign = GraphAlertUpdate {
            assigned_to: Some(Assignee::Unassigned),
            status: Some(GraphAlertStatus::InProgress),
            ..Default::default()
        };
        let body: Value = serde_json::from_str(&alert_patch(&unassign)).unwrap();
        assert_eq!(body, serde_json::json!({"assignedTo": null, "status": "inProgress"}));
        assert_eq!(Determination::parse("other"), Determination::OtherDetermination);
    }

    #[test]
    fn bad_updates_and_lists_are_refused_naming_the_field() {
        let field = |e: Error| match e {
            Error::InvalidInput { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(validate_incident_update(&GraphIncidentUpdate::default()).unwrap_err()), "update");
        let typo = GraphIncidentUpdate { status: Some(GraphIncidentStatus::parse("re solved")), ..Default::default() };
        assert_eq!(field(validate_incident_update(&typo).unwrap_err()), "status");
        let too_many = GraphListOptions { top: Some(51), ..Default::default() };
        assert_eq!(field(validate_list(Collection::Incidents, &too_many).unwrap_err()), "top");
        assert!(validate_list(Collection::Alerts, &GraphListOptions { top: Some(2000), ..Default::default() }).is_ok());
        let mixed = GraphListOptions {
            continuation: Some("x".into()),
            filter: Some("status eq 'active'".into()),
            ..Default::default()
        };
        assert_eq!(field(validate_list(Collection::Incidents, &mixed).unwrap_err()), "continuation");
    }
}
