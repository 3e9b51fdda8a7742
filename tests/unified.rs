//! Sentinel in the Defender portal (issue 13), end to end against the
//! emulator's unified mode: incidents merged by Defender's correlation are
//! flagged, and `resolve-incident` follows them to where they went.

mod common;

use common::{config_for, host};
use sentinel_emulator::{Emulator, EmulatorOptions, DEFAULT_GRAPH_ROLES};
use sentinel_host::runtime::types::{ErrorKind, IncidentLookup, IncidentUpdate};
use sentinel_host::runtime::{CallError, Session};
use serde_json::Value;

async fn unified(incidents: usize) -> Emulator {
    Emulator::start(EmulatorOptions { incidents, seed: 13, unified: true, ..EmulatorOptions::default() })
        .await
        .expect("the emulator starts")
}

async fn session(emulator: &Emulator) -> Session {
    host().open("unified", config_for(&emulator.url()), None).await.expect("the connection opens")
}

/// Three open, unassigned incidents: Defender merges those.
fn mergeable(emulator: &Emulator) -> Vec<Value> {
    let open = |i: &Value| i["properties"]["status"] != "Closed" && i["properties"]["owner"]["assignedTo"].is_null();
    let found: Vec<Value> = emulator.incidents().into_iter().filter(open).take(3).collect();
    assert_eq!(found.len(), 3, "three mergeable incidents");
    found
}

fn name(incident: &Value) -> String {
    incident["name"].as_str().unwrap().to_owned()
}

fn defender_id(incident: &Value) -> String {
    incident["properties"]["providerIncidentId"].as_str().unwrap().to_owned()
}

/// A merged into B, then B into C: the record says A and B were merged, and
/// each resolves to C, by its Sentinel id or its Defender id.
#[tokio::test(flavor = "multi_thread")]
async fn a_chain_of_merges_resolves_to_its_last_target_from_every_source() {
    let emulator = unified(12).await;
    let [a, b, c] = <[Value; 3]>::try_from(mergeable(&emulator)).unwrap();
    emulator.merge(&[name(&a)], &name(&b)).unwrap();
    emulator.merge(&[name(&b)], &name(&c)).unwrap();
    let mut session = session(&emulator).await;

    for source in [&a, &b] {
        let merged = session.get_incident(&name(source)).await.unwrap();
        assert!(merged.merged, "closed with the Redirected label");
        assert_eq!(merged.provider_name.as_deref(), Some("Microsoft XDR"));
        assert!(merged.provider_incident_url.as_deref().is_some_and(|u| u.starts_with("https://")));
    }
    assert!(!session.get_incident(&name(&c)).await.unwrap().merged);

    let from_a = session.resolve_incident(&name(&a)).await.unwrap();
    assert_eq!(from_a.chain, [defender_id(&a), defender_id(&b), defender_id(&c)]);
    assert_eq!(from_a.incident.as_ref().map(|i| i.id.clone()), Some(name(&c)));
    assert!(matches!(from_a.lookup, IncidentLookup::LogAnalytics));
    let from_b_by_defender_id = session.resolve_incident(&defender_id(&b)).await.unwrap();
    assert_eq!(from_b_by_defender_id.incident.map(|i| i.id), Some(name(&c)));
    let target = session.resolve_incident(&name(&c)).await.unwrap();
    assert!(matches!(target.lookup, IncidentLookup::Unmoved));
    assert_eq!((target.chain, target.incident.map(|i| i.id)), (vec![defender_id(&c)], Some(name(&c))));
}

/// Without Graph's SecurityIncident.Read.All the merge cannot be followed:
/// the error says which permission is missing.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_graph_permission_resolving_names_the_permission() {
    let emulator = unified(6).await;
    let [a, b, _] = <[Value; 3]>::try_from(mergeable(&emulator)).unwrap();
    emulator.merge(&[name(&a)], &name(&b)).unwrap();
    let roles: Vec<String> =
        DEFAULT_GRAPH_ROLES.iter().filter(|r| !r.starts_with("SecurityIncident")).map(|r| (*r).to_owned()).collect();
    emulator.set_graph_roles(roles);
    let mut session = session(&emulator).await;
    let Err(CallError::Connector(error)) = session.resolve_incident(&name(&a)).await else {
        panic!("resolving needs Graph")
    };
    assert!(matches!(error.kind, ErrorKind::Forbidden), "{error:?}");
    assert!(error.hint.contains("SecurityIncident.Read.All"), "{error:?}");
}

