//! Traceable requests (issue 15, item 5), end to end through the built
//! component: every request it sends carries a fresh UUID in
//! `x-ms-client-request-id` (Graph: also `client-request-id`), and a failed
//! call's error and the host's audit record name it beside the id Microsoft
//! gave the answer, so support can find the call.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use common::{config_for, emulator, host};
use sentinel_emulator::graph_seed as seed;
use sentinel_host::runtime::sandbox::{AuditRecord, AuditSink};
use sentinel_host::runtime::types::ErrorKind;
use sentinel_host::runtime::{list_options, CallError};

fn v4(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok_and(|id| id.get_version_num() == 4)
}

fn collecting() -> (AuditSink, Arc<Mutex<Vec<AuditRecord>>>) {
    let records = Arc::new(Mutex::new(Vec::new()));
    let kept = records.clone();
    (Arc::new(move |record: &AuditRecord| kept.lock().unwrap().push(record.clone())), records)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_has_its_own_id_and_a_failure_names_both_ids() {
    let emulator = emulator(3, 1).await;
    let (audit, records) = collecting();
    let mut session = host().open("traced", config_for(&emulator.url()), Some(audit)).await.unwrap();
    session.list_incidents(list_options()).await.unwrap();
    session.graph().get_user(seed::BOB_UPN).await.unwrap();
    let Err(CallError::Connector(error)) = session.get_incident("00000000-0000-0000-0000-000000000000").await else {
        panic!("a missing incident is an error")
    };

    let sent = emulator.requests();
    let header = |r: &sentinel_emulator::RecordedRequest, name: &str| {
        r.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone())
    };
    let ids: Vec<String> = sent.iter().map(|r| header(r, "x-ms-client-request-id").unwrap_or_default()).collect();
    assert!(ids.iter().all(|id| v4(id)), "every request, token requests too: {ids:?}");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "a fresh id each: {ids:?}");
    let graph = sent.iter().find(|r| r.path.starts_with("/v1.0/")).expect("a Graph request");
    assert_eq!(header(graph, "client-request-id"), header(graph, "x-ms-client-request-id"), "Graph's own name too");

    assert_eq!(error.kind, ErrorKind::NotFound, "{error:?}");
    assert_eq!(&error.client_request_id, ids.last().unwrap(), "the error names the request that failed");
    assert!(v4(&error.request_id), "and the id the service gave its answer: {error:?}");

    let records = records.lock().unwrap();
    assert_eq!(records.len(), sent.len(), "one audit record per request");
    let last = records.last().unwrap();
    assert_eq!(last.client_request_id.as_deref(), Some(error.client_request_id.as_str()));
    assert_eq!(last.request_id.as_deref(), Some(error.request_id.as_str()));
    let line = last.to_string();
    assert!(line.contains(&error.client_request_id) && line.contains(&error.request_id), "{line}");
    let graph_record = records.iter().find(|r| r.path.starts_with("/v1.0/")).unwrap();
    assert!(graph_record.request_id.as_deref().is_some_and(v4), "Graph's request-id: {graph_record:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_no_request_caused_carry_no_ids() {
    let emulator = emulator(1, 1).await;
    let mut session = host().open("traced", config_for(&emulator.url()), None).await.unwrap();
    let Err(CallError::Connector(error)) = session.get_incident("../escape").await else { panic!("refused") };
    assert_eq!(error.kind, ErrorKind::InvalidInput, "{error:?}");
    assert!(error.client_request_id.is_empty() && error.request_id.is_empty(), "{error:?}");
}
