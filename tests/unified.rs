//! Sentinel in the Defender portal (issue 13), end to end against the
//! emulator's unified mode: incidents merged by Defender's correlation are
//! flagged, and `resolve-incident` follows them to where they went.

mod common;

use common::{config_for, host};
use sentinel_emulator::{Emulator, EmulatorOptions, DEFAULT_GRAPH_ROLES};
use sentinel_host::runtime::types::{ErrorKind, IncidentLookup};
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
