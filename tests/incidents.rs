//! End to end: the built component, loaded in the wasmtime host, reads
//! incidents from the emulator over real loopback HTTP.

mod common;

use std::collections::HashSet;

use common::{arm_requests, emulator, host, names_in, session};
use sentinel_connector::core::http::Secret;
use sentinel_connector::core::Credential;
use sentinel_emulator::Injection;
use sentinel_host::runtime::sandbox::Origin;
use sentinel_host::runtime::types::{ErrorKind, ListIncidentsOptions, Severity};
use sentinel_host::runtime::{list_options, CallError};

fn top(n: u32) -> ListIncidentsOptions {
    ListIncidentsOptions { top: Some(n), ..list_options() }
}

#[tokio::test]
async fn list_all_walks_every_page_and_returns_each_incident_once() {
    let emulator = emulator(120, 7).await;
    let mut session = session(&emulator).await;
    let incidents = session.list_all_incidents(top(50)).await.unwrap();

    let mut ids: Vec<String> = incidents.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids.len(), 120);
    ids.sort();
    assert_eq!(ids, names_in(&emulator), "each incident once, none missing");

    let requests = arm_requests(&emulator);
    assert_eq!(requests.len(), 3, "pages of 50, 50 and 20");
    let tokens = emulator.requests().iter().filter(|r| r.path.ends_with("/oauth2/v2.0/token")).count();
    assert_eq!(tokens, 1, "one token serves every page");
    assert!(requests[1].query.as_deref().unwrap_or_default().contains("skipToken"), "the next link was followed");
}

#[tokio::test]
async fn next_links_are_followed_exactly_as_given() {
    let emulator = emulator(30, 3).await;
    let mut session = session(&emulator).await;
    let first = session.list_incidents(top(10)).await.unwrap();
    let link = first.continuation.clone().expect("a second page");
    let second = session
        .list_incidents(ListIncidentsOptions { continuation: Some(link.clone()), ..list_options() })
        .await
        .unwrap();
    assert_eq!(second.incidents.len(), 10);
    let sent = arm_requests(&emulator).pop().unwrap();
    let sent_url = format!("{}{}?{}", emulator.url(), sent.path, sent.query.unwrap_or_default());
    assert_eq!(sent_url, link, "the request is the link, byte for byte");
    let overlap: HashSet<_> = first.incidents.iter().map(|i| &i.id).collect();
    assert!(second.incidents.iter().all(|i| !overlap.contains(&i.id)));
}

#[tokio::test]
async fn get_returns_the_incident_asked_for_with_its_fields() {
    let emulator = emulator(20, 11).await;
    let wanted = emulator.incidents()[5].clone();
    let name = wanted["name"].as_str().unwrap();
    let mut session = session(&emulator).await;
    let incident = session.get_incident(name).await.unwrap();
    assert_eq!(incident.id, name);
    assert_eq!(incident.title, wanted["properties"]["title"].as_str().unwrap());
    assert_eq!(incident.number, wanted["properties"]["incidentNumber"].as_i64());
    assert_eq!(incident.etag.as_deref(), wanted["etag"].as_str());
    assert_eq!(incident.resource_id, wanted["id"].as_str().unwrap());
    let severity = wanted["properties"]["severity"].as_str().unwrap();
    assert_eq!(matches!(incident.severity, Severity::High), severity == "High");
}

#[tokio::test]
async fn filters_and_order_go_to_the_service() {
    let emulator = emulator(60, 5).await;
    let mut session = session(&emulator).await;
    let options = ListIncidentsOptions {
        filter: Some("properties/severity eq 'High'".into()),
        orderby: Some("properties/createdTimeUtc asc".into()),
        ..top(7)
    };
    let high = session.list_all_incidents(options).await.unwrap();
    let expected = emulator.incidents().iter().filter(|i| i["properties"]["severity"] == "High").count();
    assert_eq!(high.len(), expected);
    assert!(high.iter().all(|i| matches!(i.severity, Severity::High)));
    let created: Vec<_> = high.iter().map(|i| i.created_time.clone().unwrap()).collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "ascending creation time");
}

