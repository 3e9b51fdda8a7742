//! Every request the connector sends, checked against Microsoft's stable
//! OpenAPI (`Incidents.json`, 2025-09-01): the operation exists for the path
//! and method, path parameters meet their patterns, required query
//! parameters are there and no undeclared ones, `$top` within its maximum,
//! required body fields present and enum values the spec lists; operations
//! without a body get none.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use common::{emulator, session};
use sentinel_emulator::RecordedRequest;
use sentinel_host::runtime::types::{
    Classification, ClassificationReason, IncidentStatus, IncidentUpdate, ListIncidentsOptions, NewIncident, OwnerChange, PollOptions, Severity, TaskStatus,
    TaskUpdate,
};
use sentinel_host::runtime::{list_options, poll_options};
use serde_json::Value;

const SPEC: &str = "tests/fixtures/azure-specs/openapi/securityinsights/resource-manager/Microsoft.SecurityInsights/stable/2025-09-01/Incidents.json";

/// The OpenAPI files, with `$ref`s resolved across them.
struct Spec {
    root: PathBuf,
    files: HashMap<PathBuf, Value>,
}

impl Spec {
    fn load() -> Spec {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(SPEC);
        let mut spec = Spec { root: root.clone(), files: HashMap::new() };
        spec.file(&root);
        spec
    }

    fn file(&mut self, path: &Path) -> &Value {
        let path = normalize(path);
        self.files.entry(path.clone()).or_insert_with(|| serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap())
    }

    /// Follows a `$ref` (relative file and JSON pointer) from `base`; returns the target and its file.
    fn resolve(&mut self, base: &Path, value: &Value) -> (Value, PathBuf) {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else { return (value.clone(), base.to_path_buf()) };
        let (file, pointer) = reference.split_once('#').unwrap_or((reference, ""));
        let target = if file.is_empty() { base.to_path_buf() } else { normalize(&base.parent().unwrap().join(file)) };
        let found = self.file(&target).pointer(pointer).unwrap_or_else(|| panic!("unresolved {reference}")).clone();
        self.resolve(&target, &found)
    }

    fn operations(&mut self) -> Vec<Operation> {
        let root = self.root.clone();
        let paths = self.file(&root)["paths"].as_object().unwrap().clone();
        let mut operations = Vec::new();
        for (template, methods) in paths {
            for (method, operation) in methods.as_object().unwrap() {
                let parameters = operation["parameters"].as_array().unwrap().iter().map(|p| self.resolve(&root, p)).collect();
                operations.push(Operation {
                    id: operation["operationId"].as_str().unwrap().to_owned(),
                    method: method.to_ascii_uppercase(),
                    segments: template.trim_start_matches('/').split('/').map(str::to_owned).collect(),
                    parameters,
                });
            }
        }
        operations
    }
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

struct Operation {
    id: String,
    method: String,
    segments: Vec<String>,
    parameters: Vec<(Value, PathBuf)>,
}

fn decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

impl Operation {
    fn path_params(&self, path: &str) -> Option<HashMap<String, String>> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if segments.len() != self.segments.len() {
            return None;
        }
        let mut params = HashMap::new();
        for (template, actual) in self.segments.iter().zip(&segments) {
            match template.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                Some(name) => {
                    params.insert(name.to_owned(), decode(actual));
                }
                None if template.eq_ignore_ascii_case(actual) => {}
                None => return None,
            }
        }
        Some(params)
    }

    fn check(&self, spec: &mut Spec, request: &RecordedRequest, path_params: &HashMap<String, String>) -> Result<(), String> {
        let query: Vec<(String, String)> = url::form_urlencoded::parse(request.query.as_deref().unwrap_or("").as_bytes()).into_owned().collect();
        let mut body_param = None;
        for (parameter, file) in &self.parameters {
            let name = parameter["name"].as_str().unwrap_or_default();
            match parameter["in"].as_str() {
                Some("path") => check_value(name, &path_params[name], parameter)?,
                Some("query") => match query.iter().find(|(k, _)| k == name) {
                    Some((_, value)) => check_value(name, value, parameter)?,
                    None if parameter["required"] == true => return Err(format!("required query parameter {name} is missing")),
                    None => {}
                },
                Some("body") => body_param = Some((parameter.clone(), file.clone())),
                _ => {}
            }
        }
        for (key, _) in &query {
            let declared = self.parameters.iter().any(|(p, _)| p["in"] == "query" && p["name"] == key.as_str());
            if !declared {
                return Err(format!("query parameter {key} is not declared by {}", self.id));
            }
        }
        match body_param {
            None if request.body.is_empty() => Ok(()),
            None => Err(format!("{} takes no body, but one was sent", self.id)),
            Some((parameter, file)) => {
                let body: Value = serde_json::from_slice(&request.body).map_err(|e| format!("the body is not JSON: {e}"))?;
                let (schema, file) = spec.resolve(&file, &parameter["schema"]);
                check_schema(spec, &file, &schema, &body, "body")
            }
        }
    }
}

