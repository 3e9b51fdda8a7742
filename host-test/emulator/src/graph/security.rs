//! `security/incidents` and `security/alerts_v2`: filtered, paged lists,
//! single reads, and PATCH of the fields Graph lets clients change.

use serde_json::{json, Value};

use super::{newest_first, page, Ctx, GraphState, Paging, METADATA};
use crate::odata::{parse_filter, Kind, Schema};
use crate::reply::Reply;

const INCIDENT_TYPE: &str = "microsoft.graph.security.incident";
const ALERT_TYPE: &str = "microsoft.graph.security.alert";

/// Alerts filter on what incidents do plus `serviceSource`, kept last so the
/// incidents' list is this one without it and the two cannot drift apart.
const ALERT_FIELDS: &[(&str, Kind)] = &[
    ("status", Kind::Text),
    ("severity", Kind::Text),
    ("classification", Kind::Text),
    ("determination", Kind::Text),
    ("assignedTo", Kind::Text),
    ("createdDateTime", Kind::Time),
    ("lastUpdateDateTime", Kind::Time),
    ("serviceSource", Kind::Text),
];
const INCIDENT_FIELDS: &[(&str, Kind)] = match ALERT_FIELDS.split_last() {
    Some((_, shared)) => shared,
    None => &[],
};
const INCIDENT_FILTER: Schema = Schema { parent: None, fields: INCIDENT_FIELDS, type_name: INCIDENT_TYPE };
const ALERT_FILTER: Schema = Schema { parent: None, fields: ALERT_FIELDS, type_name: ALERT_TYPE };

const INCIDENT_STATUS: &[&str] = &["active", "inProgress", "resolved", "redirected", "unknownFutureValue"];
const ALERT_STATUS: &[&str] = &["new", "inProgress", "resolved", "unknownFutureValue"];
const CLASSIFICATION: &[&str] =
    &["unknown", "falsePositive", "truePositive", "informationalExpectedActivity", "unknownFutureValue"];
const DETERMINATION: &[&str] = &[
    "unknown",
    "apt",
    "malware",
    "securityPersonnel",
    "securityTesting",
    "unwantedSoftware",
    "other",
    "multiStagedAttack",
    "compromisedAccount",
    "phishing",
    "maliciousUserActivity",
    "notMalicious",
    "notEnoughDataToValidate",
    "confirmedActivity",
    "lineOfBusinessApplication",
    "unknownFutureValue",
];

/// What a PATCH may set.
#[derive(Clone, Copy)]
enum Settable {
    Enum(&'static [&'static str]),
    /// Two lists, for alert determinations.
    NullableText,
    TextList,
}

const INCIDENT_PATCH: &[(&str, Settable)] = &[
    ("assignedTo", Settable::NullableText),
    ("classification", Settable::Enum(CLASSIFICATION)),
    ("determination", Settable::Enum(DETERMINATION)),
    ("status", Settable::Enum(INCIDENT_STATUS)),
    ("customTags", Settable::TextList),
];
const ALERT_PATCH: &[(&str, Settable)] = &[
    ("assignedTo", Settable::NullableText),
    ("classification", Settable::Enum(CLASSIFICATION)),
    ("determination", Settable::Enum(DETERMINATION)),
    ("status", Settable::Enum(ALERT_STATUS)),
];

const INCIDENTS: Paging = Paging { default_top: 20, max_top: 50 };
const ALERTS: Paging = Paging { default_top: 20, max_top: 2000 };

fn filtered(ctx: &Ctx, items: &[Value], schema: &Schema) -> Result<Vec<Value>, Reply> {
    let filter = ctx
        .param("$filter")
        .map(|text| parse_filter(text, schema))
        .transpose()
        .map_err(|reason| ctx.bad_request("BadRequest", &format!("Invalid filter clause: {reason}")))?;
    let mut selected: Vec<Value> =
        items.iter().filter(|i| filter.as_ref().is_none_or(|f| f.matches(i))).cloned().collect();
    newest_first(&mut selected, "createdDateTime");
    Ok(selected)
}

/// Whether `$expand=alerts` was asked for; any other expansion is a 400.
fn expand_alerts(ctx: &Ctx) -> Result<bool, Reply> {
    match ctx.param("$expand").map(str::trim) {
        None => Ok(false),
        Some(e) if e.eq_ignore_ascii_case("alerts") => Ok(true),
        Some(other) => Err(ctx.bad_request(
            "BadRequest",
            &format!("Could not find a property named '{other}' on type '{INCIDENT_TYPE}'."),
        )),
    }
}

fn with_alerts(graph: &GraphState, mut incident: Value) -> Value {
    let mut alerts: Vec<Value> = graph.alerts.iter().filter(|a| a["incidentId"] == incident["id"]).cloned().collect();
    newest_first(&mut alerts, "createdDateTime");
    incident["alerts"] = Value::Array(alerts);
    incident
}

pub fn list_incidents(graph: &mut GraphState, ctx: &Ctx) -> Result<Reply, Reply> {
    let expand = expand_alerts(ctx)?;
    let mut selected = filtered(ctx, &graph.incidents, &INCIDENT_FILTER)?;
    if ctx.orderby {
        order_by(ctx, &mut selected)?;
    }
    if expand {
        selected = selected.into_iter().map(|i| with_alerts(graph, i)).collect();
    }
    let context = format!("{METADATA}#security/incidents{}", if expand { "(alerts())" } else { "" });
    Ok(Reply::json(200, page(ctx, selected, &context, &INCIDENTS)?))
}

