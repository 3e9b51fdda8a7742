//! Incident relations (links to bookmarks, alerts and other resources) and
//! incident tasks. Both are child resources with client-chosen names: a
//! relation's default name derives from what it links to, so adding the same
//! link twice is one relation.

use serde::{Deserialize, Serialize};
use url::Url;

use super::comments::Author;
use super::incidents::workspace_url;
use crate::core::config::{shown, Settings};
use crate::core::error::Error;
use crate::core::ids::validate_id;

const RELATION_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x2c6e_91aa_0f3d_4b7e_8d10_5a9c_77e1_b002);
const TASK_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x8a41_d3c2_5e6f_4a90_b1c7_3d2e_9f80_c003);

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelationProperties {
    #[serde(default)]
    pub related_resource_id: String,
    #[serde(default)]
    pub related_resource_name: Option<String>,
    #[serde(default)]
    pub related_resource_type: Option<String>,
    #[serde(default)]
    pub related_resource_kind: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Relation {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub properties: RelationProperties,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskProperties {
    pub title: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing)]
    pub created_time_utc: Option<String>,
    #[serde(default, skip_serializing)]
    pub last_modified_time_utc: Option<String>,
    #[serde(default, skip_serializing)]
    pub created_by: Option<Author>,
    #[serde(default, skip_serializing)]
    pub last_modified_by: Option<Author>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Task {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub etag: Option<String>,
    pub properties: TaskProperties,
}

/// What to change in a task; unset fields keep their value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskUpdate {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
}

pub fn relations_url(settings: &Settings, incident_id: &str, name: Option<&str>) -> Result<Url, Error> {
    child_url(settings, incident_id, "relations", name.map(|n| ("relation-name", n)))
}

pub fn tasks_url(settings: &Settings, incident_id: &str, task_id: Option<&str>) -> Result<Url, Error> {
    child_url(settings, incident_id, "tasks", task_id.map(|t| ("task-id", t)))
}

fn child_url(settings: &Settings, incident_id: &str, kind: &str, child: Option<(&str, &str)>) -> Result<Url, Error> {
    let id = validate_id("incident-id", incident_id)?;
    match child {
        None => Ok(workspace_url(settings, &["incidents", id, kind])),
        Some((field, name)) => Ok(workspace_url(settings, &["incidents", id, kind, validate_id(field, name)?])),
    }
}

/// The spec's pattern `^[a-zA-Z0-9-]{3,63}$`.
pub fn validate_relation_name(name: &str) -> Result<(), Error> {
    let ok = (3..=63).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        return Ok(());
    }
    Err(Error::invalid("relation-name", format!("'{}' must be 3 to 63 letters, digits or '-'", shown(name))))
}

/// An ARM resource id: `/subscriptions/{guid}/...` with an even number of segments after it.
pub fn validate_resource_id(field: &str, id: &str) -> Result<(), Error> {
    let segments: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    let ok = id.starts_with("/subscriptions/")
        && segments.len() >= 4
        && segments.iter().all(|s| !s.is_empty() && !s.chars().any(char::is_control));
    if ok {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!("'{}' is not a full ARM resource id like /subscriptions/.../bookmarks/<id>", shown(id)),
    ))
}

pub fn default_relation_name(incident_id: &str, related_resource_id: &str) -> String {
    uuid::Uuid::new_v5(
        &RELATION_NAMESPACE,
        format!("{incident_id}\n{}", related_resource_id.to_ascii_lowercase()).as_bytes(),
    )
    .to_string()
}

pub fn default_task_id(incident_id: &str, title: &str) -> String {
    uuid::Uuid::new_v5(&TASK_NAMESPACE, format!("{incident_id}\n{title}").as_bytes()).to_string()
}

pub fn relation_body(related_resource_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"properties": {"relatedResourceId": related_resource_id}}))
        .unwrap_or_default()
}

/// Task status is `New` or `Completed` in the spec.
pub fn validate_task_status(status: &str) -> Result<(), Error> {
    if status.eq_ignore_ascii_case("New") || status.eq_ignore_ascii_case("Completed") {
        return Ok(());
    }
    Err(Error::invalid("status", format!("'{}' is not New or Completed", shown(status))))
}

/// An update must set something, and what it sets must be valid.
pub fn validate_task_update(update: &TaskUpdate) -> Result<(), Error> {
    if *update == TaskUpdate::default() {
        return Err(Error::invalid("update", "sets nothing: give a title, description or status"));
    }
    validate_task_text(update.title.as_deref(), update.description.as_deref())?;
    match &update.status {
        Some(status) => validate_task_status(status),
        None => Ok(()),
    }
}

pub fn validate_task_text(title: Option<&str>, description: Option<&str>) -> Result<(), Error> {
    if title.is_some_and(|t| t.trim().is_empty() || t.chars().count() > 256 || t.chars().any(char::is_control)) {
        return Err(Error::invalid("title", "must be 1 to 256 characters on one line"));
    }
    if description.is_some_and(|d| d.chars().count() > 10_000) {
        return Err(Error::invalid("description", "is longer than 10,000 characters"));
    }
    Ok(())
}

pub fn task_body(properties: &TaskProperties, etag: Option<&str>) -> Vec<u8> {
    let mut body = serde_json::json!({"properties": properties});
    if let Some(etag) = etag {
        body["etag"] = serde_json::Value::String(etag.to_owned());
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

pub fn apply_task_update(task: &Task, update: &TaskUpdate) -> TaskProperties {
    let mut properties = task.properties.clone();
    if let Some(title) = &update.title {
        properties.title = title.clone();
    }
    if update.description.is_some() {
        properties.description = update.description.clone();
    }
    if let Some(status) = &update.status {
        properties.status = status.clone();
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::paging::{parse, Page};

    fn fixture(path: &str) -> serde_json::Value {
        let path = format!("{}/tests/fixtures/azure-specs/{path}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn fixtures_parse() {
        let page: Page<Relation> = parse(
            fixture("incident-relations/GetAllIncidentRelations.json")["responses"]["200"]["body"]
                .to_string()
                .as_bytes(),
            "relations",
        )
        .unwrap();
        assert!(page.value[0].properties.related_resource_type.is_some());
        let page: Page<Task> = parse(
            fixture("incident-tasks/IncidentTasks_List.json")["responses"]["200"]["body"].to_string().as_bytes(),
            "tasks",
        )
        .unwrap();
        assert!(!page.value[0].properties.title.is_empty());
        let example = fixture("incident-tasks/IncidentTasks_CreateOrUpdate.json")["parameters"]["incidentTask"].clone();
        let properties: TaskProperties = serde_json::from_value(example["properties"].clone()).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&task_body(&properties, None)).unwrap();
        assert_eq!(body, example, "the request example round-trips");
    }

    #[test]
    fn names_and_ids_are_checked() {
        assert!(validate_relation_name("4bb36b7b-26ff-4d1c-9cbe-0d8ab3da0014").is_ok());
        assert!(validate_relation_name("ab").is_err());
        assert!(validate_relation_name("a_b_c").is_err());
        assert!(validate_resource_id("related-resource-id", "/subscriptions/x/resourceGroups/rg").is_ok());
        assert!(validate_resource_id("related-resource-id", "bookmarks/1").is_err());
        assert_eq!(default_relation_name("i", "/A"), default_relation_name("i", "/a"));
        assert!(validate_task_status("completed").is_ok() && validate_task_status("Done").is_err());
    }
}