fn check_value(name: &str, value: &str, parameter: &Value) -> Result<(), String> {
    if let Some(pattern) = parameter["pattern"].as_str() {
        let regex = regex::Regex::new(pattern).map_err(|e| format!("bad pattern {pattern}: {e}"))?;
        if !regex.is_match(value) {
            return Err(format!("{name} '{value}' does not match {pattern}"));
        }
    }
    if let Some(min) = parameter["minLength"].as_u64() {
        if (value.chars().count() as u64) < min {
            return Err(format!("{name} is shorter than {min}"));
        }
    }
    if let Some(max) = parameter["maxLength"].as_u64() {
        if value.chars().count() as u64 > max {
            return Err(format!("{name} is longer than {max}"));
        }
    }
    if let Some(maximum) = parameter["maximum"].as_i64() {
        let number: i64 = value.parse().map_err(|_| format!("{name} '{value}' is not an integer"))?;
        if number > maximum {
            return Err(format!("{name} {number} is over its maximum {maximum}"));
        }
    }
    if parameter["format"] == "uuid" && uuid::Uuid::try_parse(value).is_err() {
        return Err(format!("{name} '{value}' is not a uuid"));
    }
    Ok(())
}

/// Required properties present (through `allOf` and nested objects) and enum values listed.
fn check_schema(spec: &mut Spec, file: &Path, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let (schema, file) = spec.resolve(file, schema);
    for part in schema["allOf"].as_array().cloned().unwrap_or_default() {
        check_schema(spec, &file, &part, value, at)?;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        let text = value.as_str().unwrap_or_default();
        if !value.is_null() && !allowed.iter().any(|a| a.as_str().is_some_and(|a| a.eq_ignore_ascii_case(text))) {
            return Err(format!("{at} '{text}' is not one of the spec's values"));
        }
    }
    for required in schema["required"].as_array().cloned().unwrap_or_default() {
        let name = required.as_str().unwrap_or_default();
        if value.get(name).is_none_or(Value::is_null) {
            return Err(format!("{at}.{name} is required"));
        }
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object()) {
        for (name, property) in properties {
            if let Some(inner) = object.get(name) {
                let (property, _) = spec.resolve(&file, property);
                if property["readOnly"] == true && !inner.is_null() && name != "etag" {
                    return Err(format!("{at}.{name} is read-only and should not be sent"));
                }
                check_schema(spec, &file, &property, inner, &format!("{at}.{name}"))?;
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            check_schema(spec, &file, items, item, &format!("{at}[{index}]"))?;
        }
    }
    Ok(())
}

/// The operation a request is, and whether it conforms.
fn conform(spec: &mut Spec, operations: &[Operation], request: &RecordedRequest) -> Result<String, String> {
    for operation in operations.iter().filter(|o| o.method == request.method) {
        if let Some(params) = operation.path_params(&request.path) {
            return operation.check(spec, request, &params).map(|()| operation.id.clone());
        }
    }
    Err(format!("no operation for {} {}", request.method, request.path))
}

#[test]
fn the_validator_accepts_microsofts_examples_and_refuses_broken_requests() {
    let mut spec = Spec::load();
    let operations = spec.operations();
    let request = |method: &str, path: &str, query: &str, body: &str| RecordedRequest {
        method: method.into(),
        path: path.into(),
        query: Some(query.into()),
        headers: vec![],
        body: body.as_bytes().to_vec(),
    };
    let ws = "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace/providers/Microsoft.SecurityInsights";
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/azure-specs/incidents/CreateIncident.json")).unwrap();
    let example: Value = serde_json::from_str(&example).unwrap();
    let put = example["parameters"]["incident"].to_string();
    let incident = format!("{ws}/incidents/73e01a99-5cd7-4139-a149-9f2736ff2ab5");
    assert_eq!(conform(&mut spec, &operations, &request("PUT", &incident, "api-version=2025-09-01", &put)), Ok("Incidents_CreateOrUpdate".into()));
    assert_eq!(conform(&mut spec, &operations, &request("GET", &format!("{ws}/incidents"), "api-version=2025-09-01&%24top=50", "")), Ok("Incidents_List".into()));

    let broken = [
        request("GET", &format!("{ws}/incidents"), "", ""),
        request("GET", &format!("{ws}/incidents"), "api-version=2025-09-01&%24top=1001", ""),
        request("GET", &format!("{ws}/incidents"), "api-version=2025-09-01&%24expand=x", ""),
        request("PUT", &incident, "api-version=2025-09-01", r#"{"properties":{"severity":"High","status":"New"}}"#),
        request("PUT", &incident, "api-version=2025-09-01", r#"{"properties":{"title":"t","severity":"Critical","status":"New"}}"#),
        request("POST", &format!("{incident}/alerts"), "api-version=2025-09-01", "{}"),
        request("PUT", &format!("{incident}/relations/a_b"), "api-version=2025-09-01", r#"{"properties":{"relatedResourceId":"/x"}}"#),
        request("PATCH", &incident, "api-version=2025-09-01", "{}"),
    ];
    for bad in broken {
        assert!(conform(&mut spec, &operations, &bad).is_err(), "{} {} {:?} passed", bad.method, bad.path, bad.query);
    }
}

#[tokio::test]
async fn every_request_the_connector_sends_conforms_to_the_spec() {
    let emulator = emulator(30, 8).await;
    let mut session = session(&emulator).await;
    let id = emulator.incidents()[4]["name"].as_str().unwrap().to_owned();

    // Every action the connector has; a new action belongs here too.
    let filtered = ListIncidentsOptions {
        filter: Some("properties/severity eq 'High'".into()),
        orderby: Some("properties/createdTimeUtc desc".into()),
        top: Some(5),
        ..list_options()
    };
    session.list_incidents(filtered).await.unwrap();
    session.list_all_incidents(ListIncidentsOptions { top: Some(10), ..list_options() }).await.unwrap();
    session.get_incident(&id).await.unwrap();
    session.list_alerts(&id).await.unwrap();
    session.list_entities(&id).await.unwrap();
    session.list_bookmarks(&id).await.unwrap();
    let update = IncidentUpdate {
        title: None,
        description: Some("Investigated".into()),
        severity: Some(Severity::Medium),
        status: Some(IncidentStatus::Closed),
        classification: Some(Classification::FalsePositive),
        classification_reason: Some(ClassificationReason::InaccurateData),
        classification_comment: Some("Test data".into()),
        owner: Some(OwnerChange::Email("soc@contoso.com".into())),
        add_labels: vec!["reviewed".into()],
        remove_labels: vec![],
    };
    session.update_incident(&id, update).await.unwrap();
    let new = NewIncident {
        title: "Conformance".into(),
        severity: Severity::Low,
        status: IncidentStatus::New,
        description: None,
        classification: None,
        classification_reason: None,
        classification_comment: None,
        owner: Some(OwnerChange::Unassign),
        labels: vec![],
    };
    let created = session.create_incident(new, None).await.unwrap();
    session.delete_incident(&created.id).await.unwrap();
    let comment = session.add_comment(&id, "conformance", None).await.unwrap();
    session.list_comments(&id).await.unwrap();
    session.delete_comment(&id, &comment[0].id).await.unwrap();
    let related = format!("{}/bookmarks/2216d0e1-91e3-4902-89fd-d2df8c535096", emulator.incidents()[0]["id"].as_str().unwrap().split("/incidents/").next().unwrap());
    let relation = session.add_relation(&id, &related, None).await.unwrap();
    session.list_relations(&id).await.unwrap();
    session.delete_relation(&id, &relation.name).await.unwrap();
    let task = session.add_task(&id, "Conformance task", None, None).await.unwrap();
    session.list_tasks(&id).await.unwrap();
    session.update_task(&id, &task.id, TaskUpdate { title: None, description: Some("done".into()), status: Some(TaskStatus::Completed) }).await.unwrap();
    session.delete_task(&id, &task.id).await.unwrap();
    let poll = PollOptions { first_fetch: Some("2020-01-01T00:00:00Z".into()), include_details: true, include_updates: true, ..poll_options() };
    session.poll(None, poll).await.unwrap();

    let mut spec = Spec::load();
    let operations = spec.operations();
    let mut covered = BTreeSet::new();
    for request in emulator.requests().iter().filter(|r| r.path.starts_with("/subscriptions/")) {
        match conform(&mut spec, &operations, request) {
            Ok(operation) => {
                covered.insert(operation);
            }
            Err(reason) => panic!("{} {}?{} does not conform: {reason}", request.method, request.path, request.query.as_deref().unwrap_or("")),
        }
    }
    let expected: BTreeSet<String> = [
        "Incidents_List", "Incidents_Get", "Incidents_CreateOrUpdate", "Incidents_Delete", "Incidents_ListAlerts", "Incidents_ListEntities",
        "Incidents_ListBookmarks", "IncidentComments_List", "IncidentComments_CreateOrUpdate", "IncidentComments_Delete",
        "IncidentRelations_List", "IncidentRelations_CreateOrUpdate", "IncidentRelations_Delete", "IncidentTasks_List", "IncidentTasks_Get",
        "IncidentTasks_CreateOrUpdate", "IncidentTasks_Delete",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(covered, expected, "the operations exercised");
}

fn fixture_body(path: &str, status: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/azure-specs").join(path)).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["responses"][status]["body"].clone()
}

/// Every key of Microsoft's example (at the top and under `properties`, less
/// the ones the service leaves out when empty) is in the emulator's answer,
/// with the same JSON type.
fn same_shape(example: &Value, answer: &Value, optional: &[&str], what: &str) {
    for (key, value) in example.as_object().unwrap() {
        let got = &answer[key];
        assert!(!got.is_null() || value.is_null(), "{what}: {key} is missing");
        assert_eq!(std::mem::discriminant(got), std::mem::discriminant(value), "{what}: {key} has another type");
    }
    for (key, value) in example["properties"].as_object().unwrap() {
        if optional.contains(&key.as_str()) {
            continue;
        }
        let got = &answer["properties"][key];
        assert!(!got.is_null(), "{what}: properties.{key} is missing");
        assert_eq!(std::mem::discriminant(got), std::mem::discriminant(value), "{what}: properties.{key} has another type");
    }
}

#[tokio::test]
async fn the_emulators_answers_have_the_shape_of_microsofts_examples() {
    let emulator = emulator(20, 4).await;
    let incident = emulator.incidents().into_iter().find(|i| i["properties"]["status"] == "Closed").expect("a closed incident");
    let id = incident["name"].as_str().unwrap().to_owned();
    same_shape(&fixture_body("incidents/GetIncidentById.json", "200"), &incident, &["owner"], "incident");

    let mut session = session(&emulator).await;
    session.add_comment(&id, "shape", None).await.unwrap();
    same_shape(&fixture_body("incident-comments/GetIncidentCommentById.json", "200"), &emulator.comments(&id)[0], &[], "comment");
    let related = format!("{}/bookmarks/2216d0e1-91e3-4902-89fd-d2df8c535096", incident["id"].as_str().unwrap().split("/incidents/").next().unwrap());
    session.add_relation(&id, &related, None).await.unwrap();
    same_shape(&fixture_body("incident-relations/GetIncidentRelationByName.json", "200"), &emulator.relations(&id)[0], &["relatedResourceKind"], "relation");
    session.add_task(&id, "shape", Some("d"), None).await.unwrap();
    same_shape(&fixture_body("incident-tasks/IncidentTasks_Get.json", "200"), &emulator.tasks(&id)[0], &[], "task");
}
