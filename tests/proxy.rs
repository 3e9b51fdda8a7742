//! Through an outgoing proxy (issue 14, item 6), end to end: HTTPS to the
//! emulator tunnelled by CONNECT through an authenticating proxy on
//! loopback, with the emulator's private CA trusted: the foundation, update,
//! poll and containment scenarios. The proxy's log shows
//! the CONNECTs, so the test proves the proxy was used; a wrong password is
//! a typed error that never shows the password; NO_PROXY goes direct.

mod common;

#[path = "common/connect_proxy.rs"]
mod connect_proxy;

use base64::Engine as _;
use common::{config_for, no_change, test_host_options};
use connect_proxy::ConnectProxy;
use sentinel_emulator::{graph_seed as seed, Emulator, EmulatorOptions};
use sentinel_host::runtime::containment::Action;
use sentinel_host::runtime::proxy::ProxySettings;
use sentinel_host::runtime::types::{ErrorKind, IncidentStatus, IncidentUpdate};
use sentinel_host::runtime::{list_options, poll_options, CallError, ConnectorHost, HostOptions};

const PASSWORD: &str = "pr0xy-secret-7c1e";

fn host_through(emulator: &Emulator, proxy_url: &str, no_proxy: Option<&str>) -> ConnectorHost {
    let env = |name: &str| match name {
        "HTTPS_PROXY" => Some(proxy_url.to_owned()),
        "NO_PROXY" => no_proxy.map(str::to_owned),
        _ => None,
    };
    let proxies = ProxySettings::from_env(&env).unwrap();
    let extra_ca_pem = emulator.ca_pem().map(str::to_owned);
    ConnectorHost::new(HostOptions { proxies, extra_ca_pem, ..test_host_options() }).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn https_goes_through_an_authenticating_proxy_with_a_private_ca() {
    let emulator =
        Emulator::start(EmulatorOptions { incidents: 3, tls: true, ..EmulatorOptions::default() }).await.unwrap();
    let proxy = ConnectProxy::start(Some(&format!("svc:{PASSWORD}"))).await;
    let host = host_through(&emulator, &proxy.url_with(&format!("svc:{PASSWORD}@")), None);
    let mut session = host.open("proxied", config_for(&emulator.url()), None).await.unwrap();
    let page = session.list_incidents(list_options()).await.unwrap();
    assert_eq!(page.incidents.len(), 3);
    let update = IncidentUpdate { status: Some(IncidentStatus::Active), ..no_change() };
    let updated = session.update_incident(&page.incidents[0].id, update).await.unwrap();
    assert!(matches!(updated.status, IncidentStatus::Active), "the GET, merge, PUT went through the tunnel");
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
    assert_eq!(batch.events.len(), 3);
    assert!(session.graph().contain(seed::BOB_UPN, Action::RevokeSessions, true).await.unwrap().dry_run);
    let port = emulator.url().rsplit(':').next().unwrap().to_owned();
    let log = proxy.log();
    assert!(
        !log.is_empty() && log.iter().all(|l| l == &format!("CONNECT 127.0.0.1:{port} HTTP/1.1 -> 200")),
        "{log:?}"
    );
    assert!(!emulator.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_proxy_login_is_typed_and_never_shows_the_password() {
    let emulator =
        Emulator::start(EmulatorOptions { incidents: 1, tls: true, ..EmulatorOptions::default() }).await.unwrap();
    let proxy = ConnectProxy::start(Some(&format!("svc:{PASSWORD}"))).await;
    let host = host_through(&emulator, &proxy.url_with("svc:wrong-password-51d2@"), None);
    let mut session = host.open("proxied", config_for(&emulator.url()), None).await.unwrap();
    let Err(CallError::Connector(error)) = session.list_incidents(list_options()).await else { panic!("refused") };
    assert_eq!(error.kind, ErrorKind::Transport, "{error:?}");
    assert!(error.message.contains("407"), "{error:?}");
    let shown = format!("{error:?} {error}");
    let encoded = base64::engine::general_purpose::STANDARD.encode("svc:wrong-password-51d2");
    assert!(!shown.contains("wrong-password") && !shown.contains(&encoded[4..20]), "{shown}");
    assert!(emulator.requests().is_empty(), "nothing got past the proxy");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_proxy_names_go_direct() {
    let emulator =
        Emulator::start(EmulatorOptions { incidents: 2, tls: true, ..EmulatorOptions::default() }).await.unwrap();
    let proxy = ConnectProxy::start(None).await;
    let host = host_through(&emulator, &proxy.url_with(""), Some("localhost,127.0.0.1"));
    let mut session = host.open("direct", config_for(&emulator.url()), None).await.unwrap();
    assert_eq!(session.list_incidents(list_options()).await.unwrap().incidents.len(), 2);
    assert!(proxy.log().is_empty(), "{:?}", proxy.log());
}