#[tokio::test]
async fn a_missing_incident_is_not_found_with_a_hint() {
    let emulator = emulator(5, 1).await;
    let mut session = session(&emulator).await;
    let error = session.get_incident("00000000-0000-0000-0000-000000000000").await.unwrap_err();
    let CallError::Connector(failure) = error else { panic!("{error}") };
    assert_eq!(failure.kind, ErrorKind::NotFound, "{failure:?}");
    assert_eq!(failure.status, 404);
    assert!(!failure.hint.is_empty());
}

#[tokio::test]
async fn a_traversal_id_is_refused_before_any_request() {
    let emulator = emulator(5, 1).await;
    let mut session = session(&emulator).await;
    emulator.clear_requests();
    for id in ["../x", "a/b", "..", ""] {
        let error = session.get_incident(id).await.unwrap_err();
        let CallError::Connector(input) = error else { panic!("{id}: {error}") };
        assert_eq!(input.kind, ErrorKind::InvalidInput, "{input:?}");
        assert_eq!(input.subject, "incident-id");
    }
    assert!(emulator.requests().is_empty(), "nothing reached the service");
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_error_with_the_aadsts_code_and_no_secret() {
    let emulator = emulator(5, 1).await;
    let mut config = common::config_for(&emulator.url());
    config.credential = Credential::ClientSecret(Secret::new("wrong-secret-value"));
    let mut session = host().open("test", config, None).await.unwrap();
    let error = session.list_incidents(list_options()).await.unwrap_err();
    let shown = error.to_string();
    let CallError::Connector(failure) = error else { panic!("{shown}") };
    assert_eq!(failure.kind, ErrorKind::Auth, "{failure:?}");
    assert_eq!(failure.code, "AADSTS7000215");
    assert!(failure.hint.contains("secret"), "{}", failure.hint);
    assert!(!shown.contains("wrong-secret-value"));
}

#[tokio::test]
async fn bad_configuration_is_refused_when_opening() {
    let emulator = emulator(1, 1).await;
    let mut config = common::config_for(&emulator.url());
    config.workspace_name = "bad/name".into();
    let error = host().open("test", config, None).await.err().expect("refused");
    let CallError::Connector(input) = error else { panic!("{error}") };
    assert_eq!(input.kind, ErrorKind::InvalidInput, "{input:?}");
    assert_eq!(input.subject, "workspace-name");
    assert!(emulator.requests().is_empty());
}

#[tokio::test]
async fn the_host_denies_an_endpoint_outside_the_allow_list() {
    let emulator = emulator(5, 1).await;
    let elsewhere = Origin { scheme: "http".into(), host: "127.0.0.1".into(), port: 9 };
    let config = common::config_for(&emulator.url());
    let mut session = host().open_with_allow_list("test", config, vec![elsewhere], None).await.unwrap();
    let error = session.list_incidents(list_options()).await.unwrap_err();
    let CallError::Connector(failure) = error else { panic!("{error}") };
    assert_eq!(failure.kind, ErrorKind::Transport, "{failure:?}");
    assert!(failure.message.contains("denied"), "{}", failure.message);
    assert!(emulator.requests().is_empty(), "denied before any connect");
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_never_followed() {
    let emulator = emulator(3, 1).await;
    let decoy = common::emulator(3, 2).await;
    let body = format!(r#"{{"value":[],"nextLink":"{}/steal?$skipToken=1"}}"#, decoy.url());
    emulator.inject(Injection {
        method: Some("GET".into()),
        path_contains: "/incidents".into(),
        times: 1,
        status: 200,
        headers: vec![],
        body,
    });
    let mut session = session(&emulator).await;
    let error = session.list_all_incidents(list_options()).await.unwrap_err();
    assert!(matches!(error, CallError::Connector(ref e) if e.kind == ErrorKind::InvalidResponse), "{error}");
    assert!(decoy.requests().is_empty(), "the bearer token never left for the other origin");
}
