//! One incident, two shapes: the Graph `security/incidents` entity derived
//! from the ARM incident (the one copy the emulator keeps), and a Graph
//! change written back into ARM properties.
//!
//! The mappings follow Microsoft's sync table for the Defender portal
//! (status New ↔ active, Active ↔ inProgress, Closed ↔ resolved; closing
//! reason and assignment sync both ways). How Defender determinations map to
//! Sentinel classification reasons is not documented: the pairs below are
//! the closest meanings [inference].

use serde_json::{json, Value};

use super::Extra;

/// The label Defender puts on an incident merged into another.
pub(crate) const REDIRECTED: &str = "Redirected";

/// The Graph incident of an ARM incident of `tenant`; `comments` are its ARM comments.
pub(crate) fn to_graph(tenant: &str, arm: &Value, extra: Option<&Extra>, comments: &[Value]) -> Value {
    let p = &arm["properties"];
    let redirect = extra.and_then(|e| e.redirect.clone());
    let classification = graph_classification(p["classification"].as_str());
    let labels = p["labels"].as_array().cloned().unwrap_or_default();
    let tags = |user: bool| -> Vec<Value> {
        labels.iter().filter(|l| (l["labelType"] == "User") == user).map(|l| l["labelName"].clone()).collect()
    };
    json!({
        "@odata.type": "#microsoft.graph.security.incident",
        "id": p["providerIncidentId"],
        "incidentWebUrl": p["additionalData"]["providerIncidentUrl"],
        "redirectIncidentId": redirect,
        "displayName": p["title"],
        "tenantId": tenant,
        "createdDateTime": p["createdTimeUtc"],
        "lastUpdateDateTime": p["lastModifiedTimeUtc"],
        "assignedTo": assignee(p),
        "classification": classification,
        "determination": determination(p, extra),
        "status": graph_status(p["status"].as_str(), redirect.is_some()),
        "severity": p["severity"].as_str().unwrap_or("Medium").to_ascii_lowercase(),
        "customTags": tags(true),
        "systemTags": tags(false),
        "comments": comments.iter().map(graph_comment).collect::<Vec<_>>(),
        "description": p.get("description").cloned().unwrap_or(Value::Null),
        "resolvingComment": p.get("classificationComment").cloned().unwrap_or(Value::Null),
        "lastModifiedBy": null,
        "summary": null,
    })
}

/// An ARM comment as Graph's `alertComment`.
pub(crate) fn graph_comment(comment: &Value) -> Value {
    let p = &comment["properties"];
    json!({"comment": p["message"], "createdByDisplayName": p["author"]["name"], "createdDateTime": p["createdTimeUtc"]})
}

fn assignee(p: &Value) -> Value {
    let owner = &p["owner"];
    ["userPrincipalName", "email", "assignedTo"]
        .iter()
        .find_map(|k| owner[*k].as_str())
        .map_or(Value::Null, |v| json!(v))
}

fn graph_status(arm: Option<&str>, redirected: bool) -> &'static str {
    match arm.map(str::to_ascii_lowercase).as_deref() {
        Some("closed") if redirected => "redirected",
        Some("closed") => "resolved",
        Some("active") => "inProgress",
        _ => "active",
    }
}

fn arm_status(graph: &str) -> &'static str {
    match graph {
        "resolved" | "redirected" => "Closed",
        "inProgress" => "Active",
        _ => "New",
    }
}

fn graph_classification(arm: Option<&str>) -> &'static str {
    match arm.map(str::to_ascii_lowercase).as_deref() {
        Some("truepositive") => "truePositive",
        Some("falsepositive") => "falsePositive",
        Some("benignpositive") => "informationalExpectedActivity",
        _ => "unknown",
    }
}

/// The determination Graph set, while the ARM classification is still the
/// one it was set with; otherwise the nearest to the ARM classification.
fn determination(p: &Value, extra: Option<&Extra>) -> String {
    let classification = p["classification"].as_str().map(str::to_owned);
    if let Some((set_with, determination)) = extra.and_then(|e| e.determination.as_ref()) {
        if *set_with == classification {
            return determination.clone();
        }
    }
    let reason = p["classificationReason"].as_str().unwrap_or_default();
    match (graph_classification(classification.as_deref()), reason) {
        ("truePositive", _) => "other",
        ("informationalExpectedActivity", _) => "confirmedActivity",
        ("falsePositive", "InaccurateData") => "notEnoughDataToValidate",
        ("falsePositive", _) => "notMalicious",
        _ => "unknown",
    }
    .to_owned()
}

/// Writes what a Graph PATCH may change (status, classification,
/// determination's reason, assignedTo, customTags) into the ARM incident.
/// `user` is the directory entry of the new assignee, if known.
pub(crate) fn apply_graph(arm: &mut Value, graph: &Value, user: Option<&Value>) {
    let p = &mut arm["properties"];
    let old_status = p["status"].as_str().map(str::to_owned);
    let status = graph["status"].as_str().unwrap_or("active");
    // Equal statuses on both sides keep ARM's (New and Active both read as
    // open in Graph only through the mapping).
    if old_status.as_deref().map(|s| graph_status(Some(s), false)) != Some(status) {
        p["status"] = json!(arm_status(status));
    }
    set_classification(p, graph["classification"].as_str(), graph["determination"].as_str());
    p["owner"] = owner(graph["assignedTo"].as_str(), user);
    let mut labels: Vec<Value> =
        p["labels"].as_array().into_iter().flatten().filter(|l| l["labelType"] != "User").cloned().collect();
    for tag in graph["customTags"].as_array().into_iter().flatten() {
        labels.push(json!({"labelName": tag, "labelType": "User"}));
    }
    p["labels"] = Value::Array(labels);
}

