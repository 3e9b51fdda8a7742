//! Writes: incident PUT and DELETE, and the incident's comments, relations
//! and tasks (GET list, GET one, PUT, DELETE), with the service's checks:
//! required fields, enum values, the BenignPositive rule, 409 on a stale etag.

use serde_json::{json, Map, Value};

use crate::data::{incident_from, new_etag};
use crate::reply::{cloud_error, Reply};
use crate::state::{Kind, State};

const SEVERITIES: &[&str] = &["High", "Medium", "Low", "Informational"];
const STATUSES: &[&str] = &["New", "Active", "Closed"];
const CLASSIFICATIONS: &[&str] = &["Undetermined", "TruePositive", "BenignPositive", "FalsePositive"];
const REASONS: &[&str] = &["SuspiciousActivity", "SuspiciousButExpected", "IncorrectAlertLogic", "InaccurateData"];
const TASK_STATUSES: &[&str] = &["New", "Completed"];
const MAX_COMMENT: usize = 30_000;

fn bad(message: &str) -> Reply {
    cloud_error(400, "BadRequest", message)
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(bad("The request body must be a JSON object.")),
    }
}

/// Checks an enum property against the spec's values, case-insensitively,
/// and writes back the canonical spelling.
fn check_enum(properties: &mut Map<String, Value>, field: &str, allowed: &[&str]) -> Result<(), Reply> {
    let Some(value) = properties.get(field) else { return Ok(()) };
    if value.is_null() {
        return Ok(());
    }
    let text = value.as_str().unwrap_or_default();
    match allowed.iter().find(|a| a.eq_ignore_ascii_case(text)) {
        Some(canonical) => {
            properties.insert(field.to_owned(), Value::String((*canonical).to_owned()));
            Ok(())
        }
        None => Err(bad(&format!("The value '{text}' is not valid for '{field}'. Allowed: {}.", allowed.join(", ")))),
    }
}

fn require(properties: &Map<String, Value>, fields: &[&str]) -> Result<(), Reply> {
    for field in fields {
        if properties.get(*field).and_then(Value::as_str).is_none_or(|v| v.trim().is_empty()) {
            return Err(bad(&format!("The '{field}' property is required.")));
        }
    }
    Ok(())
}

/// `PUT .../incidents/{id}`: create (201) or replace (200) the incident.
pub fn put_incident(state: &mut State, id: &str, body: &[u8]) -> Reply {
    match checked_incident(state, id, body) {
        Ok((incident, created)) => Reply::json(if created { 201 } else { 200 }, incident),
        Err(reply) => reply,
    }
}

fn checked_incident(state: &mut State, id: &str, body: &[u8]) -> Result<(Value, bool), Reply> {
    let body = parse_body(body)?;
    let mut properties = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| bad("The 'properties' property is required."))?;
    require(&properties, &["title", "severity", "status"])?;
    check_enum(&mut properties, "severity", SEVERITIES)?;
    check_enum(&mut properties, "status", STATUSES)?;
    check_enum(&mut properties, "classification", CLASSIFICATIONS)?;
    check_enum(&mut properties, "classificationReason", REASONS)?;
    let classification = properties.get("classification").and_then(Value::as_str);
    let reason = properties.get("classificationReason").and_then(Value::as_str);
    if classification == Some("BenignPositive") && reason.is_none() {
        return Err(bad("classification 'BenignPositive' must have classificationReason"));
    }
    let existing = state.incidents.find(id);
    let current = existing.and_then(|index| state.incidents.value(index));
    let stale = |stored: &Value| {
        body.get("etag").and_then(Value::as_str).is_some_and(|etag| Some(etag) != stored["etag"].as_str())
    };
    if let Some(stored) = &current {
        if stale(stored) {
            let message = format!(
                "Newer version of resource '{}' exists. Data was not saved",
                stored["id"].as_str().unwrap_or(id)
            );
            return Err(cloud_error(409, "Conflict", &message));
        }
    }
    let number = current.as_ref().map(|stored| stored["properties"]["incidentNumber"].clone());
    let next_number = state.next_incident_number();
    let now = state.clock.text();
    let before = current.clone();
    let base = match current {
        Some(stored) => stored,
        None => incident_from(&state.identity.workspace(), id, next_number, "", "Low", "New", &now, &now),
    };
    let merged = merge_writable(base, &properties, number.unwrap_or(json!(next_number)), &now);
    match existing {
        Some(index) => state.incidents.replace(index, &merged),
        None => {
            state.incidents.push(&merged, None);
        }
    }
    state.arm_written(before.as_ref(), &merged);
    Ok((merged, existing.is_none()))
}

