//! Two-way mirroring without echoes (issue 16), end to end through the
//! built component: a ticket system mirrors 200 incidents both ways through
//! the emulator for a simulated day (96 steps of 15 minutes on the
//! emulator's injectable clock, so it runs in seconds).
//!
//! Each step, analysts change some incidents in Sentinel and ticket users
//! change some tickets; the mirror writes the tickets' changes with
//! `update-incident` and keeps each `write-receipt`, then polls with those
//! receipts. What must hold:
//! - no echo: every version the mirror's own writes produced comes back as
//!   `own-change` (skipped), never as `updated`;
//! - every genuine change of either side reaches the other, once;
//! - a change someone else makes between the connector's read and its write
//!   (a 409, re-read, re-applied) comes as `updated` flagged
//!   `includes-own-write`, so it is not hidden;
//! - at the end, every ticket equals its incident.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{config_for, host};
use sentinel_emulator::{Emulator, EmulatorOptions, Mutation};
use sentinel_host::runtime::types::{EventKind, IncidentUpdate, PollOptions};
use sentinel_host::runtime::{poll_options, Session};
use serde_json::json;

const INCIDENTS: usize = 200;
const STEPS: usize = 96;
const STEP: Duration = Duration::from_secs(15 * 60);

/// The ticket system's side of one incident.
#[derive(Clone, Debug, Default, PartialEq)]
struct Ticket {
    description: Option<String>,
    severity: String,
}

#[derive(Default)]
struct Mirror {
    tickets: BTreeMap<String, Ticket>,
    cursor: Option<String>,
    receipts: Vec<String>,
    /// What happened, counted.
    writes: usize,
    own_changes: usize,
    updated: usize,
    flagged: usize,
    /// (incident, version) delivered, to prove exactly once.
    delivered: BTreeMap<(String, String), usize>,
}

fn mirror_options(own_writes: Vec<String>) -> PollOptions {
    PollOptions {
        first_fetch: Some("2000-01-01T00:00:00Z".into()),
        include_updates: true,
        max_events: Some(100),
        own_writes,
        ..poll_options()
    }
}

fn severity_name(severity: &sentinel_host::runtime::types::Severity) -> String {
    sentinel_host::cli::output::severity(severity).to_owned()
}

impl Mirror {
    /// Writes a ticket's change to Sentinel and keeps the receipt.
    async fn write(&mut self, session: &mut Session, id: &str, description: &str) {
        let update = IncidentUpdate { description: Some(description.into()), ..common::no_change() };
        let incident = session.update_incident(id, update).await.expect("the mirror's write");
        self.receipts.push(incident.write_receipt.expect("a write that changed the incident has a receipt"));
        self.writes += 1;
    }

    /// Polls until caught up; applies genuine changes to the tickets.
    async fn poll(&mut self, session: &mut Session) {
        loop {
            let receipts = std::mem::take(&mut self.receipts);
            let batch = session.poll(self.cursor.clone(), mirror_options(receipts)).await.expect("poll");
            for event in &batch.events {
                let incident = &event.incident;
                let version = incident.last_modified_time.clone().unwrap_or_default();
                *self.delivered.entry((incident.id.clone(), version)).or_default() += 1;
                let seen =
                    Ticket { description: incident.description.clone(), severity: severity_name(&incident.severity) };
                match event.kind {
                    EventKind::OwnChange => {
                        self.own_changes += 1;
                        assert_eq!(
                            self.tickets.get(&incident.id),
                            Some(&seen),
                            "an own change holds only what the ticket has"
                        );
                    }
                    EventKind::Created | EventKind::Updated | EventKind::Merged => {
                        if event.kind == EventKind::Updated {
                            self.updated += 1;
                            self.flagged += usize::from(event.includes_own_write);
                        }
                        self.tickets.insert(incident.id.clone(), seen);
                    }
                }
            }
            self.cursor = Some(batch.cursor);
            if !batch.more {
                break;
            }
        }
    }
}

/// A cheap deterministic choice of `count` incidents for a step and side.
fn pick(names: &[String], step: usize, side: usize, count: usize) -> Vec<String> {
    (0..count).map(|i| names[(step * 37 + side * 101 + i * 13) % names.len()].clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_day_of_two_way_mirroring_has_no_echo_and_loses_no_change() {
    let emulator = Emulator::start(EmulatorOptions { incidents: INCIDENTS, seed: 16, ..EmulatorOptions::default() })
        .await
        .unwrap();
    let mut session = host().open("mirror", config_for(&emulator.url()), None).await.unwrap();
    let names: Vec<String> = emulator.incidents().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect();
    let mut mirror = Mirror::default();
    mirror.poll(&mut session).await;
    assert_eq!(mirror.tickets.len(), INCIDENTS, "every incident has its ticket");

    let (mut analyst_changes, mut ticket_changes) = (0, 0);
    for step in 0..STEPS {
        emulator.advance(STEP);
        // Analysts change incidents in Sentinel; ticket users change other ones.
        let analysts = pick(&names, step, 0, 3);
        for name in &analysts {
            let properties = json!({"description": format!("analyst {step} on {name}")});
            emulator.apply(Mutation::Update {
                name: name.clone(),
                properties: properties.as_object().unwrap().clone(),
                modified_at: None,
            });
            analyst_changes += 1;
        }
        let tickets: Vec<String> = pick(&names, step, 1, 4).into_iter().filter(|n| !analysts.contains(n)).collect();
        for (i, name) in tickets.iter().enumerate() {
            let description = format!("ticket {step} on {name}");
            mirror.tickets.get_mut(name).unwrap().description = Some(description.clone());
            ticket_changes += 1;
            if step == 40 && i == 0 {
                // Someone raises the severity between the connector's read and write.
                let raise = json!({"severity": "High"});
                emulator.after_next_read(
                    &format!("/incidents/{name}"),
                    Mutation::Update {
                        name: name.clone(),
                        properties: raise.as_object().unwrap().clone(),
                        modified_at: None,
                    },
                );
            }
            mirror.write(&mut session, name, &description).await;
        }
        mirror.poll(&mut session).await;
    }

    // No echo: each own write came back once as own-change, except the one a
    // conflict merged with someone else's change, which is updated and flagged.
    assert_eq!(mirror.writes, ticket_changes, "the mirror wrote each ticket change once");
    assert_eq!(mirror.own_changes, ticket_changes - 1, "own writes came back as own-change");
    assert_eq!(mirror.flagged, 1, "the raced write came as updated, flagged");
    assert_eq!(mirror.updated, analyst_changes + 1, "every analyst change arrived once, and the raced one");
    assert!(mirror.delivered.values().all(|count| *count == 1), "each version delivered once");

    // No lost change, from either side.
    for incident in emulator.incidents() {
        let name = incident["name"].as_str().unwrap();
        let ticket = &mirror.tickets[name];
        assert_eq!(ticket.description.as_deref(), incident["properties"]["description"].as_str(), "{name}");
        assert_eq!(ticket.severity, incident["properties"]["severity"].as_str().unwrap(), "{name}");
    }
}
