//! End to end: alerts, typed entities, the normalized view and bookmarks,
//! and a poll that fetches them for each event concurrently.

mod common;

use std::time::{Duration, Instant};

use common::{config_for, host, session};
use sentinel_emulator::{Emulator, EmulatorOptions};
use sentinel_host::runtime::poll_options;
use sentinel_host::runtime::types::{EntityDetails, EntityKind, PollOptions};

fn first_incident(emulator: &Emulator) -> (String, serde_json::Value) {
    let incident = emulator.incidents()[0].clone();
    (incident["name"].as_str().unwrap().to_owned(), incident)
}

#[tokio::test]
async fn alerts_entities_and_bookmarks_of_an_incident() {
    let emulator = common::emulator(3, 4).await;
    let (id, incident) = first_incident(&emulator);
    let mut session = session(&emulator).await;

    let alerts = session.list_alerts(&id).await.unwrap();
    assert_eq!(alerts.len() as u64, incident["properties"]["additionalData"]["alertsCount"].as_u64().unwrap());
    assert!(alerts[0].display_name.is_some() && alerts[0].severity.is_some());

    let entities = session.list_entities(&id).await.unwrap();
    let account = entities.iter().find(|e| matches!(e.kind, EntityKind::Account)).expect("an account");
    let EntityDetails::Account(details) = &account.details else { panic!("typed account details") };
    assert!(details.account_name.is_some());
    assert!(account.properties.contains("upnSuffix"), "every property kept");
    assert!(entities.iter().any(|e| matches!(e.details, EntityDetails::Process(_))));

    let normalized = session.list_normalized_entities(&id).await.unwrap();
    let account = normalized.iter().find(|e| matches!(e.kind, EntityKind::Account)).unwrap();
    assert!(account.identifier.ends_with("@contoso.com"), "an account is its UPN: {}", account.identifier);
    let host = normalized.iter().find(|e| matches!(e.kind, EntityKind::Host)).unwrap();
    assert!(host.identifier.ends_with(".corp.contoso.com"), "a host is its FQDN: {}", host.identifier);
    let hash = normalized.iter().find(|e| matches!(e.kind, EntityKind::FileHash)).unwrap();
    assert!(hash.identifier.starts_with("sha256:"));
    let process = normalized.iter().find(|e| matches!(e.kind, EntityKind::Process)).unwrap();
    let roles: Vec<(&str, &str)> =
        process.references.iter().map(|r| (r.role.as_str(), r.identifier.as_str())).collect();
    assert!(roles.contains(&("host", host.identifier.as_str())), "{roles:?}");
    assert!(roles.contains(&("account", account.identifier.as_str())), "{roles:?}");

    let bookmarks = session.list_bookmarks(&id).await.unwrap();
    assert_eq!(bookmarks.len() as u64, incident["properties"]["additionalData"]["bookmarksCount"].as_u64().unwrap());

    let posts: Vec<_> =
        emulator.requests().into_iter().filter(|r| r.method == "POST" && r.path.contains("/incidents/")).collect();
    assert_eq!(posts.len(), 4, "alerts, entities (twice: typed and normalized), bookmarks: each a POST");
    assert!(posts.iter().all(|r| r.body.is_empty()), "sent without a body");
}

#[tokio::test]
async fn a_poll_fetches_each_events_details_concurrently() {
    let latency = Duration::from_millis(150);
    let emulator = Emulator::start(EmulatorOptions { incidents: 12, seed: 9, latency, ..EmulatorOptions::default() })
        .await
        .unwrap();
    let mut session = host().open("test", config_for(&emulator.url()), None).await.unwrap();
    let options = PollOptions {
        first_fetch: Some("2020-01-01T00:00:00Z".into()),
        include_details: true,
        max_events: Some(100),
        ..poll_options()
    };
    let started = Instant::now();
    let batch = session.poll(None, options).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(batch.events.len(), 12);
    for event in &batch.events {
        assert!(event.details_error.is_none(), "{:?}", event.details_error);
        assert!(!event.alerts.as_ref().unwrap().is_empty());
        assert_eq!(event.entities.as_ref().unwrap().len(), 7);
    }
    // 24 detail requests at 150 ms each would take 3.6 s one after another.
    assert!(elapsed < latency * 12, "details were fetched concurrently ({elapsed:?})");
}
