//! The operator's egress policy, end to end through the built component:
//! a tenant's configuration cannot widen where its connector connects.
//!
//! Refusals name addresses in private, link-local and metadata ranges but
//! never connect to one: `common::test_host_options` installs the loopback
//! guard, which aborts the run rather than let a connection leave
//! 127.0.0.0/8, so a regression fails here instead of sending traffic.

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{config_for, emulator, test_host_options};
use sentinel_connector::core::config::{Cloud, ConnectionConfig};
use sentinel_host::runtime::egress::{EgressPolicy, PrivateNetwork, Resolve};
use sentinel_host::runtime::sandbox::{AuditOutcome, AuditRecord};
use sentinel_host::runtime::types::{ConnectorError, ErrorKind};
use sentinel_host::runtime::{list_options, CallError, ConnectorHost, HostOptions};

fn host(egress: EgressPolicy) -> ConnectorHost {
    ConnectorHost::new(HostOptions { egress, ..test_host_options() }).expect("the component loads")
}

fn connector_error(result: Result<impl std::fmt::Debug, CallError>) -> ConnectorError {
    match result {
        Err(CallError::Connector(error)) => error,
        other => panic!("expected the connector's typed error, got {other:?}"),
    }
}

/// The emulator's port under another spelling of its host.
fn spelled(url: &str, host: &str) -> String {
    let port = url.rsplit(':').next().expect("the emulator URL has a port");
    format!("http://{host}:{port}")
}

