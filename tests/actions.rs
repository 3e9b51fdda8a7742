//! End to end: the incident-response actions through the component against
//! the emulator: updates and their conflicts, create and delete, idempotent
//! comments, throttling, KQL search, the connection check, and a playbook.

mod common;

use std::time::{Duration, Instant};

use common::{config_for, emulator, host, no_change, session};
use sentinel_connector::core::config::ConnectionConfig;
use sentinel_connector::core::retry::RetryPolicy;
use sentinel_emulator::{Emulator, EmulatorOptions, Injection};
use sentinel_host::runtime::types::{
    Api, Cell, Classification, ClassificationReason, CredentialKind, EntityKind, ErrorKind, IncidentStatus,
    IncidentUpdate, ListIncidentsOptions, NewIncident, OwnerChange, QueryOptions, Severity,
};
use sentinel_host::runtime::{list_options, CallError, Session};
use serde_json::Value;

fn stored(emulator: &Emulator, id: &str) -> Value {
    emulator.incidents().into_iter().find(|i| i["name"] == id).expect("the incident exists")
}

fn labels(incident: &Value) -> Vec<String> {
    incident["properties"]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["labelName"].as_str().unwrap().to_owned())
        .collect()
}

fn puts(emulator: &Emulator) -> usize {
    emulator.requests().iter().filter(|r| r.method == "PUT").count()
}

#[tokio::test]
async fn an_update_changes_only_what_it_sets() {
    let emulator = emulator(5, 2).await;
    let id = emulator.incidents()[1]["name"].as_str().unwrap().to_owned();
    let before = stored(&emulator, &id);
    let mut session = session(&emulator).await;
    let update = IncidentUpdate { severity: Some(Severity::Low), add_labels: vec!["triaged".into()], ..no_change() };
    let updated = session.update_incident(&id, update).await.unwrap();
    let after = stored(&emulator, &id);
    assert_eq!(after["properties"]["severity"], "Low");
    assert!(labels(&after).contains(&"triaged".to_owned()));
    assert_eq!(after["properties"]["title"], before["properties"]["title"]);
    assert_eq!(after["properties"]["status"], before["properties"]["status"]);
    assert_eq!(after["properties"]["owner"], before["properties"]["owner"], "the owner was not touched");
    assert_ne!(after["etag"], before["etag"]);
    assert_eq!(updated.etag.as_deref(), after["etag"].as_str());
}

