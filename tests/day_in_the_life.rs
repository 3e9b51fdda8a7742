//! A unified tenant's day, in seconds (issue 13's "done when"): the emulator
//! in unified mode with an injectable clock and Defender's update
//! coalescing; incidents created, changed through Graph, merged A into B
//! and then B into C, a host crash between output and save. The Sentinel
//! poller and the Graph poller each deliver exactly one event per
//! (incident, version) and every merge exactly once, and `resolve-incident`
//! finds C from every source.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{config_for, host};
use sentinel_emulator::{Emulator, EmulatorOptions, Mutation, NewIncident};
use sentinel_host::runtime::graph_security as g;
use sentinel_host::runtime::types::{self, EventKind};
use sentinel_host::runtime::{graph_poll_options, poll_options, Session};
use serde_json::Value;

const T0: &str = "2030-03-01T08:00:00Z";
/// Defender's coalescing window (5 to 10 minutes, unified-secops.md §1.4).
const COALESCE: Duration = Duration::from_secs(300);

/// What a poller has delivered, by (incident, version), and its merges.
#[derive(Default)]
struct Ledger {
    deliveries: BTreeMap<(String, String), Vec<&'static str>>,
    merges: BTreeMap<String, Vec<String>>,
}

impl Ledger {
    fn record(&mut self, id: &str, version: &str, kind: &EventKind, merged_into: Option<String>) {
        let name = match kind {
            EventKind::Created => "created",
            EventKind::Updated => "updated",
            EventKind::Merged => "merged",
            EventKind::OwnChange => "own-change",
        };
        self.deliveries.entry((id.to_owned(), version.to_owned())).or_default().push(name);
        if let Some(target) = merged_into {
            self.merges.entry(id.to_owned()).or_default().push(target);
        }
    }

    fn assert_exactly_once(&self, poller: &str) {
        for ((id, version), kinds) in &self.deliveries {
            assert_eq!(kinds.len(), 1, "{poller}: {id} at {version} delivered {kinds:?}");
        }
    }
}

/// Both pollers, each with the cursor its host saved.
struct Pollers {
    sentinel: Option<String>,
    graph: Option<String>,
    sentinel_ledger: Ledger,
    graph_ledger: Ledger,
}

fn sentinel_options() -> types::PollOptions {
    types::PollOptions { first_fetch: Some(T0.into()), include_updates: true, max_events: Some(3), ..poll_options() }
}

fn graph_options() -> g::PollOptions {
    g::PollOptions { first_fetch: Some(T0.into()), include_updates: true, max_events: Some(3), ..graph_poll_options() }
}

impl Pollers {
    /// Polls both until caught up, saving each cursor after its batch is recorded.
    async fn drain(&mut self, session: &mut Session) {
        loop {
            let batch = session.poll(self.sentinel.clone(), sentinel_options()).await.expect("sentinel poll");
            for event in &batch.events {
                let version = event.incident.last_modified_time.clone().unwrap_or_default();
                let target = event.merged_into.as_ref().and_then(|t| t.incident_id.clone());
                self.sentinel_ledger.record(&event.incident.id, &version, &event.kind, target);
            }
            self.sentinel = Some(batch.cursor);
            if !batch.more {
                break;
            }
        }
        loop {
            let batch = session.graph().poll(self.graph.clone(), graph_options()).await.expect("graph poll");
            for event in &batch.events {
                let version = event.incident.last_update_time.clone().unwrap_or_default();
                let target = event.merge_chain.last().cloned();
                self.graph_ledger.record(&event.incident.id, &version, &event.kind, target);
            }
            self.graph = Some(batch.cursor);
            if !batch.more {
                break;
            }
        }
    }

    /// The host writes a batch and dies before saving the cursor: the next
    /// run polls from the saved cursor and gets the same batch, not a new one.
    async fn crash_after_output(&mut self, session: &mut Session) {
        let lost = session.poll(self.sentinel.clone(), sentinel_options()).await.unwrap();
        let again = session.poll(self.sentinel.clone(), sentinel_options()).await.unwrap();
        let ids = |b: &types::PollBatch| b.events.iter().map(|e| e.incident.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&lost), ids(&again), "the unsaved batch again, nothing skipped");
        let lost = session.graph().poll(self.graph.clone(), graph_options()).await.unwrap();
        let again = session.graph().poll(self.graph.clone(), graph_options()).await.unwrap();
        let ids = |b: &g::PollBatch| b.events.iter().map(|e| e.incident.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&lost), ids(&again), "the unsaved Graph batch again, nothing skipped");
    }
}

fn create(emulator: &Emulator, title: &str) -> Value {
    let spec = NewIncident { title: Some(title.into()), ..NewIncident::default() };
    emulator.apply(Mutation::Create(spec)).expect("created")
}