fn set_classification(p: &mut Value, classification: Option<&str>, determination: Option<&str>) {
    let arm = match classification {
        Some("truePositive") => ("TruePositive", "SuspiciousActivity"),
        Some("informationalExpectedActivity") => ("BenignPositive", "SuspiciousButExpected"),
        Some("falsePositive") if matches!(determination, Some("notEnoughDataToValidate")) => {
            ("FalsePositive", "InaccurateData")
        }
        Some("falsePositive") => ("FalsePositive", "IncorrectAlertLogic"),
        _ => {
            if let Some(map) = p.as_object_mut() {
                map.remove("classification");
                map.remove("classificationReason");
            }
            return;
        }
    };
    p["classification"] = json!(arm.0);
    p["classificationReason"] = json!(arm.1);
}

/// An ARM owner for a Graph `assignedTo` (a UPN, or free text).
fn owner(assigned: Option<&str>, user: Option<&Value>) -> Value {
    let Some(assigned) = assigned else {
        return json!({"assignedTo": null, "email": null, "objectId": null, "userPrincipalName": null});
    };
    json!({
        "assignedTo": user.map_or(json!(assigned), |u| u["displayName"].clone()),
        "email": assigned, "userPrincipalName": assigned,
        "objectId": user.map_or(Value::Null, |u| u["id"].clone()), "ownerType": "User",
    })
}

/// A Graph alert as ARM's `SecurityAlert` entity (`incidents/{id}/alerts`).
pub(crate) fn arm_alert(alert: &Value, prefix: &str) -> Value {
    let id = alert["id"].as_str().unwrap_or_default();
    let capitalized = |v: &Value| {
        let text = v.as_str().unwrap_or_default();
        let mut chars = text.chars();
        chars.next().map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
    };
    json!({
        "id": format!("{prefix}/Entities/{id}"), "name": id,
        "type": "Microsoft.SecurityInsights/Entities", "kind": "SecurityAlert",
        "properties": {
            "systemAlertId": id, "alertDisplayName": alert["title"], "friendlyName": alert["title"],
            "alertType": alert["detectorId"], "severity": capitalized(&alert["severity"]),
            "status": if alert["status"] == "resolved" { "Resolved" } else { "New" },
            "confidenceLevel": "Unknown", "vendorName": "Microsoft", "productName": product_name(alert),
            "description": alert["description"], "tactics": [alert["category"]],
            "startTimeUtc": alert["firstActivityDateTime"], "endTimeUtc": alert["lastActivityDateTime"],
            "timeGenerated": alert["createdDateTime"], "processingEndTime": alert["createdDateTime"],
            "providerAlertId": alert["providerAlertId"], "alertLink": alert["alertWebUrl"],
            "additionalData": {"AlertMessageEnqueueTime": alert["createdDateTime"]},
        }
    })
}

/// The product an alert's `serviceSource` names, as SecurityAlert spells it.
pub(crate) fn product_name(alert: &Value) -> &'static str {
    match alert["serviceSource"].as_str().unwrap_or_default() {
        "microsoftDefenderForEndpoint" => "Microsoft Defender Advanced Threat Protection",
        "microsoftDefenderForIdentity" => "Azure Advanced Threat Protection",
        "microsoftDefenderForOffice365" => "Office 365 Advanced Threat Protection",
        "azureAdIdentityProtection" => "Azure Active Directory Identity Protection",
        _ => "Azure Sentinel",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm() -> Value {
        json!({"name": "n", "properties": {
            "providerIncidentId": "7", "title": "t", "status": "Active", "severity": "High",
            "labels": [{"labelName": "vip", "labelType": "User"}, {"labelName": "auto", "labelType": "AutoAssigned"}],
            "owner": {"userPrincipalName": "bob@contoso.com"}, "additionalData": {"providerIncidentUrl": "u"},
        }})
    }

    #[test]
    fn arm_reads_as_graph() {
        let graph = to_graph(crate::DEFAULT_TENANT_ID, &arm(), None, &[]);
        assert_eq!(graph["status"], "inProgress");
        assert_eq!(graph["severity"], "high");
        assert_eq!(graph["assignedTo"], "bob@contoso.com");
        assert_eq!(graph["customTags"], json!(["vip"]));
        assert_eq!(graph["systemTags"], json!(["auto"]));
        assert_eq!(
            (graph["classification"].as_str(), graph["determination"].as_str()),
            (Some("unknown"), Some("unknown"))
        );
        let extra = Extra { redirect: Some("8".into()), determination: None };
        let mut closed = arm();
        closed["properties"]["status"] = json!("Closed");
        assert_eq!(to_graph(crate::DEFAULT_TENANT_ID, &closed, Some(&extra), &[])["status"], "redirected");
    }

    #[test]
    fn graph_changes_write_back() {
        let mut incident = arm();
        let mut graph = to_graph(crate::DEFAULT_TENANT_ID, &incident, None, &[]);
        graph["status"] = json!("resolved");
        graph["classification"] = json!("falsePositive");
        graph["determination"] = json!("notEnoughDataToValidate");
        graph["assignedTo"] = Value::Null;
        graph["customTags"] = json!(["x"]);
        apply_graph(&mut incident, &graph, None);
        let p = &incident["properties"];
        assert_eq!(p["status"], "Closed");
        assert_eq!(
            (p["classification"].as_str(), p["classificationReason"].as_str()),
            (Some("FalsePositive"), Some("InaccurateData"))
        );
        assert!(p["owner"]["userPrincipalName"].is_null());
        let labels: Vec<&str> =
            p["labels"].as_array().unwrap().iter().map(|l| l["labelName"].as_str().unwrap()).collect();
        assert_eq!(labels, ["auto", "x"]);
    }
}
