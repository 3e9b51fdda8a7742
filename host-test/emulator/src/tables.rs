//! The Log Analytics tables Sentinel writes, answered from what the emulator
//! holds: `SecurityIncident` (one row per incident, its current ARM state:
//! the service keeps a row per change, a query taking the latest with
//! `arg_max` gets the same) and `SecurityAlert` (the incidents' alerts), with
//! Microsoft's column names. Dynamic columns are JSON text, as the query API
//! sends them.

use std::time::Instant;

use serde_json::{json, Value};

use crate::details;
use crate::state::State;

pub(crate) type Columns = Vec<(&'static str, &'static str)>;
pub(crate) type Rows = Vec<Vec<Value>>;

const INCIDENT_COLUMNS: &[(&str, &str)] = &[
    ("TenantId", "string"),
    ("TimeGenerated", "datetime"),
    ("IncidentName", "string"),
    ("Title", "string"),
    ("Description", "string"),
    ("Severity", "string"),
    ("Status", "string"),
    ("Classification", "string"),
    ("ClassificationComment", "string"),
    ("ClassificationReason", "string"),
    ("Owner", "dynamic"),
    ("ProviderName", "string"),
    ("ProviderIncidentId", "string"),
    ("FirstActivityTime", "datetime"),
    ("LastActivityTime", "datetime"),
    ("FirstModifiedTime", "datetime"),
    ("LastModifiedTime", "datetime"),
    ("CreatedTime", "datetime"),
    ("ClosedTime", "datetime"),
    ("IncidentNumber", "int"),
    ("RelatedAnalyticRuleIds", "dynamic"),
    ("AlertIds", "dynamic"),
    ("Labels", "dynamic"),
    ("IncidentUrl", "string"),
    ("AdditionalData", "dynamic"),
    ("SourceSystem", "string"),
    ("Type", "string"),
];

const ALERT_COLUMNS: &[(&str, &str)] = &[
    ("TenantId", "string"),
    ("TimeGenerated", "datetime"),
    ("DisplayName", "string"),
    ("AlertName", "string"),
    ("AlertSeverity", "string"),
    ("Description", "string"),
    ("ProviderName", "string"),
    ("VendorName", "string"),
    ("ProductName", "string"),
    ("SystemAlertId", "string"),
    ("AlertType", "string"),
    ("Status", "string"),
    ("Tactics", "string"),
    ("StartTime", "datetime"),
    ("EndTime", "datetime"),
    ("AlertLink", "string"),
    ("ExtendedProperties", "dynamic"),
    ("Type", "string"),
];

/// The incidents ARM shows now, with their alerts (ARM entity shape).
fn incidents_with_alerts(state: &State) -> Vec<(Value, Vec<Value>)> {
    let now = Instant::now();
    let visible = state.incidents.values().filter(|i| {
        let id = state.incidents.find(i["name"].as_str().unwrap_or_default());
        id.and_then(|id| state.incidents.get(id)).is_some_and(|s| s.visible_at(now))
    });
    visible
        .map(|incident| {
            let alerts = state.arm_alerts(&incident).unwrap_or_else(|| details::alerts(&state.identity, &incident));
            (incident, alerts)
        })
        .collect()
}

/// Text as the query API sends a `dynamic` cell.
fn dynamic(value: &Value) -> Value {
    if value.is_null() {
        Value::Null
    } else {
        json!(value.to_string())
    }
}

pub(crate) fn security_incident(state: &State) -> (Columns, Rows) {
    let rows = incidents_with_alerts(state)
        .into_iter()
        .map(|(incident, alerts)| {
            let p = &incident["properties"];
            let closed = if p["status"] == "Closed" { p["lastModifiedTimeUtc"].clone() } else { Value::Null };
            let alert_ids: Vec<&Value> = alerts.iter().map(|a| &a["properties"]["systemAlertId"]).collect();
            vec![
                json!(state.identity.workspace_id),
                p["lastModifiedTimeUtc"].clone(),
                incident["name"].clone(),
                p["title"].clone(),
                p["description"].clone(),
                p["severity"].clone(),
                p["status"].clone(),
                p["classification"].clone(),
                p["classificationComment"].clone(),
                p["classificationReason"].clone(),
                dynamic(&p["owner"]),
                p["providerName"].clone(),
                p["providerIncidentId"].clone(),
                p["firstActivityTimeUtc"].clone(),
                p["lastActivityTimeUtc"].clone(),
                p["createdTimeUtc"].clone(),
                p["lastModifiedTimeUtc"].clone(),
                p["createdTimeUtc"].clone(),
                closed,
                p["incidentNumber"].clone(),
                dynamic(&p["relatedAnalyticRuleIds"]),
                dynamic(&json!(alert_ids)),
                dynamic(&p["labels"]),
                incident_url(&incident),
                dynamic(&p["additionalData"]),
                json!("Azure"),
                json!("SecurityIncident"),
            ]
        })
        .collect();
    (INCIDENT_COLUMNS.to_vec(), rows)
}

pub(crate) fn security_alert(state: &State) -> (Columns, Rows) {
    let rows = incidents_with_alerts(state)
        .into_iter()
        .flat_map(|(_, alerts)| alerts)
        .map(|alert| {
            let p = &alert["properties"];
            let product = p["productName"].as_str().unwrap_or("Azure Sentinel");
            vec![
                json!(state.identity.workspace_id),
                p["timeGenerated"].clone(),
                p["alertDisplayName"].clone(),
                p["alertDisplayName"].clone(),
                p["severity"].clone(),
                p["description"].clone(),
                json!(provider_name(product)),
                p["vendorName"].clone(),
                json!(product),
                p["systemAlertId"].clone(),
                p["alertType"].clone(),
                p["status"].clone(),
                json!(p["tactics"].as_array().map(|t| t
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","))),
                p["startTimeUtc"].clone(),
                p["endTimeUtc"].clone(),
                p.get("alertLink").cloned().unwrap_or(Value::Null),
                dynamic(&p["additionalData"]),
                json!("SecurityAlert"),
            ]
        })
        .collect();
    (ALERT_COLUMNS.to_vec(), rows)
}

/// The incident's Azure portal link; incidents created without one (the
/// admin endpoint's) get the one the service would have given them.
fn incident_url(incident: &Value) -> Value {
    match &incident["properties"]["incidentUrl"] {
        Value::String(url) => json!(url),
        _ => {
            let id = incident["id"].as_str().unwrap_or_default();
            json!(format!("https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident{id}"))
        }
    }
}

/// The `ProviderName` SecurityAlert gives each product's alerts.
fn provider_name(product: &str) -> &str {
    match product {
        "Azure Sentinel" => "ASI Scheduled Alerts",
        "Microsoft Defender Advanced Threat Protection" => "MDATP",
        "Azure Advanced Threat Protection" => "Azure Advanced Threat Protection",
        "Office 365 Advanced Threat Protection" => "OATP",
        "Azure Active Directory Identity Protection" => "IPC",
        other => other,
    }
}
