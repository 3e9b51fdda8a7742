//! End to end: the poller through the component, against the emulator, for
//! each way other integrations lost or duplicated incidents.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{emulator, session};
use sentinel_emulator::{Mutation, NewIncident};
use sentinel_host::runtime::types::{ErrorKind, EventKind, PollBatch, PollOptions, Severity};
use sentinel_host::runtime::{poll_options, CallError, Session};
use serde_json::json;

const LONG_AGO: &str = "2020-01-01T00:00:00Z";

fn options(max: u32) -> PollOptions {
    PollOptions { first_fetch: Some(LONG_AGO.into()), max_events: Some(max), ..poll_options() }
}

fn with_updates(max: u32) -> PollOptions {
    PollOptions { include_updates: true, ..options(max) }
}

/// Every delivery so far: (incident id, last-modified version) → times seen.
#[derive(Default)]
struct Ledger {
    created: HashMap<String, usize>,
    versions: HashMap<(String, String), usize>,
    cursor: Option<String>,
    largest_cursor: usize,
}

impl Ledger {
    async fn poll(&mut self, session: &mut Session, options: &PollOptions) -> PollBatch {
        let batch = session.poll(self.cursor.clone(), options.clone()).await.expect("poll succeeds");
        for event in &batch.events {
            let id = event.incident.id.clone();
            if matches!(event.kind, EventKind::Created) {
                *self.created.entry(id.clone()).or_default() += 1;
            }
            let version = event.incident.last_modified_time.clone().unwrap_or_default();
            *self.versions.entry((id, version)).or_default() += 1;
        }
        self.largest_cursor = self.largest_cursor.max(batch.cursor.len());
        self.cursor = Some(batch.cursor.clone());
        batch
    }

    /// Polls until the backlog is drained.
    async fn drain(&mut self, session: &mut Session, options: &PollOptions) -> usize {
        let mut polls = 0;
        loop {
            polls += 1;
            assert!(polls < 500, "the backlog never drains");
            if !self.poll(session, options).await.more {
                return polls;
            }
        }
    }

    fn assert_exactly_once(&self, expected: &HashSet<String>) {
        let delivered: HashSet<String> = self.created.keys().cloned().collect();
        let missing: Vec<_> = expected.difference(&delivered).collect();
        assert!(missing.is_empty(), "missed: {missing:?}");
        let duplicated: Vec<_> = self.created.iter().filter(|(_, n)| **n > 1).collect();
        assert!(duplicated.is_empty(), "created twice: {duplicated:?}");
        let versions_twice: Vec<_> = self.versions.iter().filter(|(_, n)| **n > 1).collect();
        assert!(versions_twice.is_empty(), "a version delivered twice: {versions_twice:?}");
    }
}

fn names(emulator: &sentinel_emulator::Emulator) -> HashSet<String> {
    emulator.incidents().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
}

fn minutes_ago(minutes: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(minutes)).to_string()
}

#[tokio::test]
async fn every_incident_once_even_when_numbers_do_not_follow_creation_time() {
    let emulator = emulator(90, 21).await;
    let mut session = session(&emulator).await;
    let mut ledger = Ledger::default();
    ledger.drain(&mut session, &options(25)).await;
    ledger.assert_exactly_once(&names(&emulator));
    assert_eq!(ledger.created.len(), 90);
    assert!(ledger.poll(&mut session, &options(25)).await.events.is_empty(), "nothing new, nothing again");
}

#[tokio::test]
async fn many_incidents_on_one_timestamp_across_page_boundaries() {
    let emulator = emulator(0, 1).await;
    let same = minutes_ago(30);
    for n in 0..230 {
        emulator.apply(Mutation::Create(NewIncident {
            created_time_utc: Some(same.clone()),
            incident_number: Some(5000 - n),
            ..NewIncident::default()
        }));
    }
    let mut session = session(&emulator).await;
    let mut ledger = Ledger::default();
    let polls = ledger.drain(&mut session, &options(40)).await;
    assert!(polls >= 6, "drained over several batches ({polls})");
    ledger.assert_exactly_once(&names(&emulator));
}

