//! Every cursor format a release handed out keeps working: a host that
//! upgrades the connector passes the new one the cursor the old one saved,
//! and polling resumes where it stopped, nothing missed and nothing twice.
//!
//! `tests/fixtures/cursors/` holds one cursor per released format, made by
//! that release's poller (see `how_the_sp1_fixture_was_made`) and never
//! edited afterwards. A new format adds a file and a test here; the old ones
//! stay.

mod common;

use std::collections::BTreeSet;

use common::{emulator, session};
use sentinel_emulator::{Emulator, Mutation, NewIncident};
use sentinel_host::runtime::poll_options;
use sentinel_host::runtime::types::{EventKind, PollBatch, PollOptions};
use serde_json::json;

/// The cursor version 0.1.0 saved (format `sp1.`) after the two polls of
/// `how_the_sp1_fixture_was_made`.
const SP1_V0_1_0: &str = include_str!("fixtures/cursors/sp1-v0.1.0.txt");

const H1: &str = "0d1c9a6e-5b1f-4c3e-9d0a-000000000001";
const H2: &str = "0d1c9a6e-5b1f-4c3e-9d0a-000000000002";
const H3: &str = "0d1c9a6e-5b1f-4c3e-9d0a-000000000003";
const H4: &str = "0d1c9a6e-5b1f-4c3e-9d0a-000000000004";
const H5: &str = "0d1c9a6e-5b1f-4c3e-9d0a-000000000005";
const NEW: &str = "0d1c9a6e-5b1f-4c3e-9d0a-000000000010";
const LATE: &str = "0d1c9a6e-5b1f-4c3e-9d0a-000000000011";

fn options() -> PollOptions {
    PollOptions {
        first_fetch: Some("2026-01-15T08:00:00Z".into()),
        include_updates: true,
        max_events: Some(100),
        ..poll_options()
    }
}

fn create(emulator: &Emulator, name: &str, number: i64, created: &str) {
    emulator.apply(Mutation::Create(NewIncident {
        name: Some(name.into()),
        title: Some(format!("Incident {number}")),
        incident_number: Some(number),
        created_time_utc: Some(created.into()),
        ..NewIncident::default()
    }));
}

fn modify(emulator: &Emulator, name: &str, at: &str) {
    let properties = json!({"status": "Active"}).as_object().unwrap().clone();
    emulator.apply(Mutation::Update { name: name.into(), properties, modified_at: Some(at.into()) });
}

/// The workspace before the fixture's first poll: five incidents (two on one
/// timestamp), H2 changed after it was created.
async fn workspace_at_the_first_poll() -> Emulator {
    let emulator = emulator(0, 1).await;
    create(&emulator, H1, 101, "2026-01-15T09:00:00Z");
    create(&emulator, H2, 102, "2026-01-15T09:02:00Z");
    create(&emulator, H3, 103, "2026-01-15T09:04:00Z");
    create(&emulator, H4, 104, "2026-01-15T09:06:00Z");
    create(&emulator, H5, 105, "2026-01-15T09:06:00Z");
    modify(&emulator, H2, "2026-01-15T09:07:00Z");
    emulator
}

/// Between the two polls H3 changed.
fn change_between_the_polls(emulator: &Emulator) {
    modify(emulator, H3, "2026-01-15T09:08:00Z");
}

fn events(batch: &PollBatch) -> BTreeSet<(&'static str, String)> {
    batch
        .events
        .iter()
        .map(|event| {
            (if matches!(event.kind, EventKind::Created) { "created" } else { "updated" }, event.incident.id.clone())
        })
        .collect()
}

#[tokio::test]
async fn a_v0_1_0_cursor_resumes_where_it_stopped() {
    let cursor = SP1_V0_1_0.trim_end();
    assert!(cursor.starts_with("sp1."), "the fixture is an sp1 cursor");
    let emulator = workspace_at_the_first_poll().await;
    change_between_the_polls(&emulator);
    // Since the cursor was saved: a new incident, one that showed up late
    // with a time behind the watermark (inside the look-back window), and a
    // change to H4.
    create(&emulator, NEW, 110, "2026-01-15T09:10:00Z");
    create(&emulator, LATE, 111, "2026-01-15T09:05:00Z");
    modify(&emulator, H4, "2026-01-15T09:12:00Z");

    let mut session = session(&emulator).await;
    let batch = session.poll(Some(cursor.to_owned()), options()).await.expect("the saved cursor is accepted");
    let want: BTreeSet<(&str, String)> =
        [("created", NEW.to_owned()), ("created", LATE.to_owned()), ("updated", H4.to_owned())].into_iter().collect();
    // Exactly what happened since: the history the cursor remembers (H5 on
    // the watermark's own timestamp, the versions of H2 and H3) comes not again.
    assert_eq!(events(&batch), want);
    assert!(!batch.more, "nothing else is pending");
    assert!(batch.cursor.starts_with("sp1."), "{}", batch.cursor);

    let next = session.poll(Some(batch.cursor), options()).await.expect("the new cursor is accepted");
    assert!(next.events.is_empty(), "then it moves on: {:?}", events(&next));
}

/// How the fixture was made, with version 0.1.0: two polls against the
/// workspace above, the cursor of the second one saved. Run it with
/// `cargo test --test cursor_compat -- --ignored --nocapture` to see the
/// cursor today's poller saves; never overwrite a released fixture with it.
#[tokio::test]
#[ignore = "prints a cursor of today's format; released fixtures are never regenerated"]
async fn how_the_sp1_fixture_was_made() {
    let emulator = workspace_at_the_first_poll().await;
    let mut session = session(&emulator).await;
    let first = session.poll(None, options()).await.unwrap();
    assert_eq!(first.events.len(), 5, "five created");
    change_between_the_polls(&emulator);
    let second = session.poll(Some(first.cursor), options()).await.unwrap();
    assert_eq!(events(&second), [("updated", H3.to_owned())].into_iter().collect());
    println!("{}", second.cursor);
}
