//! The host's limits hold against the real component: memory, call deadline,
//! and a broken session is never entered again.

mod common;

use std::time::{Duration, Instant};

use common::{config_for, emulator};
use sentinel_host::runtime::types::{Error, ListIncidentsOptions};
use sentinel_host::runtime::{list_options, CallError, ConnectorHost, HostOptions, Limits};

fn host_with(limits: Limits) -> ConnectorHost {
    ConnectorHost::new(HostOptions { limits, ..common::test_host_options() }).expect("the component loads")
}

#[tokio::test]
async fn an_answer_larger_than_the_store_can_hold_is_refused_and_the_session_lives_on() {
    // One page of 1000 incidents is about 2.5 MB of JSON: more than a 2 MiB
    // store can read and parse. The guest's answer cap (a quarter of the
    // store's memory, at least 1 MiB) refuses it before reading, typed.
    let emulator = emulator(1000, 3).await;
    let host = host_with(Limits { memory_bytes: 2 << 20, ..Limits::default() });
    let mut session = host.open("tight", config_for(&emulator.url()), None).await.expect("opens in 2 MiB");
    let outcome = session.list_incidents(ListIncidentsOptions { top: Some(1000), ..list_options() }).await;
    let Err(CallError::Connector(Error::InvalidResponse(failure))) = outcome else { panic!("1000 incidents read in 2 MiB? {outcome:?}") };
    assert!(failure.message.contains("larger than 1 MiB"), "{}", failure.message);
    let page = session.list_incidents(ListIncidentsOptions { top: Some(5), ..list_options() }).await.expect("the same session serves the next call");
    assert_eq!(page.incidents.len(), 5);
}

#[tokio::test]
async fn a_call_past_its_deadline_is_stopped_and_the_session_is_not_reused() {
    // A server that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let host = host_with(Limits { call_timeout: Duration::from_millis(400), ..Limits::default() });
    let mut session = host.open("slow", config_for(&url), None).await.unwrap();
    let started = Instant::now();
    let error = session.list_incidents(list_options()).await.unwrap_err();
    assert!(matches!(error, CallError::Timeout(_)), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5), "stopped at the deadline, not the 60 s request timeout");
    assert!(matches!(session.list_incidents(list_options()).await, Err(CallError::Trap(_))), "not entered again");
    hold.abort();
}