#[tokio::test]
async fn new_and_modified_incidents_between_polls() {
    let emulator = emulator(20, 4).await;
    let mut session = session(&emulator).await;
    let mut ledger = Ledger::default();
    ledger.drain(&mut session, &with_updates(100)).await;

    let existing = emulator.incidents()[3]["name"].as_str().unwrap().to_owned();
    let fresh = emulator.apply(Mutation::Create(NewIncident::default())).unwrap();
    let properties = json!({"status": "Active"}).as_object().unwrap().clone();
    emulator.apply(Mutation::Update { name: existing.clone(), properties, modified_at: None });

    let batch = ledger.poll(&mut session, &with_updates(100)).await;
    let kinds: HashMap<String, bool> =
        batch.events.iter().map(|e| (e.incident.id.clone(), matches!(e.kind, EventKind::Created))).collect();
    assert_eq!(kinds.len(), 2, "the new one and the changed one");
    assert!(kinds[fresh["name"].as_str().unwrap()], "new → created");
    assert!(!kinds[&existing], "changed → updated");
    assert!(ledger.poll(&mut session, &with_updates(100)).await.events.is_empty());
    ledger.assert_exactly_once(&names(&emulator));
}

#[tokio::test]
async fn without_updates_a_changed_incident_is_not_delivered_again() {
    let emulator = emulator(10, 6).await;
    let mut session = session(&emulator).await;
    let mut ledger = Ledger::default();
    ledger.drain(&mut session, &options(100)).await;
    let existing = emulator.incidents()[0]["name"].as_str().unwrap().to_owned();
    let properties = json!({"severity": "High"}).as_object().unwrap().clone();
    emulator.apply(Mutation::Update { name: existing, properties, modified_at: None });
    assert!(ledger.poll(&mut session, &options(100)).await.events.is_empty());
}

#[tokio::test]
async fn incidents_created_and_modified_while_a_poll_is_paging() {
    let emulator = emulator(150, 8).await;
    let mut session = session(&emulator).await;
    let first_page_done = emulator.list_requests_served() + 1;
    let moved = emulator.incidents()[10]["name"].as_str().unwrap().to_owned();
    let properties = json!({"title": "Changed mid-walk"}).as_object().unwrap().clone();
    emulator.after_list_request(
        first_page_done,
        vec![
            Mutation::Create(NewIncident { title: Some("Created mid-walk".into()), ..NewIncident::default() }),
            Mutation::Update { name: moved.clone(), properties, modified_at: None },
        ],
    );
    let mut ledger = Ledger::default();
    ledger.drain(&mut session, &with_updates(60)).await;
    ledger.assert_exactly_once(&names(&emulator));
    assert_eq!(ledger.created.len(), 151);
    let versions_of_moved = ledger.versions.keys().filter(|(id, _)| *id == moved).count();
    assert!((1..=2).contains(&versions_of_moved), "the changed one: its versions, each once");
}

#[tokio::test]
async fn a_late_incident_behind_the_watermark_is_delivered_once() {
    let emulator = emulator(5, 3).await;
    emulator.apply(Mutation::Create(NewIncident { created_time_utc: Some(minutes_ago(1)), ..NewIncident::default() }));
    let mut session = session(&emulator).await;
    let mut ledger = Ledger::default();
    ledger.drain(&mut session, &options(100)).await;
    let late = emulator
        .apply(Mutation::Create(NewIncident {
            created_time_utc: Some(minutes_ago(3)),
            visible_after_seconds: Some(0.5),
            ..NewIncident::default()
        }))
        .unwrap();
    assert!(ledger.poll(&mut session, &options(100)).await.events.is_empty(), "not visible yet");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let batch = ledger.poll(&mut session, &options(100)).await;
    assert_eq!(batch.events.len(), 1, "the look-back window re-scans behind the watermark");
    assert_eq!(batch.events[0].incident.id, late["name"].as_str().unwrap());
    assert!(ledger.poll(&mut session, &options(100)).await.events.is_empty());
    ledger.assert_exactly_once(&names(&emulator));
}

