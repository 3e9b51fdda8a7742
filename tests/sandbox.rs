//! The host's limits hold against the real component: memory, call deadline,
//! and a broken session is never entered again.

mod common;

use std::time::{Duration, Instant};

use common::{config_for, emulator};
use sentinel_host::runtime::types::{ErrorKind, ListIncidentsOptions};
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
    let Err(CallError::Connector(failure)) = outcome else { panic!("1000 incidents read in 2 MiB? {outcome:?}") };
    assert_eq!(failure.kind, ErrorKind::InvalidResponse, "{failure:?}");
    assert!(failure.message.contains("larger than 1 MiB"), "{}", failure.message);
    let page = session
        .list_incidents(ListIncidentsOptions { top: Some(5), ..list_options() })
        .await
        .expect("the same session serves the next call");
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

/// A loopback server that answers every token request with a token and
/// every other request with `answer`, then closes.
async fn serve_query_answer(answer: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 8192];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let body: &[u8] = if request.starts_with(b"POST /")
                    && String::from_utf8_lossy(&request).contains("/oauth2/v2.0/token")
                {
                    br#"{"token_type":"Bearer","expires_in":3599,"access_token":"query-token-0123456789"}"#
                } else {
                    &answer
                };
                let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body).await;
            });
        }
    });
    url
}

/// A KQL answer of one-character cells (the most cells per byte, the worst
/// case for the memory a parsed table takes), about `bytes` long.
fn tiny_cell_table(bytes: usize) -> Vec<u8> {
    let columns: Vec<String> = (0..8).map(|i| format!(r#"{{"name":"c{i}","type":"long"}}"#)).collect();
    let row = "[1,2,3,4,5,6,7,8]";
    let rows = vec![row; bytes / (row.len() + 1)].join(",");
    format!(r#"{{"tables":[{{"name":"PrimaryResult","columns":[{}],"rows":[{rows}]}}]}}"#, columns.join(","))
        .into_bytes()
}

#[tokio::test]
async fn a_query_answer_is_either_parsed_or_refused_typed_never_a_trap() {
    // Under the default 64 MiB store: tables get a quarter of the 16 MiB
    // answer cap. Just under it parses; just over it is refused, typed.
    let host = host_with(Limits::default());
    for (size, fits) in [((4 << 20) - 4096, true), ((4 << 20) + 4096, false)] {
        let url = serve_query_answer(tiny_cell_table(size)).await;
        let mut session = host.open("kql", config_for(&url), None).await.unwrap();
        let options = sentinel_host::runtime::types::QueryOptions { timespan: None, server_timeout_seconds: None };
        let outcome = session.search_events("T | take 1", options).await;
        match (fits, outcome) {
            (true, Ok(result)) => {
                assert!(result.tables[0].rows.len() > 200_000, "{} rows", result.tables[0].rows.len())
            }
            (false, Err(CallError::Connector(failure))) if failure.kind == ErrorKind::InvalidResponse => {
                assert!(failure.message.contains("larger than 4 MiB"), "{}", failure.message)
            }
            (fits, outcome) => panic!("{size} bytes (fits: {fits}): {:?}", outcome.map(|r| r.tables.len())),
        }
    }
}