fn name(arm: &Value) -> String {
    arm["name"].as_str().unwrap().to_owned()
}

fn graph_id(arm: &Value) -> String {
    arm["properties"]["providerIncidentId"].as_str().unwrap().to_owned()
}

fn tag(tag: &str) -> g::IncidentUpdate {
    g::IncidentUpdate {
        status: None,
        classification: None,
        determination: None,
        assigned_to: None,
        add_tags: vec![tag.to_owned()],
        remove_tags: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_day_in_a_unified_tenant_delivers_every_version_once_and_every_merge_once() {
    let emulator = Emulator::start(EmulatorOptions {
        incidents: 0,
        unified: true,
        coalesce_window: Some(COALESCE),
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    emulator.set_now(T0.parse().unwrap());
    let mut session = host().open("day", config_for(&emulator.url()), None).await.unwrap();
    let mut pollers =
        Pollers { sentinel: None, graph: None, sentinel_ledger: Ledger::default(), graph_ledger: Ledger::default() };
    let hour = Duration::from_secs(3600);

    // 08:00 to 09:00: the morning's incidents, polled as they come.
    let [a, b, c, d] = ["Phish A", "Phish B", "Phish C", "Malware D"].map(|title| create(&emulator, title));
    emulator.advance(Duration::from_secs(60));
    pollers.drain(&mut session).await;
    for ledger in [&pollers.sentinel_ledger, &pollers.graph_ledger] {
        assert_eq!(ledger.deliveries.len(), 4, "four created");
    }

    // Three changes to D within the coalescing window: Graph sees each,
    // Sentinel one update with the latest state when the window closes.
    for label in ["triage", "vip", "escalated"] {
        session.graph().update_incident(&graph_id(&d), tag(label)).await.unwrap();
        emulator.advance(Duration::from_secs(60));
        pollers.drain(&mut session).await;
    }
    emulator.advance(COALESCE);
    pollers.drain(&mut session).await;
    let updates_of = |ledger: &Ledger, id: &str| {
        ledger.deliveries.iter().filter(|((i, _), kinds)| i == id && kinds.as_slice() == ["updated"]).count()
    };
    assert_eq!(updates_of(&pollers.sentinel_ledger, &name(&d)), 1, "coalesced: one Sentinel update");
    // Each change is a Graph version of its own (the coalesced ARM write may
    // stamp one more); every version comes once, checked at the end.
    assert!(updates_of(&pollers.graph_ledger, &graph_id(&d)) >= 3, "each Graph change");

    // 11:00: Defender merges A into B; a host crash loses one batch.
    emulator.advance(2 * hour);
    emulator.merge(&[name(&a)], &name(&b)).unwrap();
    emulator.advance(Duration::from_secs(30));
    pollers.crash_after_output(&mut session).await;
    pollers.drain(&mut session).await;
    // Sentinel hears of the merge when Defender's coalesced update lands.
    emulator.advance(COALESCE + Duration::from_secs(60));
    pollers.drain(&mut session).await;

    // 15:00: B, now holding A's alerts, is merged into C.
    emulator.advance(4 * hour);
    emulator.merge(&[name(&b)], &name(&c)).unwrap();
    emulator.advance(COALESCE + Duration::from_secs(60));
    pollers.drain(&mut session).await;

    // 20:00, then the next morning: nothing new, nothing again.
    emulator.advance(5 * hour);
    pollers.drain(&mut session).await;
    emulator.advance(12 * hour);
    pollers.drain(&mut session).await;

    pollers.sentinel_ledger.assert_exactly_once("sentinel");
    pollers.graph_ledger.assert_exactly_once("graph");
    let merges = &pollers.sentinel_ledger.merges;
    assert_eq!(merges.get(&name(&a)), Some(&vec![name(&b)]), "A merged once, into B as it was then: {merges:?}");
    assert_eq!(merges.get(&name(&b)), Some(&vec![name(&c)]), "B merged once, into C: {merges:?}");
    assert_eq!(merges.len(), 2, "{merges:?}");
    let merges = &pollers.graph_ledger.merges;
    assert_eq!(merges.get(&graph_id(&a)), Some(&vec![graph_id(&b)]), "{merges:?}");
    assert_eq!(merges.get(&graph_id(&b)), Some(&vec![graph_id(&c)]), "{merges:?}");
    assert_eq!(merges.len(), 2, "{merges:?}");

    for source in [&a, &b] {
        let found = session.resolve_incident(&name(source)).await.unwrap();
        assert_eq!(found.incident.map(|i| i.id), Some(name(&c)), "from {}", name(source));
        let by_graph_id = session.resolve_incident(&graph_id(source)).await.unwrap();
        assert_eq!(by_graph_id.chain.last(), Some(&graph_id(&c)));
    }
}