#[tokio::test]
async fn a_crash_before_saving_re_delivers_at_most_the_last_batch() {
    let emulator = emulator(30, 12).await;
    let mut session = session(&emulator).await;
    let first = session.poll(None, options(10)).await.unwrap();
    let second = session.poll(Some(first.cursor.clone()), options(10)).await.unwrap();
    // The worker crashed after emitting `second` but before saving its cursor.
    let again = session.poll(Some(first.cursor.clone()), options(10)).await.unwrap();
    let ids = |batch: &PollBatch| batch.events.iter().map(|e| e.incident.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&second), "the same batch, nothing skipped");
    let next = session.poll(Some(again.cursor.clone()), options(10)).await.unwrap();
    let earlier: HashSet<String> = ids(&first).into_iter().chain(ids(&second)).collect();
    assert!(ids(&next).iter().all(|id| !earlier.contains(id)), "then it moves on");
}

#[tokio::test]
async fn filtered_incidents_never_stall_the_cursor() {
    let emulator = emulator(0, 1).await;
    for n in 0..120 {
        let severity = if n == 119 { "High" } else { "Low" };
        emulator.apply(Mutation::Create(NewIncident {
            severity: Some(severity.into()),
            created_time_utc: Some(minutes_ago(200 - n)),
            ..NewIncident::default()
        }));
    }
    emulator.apply(Mutation::Create(NewIncident {
        title: Some("Test drill: ignore".into()),
        severity: Some("High".into()),
        ..NewIncident::default()
    }));
    let mut session = session(&emulator).await;
    let options =
        PollOptions { min_severity: Some(Severity::High), title_excludes: vec!["test drill*".into()], ..options(10) };
    let batch = session.poll(None, options.clone()).await.unwrap();
    assert_eq!(batch.events.len(), 1, "only the High one that is not a drill");
    let requests = emulator.requests();
    let list = requests.iter().rfind(|r| r.path.ends_with("/incidents")).unwrap();
    assert!(list.query.as_deref().unwrap().contains("severity"), "the severity filter went to the service");
    assert!(session.poll(Some(batch.cursor), options).await.unwrap().events.is_empty());
}

#[tokio::test]
async fn a_corrupt_or_unknown_cursor_is_refused_not_reset() {
    let emulator = emulator(3, 1).await;
    let mut session = session(&emulator).await;
    for cursor in ["garbage", "sp9.abc", "sp1.eyJ2IjoyfQ"] {
        let error = session.poll(Some(cursor.into()), options(10)).await.unwrap_err();
        let CallError::Connector(input) = error else { panic!("{cursor}: {error}") };
        assert_eq!(input.kind, ErrorKind::InvalidInput, "{input:?}");
        assert_eq!(input.subject, "cursor");
    }
}

#[tokio::test]
async fn a_twenty_thousand_incident_backlog_drains_in_batches_of_500() {
    let emulator = emulator(20_000, 2026).await;
    let mut session = session(&emulator).await;
    let mut ledger = Ledger::default();
    let polls = ledger.drain(&mut session, &options(500)).await;
    assert!(polls >= 40, "{polls} polls");
    ledger.assert_exactly_once(&names(&emulator));
    assert_eq!(ledger.created.len(), 20_000);
    eprintln!("20,000 incidents drained in {polls} polls; largest cursor {} bytes", ledger.largest_cursor);
    assert!(ledger.largest_cursor < 4096, "the cursor stayed small: {} bytes", ledger.largest_cursor);
}