/// What an incident PUT writes; every other property is read-only.
pub(crate) const WRITABLE: &[&str] = &[
    "title",
    "severity",
    "status",
    "description",
    "classification",
    "classificationReason",
    "classificationComment",
    "owner",
    "labels",
    "firstActivityTimeUtc",
    "lastActivityTimeUtc",
];

/// The writable properties replace the stored ones; read-only ones stay.
fn merge_writable(mut incident: Value, properties: &Map<String, Value>, number: Value, now: &str) -> Value {
    for field in WRITABLE {
        match properties.get(*field) {
            Some(Value::Array(labels)) if *field == "labels" => {
                let labels: Vec<Value> = labels
                    .iter()
                    .map(|l| json!({"labelName": l["labelName"], "labelType": l.get("labelType").cloned().unwrap_or(json!("User"))}))
                    .collect();
                incident["properties"]["labels"] = Value::Array(labels);
            }
            Some(value) => incident["properties"][*field] = value.clone(),
            None if matches!(
                *field,
                "classification" | "classificationReason" | "classificationComment" | "description"
            ) =>
            {
                if let Some(map) = incident["properties"].as_object_mut() {
                    map.remove(*field);
                }
            }
            None => {}
        }
    }
    incident["properties"]["incidentNumber"] = number;
    incident["properties"]["lastModifiedTimeUtc"] = json!(now);
    incident["etag"] = json!(new_etag());
    incident
}

/// `DELETE .../incidents/{id}`: 200 when it existed, 204 when not.
pub fn delete_incident(state: &mut State, id: &str) -> Reply {
    let removed = state.incidents.find(id).is_some_and(|index| state.incidents.remove(index));
    state.children.retain(|(incident, _, _), _| !incident.eq_ignore_ascii_case(id));
    let status = if removed { 200 } else { 204 };
    Reply::empty(status)
}

fn incident_exists(state: &State, id: &str) -> bool {
    state.incidents.find(id).is_some()
}

fn not_found(what: &str, name: &str) -> Reply {
    cloud_error(404, "NotFound", &format!("{what} '{name}' was not found."))
}

/// `GET .../incidents/{id}/{kind}`: all of them, paged by `$top` with a keyset `$skipToken`.
pub fn list_children(
    state: &State,
    incident: &str,
    kind: Kind,
    top: Option<&str>,
    skip: Option<&str>,
    link_base: &str,
) -> Reply {
    if !incident_exists(state, incident) {
        return not_found("Incident", incident);
    }
    let top = match top.map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return bad("The value of $top must be a positive integer."),
    };
    let all = state.children_of(incident, kind);
    let start = skip.and_then(|token| all.iter().position(|c| c["name"] == token).map(|i| i + 1)).unwrap_or(0);
    let page: Vec<Value> = all.iter().skip(start).take(top).cloned().collect();
    let mut body = json!({"value": page});
    if start + top < all.len() {
        if let Some(last) = page.last().and_then(|c| c["name"].as_str()) {
            body["nextLink"] = json!(format!("{link_base}&$top={top}&$skipToken={last}"));
        }
    }
    Reply::json(200, body)
}

pub fn get_child(state: &State, incident: &str, kind: Kind, name: &str) -> Reply {
    match state.children.get(&(incident.to_ascii_lowercase(), kind, name.to_ascii_lowercase())) {
        Some(value) => Reply::json(200, value.clone()),
        None => not_found(kind.segment(), name),
    }
}

pub fn delete_child(state: &mut State, incident: &str, kind: Kind, name: &str) -> Reply {
    let removed = state.children.remove(&(incident.to_ascii_lowercase(), kind, name.to_ascii_lowercase()));
    if removed.is_some() {
        adjust_count(state, incident, kind);
    }
    Reply::empty(if removed.is_some() { 200 } else { 204 })
}