/// Changing a merged source is never what a playbook meant: the update is
/// refused, naming where the incident went, and nothing is written, unless
/// the caller says it means the source itself.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_of_a_merged_source_is_refused_naming_its_target_unless_asked_for() {
    let emulator = unified(6).await;
    let [a, b, _] = <[Value; 3]>::try_from(mergeable(&emulator)).unwrap();
    emulator.merge(&[name(&a)], &name(&b)).unwrap();
    let mut session = session(&emulator).await;
    let relabel = |update_merged_source| IncidentUpdate {
        add_labels: vec!["handled-by-soar".into()],
        update_merged_source,
        ..common::no_change()
    };
    let puts = |emulator: &Emulator| emulator.requests().iter().filter(|r| r.method == "PUT").count();
    let Err(CallError::Connector(error)) = session.update_incident(&name(&a), relabel(false)).await else {
        panic!("a merged source is not updated")
    };
    assert!(matches!(error.kind, ErrorKind::InvalidInput) && error.subject == "incident-id", "{error:?}");
    assert!(error.message.contains(&format!("incident {}", name(&b))), "names the target: {}", error.message);
    assert_eq!(puts(&emulator), 0, "nothing written");

    let updated = session.update_incident(&name(&a), relabel(true)).await.unwrap();
    assert!(updated.labels.iter().any(|l| l.name == "handled-by-soar"), "the source itself, when asked");
    assert_eq!(puts(&emulator), 1);
}

fn poll_everything(include_updates: bool) -> sentinel_host::runtime::types::PollOptions {
    sentinel_host::runtime::types::PollOptions {
        first_fetch: Some("2020-01-01T00:00:00Z".into()),
        max_events: Some(500),
        include_updates,
        ..sentinel_host::runtime::poll_options()
    }
}

/// A merge is its own event, delivered once whether or not updates are on,
/// instead of the `updated` the source's closing would be; it says where the
/// incident went, and the target's change arrives as its own `updated`.
#[tokio::test(flavor = "multi_thread")]
async fn a_merge_is_delivered_once_as_its_own_event_with_its_target() {
    use sentinel_host::runtime::types::EventKind;
    for include_updates in [false, true] {
        let emulator = unified(12).await;
        let [a, b, _] = <[Value; 3]>::try_from(mergeable(&emulator)).unwrap();
        let mut session = session(&emulator).await;
        let first = session.poll(None, poll_everything(include_updates)).await.unwrap();
        assert!(first.events.iter().all(|e| matches!(e.kind, EventKind::Created)));

        emulator.merge(&[name(&a)], &name(&b)).unwrap();
        let after = session.poll(Some(first.cursor.clone()), poll_everything(include_updates)).await.unwrap();
        let kinds: Vec<(String, String)> =
            after.events.iter().map(|e| (format!("{:?}", e.kind), e.incident.id.clone())).collect();
        let merged: Vec<_> = after.events.iter().filter(|e| matches!(e.kind, EventKind::Merged)).collect();
        assert_eq!(merged.len(), 1, "updates {include_updates}: {kinds:?}");
        assert_eq!(merged[0].incident.id, name(&a));
        let target = merged[0].merged_into.as_ref().expect("where it went");
        assert_eq!(target.incident_id.as_deref(), Some(name(&b).as_str()));
        assert_eq!(target.defender_chain, [defender_id(&a), defender_id(&b)]);
        let source_updated =
            after.events.iter().any(|e| e.incident.id == name(&a) && matches!(e.kind, EventKind::Updated));
        assert!(!source_updated, "the merge instead of an update: {kinds:?}");
        let target_updated =
            after.events.iter().any(|e| e.incident.id == name(&b) && matches!(e.kind, EventKind::Updated));
        assert_eq!(target_updated, include_updates, "the target's new alerts as its update: {kinds:?}");

        let again = session.poll(Some(after.cursor.clone()), poll_everything(include_updates)).await.unwrap();
        assert!(again.events.is_empty(), "once: {:?}", again.events.iter().map(|e| &e.incident.id).collect::<Vec<_>>());
    }
}

/// Without the Graph permission the merge still comes, with no target and the reason.
#[tokio::test(flavor = "multi_thread")]
async fn a_merge_without_the_graph_permission_comes_without_its_target_and_says_why() {
    use sentinel_host::runtime::types::EventKind;
    let emulator = unified(6).await;
    let [a, b, _] = <[Value; 3]>::try_from(mergeable(&emulator)).unwrap();
    let roles: Vec<String> =
        DEFAULT_GRAPH_ROLES.iter().filter(|r| !r.starts_with("SecurityIncident")).map(|r| (*r).to_owned()).collect();
    emulator.set_graph_roles(roles);
    let mut session = session(&emulator).await;
    let first = session.poll(None, poll_everything(false)).await.unwrap();
    emulator.merge(&[name(&a)], &name(&b)).unwrap();
    let after = session.poll(Some(first.cursor), poll_everything(false)).await.unwrap();
    let merged = after.events.iter().find(|e| matches!(e.kind, EventKind::Merged)).expect("the merge is delivered");
    let target = merged.merged_into.as_ref().unwrap();
    assert_eq!(target.incident_id, None);
    let reason = target.unresolved.as_ref().expect("why not");
    assert!(reason.hint.contains("SecurityIncident.Read.All"), "{reason:?}");
}