#[tokio::test]
async fn the_library_default_refuses_a_custom_cloud_before_anything_is_sent() {
    let emulator = emulator(3, 1).await;
    let strict = ConnectorHost::new(HostOptions { egress: EgressPolicy::default(), ..test_host_options() }).unwrap();
    let error = connector_error(strict.open("tenant", config_for(&emulator.url()), None).await.map(|_| ()));
    assert_eq!(error.kind, ErrorKind::InvalidInput, "{error:?}");
    assert_eq!(error.subject, "cloud");
    assert!(error.message.contains("does not allow custom clouds"), "{}", error.message);
    assert!(emulator.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn an_operator_can_allow_a_custom_cloud_by_its_origins() {
    let emulator = emulator(3, 1).await;
    let origin = sentinel_host::runtime::sandbox::Origin::of_url(&url::Url::parse(&emulator.url()).unwrap()).unwrap();
    let policy = EgressPolicy {
        extra_origins: vec![origin],
        private_network: PrivateNetwork::LoopbackOnly,
        ..EgressPolicy::default()
    };
    let mut session =
        host(policy).open("tenant", config_for(&emulator.url()), None).await.expect("its origins are listed");
    assert_eq!(session.list_incidents(list_options()).await.unwrap().incidents.len(), 3);
}

#[tokio::test]
async fn loopback_in_any_spelling_is_refused_unless_the_operator_allows_it() {
    let emulator = emulator(3, 1).await;
    let url = emulator.url();
    let no_private = host(EgressPolicy::operator(PrivateNetwork::Refuse));
    let spellings = [
        url.clone(),
        spelled(&url, "127.1"),
        spelled(&url, "0x7f.0.0.1"),
        spelled(&url, "LOCALHOST"),
        spelled(&url, "[::ffff:127.0.0.1]"),
        spelled(&url, "2130706433"),
    ];
    for target in spellings {
        let mut session = match no_private.open("tenant", config_for(&target), None).await {
            Ok(session) => session,
            // The configuration itself refuses http:// to a host it cannot tell is loopback.
            Err(CallError::Connector(input))
                if input.kind == ErrorKind::InvalidInput && input.message.contains("http://") =>
            {
                continue
            }
            Err(other) => panic!("{target}: {other}"),
        };
        let error = connector_error(session.list_incidents(list_options()).await);
        assert_eq!(error.kind, ErrorKind::Transport, "{target}: {error:?}");
        assert!(error.message.contains("policy does not allow"), "{target}: {}", error.message);
    }
    assert!(emulator.requests().is_empty(), "no spelling reached the emulator: {:?}", emulator.requests());
    let mut allowed = host(EgressPolicy::operator(PrivateNetwork::LoopbackOnly))
        .open("tenant", config_for(&url), None)
        .await
        .unwrap();
    assert_eq!(
        allowed.list_incidents(list_options()).await.unwrap().incidents.len(),
        3,
        "allowed when the operator opts in"
    );
}

#[tokio::test]
async fn metadata_and_private_addresses_are_refused_without_a_connection() {
    // Every target here is refused before a connect; the loopback guard
    // would abort the run if one were attempted.
    let targets = [
        "https://169.254.169.254",
        "http://169.254.169.254:80",
        "https://[fe80::1]",
        "https://10.0.0.1",
        "https://[fd00:ec2::254]",
        "https://0.0.0.0",
    ];
    let loopback_only = host(EgressPolicy::operator(PrivateNetwork::LoopbackOnly));
    for target in targets {
        let config = config_for(target);
        let mut session = match loopback_only.open("tenant", config, None).await {
            Ok(session) => session,
            // http:// to a non-loopback host is refused by the configuration itself.
            Err(CallError::Connector(e)) if e.kind == ErrorKind::InvalidInput => continue,
            Err(other) => panic!("{target}: {other}"),
        };
        let error = connector_error(session.list_incidents(list_options()).await);
        assert_eq!(error.kind, ErrorKind::Transport, "{target}: {error:?}");
    }
    let private_allowed = host(EgressPolicy::operator(PrivateNetwork::Allow));
    let mut session = private_allowed.open("tenant", config_for("https://169.254.169.254"), None).await.unwrap();
    let error = connector_error(session.list_incidents(list_options()).await);
    assert!(
        error.kind == ErrorKind::Transport && error.message.contains("policy does not allow"),
        "metadata stays refused: {error:?}"
    );
}

/// Answers with a loopback address the first time and with other answers
/// after: what a DNS-rebinding attacker's server does. (The name is
/// `localhost` only because the configuration accepts http:// for no other
/// name; this resolver, not the system's, answers for it.)
struct Rebinding {
    answers: Mutex<Vec<Vec<SocketAddr>>>,
    calls: AtomicUsize,
}

impl Resolve for Rebinding {
    fn resolve(
        &self,
        host: &str,
        _port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send + 'static>> {
        assert_eq!(host, "localhost");
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut answers = self.answers.lock().unwrap();
        let answer = if answers.len() > 1 { answers.remove(0) } else { answers[0].clone() };
        Box::pin(async move { Ok(answer) })
    }
}

fn rebinding_host(port: u16, answers: Vec<Vec<&str>>) -> (ConnectorHost, Arc<Rebinding>) {
    let answers = answers
        .into_iter()
        .map(|ips| ips.into_iter().map(|ip| SocketAddr::new(ip.parse().unwrap(), port)).collect())
        .collect();
    let resolver = Arc::new(Rebinding { answers: Mutex::new(answers), calls: AtomicUsize::new(0) });
    let mut host = host(EgressPolicy::operator(PrivateNetwork::LoopbackOnly));
    host.set_resolver(resolver.clone());
    (host, resolver)
}

fn audit_log() -> (sentinel_host::runtime::sandbox::AuditSink, Arc<Mutex<Vec<AuditRecord>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    (Arc::new(move |record: &AuditRecord| sink.lock().unwrap().push(record.clone())), log)
}

#[tokio::test]
async fn a_name_is_resolved_once_per_request_and_the_checked_address_is_the_one_connected() {
    let emulator = emulator(3, 1).await;
    let port = url::Url::parse(&emulator.url()).unwrap().port().unwrap();
    let target = format!("http://localhost:{port}");
    // The token request sees loopback; every later lookup says metadata.
    let (host, resolver) = rebinding_host(port, vec![vec!["127.0.0.1"], vec!["169.254.169.254"]]);
    let (audit, log) = audit_log();
    let mut session = host.open("tenant", config_for(&target), Some(audit)).await.unwrap();
    let error = connector_error(session.list_incidents(list_options()).await);
    assert!(error.kind == ErrorKind::Transport && error.message.contains("policy does not allow"), "{error:?}");
    let outcomes: Vec<AuditOutcome> = log.lock().unwrap().iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        [AuditOutcome::Status(200), AuditOutcome::Denied],
        "the token request went to the checked loopback address; the list was refused"
    );
    assert_eq!(resolver.calls.load(Ordering::SeqCst), 2, "one lookup per request, none at connect time");
    assert_eq!(emulator.requests().len(), 1, "only the token request arrived");
}

#[tokio::test]
async fn one_refused_address_among_the_answers_refuses_the_request() {
    let emulator = emulator(3, 1).await;
    let port = url::Url::parse(&emulator.url()).unwrap().port().unwrap();
    let (host, _) = rebinding_host(port, vec![vec!["127.0.0.1", "169.254.169.254"]]);
    let mut session = host.open("tenant", config_for(&format!("http://localhost:{port}")), None).await.unwrap();
    let error = connector_error(session.list_incidents(list_options()).await);
    assert_eq!(error.kind, ErrorKind::Transport, "{error:?}");
    assert!(emulator.requests().is_empty(), "not even the allowed address was used");
}

#[tokio::test]
async fn a_public_cloud_tenant_is_confined_to_that_cloud() {
    // A public-cloud tenant's allow-list holds only Microsoft's origins, so
    // a continuation naming anything else is refused before any request.
    let host = host(EgressPolicy::default());
    let config = ConnectionConfig { cloud: Cloud::Public, ..config_for("http://127.0.0.1:9") };
    let mut session = host.open("tenant", config, None).await.expect("the public cloud is allowed");
    let options = sentinel_host::runtime::types::ListIncidentsOptions {
        continuation: Some("http://127.0.0.1:9/x".into()),
        ..list_options()
    };
    let error = connector_error(session.list_incidents(options).await);
    assert!(error.kind == ErrorKind::InvalidInput && error.subject == "continuation", "{error:?}");
}