/// `PUT .../incidents/{id}/{kind}/{name}`.
pub fn put_child(state: &mut State, incident: &str, kind: Kind, name: &str, body: &[u8], author: Value) -> Reply {
    if !incident_exists(state, incident) {
        return not_found("Incident", incident);
    }
    let result = parse_body(body).and_then(|body| child_properties(kind, name, &body));
    let properties = match result {
        Ok(properties) => properties,
        Err(reply) => return reply,
    };
    let key = (incident.to_ascii_lowercase(), kind, name.to_ascii_lowercase());
    let existing = state.children.get(&key).cloned();
    let created = existing
        .as_ref()
        .and_then(|e| e["properties"]["createdTimeUtc"].as_str().map(str::to_owned))
        .unwrap_or_else(|| state.clock.text());
    let mut value = json!({
        "id": format!("{}/incidents/{incident}/{}/{name}", state.identity.workspace().prefix(), kind.segment()),
        "name": name,
        "type": kind.resource_type(),
        "etag": new_etag(),
        "properties": properties,
    });
    stamp(&mut value, kind, (&created, &state.clock.text()), author, existing.as_ref());
    let status = if existing.is_some() { 200 } else { 201 };
    state.children.insert(key, value.clone());
    adjust_count(state, incident, kind);
    Reply::json(status, value)
}

/// Fills the read-only times (`(created, now)`) and authors of a child.
fn stamp(value: &mut Value, kind: Kind, (created, now): (&str, &str), author: Value, existing: Option<&Value>) {
    let p = &mut value["properties"];
    match kind {
        Kind::Comments => {
            p["createdTimeUtc"] = json!(created);
            p["lastModifiedTimeUtc"] = json!(now);
            p["author"] = author;
        }
        Kind::Tasks => {
            p["createdTimeUtc"] = json!(created);
            p["lastModifiedTimeUtc"] = json!(now);
            p["createdBy"] = existing.map_or(author.clone(), |e| e["properties"]["createdBy"].clone());
            p["lastModifiedBy"] = author;
        }
        Kind::Relations => {}
    }
}

fn child_properties(kind: Kind, name: &str, body: &Map<String, Value>) -> Result<Value, Reply> {
    let mut properties = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| bad("The 'properties' property is required."))?;
    match kind {
        Kind::Comments => {
            require(&properties, &["message"])?;
            let length = properties["message"].as_str().map_or(0, |m| m.chars().count());
            if length > MAX_COMMENT {
                return Err(bad(&format!(
                    "The comment message is {length} characters; at most {MAX_COMMENT} are allowed."
                )));
            }
            Ok(json!({"message": properties["message"]}))
        }
        Kind::Tasks => {
            require(&properties, &["title", "status"])?;
            check_enum(&mut properties, "status", TASK_STATUSES)?;
            Ok(
                json!({"title": properties["title"], "status": properties["status"], "description": properties.get("description").cloned().unwrap_or(Value::Null)}),
            )
        }
        Kind::Relations => {
            let valid_name =
                (3..=63).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !valid_name {
                return Err(bad(&format!("The relation name '{name}' does not match ^[a-zA-Z0-9-]{{3,63}}$.")));
            }
            require(&properties, &["relatedResourceId"])?;
            let related = properties["relatedResourceId"].as_str().unwrap_or_default().to_owned();
            if !related.starts_with("/subscriptions/") {
                return Err(bad("The relatedResourceId must be a full ARM resource id."));
            }
            Ok(relation_properties(&related))
        }
    }
}

/// Fills the read-only name, type and kind from the id, like the service.
fn relation_properties(related: &str) -> Value {
    let segments: Vec<&str> = related.trim_end_matches('/').split('/').collect();
    let name = segments.last().copied().unwrap_or_default();
    let kind_segment = segments.len().checked_sub(2).and_then(|i| segments.get(i)).copied().unwrap_or_default();
    let lower = kind_segment.to_ascii_lowercase();
    let (resource_type, kind) = match lower.as_str() {
        "bookmarks" => ("Microsoft.SecurityInsights/bookmarks", Value::Null),
        "entities" => ("Microsoft.SecurityInsights/entities", json!("SecurityAlert")),
        _ => (kind_segment, Value::Null),
    };
    let mut properties =
        json!({"relatedResourceId": related, "relatedResourceName": name, "relatedResourceType": resource_type});
    if !kind.is_null() {
        properties["relatedResourceKind"] = kind;
    }
    properties
}

/// Keeps `additionalData.commentsCount` in step with the comments.
fn adjust_count(state: &mut State, incident: &str, kind: Kind) {
    if kind != Kind::Comments {
        return;
    }
    let count = state.children_of(incident, kind).len();
    if let Some(index) = state.incidents.find(incident) {
        state.incidents.modify(index, |json| json["properties"]["additionalData"]["commentsCount"] = json!(count));
    }
}
