//! The Graph incident poller against the unified emulator over HTTP: the
//! failure modes of the Sentinel poller's tests, where Graph makes them
//! harder (`$skip` pages, no `$orderby`).

mod common;

use std::collections::BTreeMap;

use common::{config_for, host};
use sentinel_emulator::{Emulator, EmulatorOptions, Mutation, NewIncident};
use sentinel_host::runtime::graph_security as g;
use sentinel_host::runtime::types::EventKind;
use sentinel_host::runtime::{graph_poll_options, Session};

const AT: &str = "2030-01-01T00:00:00.0000000Z";

async fn unified() -> (Emulator, Session) {
    let emulator = Emulator::start(EmulatorOptions { incidents: 0, unified: true, ..EmulatorOptions::default() })
        .await
        .expect("the emulator starts");
    let session = host().open("graph-poller", config_for(&emulator.url()), None).await.expect("opens");
    (emulator, session)
}

fn options(max_events: u32) -> g::PollOptions {
    g::PollOptions {
        first_fetch: Some("2029-12-31T00:00:00Z".into()),
        max_events: Some(max_events),
        include_updates: true,
        ..graph_poll_options()
    }
}

/// Polls until caught up; every event by (id, version).
async fn drain(
    session: &mut Session,
    cursor: &mut Option<String>,
    max_events: u32,
) -> Vec<(EventKind, String, String)> {
    let mut events = Vec::new();
    for _ in 0..100 {
        let batch = session.graph().poll(cursor.clone(), options(max_events)).await.expect("a poll");
        for event in batch.events {
            events.push((event.kind, event.incident.id, event.incident.last_update_time.unwrap_or_default()));
        }
        *cursor = Some(batch.cursor);
        if !batch.more {
            return events;
        }
    }
    panic!("never caught up");
}

/// 120 incidents on one timestamp: more than a page, so that slice cannot
/// be split and is walked by `$skip`, in batches of 25; each comes once.
#[tokio::test(flavor = "multi_thread")]
async fn many_incidents_on_one_timestamp_come_once_each_across_pages_and_batches() {
    let (emulator, mut session) = unified().await;
    for n in 0..120 {
        let spec = NewIncident {
            title: Some(format!("Burst {n}")),
            created_time_utc: Some(AT.into()),
            last_modified_time_utc: Some(AT.into()),
            ..NewIncident::default()
        };
        emulator.apply(Mutation::Create(spec)).expect("created");
    }
    emulator.clear_requests();
    let mut cursor = None;
    let events = drain(&mut session, &mut cursor, 25).await;
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for (kind, id, _) in &events {
        assert!(matches!(kind, EventKind::Created), "{id}: {kind:?}");
        *by_id.entry(id.clone()).or_default() += 1;
    }
    assert_eq!(by_id.len(), 120, "every incident");
    assert!(by_id.values().all(|n| *n == 1), "once each: {by_id:?}");

    let lists: Vec<_> = emulator.requests().into_iter().filter(|r| r.path.ends_with("/security/incidents")).collect();
    assert!(lists.iter().any(|r| r.query.as_deref().is_some_and(|q| q.contains("skip"))), "the instant was paged");
    assert!(lists.iter().all(|r| !r.query.as_deref().unwrap_or_default().contains("orderby")), "no $orderby");
    let prefer = |r: &sentinel_emulator::RecordedRequest| {
        r.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("prefer") && v == "include-unknown-enum-members")
    };
    assert!(lists.iter().all(prefer), "Prefer: include-unknown-enum-members on every list");
    assert!(drain(&mut session, &mut cursor, 25).await.is_empty(), "then nothing");
}

/// Changes between polls and a merge: each version once, the merge once
/// with its chain, and a late poll from a saved cursor repeats nothing new.
#[tokio::test(flavor = "multi_thread")]
async fn changes_and_a_merge_between_polls_come_once_each() {
    let (emulator, mut session) = unified().await;
    emulator.set_now("2030-01-01T08:00:00Z".parse().unwrap());
    let created: Vec<_> = (0..60)
        .map(|n| {
            let spec = NewIncident { title: Some(format!("Incident {n}")), ..NewIncident::default() };
            emulator.apply(Mutation::Create(spec)).expect("created")
        })
        .collect();
    emulator.advance(std::time::Duration::from_secs(60));
    let mut cursor = None;
    assert_eq!(drain(&mut session, &mut cursor, 40).await.len(), 60);
    let graph_id = |i: usize| created[i]["properties"]["providerIncidentId"].as_str().unwrap().to_owned();
    let name = |i: usize| created[i]["name"].as_str().unwrap().to_owned();

    let tag = g::IncidentUpdate {
        status: None,
        classification: None,
        determination: None,
        assigned_to: None,
        add_tags: vec!["seen".into()],
        remove_tags: vec![],
    };
    session.graph().update_incident(&graph_id(5), tag).await.unwrap();
    emulator.merge(&[name(7)], &name(9)).unwrap();
    emulator.advance(std::time::Duration::from_secs(60));
    let events = drain(&mut session, &mut cursor, 40).await;
    let merged: Vec<_> = events.iter().filter(|(k, _, _)| matches!(k, EventKind::Merged)).collect();
    assert_eq!(merged.len(), 1, "{events:?}");
    assert_eq!(merged[0].1, graph_id(7));
    assert!(events.iter().any(|(k, id, _)| matches!(k, EventKind::Updated) && *id == graph_id(5)), "{events:?}");
    assert!(events.iter().any(|(k, id, _)| matches!(k, EventKind::Updated) && *id == graph_id(9)), "the target too");
    let mut versions: Vec<(String, String)> = events.iter().map(|(_, id, v)| (id.clone(), v.clone())).collect();
    let count = versions.len();
    versions.sort();
    versions.dedup();
    assert_eq!(versions.len(), count, "each version once: {events:?}");
    assert!(drain(&mut session, &mut cursor, 40).await.is_empty());
}
