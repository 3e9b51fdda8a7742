//! HTTPS end to end (issue 14, item 8, first part): the emulator serves TLS
//! with a throwaway CA, the host trusts that CA as an operator's private CA
//! (`HostOptions::extra_ca_pem`, the CLI's --ca-file / SSL_CERT_FILE), and
//! the foundation, update, poll and containment scenarios run through the
//! host's real `wasi:http` TLS path. Without the CA the connection is
//! refused; plain HTTP to the TLS port gets no HTTP answer.

mod common;

use std::io::{Read, Write};

use common::{config_for, no_change, test_host_options};
use sentinel_emulator::{graph_seed as seed, Emulator, EmulatorOptions};
use sentinel_host::runtime::containment::Action;
use sentinel_host::runtime::types::{ErrorKind, IncidentStatus, IncidentUpdate};
use sentinel_host::runtime::{list_options, poll_options, CallError, ConnectorHost, HostOptions};

async fn tls_emulator() -> Emulator {
    Emulator::start(EmulatorOptions { incidents: 4, tls: true, ..EmulatorOptions::default() }).await.unwrap()
}

fn trusting(ca_pem: Option<&str>) -> ConnectorHost {
    ConnectorHost::new(HostOptions { extra_ca_pem: ca_pem.map(str::to_owned), ..test_host_options() }).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_playbook_scenarios_run_over_https_with_a_private_ca() {
    let emulator = tls_emulator().await;
    assert!(emulator.url().starts_with("https://127.0.0.1:"));
    let host = trusting(emulator.ca_pem());
    let mut session = host.open("tls", config_for(&emulator.url()), None).await.unwrap();

    let page = session.list_incidents(list_options()).await.unwrap();
    assert_eq!(page.incidents.len(), 4);
    let id = page.incidents[0].id.clone();
    let update = IncidentUpdate { status: Some(IncidentStatus::Active), ..no_change() };
    let updated = session.update_incident(&id, update).await.unwrap();
    assert!(matches!(updated.status, IncidentStatus::Active));
    let batch = session
        .poll(
            None,
            sentinel_host::runtime::types::PollOptions {
                first_fetch: Some("2000-01-01T00:00:00Z".into()),
                ..poll_options()
            },
        )
        .await
        .unwrap();
    assert_eq!(batch.events.len(), 4);
    let planned = session.graph().contain(seed::BOB_UPN, Action::DisableAccount, true).await.unwrap();
    assert!(planned.dry_run, "{planned:?}");
    let https = emulator.requests().len();
    assert!(https >= 6, "every call went to the TLS port ({https} requests)");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_ca_the_connection_is_refused_and_plain_http_gets_no_answer() {
    let emulator = tls_emulator().await;
    let host = trusting(None);
    let records = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = records.clone();
    let audit: sentinel_host::runtime::sandbox::AuditSink =
        std::sync::Arc::new(move |record: &sentinel_host::runtime::sandbox::AuditRecord| {
            kept.lock().unwrap().push(record.to_string())
        });
    let mut session = host.open("tls", config_for(&emulator.url()), Some(audit)).await.unwrap();
    let Err(CallError::Connector(error)) = session.list_incidents(list_options()).await else {
        panic!("an untrusted certificate must fail")
    };
    assert_eq!(error.kind, ErrorKind::Transport, "{error:?}");
    assert!(error.message.contains("TLS certificate") && error.message.contains("not accepted"), "{error:?}");
    assert!(error.hint.contains("--ca-file"), "the hint says how to trust it: {error:?}");
    assert!(emulator.requests().is_empty(), "no request got through");
    let audited = records.lock().unwrap().join("\n");
    assert!(
        audited.contains("TLS certificate issued by a CA this host does not trust"),
        "the host says why: {audited}"
    );

    let address = emulator.url().trim_start_matches("https://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        stream.write_all(b"GET /subscriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        bytes
    })
    .await
    .unwrap();
    assert!(!answer.starts_with(b"HTTP/"), "plain HTTP is not answered: {:?}", String::from_utf8_lossy(&answer));
}