/// `$orderby` on incidents, when the option turns it on (Microsoft does
/// not document it): one datetime property, `asc` (the default) or `desc`,
/// ties by id.
fn order_by(ctx: &Ctx, items: &mut [Value]) -> Result<(), Reply> {
    let Some(text) = ctx.param("$orderby") else { return Ok(()) };
    let mut words = text.split_whitespace();
    let field = words.next().unwrap_or_default();
    let field = ["lastUpdateDateTime", "createdDateTime"].into_iter().find(|f| f.eq_ignore_ascii_case(field));
    let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(ctx.bad_request("BadRequest", &format!("Invalid $orderby direction '{other}'."))),
    };
    let Some(field) = field else {
        return Err(ctx.bad_request("BadRequest", &format!("$orderby '{text}' is not supported on incidents.")));
    };
    let time = |v: &Value| v[field].as_str().and_then(crate::odata::parse_time).unwrap_or(i64::MIN);
    items.sort_by(|a, b| {
        let order = time(a).cmp(&time(b)).then_with(|| a["id"].as_str().cmp(&b["id"].as_str()));
        if descending {
            order.reverse()
        } else {
            order
        }
    });
    Ok(())
}

fn entity(context: &str, mut item: Value) -> Value {
    item["@odata.context"] = json!(format!("{METADATA}#{context}/$entity"));
    item
}

fn not_found(ctx: &Ctx, what: &str, id: &str) -> Reply {
    ctx.error(404, "NotFound", &format!("itemNotFound: {what} '{id}' was not found."))
}

pub fn get_incident(graph: &mut GraphState, ctx: &Ctx, id: &str) -> Result<Reply, Reply> {
    let expand = expand_alerts(ctx)?;
    let incident = graph.incident(id).cloned().ok_or_else(|| not_found(ctx, "Incident", id))?;
    let incident = if expand { with_alerts(graph, incident) } else { incident };
    Ok(Reply::json(200, entity("security/incidents", incident)))
}

pub fn patch_incident(graph: &mut GraphState, ctx: &Ctx, id: &str) -> Result<Reply, Reply> {
    ctx.require_json_content()?;
    let index = graph.incidents.iter().position(|i| i["id"] == id).ok_or_else(|| not_found(ctx, "Incident", id))?;
    let changes = validate(ctx, INCIDENT_PATCH, INCIDENT_TYPE)?;
    let incident = &mut graph.incidents[index];
    apply(incident, changes, &ctx.now);
    Ok(Reply::json(200, entity("security/incidents", incident.clone())))
}

pub fn list_alerts(graph: &mut GraphState, ctx: &Ctx) -> Result<Reply, Reply> {
    let selected = filtered(ctx, &graph.alerts, &ALERT_FILTER)?;
    Ok(Reply::json(200, page(ctx, selected, &format!("{METADATA}#security/alerts_v2"), &ALERTS)?))
}

pub fn get_alert(graph: &mut GraphState, ctx: &Ctx, id: &str) -> Result<Reply, Reply> {
    let alert = graph.alert(id).cloned().ok_or_else(|| not_found(ctx, "Alert", id))?;
    Ok(Reply::json(200, entity("security/alerts_v2", alert)))
}

pub fn patch_alert(graph: &mut GraphState, ctx: &Ctx, id: &str) -> Result<Reply, Reply> {
    ctx.require_json_content()?;
    let index = graph.alerts.iter().position(|a| a["id"] == id).ok_or_else(|| not_found(ctx, "Alert", id))?;
    let changes = validate(ctx, ALERT_PATCH, ALERT_TYPE)?;
    let alert = &mut graph.alerts[index];
    let resolved = changes.iter().any(|(k, v)| *k == "status" && v == "resolved");
    apply(alert, changes, &ctx.now);
    if resolved {
        alert["resolvedDateTime"] = alert["lastUpdateDateTime"].clone();
    }
    Ok(Reply::json(200, entity("security/alerts_v2", alert.clone())))
}

/// Sets the changes and stamps `lastUpdateDateTime`, as the service does.
fn apply(item: &mut Value, changes: Vec<(&'static str, Value)>, now: &str) {
    for (key, value) in changes {
        item[key] = value;
    }
    item["lastUpdateDateTime"] = json!(now);
}

/// The body's changes, every one checked before any is applied; enum values
/// are matched without regard to case and stored in the schema's camelCase.
fn validate(
    ctx: &Ctx,
    settable: &[(&'static str, Settable)],
    type_name: &str,
) -> Result<Vec<(&'static str, Value)>, Reply> {
    let body = ctx.json_object()?;
    let mut changes = Vec::new();
    for (key, value) in body {
        let Some((name, kind)) = settable.iter().find(|(n, _)| n.eq_ignore_ascii_case(&key)) else {
            return Err(ctx.bad_request(
                "BadRequest",
                &format!("Invalid property '{key}': it does not exist on type '{type_name}' or cannot be updated."),
            ));
        };
        let stored = match (kind, &value) {
            (Settable::Enum(list), Value::String(text)) => canonical(text, list),
            (Settable::NullableText, Value::String(_) | Value::Null) => Some(value.clone()),
            (Settable::TextList, Value::Array(items)) if items.iter().all(Value::is_string) => Some(value.clone()),
            _ => None,
        };
        let Some(stored) = stored else {
            let allowed = match kind {
                Settable::Enum(list) => format!(" Allowed values: {}.", list.join(", ")),
                _ => String::new(),
            };
            return Err(ctx.bad_request(
                "BadRequest",
                &format!("Invalid value '{}' for property '{name}'.{allowed}", display(&value)),
            ));
        };
        changes.push((*name, stored));
    }
    Ok(changes)
}

fn canonical(text: &str, list: &[&str]) -> Option<Value> {
    list.iter().find(|v| v.eq_ignore_ascii_case(text)).map(|v| json!(v))
}

fn display(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}