#[tokio::test]
async fn two_racing_updates_both_survive() {
    let emulator = Emulator::start(EmulatorOptions {
        incidents: 3,
        seed: 5,
        latency: Duration::from_millis(150),
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let id = emulator.incidents()[0]["name"].as_str().unwrap().to_owned();
    let mut first = host().open("a", config_for(&emulator.url()), None).await.unwrap();
    let mut second = host().open("b", config_for(&emulator.url()), None).await.unwrap();
    let label = IncidentUpdate { add_labels: vec!["from-first".into()], ..no_change() };
    let owner =
        IncidentUpdate { owner: Some(OwnerChange::UserPrincipalName("analyst@contoso.com".into())), ..no_change() };
    let (a, b) = tokio::join!(first.update_incident(&id, label), second.update_incident(&id, owner));
    a.unwrap();
    b.unwrap();
    let after = stored(&emulator, &id);
    assert!(labels(&after).contains(&"from-first".to_owned()), "the first delta survived");
    assert_eq!(after["properties"]["owner"]["userPrincipalName"], "analyst@contoso.com", "the second delta survived");
    assert!(puts(&emulator) >= 3, "one writer met 409 Conflict and wrote again");
}

#[tokio::test]
async fn closing_rules_are_enforced_before_any_request() {
    let emulator = emulator(2, 2).await;
    let id = emulator.incidents()[0]["name"].as_str().unwrap().to_owned();
    let mut session = session(&emulator).await;
    emulator.clear_requests();
    let close = |classification, reason| IncidentUpdate {
        status: Some(IncidentStatus::Closed),
        classification,
        classification_reason: reason,
        ..no_change()
    };
    for (update, field) in [
        (close(None, None), "classification"),
        (close(Some(Classification::BenignPositive), None), "classification-reason"),
        (
            close(Some(Classification::TruePositive), Some(ClassificationReason::IncorrectAlertLogic)),
            "classification-reason",
        ),
    ] {
        let error = session.update_incident(&id, update).await.unwrap_err();
        let CallError::Connector(input) = error else { panic!("{error}") };
        assert_eq!(input.kind, ErrorKind::InvalidInput, "{input:?}");
        assert_eq!(input.subject, field);
    }
    assert!(emulator.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn create_get_and_delete() {
    let emulator = emulator(1, 2).await;
    let mut session = session(&emulator).await;
    let new = NewIncident {
        title: "Manual escalation".into(),
        severity: Severity::High,
        status: IncidentStatus::New,
        description: Some("Raised by the SOAR".into()),
        classification: None,
        classification_reason: None,
        classification_comment: None,
        owner: None,
        labels: vec!["soar".into()],
    };
    let created = session.create_incident(new, None).await.unwrap();
    assert!(uuid_like(&created.id), "a new GUID: {}", created.id);
    assert!(created.number.is_some());
    let fetched = session.get_incident(&created.id).await.unwrap();
    assert_eq!(fetched.title, "Manual escalation");
    session.delete_incident(&created.id).await.unwrap();
    let gone = session.get_incident(&created.id).await.unwrap_err();
    assert!(matches!(gone, CallError::Connector(ref e) if e.kind == ErrorKind::NotFound), "{gone}");
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn a_retried_comment_is_posted_once_and_a_long_one_in_order() {
    let emulator = emulator(2, 2).await;
    let id = emulator.incidents()[0]["name"].as_str().unwrap().to_owned();
    let mut session = session(&emulator).await;
    let before = session.list_comments(&id).await.unwrap().len();
    session.add_comment(&id, "Contained: account disabled.", None).await.unwrap();
    session.add_comment(&id, "Contained: account disabled.", None).await.unwrap();
    assert_eq!(session.list_comments(&id).await.unwrap().len(), before + 1, "the retry did not post twice");

    let long = "Enrichment line with details.\n".repeat(2500);
    let parts = session.add_comment(&id, &long, Some("run-42")).await.unwrap();
    assert_eq!(parts.len(), 3);
    assert!(parts[0].message.starts_with("(1/3) ") && parts[2].message.starts_with("(3/3) "));
    assert!(parts.iter().all(|p| p.message.chars().count() <= 30_000));
    let all = session.list_comments(&id).await.unwrap();
    assert_eq!(all.len(), before + 4);

    session.delete_comment(&id, &parts[2].id).await.unwrap();
    assert_eq!(session.list_comments(&id).await.unwrap().len(), before + 3);
}

fn throttle(times: usize, retry_after: &str) -> Injection {
    Injection {
        method: Some("GET".into()),
        path_contains: "/incidents".into(),
        times,
        status: 429,
        headers: vec![("Retry-After".into(), retry_after.into())],
        body: r#"{"error":{"code":"TooManyRequests","message":"Rate limit exceeded. Retry after some time."}}"#.into(),
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let emulator = emulator(4, 2).await;
    let mut session = session(&emulator).await;
    emulator.inject(throttle(1, "1"));
    let started = Instant::now();
    let page = session.list_incidents(list_options()).await.unwrap();
    assert_eq!(page.incidents.len(), 4);
    assert!(started.elapsed() >= Duration::from_millis(950), "waited the Retry-After second ({:?})", started.elapsed());
}

#[tokio::test]
async fn a_spent_retry_budget_reports_throttled_with_retry_after() {
    let emulator = emulator(4, 2).await;
    let mut config = config_for(&emulator.url());
    config.retry =
        Some(RetryPolicy { max_retries: 2, initial_delay_ms: 50, max_delay_ms: 1_000, total_budget_ms: 10_000 });
    let mut session = host().open("t", config, None).await.unwrap();
    emulator.inject(throttle(10, "1"));
    let error = session.list_incidents(list_options()).await.unwrap_err();
    let CallError::Connector(throttled) = error else { panic!("{error}") };
    assert_eq!(throttled.kind, ErrorKind::Throttled, "{throttled:?}");
    assert_eq!(throttled.retry_after_seconds, Some(1));
    let lists = emulator.requests().iter().filter(|r| r.method == "GET").count();
    assert_eq!(lists, 3, "the first try and two retries");
}

#[tokio::test]
async fn kql_results_are_typed_by_column() {
    let emulator = emulator(1, 2).await;
    let mut session = session(&emulator).await;
    let options = QueryOptions { timespan: Some("P30D".into()), server_timeout_seconds: Some(60) };
    let result = session.search_events("SigninLogs | take 5", options).await.unwrap();
    let table = &result.tables[0];
    assert!(!table.rows.is_empty());
    let attempts = table.columns.iter().position(|c| c.column_type == "long").expect("a long column");
    assert!(
        table.rows.iter().all(|row| matches!(row[attempts], Cell::Integer(_) | Cell::Null)),
        "longs parsed, even when sent as strings"
    );
    let request = emulator.requests().into_iter().rfind(|r| r.path.ends_with("/query")).unwrap();
    assert!(request.headers.iter().any(|(k, v)| k == "prefer" && v == "wait=60"));

    let bad = session
        .search_events("SigninLogs", QueryOptions { timespan: Some("12 hours".into()), server_timeout_seconds: None })
        .await;
    assert!(matches!(bad, Err(CallError::Connector(ref e)) if e.kind == ErrorKind::InvalidInput), "{bad:?}");
    let empty = session
        .search_events("EmptyTable", QueryOptions { timespan: None, server_timeout_seconds: None })
        .await
        .unwrap();
    assert!(empty.tables.iter().all(|t| t.rows.is_empty()), "204: no data");
}

/// An MSSP's app not consented in a customer's tenant: each API's check
/// says so, with the consent link's shape and what Lighthouse does not cover.
#[tokio::test]
async fn an_app_missing_from_the_tenant_is_explained_for_multi_tenant_use() {
    let emulator = emulator(1, 2).await;
    let mut config = config_for(&emulator.url());
    config.client_id = "11111111-2222-4333-8444-555555555555".into();
    let checks = host().open("mssp", config, None).await.unwrap().check_connection().await.unwrap();
    for check in &checks {
        let failure = check.failure.as_ref().expect("the token is refused");
        assert_eq!(failure.code, "AADSTS700016", "{failure:?}");
        assert!(failure.hint.contains("adminconsent") && failure.hint.contains("Lighthouse"), "{failure:?}");
    }
}

#[tokio::test]
async fn the_connection_check_reports_each_api() {
    let emulator = emulator(1, 2).await;
    let mut session = session(&emulator).await;
    let checks = session.check_connection().await.unwrap();
    let arm = checks.iter().find(|c| matches!(c.api, Api::AzureResourceManager)).unwrap();
    assert!(arm.token_ok && arm.read_ok == Some(true));
    assert!(arm.allowed_actions.contains(&"poll".to_owned()));
    let graph = checks.iter().find(|c| matches!(c.api, Api::Graph)).unwrap();
    assert!(graph.roles.contains(&"User.RevokeSessions.All".to_owned()));
    assert_eq!(graph.read_ok, Some(true), "one Graph security incident read");

    let mut wrong = config_for(&emulator.url());
    wrong.credential =
        sentinel_connector::core::Credential::ClientSecret(sentinel_connector::core::http::Secret::new("nope"));
    let checks = host().open("w", wrong, None).await.unwrap().check_connection().await.unwrap();
    for check in &checks {
        assert!(!check.token_ok);
        assert!(matches!(check.credential, CredentialKind::ClientSecret), "names the credential to fix");
        let Some(failure) = &check.failure else { panic!("{:?}", check.failure) };
        assert_eq!(failure.kind, ErrorKind::Auth, "{failure:?}");
        assert_eq!(failure.code, "AADSTS7000215");
    }
}

/// 2025-12-01 is stable but not live in every cloud: the check says which of
/// the two stable versions the workspace takes, and a version it refuses
/// gets ARM's error with a hint naming the ones it serves.
#[tokio::test]
async fn the_connection_check_reports_the_stable_api_versions_the_workspace_accepts() {
    let emulator = emulator(1, 2).await;
    let arm_versions = |checks: &[sentinel_host::runtime::types::ApiCheck]| {
        let arm = checks.iter().find(|c| matches!(c.api, Api::AzureResourceManager)).unwrap();
        (arm.api_versions.clone(), arm.failure.clone())
    };
    let checks = session(&emulator).await.check_connection().await.unwrap();
    let (versions, failure) = arm_versions(&checks);
    assert_eq!((versions, failure.is_none()), (vec!["2025-09-01".to_owned(), "2025-12-01".to_owned()], true));

    emulator.set_api_versions(&["2025-09-01", "2025-06-01"]);
    let checks = session(&emulator).await.check_connection().await.unwrap();
    let (versions, failure) = arm_versions(&checks);
    assert_eq!((versions, failure.is_none()), (vec!["2025-09-01".to_owned()], true), "2025-12-01 is not live here");

    let newest = ConnectionConfig { api_version: Some("2025-12-01".into()), ..config_for(&emulator.url()) };
    let mut session = host().open("newest", newest, None).await.unwrap();
    let (versions, failure) = arm_versions(&session.check_connection().await.unwrap());
    assert_eq!(versions, ["2025-09-01"], "read from ARM's list, no second request needed");
    let failure = failure.expect("the configured version is refused");
    assert!(matches!(failure.kind, ErrorKind::BadRequest), "{failure:?}");
    assert_eq!(failure.code, "InvalidApiVersionParameter");
    assert!(failure.hint.contains("serves 2025-09-01"), "{}", failure.hint);
    let Err(CallError::Connector(refused)) = session.list_incidents(list_options()).await else {
        panic!("2025-12-01 is refused here")
    };
    assert!(matches!(refused.kind, ErrorKind::BadRequest), "{refused:?}");
    assert!(refused.hint.contains("serves 2025-09-01"), "{}", refused.hint);
}

/// The playbook other SOARs run by hand: triage new high-severity incidents,
/// enrich, hunt, document, assign and close.
#[tokio::test]
async fn a_playbook_from_triage_to_closure() {
    let emulator = emulator(40, 11).await;
    let mut session: Session = session(&emulator).await;
    let new_high = session
        .list_all_incidents(ListIncidentsOptions {
            filter: Some("properties/status eq 'New' and properties/severity eq 'High'".into()),
            ..list_options()
        })
        .await
        .unwrap();
    let incident = new_high.first().expect("a new high-severity incident to work on");

    let alerts = session.list_alerts(&incident.id).await.unwrap();
    assert!(!alerts.is_empty());
    let entities = session.list_normalized_entities(&incident.id).await.unwrap();
    let account = entities.iter().find(|e| matches!(e.kind, EntityKind::Account)).expect("an account entity");

    let query = format!("SigninLogs | where UserPrincipalName == '{}' | take 20", account.identifier);
    let sign_ins = session
        .search_events(&query, QueryOptions { timespan: Some("P7D".into()), server_timeout_seconds: None })
        .await
        .unwrap();

    let rows = sign_ins.tables.first().map_or(0, |t| t.rows.len());
    let note = format!("Triage: {} alerts; account {}; {rows} sign-ins in 7 days.", alerts.len(), account.identifier);
    session.add_comment(&incident.id, &note, Some("playbook-run-1")).await.unwrap();
    let assign = IncidentUpdate {
        owner: Some(OwnerChange::Email("tier2@contoso.com".into())),
        status: Some(IncidentStatus::Active),
        ..no_change()
    };
    session.update_incident(&incident.id, assign).await.unwrap();
    let close = IncidentUpdate {
        status: Some(IncidentStatus::Closed),
        classification: Some(Classification::TruePositive),
        classification_reason: Some(ClassificationReason::SuspiciousActivity),
        classification_comment: Some("Confirmed compromise; account contained.".into()),
        ..no_change()
    };
    let closed = session.update_incident(&incident.id, close).await.unwrap();

    assert!(matches!(closed.status, IncidentStatus::Closed));
    let after = stored(&emulator, &incident.id);
    assert_eq!(after["properties"]["status"], "Closed");
    assert_eq!(after["properties"]["classification"], "TruePositive");
    assert_eq!(after["properties"]["classificationReason"], "SuspiciousActivity");
    assert_eq!(after["properties"]["owner"]["email"], "tier2@contoso.com", "the owner set before closing stayed");
    let comments = session.list_comments(&incident.id).await.unwrap();
    assert!(comments.iter().any(|c| c.message == note));
}

#[tokio::test]
async fn relations_and_tasks() {
    let emulator = emulator(2, 2).await;
    let id = emulator.incidents()[0]["name"].as_str().unwrap().to_owned();
    let mut session = session(&emulator).await;
    let bookmark = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights/bookmarks/2216d0e1-91e3-4902-89fd-d2df8c535096",
        sentinel_emulator::DEFAULT_SUBSCRIPTION_ID,
        sentinel_emulator::DEFAULT_RESOURCE_GROUP,
        sentinel_emulator::DEFAULT_WORKSPACE_NAME
    );
    let before = session.list_relations(&id).await.unwrap().len();
    let first = session.add_relation(&id, &bookmark, None).await.unwrap();
    let again = session.add_relation(&id, &bookmark, None).await.unwrap();
    assert_eq!(first.name, again.name, "linking twice is one relation");
    assert_eq!(session.list_relations(&id).await.unwrap().len(), before + 1);
    session.delete_relation(&id, &first.name).await.unwrap();
    assert_eq!(session.list_relations(&id).await.unwrap().len(), before);
    let bad = session.add_relation(&id, "bookmarks/1", None).await.unwrap_err();
    assert!(matches!(bad, CallError::Connector(ref e) if e.kind == ErrorKind::InvalidInput), "{bad}");

    let task = session.add_task(&id, "Reset the user's password", Some("Then revoke sessions"), None).await.unwrap();
    session.add_task(&id, "Reset the user's password", Some("Then revoke sessions"), None).await.unwrap();
    let tasks = session.list_tasks(&id).await.unwrap();
    assert_eq!(tasks.iter().filter(|t| t.title == "Reset the user's password").count(), 1, "a retried add is one task");
    let update = sentinel_host::runtime::types::TaskUpdate {
        title: None,
        description: None,
        status: Some(sentinel_host::runtime::types::TaskStatus::Completed),
    };
    let done = session.update_task(&id, &task.id, update).await.unwrap();
    assert!(matches!(done.status, sentinel_host::runtime::types::TaskStatus::Completed));
    assert_eq!(done.description.as_deref(), Some("Then revoke sessions"), "the description was kept");
    session.delete_task(&id, &task.id).await.unwrap();
    assert!(session.list_tasks(&id).await.unwrap().iter().all(|t| t.id != task.id));
}

#[tokio::test]
async fn a_partial_error_comes_beside_the_data() {
    let emulator = emulator(1, 2).await;
    let mut session = session(&emulator).await;
    emulator.set_query_partial_error("Query exceeded the memory limit on one shard");
    let result = session
        .search_events("SigninLogs | take 2", QueryOptions { timespan: None, server_timeout_seconds: None })
        .await
        .unwrap();
    assert_eq!(result.tables[0].rows.len(), 2, "the data that could be read");
    let partial = result.partial_error.expect("the partial error");
    assert_eq!(partial.code, "PartialError");
    assert!(partial.message.contains("memory limit"));
}
